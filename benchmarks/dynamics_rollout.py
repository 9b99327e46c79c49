"""Throughput of game rollouts through the library's abstraction (prints JSON).

* per scheme: compile seconds and steps/s of a 10⁶-step rollout of the scalar bilinear
  game, trajectory stored (``rollout`` returns all 10⁶ + 1 states);
* a raw ``lax.scan`` of the two-line simultaneous update, as the floor to compare with;
* the sweep: 256 step sizes × every scheme × 10⁴ steps in one jitted call (vmap over η),
  reducing each rollout to its growth rate; compile seconds and wall seconds.

Timings are the best of ``--repeats`` runs after compilation, blocking on the result.

    python -m benchmarks.dynamics_rollout
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from collections.abc import Callable, Sequence

import jax
import jax.numpy as jnp
import optax

from gan_jax import cli
from gan_jax import dynamics as dy
from gan_jax.dynamics.analysis import log_growth_rate

SCHEMES: dict[str, Callable[[jax.Array], object]] = {
    "simultaneous": lambda eta: dy.simultaneous(optax.sgd(eta)),
    "alternating": lambda eta: dy.alternating(optax.sgd(eta)),
    "extragradient": lambda eta: dy.extragradient(optax.sgd(eta)),
    "optimistic": lambda eta: dy.optimistic(optax.sgd(eta)),
    "consensus": lambda eta: dy.consensus(optax.sgd(eta), gamma=1.0),
}


def time_compiled(fn: Callable, *args, repeats: int) -> tuple[float, float]:
    """(compile seconds, best run seconds) of ``jax.jit(fn)(*args)``."""
    start = time.perf_counter()
    compiled = jax.jit(fn).lower(*args).compile()
    compile_seconds = time.perf_counter() - start
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        jax.block_until_ready(compiled(*args))
        best = min(best, time.perf_counter() - start)
    return compile_seconds, best


def main(argv: Sequence[str] | None = None) -> dict:
    parser = cli.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=cli.positive_int, default=1_000_000)
    parser.add_argument("--sweep-etas", type=cli.positive_int, default=256)
    parser.add_argument("--sweep-steps", type=cli.positive_int, default=10_000)
    parser.add_argument("--repeats", type=cli.positive_int, default=3)
    parser.add_argument(
        "--unroll", type=cli.positive_int, default=1, help="lax.scan unroll of the rollout"
    )
    cli.add_toy_device_flag(parser)
    args = parser.parse_args(argv)
    with cli.toy_device(args.device):
        return run(args)


def run(args: argparse.Namespace) -> dict:
    game = dy.bilinear()
    one = jnp.float32(1.0)
    eta = jnp.float32(0.01)
    results: dict = {
        "device": str(jnp.zeros(()).devices().pop()),
        "backend": jax.default_backend(),
        "jax": jax.__version__,
        "machine": platform.machine(),
        "rollout_steps": args.steps,
        "schemes": {},
    }

    def raw_scan(eta):
        def body(z, _):
            x, y = z
            z = (x - eta * y, y + eta * x)
            return z, z

        return jax.lax.scan(body, (one, one), None, length=args.steps)[1]

    compile_s, run_s = time_compiled(raw_scan, eta, repeats=args.repeats)
    results["raw_scan_simultaneous"] = {
        "compile_seconds": compile_s,
        "steps_per_second": args.steps / run_s,
    }

    for name, make in SCHEMES.items():

        def run(eta, make=make):
            traj = dy.rollout(game, make(eta), one, one, args.steps, unroll=args.unroll)
            return traj.g, traj.d

        compile_s, run_s = time_compiled(run, eta, repeats=args.repeats)
        results["schemes"][name] = {
            "compile_seconds": compile_s,
            "steps_per_second": args.steps / run_s,
        }

    def sweep(etas):
        rates = []
        for make in SCHEMES.values():

            def growth(eta, make=make):
                traj = dy.rollout(game, make(eta), one, one, args.sweep_steps)
                return log_growth_rate(jnp.hypot(traj.g, traj.d), args.sweep_steps // 2)

            rates.append(jax.vmap(growth)(etas))
        return jnp.stack(rates)

    etas = jnp.linspace(1e-3, 0.5, args.sweep_etas, dtype=jnp.float32)
    compile_s, run_s = time_compiled(sweep, etas, repeats=args.repeats)
    results["sweep"] = {
        "step_sizes": args.sweep_etas,
        "schemes": len(SCHEMES),
        "steps": args.sweep_steps,
        "compile_seconds": compile_s,
        "wall_seconds": run_s,
        "scheme_steps_per_second": args.sweep_etas * len(SCHEMES) * args.sweep_steps / run_s,
    }
    print(json.dumps(results, indent=2))
    return results


if __name__ == "__main__":
    cli.run_main(main)
