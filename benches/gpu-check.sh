#!/usr/bin/env bash
# The device check for a machine with a GPU: builds nothing, runs the release binary.
#
#   cargo build --release            # once, beforehand
#   bash benches/gpu-check.sh        # batches 256, 4096, 65536, 3 iterations each
#   bash benches/gpu-check.sh --quick  # batch 256 only, 2 iterations, hidden 8-8 (a software
#                                      # adapter: its kernel builds take minutes per shape)
#
# Prints the adapter, then per task and batch: CPU f64, CPU f32 and GPU ms per training
# iteration (median), the speed-ups CPU/GPU, the GPU loss curve's largest relative difference
# from the CPU f32 one (same weights, same batches), and the kernel build time (0 once the
# process has built that shape). A task the GPU refuses prints the refusal and the check goes
# on. NODELAB_BIN overrides the binary (default target/release/nodelab, or
# $CARGO_TARGET_DIR/release/nodelab).
set -u

bin="${NODELAB_BIN:-}"
if [ -z "$bin" ]; then
    for cand in target/release/nodelab "${CARGO_TARGET_DIR:-target}/release/nodelab"; do
        if [ -x "$cand" ]; then bin="$cand"; break; fi
    done
fi
if [ -z "$bin" ] || [ ! -x "$bin" ]; then
    echo "error: no release binary: run 'cargo build --release' first or set NODELAB_BIN" >&2
    exit 2
fi

batches="256,4096,65536"
iters=3
model=()
if [ "${1:-}" = "--quick" ]; then
    batches="256"
    iters=2
    model=(--hidden 8,8)
elif [ -n "${1:-}" ]; then
    echo "usage: $0 [--quick]" >&2
    exit 2
fi

tasks="circles density-moons spiral-fit freefall-fit white-dwarf-ident"

echo "== nodelab GPU check ($(date -u +%Y-%m-%dT%H:%MZ), binary $bin)"
"$bin" bench gpu --adapter || exit 1
status=0
for task in $tasks; do
    echo
    start=$(date +%s)
    "$bin" bench gpu --task "$task" --batch "$batches" --iters "$iters" "${model[@]}" || status=1
    echo "($task: $(( $(date +%s) - start )) s)"
done
exit $status
