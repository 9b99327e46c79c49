"""Projection throughput: :func:`gan_jax.latent.project` on the DCGAN-32 generator
(z = 100, width 64; freshly initialised, the cost does not depend on the weights) for
``--targets`` × ``--restarts`` latents, pixel MSE, Adam.  Prints one JSON object: compile
seconds, steps/s, and latent updates/s (rows × steps/s), for the Python-dispatched steps
(the default on CPU) and for one ``lax.scan``.

    python -m benchmarks.projection                  # 16 targets × 16 restarts
"""

from __future__ import annotations

import functools
import json
import time
from collections.abc import Sequence

import jax
import jax.numpy as jnp

from gan_jax import cli, gan, latent
from gan_jax.nets.dcgan import DCGANGenerator


def measure(generate, targets, restarts: int, steps: int, scan: bool) -> dict[str, float]:
    run = functools.partial(
        latent.project, generate, targets, jax.random.key(1), restarts=restarts,
        latent_dim=100, scan=scan,
    )  # fmt: skip
    start = time.perf_counter()
    jax.block_until_ready(run(steps=steps).best_losses)  # compiles, then runs
    first = time.perf_counter() - start
    start = time.perf_counter()
    jax.block_until_ready(run(steps=steps).best_losses)
    seconds = time.perf_counter() - start
    rows = targets.shape[0] * restarts
    return {
        "compile_s": round(first - seconds, 2),
        "steps_per_s": round(steps / seconds, 2),
        "latent_updates_per_s": round(rows * steps / seconds, 1),
    }


def main(argv: Sequence[str] | None = None) -> dict:
    parser = cli.ArgumentParser(prog="python -m benchmarks.projection", description=__doc__)
    parser.add_argument("--targets", type=cli.positive_int, default=16)
    parser.add_argument("--restarts", type=cli.positive_int, default=16)
    parser.add_argument("--steps", type=cli.positive_int, default=50)
    parser.add_argument("--no-scan", action="store_true", help="skip the lax.scan variant")
    args = parser.parse_args(argv)
    generator = DCGANGenerator(resolution=32, channels=1, width=64)
    variables = jax.jit(functools.partial(generator.init, train=False))(
        jax.random.key(0), jnp.zeros((1, 100))
    )
    generate = jax.jit(functools.partial(gan.generate, generator, variables))
    targets = generate(jax.random.normal(jax.random.key(2), (args.targets, 100)))
    report = {
        "backend": jax.default_backend(),
        "targets": args.targets,
        "restarts": args.restarts,
        "steps": args.steps,
        "dispatched": measure(generate, targets, args.restarts, args.steps, scan=False),
    }
    if not args.no_scan:
        report["scan"] = measure(generate, targets, args.restarts, args.steps, scan=True)
    print(json.dumps(report))
    return report


if __name__ == "__main__":
    cli.run_main(main)
