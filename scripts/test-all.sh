#!/usr/bin/env bash
# waxseal's whole test run: what CI runs (.ci/run calls this script).
#   set-up (scripts/setup.sh), then: rustfmt check, clippy -D warnings, docs
#   with -D warnings, the tests of every crate (unit, property, RFC vectors,
#   interop with dkimpy / Mail::DKIM / mailauth / OpenDKIM; the shared
#   vectors in Node, Chromium, workerd, Deno and the component in wasmtime;
#   the waxseal command with a loopback DNS server; the milter with a raw-frame
#   client and in a real Postfix and Sendmail with SASL), the npm package from its
#   tarball, the browser page (Chromium, axe-core) and the Cloudflare
#   Workers (workerd), builds for wasm32-unknown-unknown, wasm32-wasip2 and a no-std
#   target, cargo-deny, the component's allocator under Miri, the benchmark's
#   regression guard (ratios, bench/baseline.tsv), a smoke run of the
#   cross-peer benchmark (bench/peers), and a short run of every fuzz target.
# Environment: FUZZ_SECONDS (default 20) per fuzz target.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
step() { printf '\n==== %s\n' "$*"; }
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"
# one build from scratch: incremental state would only cost disk and time
export CARGO_INCREMENTAL="${CARGO_INCREMENTAL:-0}"

step "set-up"
scripts/setup.sh

# the JS tools' environment (paths of wasm-bindgen, wasm-opt, deno, ...)
# shellcheck disable=SC1090
source "${WAXSEAL_JS_HOME:-$HOME/.cache/waxseal-js}/env.sh"

step "WebAssembly builds: the npm package and the components (wasm/build.sh)"
wasm/build.sh
# the waxseal binary embeds the component just built (no second build)
export WAXSEAL_COMPONENT="$PWD/wasm/component/waxseal-host-crypto.wasm"

step "cargo fmt --check"
cargo fmt --all --check
(cd fuzz && cargo fmt --check)

step "cargo clippy -D warnings"
cargo clippy --workspace --all-targets --locked -- -D warnings
cargo clippy --locked -p waxseal-wasm --features js --target wasm32-unknown-unknown -- -D warnings
cargo clippy --locked -p waxseal-wasm --features host-crypto --target wasm32-wasip2 -- -D warnings
cargo clippy --locked -p waxseal-wasm --features component --target wasm32-wasip2 -- -D warnings

step "cargo doc -D warnings"
RUSTDOCFLAGS="-D warnings" cargo doc --workspace --no-deps --locked --quiet

step "cargo test"
cargo test --workspace --locked

step "the milter in a real Postfix and a real Sendmail with SASL on loopback (tests/milter/e2e.sh)"
WAXSEAL_BIN="$PWD/target/debug/waxseal" tests/milter/e2e.sh

step "the npm package as a user installs it (wasm/test.sh)"
wasm/test.sh

step "the browser page in Chromium and the edge workers in workerd (tests/www/run.sh)"
tests/www/run.sh

step "core builds for WebAssembly and without std"
cargo build -p waxseal-core --locked --target wasm32-unknown-unknown --quiet
cargo build -p waxseal-core --locked --target wasm32-wasip2 --quiet
# thumbv7em-none-eabihf has no std at all: this fails if anything in the
# core's dependency tree needs std.
cargo build -p waxseal-core --locked --target thumbv7em-none-eabihf --quiet
echo "ok: wasm32-unknown-unknown, wasm32-wasip2, thumbv7em-none-eabihf (no std)"

step "cargo deny (licences, bans, sources)"
# Advisories need the RustSec database from GitHub, which these machines
# cannot reach; licences, duplicate/banned crates and sources are checked.
cargo deny --locked check licenses bans sources

step "the component's allocator under Miri"
# the only hand-written unsafe code: its tests (a randomized stress test
# among them) run in Miri, which finds undefined behaviour and leaks
cargo +nightly miri test -p waxseal-wasm --lib small_blocks 2>&1 | grep -E "^test |test result"

step "benchmark regression guard: ratios against bench/baseline.tsv"
# a short run of the host benchmark (release build, next to mail-auth):
# fails when a ratio falls more than a generous margin below its baseline
(cd bench && CARGO_TARGET_DIR="$PWD/../target" cargo run --release --locked --quiet -- \
   --guard baseline.tsv)

step "cross-peer benchmark, smoke run (bench/peers)"
# every contender of the README's table (waxseal's three faces, mail-auth,
# mailauth, dkimpy, Mail::DKIM, OpenDKIM's library, raw AWS-LC) installs,
# builds, signs, verifies and passes the cross-checks; no figure is kept
bench/peers/setup.sh
bench/peers/run.py --smoke

step "fuzz smoke run"
secs="${FUZZ_SECONDS:-20}"
(cd fuzz && cargo +nightly fuzz build 2>&1 | tail -n 1)
for target in $(cd fuzz && cargo +nightly fuzz list); do
  # new inputs go to fuzz/corpus/<target> (not committed); fuzz/seeds/<target>
  # holds committed starting points
  mkdir -p "fuzz/corpus/$target"
  seeds=()
  [ -d "fuzz/seeds/$target" ] && seeds=("seeds/$target")
  (cd fuzz && cargo +nightly fuzz run "$target" "corpus/$target" ${seeds[@]+"${seeds[@]}"} \
     -- -max_total_time="$secs" -seed=1 2>&1 | tail -n 1)
done

step "all tests passed"
