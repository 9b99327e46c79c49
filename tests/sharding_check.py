"""Run under XLA_FLAGS=--xla_force_host_platform_device_count=4 (by test_train): one DCGAN
step data-parallel over 4 host devices versus the same step on one device, same global
batch.  Prints a JSON report; the test asserts on it."""

from __future__ import annotations

import json

import jax
import numpy as np

from gan_jax import parallel
from gan_jax.image_gan import ImageGANConfig, build_image_gan


def main() -> None:
    config = ImageGANConfig(resolution=16, channels=1, latent_dim=16, width=8, batch_size=16)
    images = jax.random.uniform(jax.random.key(3), (64, 16, 16, 1), minval=-1.0)
    single = build_image_gan(config, images, jax.random.key(0))
    mesh = parallel.data_mesh(parallel.select_devices(num_devices=4))
    sharded = build_image_gan(config, images, jax.random.key(0), mesh)

    state_1, _ = jax.jit(single.step)(single.state)
    state_4, _ = jax.jit(sharded.step)(sharded.state)
    # The partitioned program: the batch is split, so gradients and BatchNorm statistics
    # need cross-device sums that XLA inserted itself.
    compiled = jax.jit(sharded.step).lower(sharded.state).compile().as_text()
    leaves_1 = jax.tree.leaves((state_1.g, state_1.d))
    leaves_4 = jax.tree.leaves((state_4.g, state_4.d))
    diff = max(
        float(np.max(np.abs(np.asarray(a) - np.asarray(b)))) for a, b in zip(leaves_1, leaves_4)
    )
    before = jax.tree.leaves(single.state.g["params"])
    after = jax.tree.leaves(state_1.g["params"])
    moved = max(float(np.max(np.abs(np.asarray(a) - np.asarray(b)))) for a, b in zip(before, after))
    print(
        json.dumps(
            {
                "devices": len(jax.devices()),
                "state_devices": len(leaves_4[0].sharding.device_set),
                "all_reduces": compiled.count("all-reduce("),
                "max_abs_difference": diff,
                "params_changed": moved,
            }
        )
    )


if __name__ == "__main__":
    main()
