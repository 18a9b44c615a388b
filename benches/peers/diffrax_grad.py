#!/usr/bin/env python3
"""Peer baseline for `nodelab bench grad`: the same toy problem solved with diffrax (JAX, CPU,
float64, or float32 with --precision f32), gradient by RecursiveCheckpointAdjoint (discretise-then-optimise backprop) and by
BacksolveAdjoint (continuous adjoint), median wall time per gradient after compilation.

Side by side with nodelab in one run:

    nodelab bench grad --write-toy /tmp/toy          # writes toy-mlp.json, toy-data.json
    python3 benches/peers/diffrax_grad.py /tmp/toy --nodelab target/release/nodelab

With --nodelab, the script also runs `nodelab bench grad --methods backprop,adjoint` (at the
same --precision) and prints the time ratios. --rounds N repeats the whole comparison N times,
interleaved (diffrax, then each binary, then again), and ends with the median over the rounds of
every time and ratio: on a loaded machine one round's medians swing more than the differences
between binaries. --cpu-time measures CPU time instead of wall time (for a machine shared with
other work): diffrax's as the mean over the `--repeats` calls (`time.process_time` of them
all over their count), nodelab's per method as the child's CPU time (`os.wait4` rusage) of
`--repeats R` minus that of `--repeats 1`, over R − 1; it works with any nodelab binary, old ones
too. Both are means over every call: under load each call's CPU time grows with the other
processes' cache traffic, and a median on one side only (as an earlier version took for
diffrax) drops the calls that paid for it there but keeps them on nodelab's side. --precision f32 runs JAX without x64 (float32
arrays throughout) against `nodelab bench grad --precision f32`. Not run in CI (needs `pip install jax diffrax equinox`).
"""

import argparse
import resource
import json
import os
import statistics
import subprocess
import sys
import time


def child_cpu_s(cmd):
    """Runs `cmd`, returns (stdout, the child's user + system CPU seconds)."""
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    out = proc.stdout.read()
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise subprocess.CalledProcessError(proc.returncode, cmd)
    return out, usage.ru_utime + usage.ru_stime


