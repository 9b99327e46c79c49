"""Seconds per call of the feature-set metrics (:mod:`gan_jax.metrics`) at a fixed
size: 10,000 real and 10,000 generated 64-d features (Gaussians, the generated set
shifted), 10,000 × 10 logits for the classifier score, and 10,000 32×32 images for the
sliced Wasserstein distance.  Prints one JSON object: per metric the first call (compile
included) and the median of ``--repeats`` further calls.

    python -m benchmarks.feature_metrics
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import time

import jax

from gan_jax import cli, metrics


def seconds(fn, repeats: int) -> dict[str, float]:
    start = time.perf_counter()
    fn()
    first = time.perf_counter() - start
    timed = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        timed.append(time.perf_counter() - start)
    return {"first_call_s": round(first, 3), "seconds": round(statistics.median(timed), 3)}


def main() -> None:
    parser = cli.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--samples", type=int, default=10_000)
    parser.add_argument("--dim", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    keys = jax.random.split(jax.random.key(0), 5)
    real = jax.random.normal(keys[0], (args.samples, args.dim))
    fake = jax.random.normal(keys[1], (args.samples, args.dim)) + 0.1
    logits = 3.0 * jax.random.normal(keys[2], (args.samples, 10))
    images = jax.random.uniform(keys[3], (args.samples, 32, 32, 1), minval=-1.0)
    other = jax.random.uniform(keys[4], (args.samples, 32, 32, 1), minval=-1.0)
    runs = {
        "kernel_distance": lambda: metrics.kernel_distance(real, fake),
        "precision_recall": lambda: metrics.precision_recall(real, fake),
        "density_coverage": lambda: metrics.density_coverage(real, fake),
        "classifier_score": lambda: metrics.classifier_score(logits, splits=10),
        "sliced_wasserstein_distance": lambda: metrics.sliced_wasserstein_distance(images, other),
    }
    print(
        json.dumps(
            {
                "benchmark": "feature_metrics",
                "samples": args.samples,
                "dim": args.dim,
                "backend": jax.default_backend(),
                "cpu_count": os.cpu_count(),
                "jax": jax.__version__,
                **{name: seconds(fn, args.repeats) for name, fn in runs.items()},
            }
        )
    )


if __name__ == "__main__":
    sys.exit(main())
