"""Run under XLA_FLAGS=--xla_force_host_platform_device_count=4 (by test_train): one DCGAN
step data-parallel over 4 host devices versus the same step on one device, same global
batch.  Prints a JSON report; the test asserts on it.

Run with JAX_ENABLE_X64=1: the whole state (parameters, BatchNorm statistics, Adam
moments) is cast to float64, so the sharded and the unsharded reductions, which sum in
different orders, agree to float64 rounding (≈ 1e-16 relative); Adam's first update
lr·g/(|g| + ε) amplifies a gradient difference of ~1e-16·|g| by at most lr/ε = 2e4, to
~2e-12, below the 1e-11 the test allows (2e-16 measured).  In float32 the same comparison
has no such bound."""

from __future__ import annotations

import json

import jax
import jax.numpy as jnp
import numpy as np

from gan_jax.models.image_gan import ImageGANConfig, build_image_gan
from gan_jax.training import parallel


def main() -> None:
    config = ImageGANConfig(resolution=16, channels=1, latent_dim=16, width=8, batch_size=16)
    images = jax.random.uniform(jax.random.key(3), (64, 16, 16, 1), jnp.float64, minval=-1.0)
    single = build_image_gan(config, images, jax.random.key(0))
    mesh = parallel.data_mesh(parallel.select_devices(num_devices=4))
    sharded = build_image_gan(config, images, jax.random.key(0), mesh)

    def to_float64(tree):
        return jax.tree.map(
            lambda x: x.astype(jnp.float64) if jnp.issubdtype(x.dtype, jnp.floating) else x, tree
        )

    start_1 = to_float64(single.state)
    start_4 = parallel.replicate(to_float64(sharded.state), mesh)
    state_1, _ = jax.jit(single.step)(start_1)
    state_4, _ = jax.jit(sharded.step)(start_4)
    # The partitioned program: the batch is split, so gradients and BatchNorm statistics
    # need cross-device sums that XLA inserted itself.
    compiled = jax.jit(sharded.step).lower(start_4).compile().as_text()
    leaves_1 = jax.tree.leaves((state_1.g, state_1.d))
    leaves_4 = jax.tree.leaves((state_4.g, state_4.d))
    diff = max(
        float(np.max(np.abs(np.asarray(a) - np.asarray(b)))) for a, b in zip(leaves_1, leaves_4)
    )
    before = jax.tree.leaves(start_1.g["params"])
    after = jax.tree.leaves(state_1.g["params"])
    moved = max(float(np.max(np.abs(np.asarray(a) - np.asarray(b)))) for a, b in zip(before, after))
    print(
        json.dumps(
            {
                "devices": len(jax.devices()),
                "state_devices": len(leaves_4[0].sharding.device_set),
                "all_reduces": compiled.count("all-reduce("),
                "max_abs_difference": diff,
                "dtype": str(leaves_4[0].dtype),
                "params_changed": moved,
            }
        )
    )


if __name__ == "__main__":
    main()
