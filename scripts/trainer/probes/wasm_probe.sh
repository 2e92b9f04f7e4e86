#!/usr/bin/env bash
# Design probes of the browser's CPU path: builds HEAD with <name>.patch (probe ops added to
# OpBench) in a scratch worktree, then times them in Node's V8 with <name>.mjs, which prints a
# markdown table. One thread (the page's own).
#   scripts/trainer/probes/wasm_probe.sh conv_layers    # each Winograd layer vs burn-flex's conv
#   scripts/trainer/probes/wasm_probe.sh int8_linear    # int8/int4 weights kept in memory vs f32
set -euo pipefail
name="$1"
cd "$(dirname "$0")/../../.."
probes="$PWD/scripts/trainer/probes"
scripts/setup >&2
tree=$(mktemp -d)
git worktree add -q --detach "$tree" HEAD
trap 'git worktree remove --force "$tree"' EXIT
git -C "$tree" apply "$probes/$name.patch"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/univid/target}"
(cd "$tree" && cargo build -q --target wasm32-unknown-unknown --profile wasm --lib --features dev)
wasm-bindgen --target web --out-dir "$tree/pkg" --out-name univid "$CARGO_TARGET_DIR/wasm32-unknown-unknown/wasm/univid.wasm"
node "$probes/$name.mjs" "$tree/pkg"
