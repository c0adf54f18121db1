#!/usr/bin/env bash
# `make profile`: where the time goes, as repeatable figures.
#  1. callgrind instruction counts per request-path operation of the edge-auth core (native,
#     bench/profile), measured inside profile::run only (setup excluded);
#  2. ES256 verify with p256 0.13, p256 0.14 and edge-auth's own verifier (crates/edge-auth-crypto/src/ec/), ES384
#     with p384 0.14 and edge-auth's own (the same code, P-384), and EdDSA
#     with ed25519-compact and edge-auth's own (crates/edge-auth-crypto/src/ed25519/), natively and in wasm under
#     node/V8 with TurboFan only, as Envoy runs it (bench/ecprobe);
#  3. RSA-2048 verify, edge-auth's verifier (crates/edge-auth-crypto/src/rsa.rs) against its previous version in the
#     same process (bench/ecprobe rsaprobe): natively, in wasm as the filter is built (SIMD128,
#     .cargo/config.toml), and in wasm without SIMD.
# Needs valgrind (apt-get install valgrind) and node for step 2 (skipped with a note if absent).
set -euo pipefail
cd "$(dirname "$0")"
N=${PROFILE_RUNS:-10}
command -v valgrind >/dev/null || { echo "profile: valgrind missing (apt-get install -y valgrind)" >&2; exit 1; }
cargo build -q --release --manifest-path profile/Cargo.toml
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
printf '%-14s %14s\n' operation "instructions"
for op in hit-RS256 scope-ES256 claims-ES256 verify-RS256 fresh-RS256 forged-RS256 verify-ES256 forged-ES256 verify-ES384 forged-ES384 verify-EdDSA forged-EdDSA verify-HS256 forged-HS256; do
  valgrind --tool=callgrind --toggle-collect='profile::run*' --callgrind-out-file="$out/$op" \
    profile/target/release/profile "$op" "$N" >/dev/null 2>"$out/$op.err" \
    || { cat "$out/$op.err" >&2; exit 1; }
  ir=$(awk '/^(summary|totals):/ {print $2; exit}' "$out/$op")
  printf '%-14s %14d\n' "$op" $((ir / N))
done
echo "(instructions per operation, x86_64, callgrind; hit = cache hit, verify = first sight, fresh = first sight into a full cache,"
echo " forged = valid kid, bad signature;"
echo " scope / claims = issue 21's pair: a cache hit on a scope-only rule / on a rule with claim conditions and a bound segment)"
echo
echo "top of verify-RS256:"
callgrind_annotate --inclusive=no "$out/verify-RS256" 2>/dev/null | grep -E '^ *[0-9,]+ \(' | sed -n '2,5p' | cut -c1-150
echo
cargo build -q --release --manifest-path ecprobe/Cargo.toml
cargo build -q --release --manifest-path ecprobe/Cargo.toml --target wasm32-wasip1
RUSTFLAGS="-C target-feature=-simd128" cargo build -q --release --manifest-path ecprobe/Cargo.toml \
  --target wasm32-wasip1 --bin rsaprobe --target-dir ecprobe/target/no-simd
echo "ES256 and EdDSA native:"
ecprobe/target/release/ecprobe
echo
echo "RSA-2048 native:"
ecprobe/target/release/rsaprobe
if command -v node >/dev/null; then
  echo
  echo "ES256 and EdDSA wasm32-wasip1 under node --no-liftoff (V8, as in Envoy):"
  node --no-liftoff --no-warnings ecprobe/run-wasm.mjs ecprobe/target/wasm32-wasip1/release/ecprobe.wasm
  echo
  echo "RSA-2048 wasm32-wasip1 (SIMD128, as the filter) under node --no-liftoff:"
  node --no-liftoff --no-warnings ecprobe/run-wasm.mjs ecprobe/target/wasm32-wasip1/release/rsaprobe.wasm
  echo
  echo "RSA-2048 wasm32-wasip1 without SIMD under node --no-liftoff:"
  node --no-liftoff --no-warnings ecprobe/run-wasm.mjs ecprobe/target/no-simd/wasm32-wasip1/release/rsaprobe.wasm
else
  echo "node not found: wasm figures skipped"
fi
