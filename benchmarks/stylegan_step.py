"""Throughput of the StyleGAN training step (:mod:`gan_jax.models.stylegan`, the
``train_stylegan`` defaults: widths ``min(64, 256/r)``, z = w = 128, an 8-layer mapping
network, modulated convolutions with noise, style mixing at 0.9, the residual D, NS loss
with lazy R1 every 16 steps, alternating D-then-G, Adam(2e-3, 0, 0.99), batch 64, G's EMA)
as :func:`gan_jax.training.fit` runs it: jitted donated steps, the regularisation step
compiled apart (:class:`gan_jax.training.PeriodicStep`).  A timed chunk is ``--chunk`` steps
(16: one R1 step and 15 plain ones, the training mix).  Prints one JSON object with the
configuration, compile seconds, steps/s and images/s.

    python -m benchmarks.stylegan_step
    python -m benchmarks.stylegan_step --fmap-base 512 --style adain --batch-size 32
"""

from __future__ import annotations

import json
import sys

import jax

from benchmarks.timing import report, time_chunks
from gan_jax import cli
from gan_jax.models.stylegan import StyleGANConfig, build_stylegan
from gan_jax.training.steps import make_chunk


def main() -> None:
    parser = cli.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--resolution", type=int, default=32)
    parser.add_argument("--channels", type=int, default=1)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--fmap-base", type=int, default=256)
    parser.add_argument("--fmap-max", type=int, default=64)
    parser.add_argument("--style", default="modulated", choices=("modulated", "adain"))
    parser.add_argument("--r1-every", type=int, default=16)
    parser.add_argument("--chunk", type=int, default=16, help="steps per timed chunk")
    parser.add_argument("--chunks", type=int, default=3, help="timed chunks")
    args = parser.parse_args()
    config = StyleGANConfig(
        resolution=args.resolution,
        channels=args.channels,
        batch_size=args.batch_size,
        fmap_base=args.fmap_base,
        fmap_max=args.fmap_max,
        style=args.style,
        r1_every=args.r1_every,
    )
    images = jax.random.uniform(
        jax.random.key(0), (512, args.resolution, args.resolution, args.channels), minval=-1.0
    )
    model = build_stylegan(config, images, jax.random.key(1))
    state = jax.tree.map(lambda leaf: leaf.copy(), model.state)
    _, timing = time_chunks(make_chunk(model.step, args.chunk), state, args.chunk, args.chunks)
    print(
        json.dumps(
            report(
                f"stylegan{args.resolution}_train_step",
                config,
                timing,
                args.batch_size,
                model.state,
            )
        )
    )


if __name__ == "__main__":
    sys.exit(main())
