"""Throughput of the LAG training step (:mod:`gan_jax.models.lag`, the ``super_resolution``
defaults: 8×8 → 32×32 RGB, noise 16 channels, 32 filters at the seed's resolution and 16
above it, 4 residual blocks, WGAN-GP critic on D's latent map plus the centre loss, alternating,
Adam(1e-3, 0, 0.99), batch 32, G's EMA) as :func:`gan_jax.training.fit` runs it.  Prints one
JSON object with the configuration, compile seconds, steps/s and images/s.

    python -m benchmarks.lag_step
    python -m benchmarks.lag_step --filters 64 --filters-min 32
"""

from __future__ import annotations

import json
import sys

import jax

from benchmarks.timing import report, time_chunks
from gan_jax import cli
from gan_jax.models.lag import LAGConfig, build_lag
from gan_jax.training.steps import make_chunk


def main() -> None:
    parser = cli.ArgumentParser(description=__doc__.split("\n\n")[0])
    defaults = LAGConfig()
    parser.add_argument("--batch-size", type=int, default=defaults.batch_size)
    parser.add_argument("--filters", type=int, default=defaults.filters)
    parser.add_argument("--filters-min", type=int, default=defaults.filters_min)
    parser.add_argument("--blocks", type=int, default=defaults.blocks)
    parser.add_argument("--chunk", type=int, default=10, help="steps per timed chunk")
    parser.add_argument("--chunks", type=int, default=3, help="timed chunks")
    args = parser.parse_args()
    config = LAGConfig(
        batch_size=args.batch_size,
        filters=args.filters,
        filters_min=args.filters_min,
        blocks=args.blocks,
    )
    images = jax.random.uniform(jax.random.key(0), (512, 32, 32, 3), minval=-1.0)
    model = build_lag(config, images, jax.random.key(1))
    state = jax.tree.map(lambda leaf: leaf.copy(), model.state)
    _, timing = time_chunks(make_chunk(model.step, args.chunk), state, args.chunk, args.chunks)
    print(json.dumps(report("lag_x4_32_train_step", config, timing, args.batch_size, model.state)))


if __name__ == "__main__":
    sys.exit(main())
