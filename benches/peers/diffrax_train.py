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
"""

import argparse
import json
import os
import statistics
import subprocess
import time


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("dir", help="directory written by `nodelab bench train --write-spiral`")
    ap.add_argument("--nodelab", action="append", default=[],
                    help="path of a nodelab binary to run side by side (repeatable: e.g. the "
                         "binaries before and after a change, in the same run)")
    ap.add_argument("--precision", choices=["f64", "f32"], default="f64",
                    help="float type of both sides (f32: JAX without x64)")
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

    rows = {}
    for name, adjoint in [
        ("backprop vs RecursiveCheckpointAdjoint", diffrax.RecursiveCheckpointAdjoint()),
        ("adjoint vs BacksolveAdjoint", diffrax.BacksolveAdjoint()),
    ]:
        opt = optax.rmsprop(data["lr"], decay=data["decay"], eps=data["eps"])
        times_ms = []
        step = make_step(adjoint, opt)
        p, state = params, opt.init(params)
        for i, idx in enumerate(batches):
            start = time.perf_counter()
            p, state, value = step(p, state, idx)
            jax.block_until_ready(value)
            if i >= warm:
                times_ms.append((time.perf_counter() - start) * 1e3)
        rows[name] = statistics.median(times_ms)
        print(f"diffrax {name.split(' vs ')[1]:<28} median {rows[name]:.3f} ms/iter "
              f"({len(times_ms)} iterations, last loss {float(value):.4e}, {dtype})")

    for binary in args.nodelab:
        cmd = [binary, "bench", "train", "--spiral-only", "--methods", "backprop,adjoint",
               "--iters", str(len(batches) - warm), "--json"]
        # f64 is the default: binaries from before --precision existed can be compared too.
        if args.precision != "f64":
            cmd += ["--precision", args.precision]
        out = subprocess.run(cmd, check=True, capture_output=True, text=True)
        nl = {r["method"]: r["median_ms_per_iter"] for r in json.loads(out.stdout)}
        print(f"nodelab: {binary} ({args.precision})")
        for name, ms in rows.items():
            method = name.split(" vs ")[0]
            print(f"  {name:<40} nodelab {nl[method]:8.3f} ms  diffrax {ms:8.3f} ms  "
                  f"diffrax/nodelab {ms / nl[method]:.2f}")


if __name__ == "__main__":
    main()
