#!/usr/bin/env python3
"""Peer baseline for `nodelab bench train`: the spiral-fit training iteration (gradient of the
mean |pred - data| over 20 windows of 10 samples + an RMSprop step) in diffrax (JAX, CPU,
float64, one thread), with RecursiveCheckpointAdjoint (backprop through the solver) and
BacksolveAdjoint (continuous adjoint), median wall time per iteration after warm-up, jitted.
Same data, same initial weights, same batch sequence, same tolerances as nodelab:

    nodelab bench train --write-spiral /tmp/spiral
    python3 benches/peers/diffrax_train.py /tmp/spiral --nodelab target/release/nodelab

With --nodelab, the script also runs `nodelab bench train --spiral-only` (backprop, adjoint)
and prints the ratios diffrax / nodelab. --precision f32 runs JAX without x64 (float32 arrays
throughout) against `nodelab bench train --precision f32` (f32 gradients; nodelab keeps the
weights and the optimiser in f64). Not run in CI (needs `pip install jax diffrax equinox
optax`).

--rounds N repeats the whole comparison N times, interleaved, and ends with the medians over the
rounds; --cpu-time measures CPU time instead of wall time (a machine shared with other work):
diffrax's per iteration (`time.process_time`, median over the timed iterations), nodelab's as
the median of its own per-iteration process CPU time (`median_cpu_ms_per_iter` of `bench train
--json`, one method per run) over the SAME timed iterations (`--iters` = the batches after
warm-up). A binary from before that field is timed by the child's CPU time (`os.wait4` rusage)
of `--iters N` minus that of `--iters 2`, over N − 2, with N the same timed iterations, summed
over 5 repetitions of both runs (noisy: 18 iterations of ~0.3 ms against a process start; one
repetition ranged 0.1–0.6 ms per iteration on a loaded 2-core machine where the in-process median
stayed within 0.23–0.33 ms).

What differs between the sides (not a timing error): nodelab's steps land on every observation
time (about 10 accepted dopri5 steps per iteration over iterations 4–23), diffrax's
`SaveAt(ts=…)` interpolates between its steps (3 accepted steps per iteration at the first
batches, `sol.stats`), so nodelab's figure covers ~3× the solver steps.

Both sides must run the same iterations: the spiral fit gets harder as it trains (about 10
accepted dopri5 steps per iteration over iterations 4–23, about 18 after iteration 60), so an
earlier version of this script, which ran nodelab for 10× the iterations in --cpu-time mode,
charged nodelab ~1.7× the solver steps of diffrax per iteration (1.8× read as the ratio where
wall time over the same iterations read 3.1×).
"""

import argparse
import json
import os
import statistics
import subprocess
import time