def nodelab_cpu_ms(binary, method, precision, repeats):
    """CPU ms per gradient of one method: (CPU of `repeats` timed calls − CPU of 1) / (repeats − 1)."""
    base = [binary, "bench", "grad", "--methods", method, "--no-scaling", "--json"]
    if precision != "f64":
        base += ["--precision", precision]
    out, many = child_cpu_s(base + ["--repeats", str(repeats)])
    _, one = child_cpu_s(base + ["--repeats", "1"])
    row = {m["method"]: m for m in json.loads(out)["methods"]}[method]
    return (many - one) * 1e3 / (repeats - 1), row


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("toy_dir", help="directory written by `nodelab bench grad --write-toy`")
    ap.add_argument("--repeats", type=int, default=20)
    ap.add_argument("--threads", type=int, default=1,
                    help="XLA CPU threads (1: single-threaded, like nodelab's default)")
    ap.add_argument("--precision", choices=["f64", "f32"], default="f64",
                    help="float type of both sides (f32: JAX without x64)")
    ap.add_argument("--rounds", type=int, default=1,
                    help="interleaved rounds of the whole comparison (summary: medians over them)")
    ap.add_argument("--cpu-time", action="store_true",
                    help="CPU time instead of wall time (see the module doc)")
    ap.add_argument("--nodelab", action="append", default=[],
                    help="path of a nodelab binary to run side by side (repeatable: e.g. the "
                         "binaries before and after a change, in the same run)")
    args = ap.parse_args()

    if args.threads == 1:
        os.environ["XLA_FLAGS"] = (
            "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"
        )
    import jax
    jax.config.update("jax_enable_x64", args.precision == "f64")
    dtype = "float64" if args.precision == "f64" else "float32"
    jax.config.update("jax_platform_name", "cpu")
    import jax.numpy as jnp
    import diffrax

    with open(os.path.join(args.toy_dir, "toy-mlp.json")) as f:
        weights = json.load(f)
    with open(os.path.join(args.toy_dir, "toy-data.json")) as f:
        data = json.load(f)
    assert weights["activation"] == "tanh" and not weights.get("time_input", False)
    params = [(jnp.array(l["weight"], dtype=dtype), jnp.array(l["bias"], dtype=dtype))
              for l in weights["layers"]]
    y0 = jnp.array(data["y0"], dtype=dtype)
    targets = jnp.array(data["targets"], dtype=dtype)
    t0, t1 = data["t_span"]

    def field(t, y, params):
        h = y
        for i, (w, b) in enumerate(params):
            h = h @ w.T + b
            if i < len(params) - 1:
                h = jnp.tanh(h)
        return h

    def loss(params, adjoint):
        sol = diffrax.diffeqsolve(
            diffrax.ODETerm(field), diffrax.Dopri5(), t0=t0, t1=t1, dt0=None, y0=y0,
            args=params, adjoint=adjoint, max_steps=100_000,
            stepsize_controller=diffrax.PIDController(rtol=data["rtol"], atol=data["atol"]),
        )
        return jnp.mean((sol.ys[-1] - targets) ** 2), sol.stats["num_accepted_steps"]

    fns = {}
    for name, adjoint in [
        ("RecursiveCheckpointAdjoint", diffrax.RecursiveCheckpointAdjoint()),
        ("BacksolveAdjoint", diffrax.BacksolveAdjoint()),
    ]:
        fn = jax.jit(jax.value_and_grad(lambda p, adjoint=adjoint: loss(p, adjoint), has_aux=True))
        (value, steps), grad = fn(params)
        jax.block_until_ready(grad)
        fns[name] = fn

    pairs = [("backprop", "RecursiveCheckpointAdjoint"), ("adjoint", "BacksolveAdjoint")]
    # (binary, method) -> [time per round]; (binary, method) -> [ratio per round]
    ours_ms, ratios, theirs_ms = {}, {}, {}
    for rnd in range(max(1, args.rounds)):
        if args.rounds > 1:
            print(f"round {rnd + 1}/{args.rounds}")
        results = {}
        for name, fn in fns.items():
            times = []
            clock = time.process_time if args.cpu_time else time.perf_counter
            for _ in range(args.repeats):
                start = clock()
                (value, steps), grad = fn(params)
                jax.block_until_ready(grad)
                times.append((clock() - start) * 1e3)
            # CPU time: the mean, as nodelab's side is (see the module doc).
            results[name] = (statistics.fmean(times) if args.cpu_time
                             else statistics.median(times))
            theirs_ms.setdefault(name, []).append(results[name])
            stat = "cpu/call" if args.cpu_time else "median"
            print(f"diffrax {name:<28} {stat} {results[name]:9.3f} ms  loss {float(value):.10e}  "
                  f"accepted steps {int(steps)}  ({args.repeats} repeats, {args.threads} "
                  f"thread(s), {y0.dtype})")

        for binary in args.nodelab:
            if args.cpu_time:
                rows, cpu = {}, {}
                for ours, _ in pairs:
                    cpu[ours], rows[ours] = nodelab_cpu_ms(binary, ours, args.precision,
                                                           max(args.repeats, 2) * 10)
            else:
                cmd = [binary, "bench", "grad", "--methods", "backprop,adjoint", "--no-scaling",
                       "--json", "--repeats", str(args.repeats)]
                # f64 is the default: binaries from before --precision existed compare too.
                if args.precision != "f64":
                    cmd += ["--precision", args.precision]
                out = subprocess.run(cmd, check=True, capture_output=True, text=True)
                rows = {m["method"]: m for m in json.loads(out.stdout)["methods"]}
            print(f"nodelab: {binary} ({args.precision})")
            for ours, theirs in pairs:
                t = cpu[ours] if args.cpu_time else rows[ours]["time_ms"]
                ours_ms.setdefault((binary, ours), []).append(t)
                ratios.setdefault((binary, ours), []).append(results[theirs] / t)
                label = "cpu/call" if args.cpu_time else "median"
                print(f"  nodelab {ours:<10} {label} {t:9.3f} ms  loss {rows[ours]['loss']:.10e}  "
                      f"accepted steps {rows[ours]['steps_accepted']}  -> diffrax/nodelab = "
                      f"{results[theirs] / t:.2f}x")

    if args.rounds > 1 or args.cpu_time:
        med = statistics.median
        what = "CPU" if args.cpu_time else "wall"
        print(f"summary: medians over {args.rounds} interleaved rounds ({args.precision}, "
              f"{what} time per gradient)")
        for name, ts in theirs_ms.items():
            print(f"  diffrax {name:<28} {med(ts):9.3f} ms")
        for binary in args.nodelab:
            for ours, theirs in pairs:
                key = (binary, ours)
                print(f"  {binary}  {ours:<10} {med(ours_ms[key]):9.3f} ms  diffrax/nodelab "
                      f"{med(ratios[key]):.2f}x  (per round: "
                      f"{', '.join(f'{r:.2f}' for r in ratios[key])})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
