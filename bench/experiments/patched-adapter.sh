#!/bin/sh
# Re-run the bulk and line benchmarks with wasmtime-environ 48.0.8's fused adapter patched to
# copy a `list<u8>` with one `memory.copy` (byte-list-copy.patch) instead of a byte at a time.
# It shows how much of the composed contender's gap is that copy. An experiment for an
# upstream change, not how the project builds: it works in a throwaway worktree and target
# directory (a cold release build, about 7 minutes on 2 cores).
set -eu
repo=$(git -C "$(dirname "$0")" rev-parse --show-toplevel)
work=${TMPDIR:-/tmp}/alore-socket-patched-adapter
registry=$(dirname "$(cargo metadata --format-version 1 --manifest-path "$repo/Cargo.toml" |
    python3 -c 'import json,sys; print(next(p["manifest_path"] for p in json.load(sys.stdin)["packages"] if p["name"] == "wasmtime-environ"))')")
rm -rf "$work" && mkdir -p "$work"
cp -r "$registry" "$work/wasmtime-environ"
patch -d "$work/wasmtime-environ" -p1 < "$repo/bench/experiments/byte-list-copy.patch"
git -C "$repo" worktree add --detach "$work/repo" HEAD
trap 'git -C "$repo" worktree remove --force "$work/repo"' EXIT
printf '\n[patch.crates-io]\nwasmtime-environ = { path = "%s" }\n' "$work/wasmtime-environ" >> "$work/repo/Cargo.toml"
cd "$work/repo"
export CARGO_TARGET_DIR="$work/target"
for workload in receive send lines; do
    cargo run --release -p alore-socket-bench -- --only "$workload" 2>/dev/null | grep -E '^\| (bulk|read-ln)'
done