def child_cpu_s(cmd):
    """Runs `cmd`, returns (stdout, the child's user + system CPU seconds)."""
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    out = proc.stdout.read()
    _, status, usage = os.wait4(proc.pid, 0)
    if os.waitstatus_to_exitcode(status) != 0:
        raise subprocess.CalledProcessError(os.waitstatus_to_exitcode(status), cmd)
    return out, usage.ru_utime + usage.ru_stime


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("dir", help="directory written by `nodelab bench train --write-spiral`")
    ap.add_argument("--nodelab", action="append", default=[],
                    help="path of a nodelab binary to run side by side (repeatable: e.g. the "
                         "binaries before and after a change, in the same run)")
    ap.add_argument("--precision", choices=["f64", "f32"], default="f64",
                    help="float type of both sides (f32: JAX without x64)")
    ap.add_argument("--rounds", type=int, default=1,
                    help="interleaved rounds of the whole comparison (summary: medians over them)")
    ap.add_argument("--cpu-time", action="store_true",
                    help="CPU time instead of wall time (see the module doc)")
    args = ap.parse_args()

    os.environ["XLA_FLAGS"] = "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"
    import jax
    jax.config.update("jax_enable_x64", args.precision == "f64")
    dtype = "float64" if args.precision == "f64" else "float32"
    jax.config.update("jax_platform_name", "cpu")
    import jax.numpy as jnp
    import diffrax
    import optax

    with open(os.path.join(args.dir, "spiral-mlp.json")) as f:
        weights = json.load(f)
    with open(os.path.join(args.dir, "spiral-data.json")) as f:
        data = json.load(f)
    assert weights["activation"] == "tanh" and weights.get("input_map") == "cube"
    params = [(jnp.array(l["weight"], dtype=dtype), jnp.array(l["bias"], dtype=dtype))
              for l in weights["layers"]]
    times = jnp.array(data["times"], dtype=dtype)
    states = jnp.array(data["states"], dtype=dtype)
    window = data["window"]
    batches = [jnp.array(b) for b in data["batches"]]
    warm = data["warmup"]
    ts = times[:window] - times[0]

    def field(t, y, params):
        h = y ** 3
        for i, (w, b) in enumerate(params):
            h = h @ w.T + b
            if i < len(params) - 1:
                h = jnp.tanh(h)
        return h

    # nodelab controls the error in the weighted max norm over the whole stacked batch.
    def max_norm(tree):
        return jnp.max(jnp.stack([jnp.max(jnp.abs(l)) for l in jax.tree_util.tree_leaves(tree)]))

    controller = diffrax.PIDController(rtol=data["rtol"], atol=data["atol"], norm=max_norm)

    def make_step(adjoint, opt):
        def loss(params, idx):
            y0 = states[idx]
            target = jnp.stack([states[idx + j] for j in range(window)])
            sol = diffrax.diffeqsolve(
                diffrax.ODETerm(field), diffrax.Dopri5(), ts[0], ts[-1], None, y0, args=params,
                stepsize_controller=controller, saveat=diffrax.SaveAt(ts=ts), adjoint=adjoint,
                max_steps=100000,
            )
            return jnp.mean(jnp.abs(sol.ys - target))

        @jax.jit
        def step(params, state, idx):
            value, grads = jax.value_and_grad(loss)(params, idx)
            updates, state = opt.update(grads, state, params)
            return optax.apply_updates(params, updates), state, value

        return step

    steps = {}
    for name, adjoint in [
        ("backprop vs RecursiveCheckpointAdjoint", diffrax.RecursiveCheckpointAdjoint()),
        ("adjoint vs BacksolveAdjoint", diffrax.BacksolveAdjoint()),
    ]:
        opt = optax.rmsprop(data["lr"], decay=data["decay"], eps=data["eps"])
        steps[name] = (make_step(adjoint, opt), opt)

    clock = time.process_time if args.cpu_time else time.perf_counter
    theirs, ours, ratios = {}, {}, {}
    for rnd in range(max(1, args.rounds)):
        if args.rounds > 1:
            print(f"round {rnd + 1}/{args.rounds}")
        rows = {}
        for name, (step, opt) in steps.items():
            times_ms = []
            p, state = params, opt.init(params)
            for i, idx in enumerate(batches):
                start = clock()
                p, state, value = step(p, state, idx)
                jax.block_until_ready(value)
                if i >= warm:
                    times_ms.append((clock() - start) * 1e3)
            rows[name] = statistics.median(times_ms)
            theirs.setdefault(name, []).append(rows[name])
            print(f"diffrax {name.split(' vs ')[1]:<28} median {rows[name]:.3f} ms/iter "
                  f"({len(times_ms)} iterations, last loss {float(value):.4e}, {dtype})")

        for binary in args.nodelab:
            base = [binary, "bench", "train", "--spiral-only", "--json"]
            # f64 is the default: binaries from before --precision existed can be compared too.
            if args.precision != "f64":
                base += ["--precision", args.precision]
            nl = {}
            if args.cpu_time:
                # The same timed iterations as diffrax's (see the module doc).
                iters = len(batches) - warm
                for name in rows:
                    method = name.split(" vs ")[0]
                    m = base + ["--methods", method]
                    out, _ = child_cpu_s(m + ["--iters", str(iters)])
                    row = json.loads(out)[0]
                    if "median_cpu_ms_per_iter" in row:
                        nl[method] = row["median_cpu_ms_per_iter"]
                        continue
                    many = few = 0.0
                    for _ in range(5):
                        many += child_cpu_s(m + ["--iters", str(iters)])[1]
                        few += child_cpu_s(m + ["--iters", "2"])[1]
                    nl[method] = (many - few) * 1e3 / (5 * (iters - 2))
            else:
                cmd = base + ["--methods", "backprop,adjoint", "--iters",
                              str(len(batches) - warm)]
                out = subprocess.run(cmd, check=True, capture_output=True, text=True)
                nl = {r["method"]: r["median_ms_per_iter"] for r in json.loads(out.stdout)}
            print(f"nodelab: {binary} ({args.precision})")
            for name, ms in rows.items():
                method = name.split(" vs ")[0]
                ours.setdefault((binary, name), []).append(nl[method])
                ratios.setdefault((binary, name), []).append(ms / nl[method])
                print(f"  {name:<40} nodelab {nl[method]:8.3f} ms  diffrax {ms:8.3f} ms  "
                      f"diffrax/nodelab {ms / nl[method]:.2f}")

    if args.rounds > 1 or args.cpu_time:
        med = statistics.median
        what = "CPU" if args.cpu_time else "wall"
        print(f"summary: medians over {args.rounds} interleaved rounds ({args.precision}, "
              f"{what} time per iteration)")
        for name, ts in theirs.items():
            print(f"  diffrax {name.split(' vs ')[1]:<28} {med(ts):8.3f} ms")
        for binary in args.nodelab:
            for name in theirs:
                key = (binary, name)
                print(f"  {binary}  {name:<40} {med(ours[key]):8.3f} ms  diffrax/nodelab "
                      f"{med(ratios[key]):.2f}  (per round: "
                      f"{', '.join(f'{r:.2f}' for r in ratios[key])})")


if __name__ == "__main__":
    main()
