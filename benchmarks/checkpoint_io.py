"""Cost of checkpoint integrity: save and restore of the DCGAN-32 training state (G, D,
both Adam states, BatchNorm statistics, key: what ``train_dcgan`` checkpoints), with and
without the SHA-256 leaf digests of :mod:`gan_jax.training.checkpoint`.  Prints one JSON object
(medians over ``--repeats``, seconds).

    python -m benchmarks.checkpoint_io
"""

from __future__ import annotations

import json
import statistics
import tempfile
import time
from collections.abc import Sequence
from contextlib import nullcontext
from unittest import mock

import jax

from gan_jax import cli
from gan_jax.models.image_gan import ImageGANConfig, build_image_gan
from gan_jax.training import checkpoint


def state_bytes(tree) -> int:
    leaves = jax.tree.leaves(checkpoint._keys_to_data(tree))
    return sum(leaf.size * leaf.dtype.itemsize for leaf in leaves)


def time_round_trips(state, repeats: int, digests: bool) -> dict[str, float]:
    saves, restores = [], []
    # without: every leaf digest is skipped (an empty table is stored and compared)
    skip = mock.patch.object(checkpoint, "leaf_digests", lambda tree: {})
    context = nullcontext() if digests else skip
    with context, tempfile.TemporaryDirectory() as directory:
        ckpt = checkpoint.Checkpointer(directory, max_to_keep=repeats + 1)
        for step in range(repeats):
            start = time.perf_counter()
            ckpt.save(step, state)
            saves.append(time.perf_counter() - start)
            start = time.perf_counter()
            restored = ckpt.restore(step, template=state)
            jax.block_until_ready(restored)
            restores.append(time.perf_counter() - start)
        ckpt.close()
    return {"save_s": statistics.median(saves), "restore_s": statistics.median(restores)}


def main(argv: Sequence[str] | None = None) -> dict:
    parser = cli.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=cli.positive_int, default=5)
    args = parser.parse_args(argv)
    images = jax.random.uniform(jax.random.key(0), (256, 32, 32, 1), minval=-1.0)
    state = build_image_gan(ImageGANConfig(), images, jax.random.key(1)).state
    start = time.perf_counter()
    for _ in range(args.repeats):
        checkpoint.leaf_digests(state)
    digest_s = (time.perf_counter() - start) / args.repeats
    result = {
        "state_megabytes": state_bytes(state) / 1e6,
        "leaves": len(jax.tree.leaves(state)),
        "digests_only_s": digest_s,
        "with_digests": time_round_trips(state, args.repeats, digests=True),
        "without_digests": time_round_trips(state, args.repeats, digests=False),
        "jax": jax.__version__,
        "backend": jax.default_backend(),
    }
    print(json.dumps(result, indent=2))
    return result


if __name__ == "__main__":
    cli.run_main(main)
