#!/usr/bin/env python3
"""Peer baseline for `nodelab bench grad`: the same toy problem solved with diffrax (JAX, CPU,
float64, or float32 with --precision f32), gradient by RecursiveCheckpointAdjoint (discretise-then-optimise backprop) and by
BacksolveAdjoint (continuous adjoint), median wall time per gradient after compilation.

Side by side with nodelab in one run:

    nodelab bench grad --write-toy /tmp/toy          # writes toy-mlp.json, toy-data.json
    python3 benches/peers/diffrax_grad.py /tmp/toy --nodelab target/release/nodelab

With --nodelab, the script also runs `nodelab bench grad --methods backprop,adjoint` (at the
same --precision) and prints the time ratios. --precision f32 runs JAX without x64 (float32
arrays throughout) against `nodelab bench grad --precision f32`. Not run in CI (needs `pip install jax diffrax equinox`).
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import time


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("toy_dir", help="directory written by `nodelab bench grad --write-toy`")
    ap.add_argument("--repeats", type=int, default=20)
    ap.add_argument("--threads", type=int, default=1,
                    help="XLA CPU threads (1: single-threaded, like nodelab's default)")
    ap.add_argument("--precision", choices=["f64", "f32"], default="f64",
                    help="float type of both sides (f32: JAX without x64)")
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

    results = {}
    for name, adjoint in [
        ("RecursiveCheckpointAdjoint", diffrax.RecursiveCheckpointAdjoint()),
        ("BacksolveAdjoint", diffrax.BacksolveAdjoint()),
    ]:
        fn = jax.jit(jax.value_and_grad(lambda p: loss(p, adjoint), has_aux=True))
        (value, steps), grad = fn(params)
        jax.block_until_ready(grad)
        times = []
        for _ in range(args.repeats):
            start = time.perf_counter()
            (value, steps), grad = fn(params)
            jax.block_until_ready(grad)
            times.append((time.perf_counter() - start) * 1e3)
        results[name] = statistics.median(times)
        print(f"diffrax {name:<28} median {results[name]:9.3f} ms  loss {float(value):.10e}  "
              f"accepted steps {int(steps)}  ({args.repeats} repeats, {args.threads} thread(s), "
              f"{y0.dtype})")

    for binary in args.nodelab:
        cmd = [binary, "bench", "grad", "--methods", "backprop,adjoint", "--no-scaling",
               "--json", "--repeats", str(args.repeats)]
        # f64 is the default: binaries from before --precision existed can be compared too.
        if args.precision != "f64":
            cmd += ["--precision", args.precision]
        out = subprocess.run(cmd, check=True, capture_output=True, text=True)
        rows = {m["method"]: m for m in json.loads(out.stdout)["methods"]}
        print(f"nodelab: {binary} ({args.precision})")
        for ours, theirs in [("backprop", "RecursiveCheckpointAdjoint"),
                             ("adjoint", "BacksolveAdjoint")]:
            t = rows[ours]["time_ms"]
            print(f"  nodelab {ours:<10} median {t:9.3f} ms  loss {rows[ours]['loss']:.10e}  "
                  f"accepted steps {rows[ours]['steps_accepted']}  -> diffrax/nodelab = "
                  f"{results[theirs] / t:.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
