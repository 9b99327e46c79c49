"""The generator's moving average: the half-life in images, its ramp-up and the fixed-β form
are closed forms; only `params` are averaged."""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np
import pytest

from gan_jax.averaging import GeneratorEMA, ema_decay, update_ema


def test_half_life_in_images_holds_for_any_batch_size():
    for batch in (16, 64, 128):
        steps = 10_000 // batch
        assert ema_decay(batch, 10_000) ** (10_000 / batch) == pytest.approx(0.5)
        assert ema_decay(batch, 10_000) ** steps > 0.5 > ema_decay(batch, 10_000) ** (steps + 1)
    assert ema_decay(64, 0) == 0.0


def test_rampup_shortens_the_half_life_early_on():
    # 0.1 × 20,000 images seen = 2,000 < 10,000: the half-life is 2,000 images
    early = ema_decay(64, 10_000, images_seen=jnp.float32(20_000), rampup=0.1)
    np.testing.assert_allclose(float(early), 0.5 ** (64 / 2_000), rtol=1e-6)
    late = ema_decay(64, 10_000, images_seen=jnp.float32(500_000), rampup=0.1)
    np.testing.assert_allclose(float(late), 0.5 ** (64 / 10_000), rtol=1e-6)
    assert float(ema_decay(64, 10_000, images_seen=0.0, rampup=0.1)) == 0.0  # copy the weights


def test_update_is_the_convex_combination():
    average, current = {"w": jnp.array([1.0, 2.0])}, {"w": jnp.array([3.0, -2.0])}
    np.testing.assert_allclose(update_ema(average, current, 0.75)["w"], [1.5, 1.0])
    np.testing.assert_array_equal(update_ema(average, current, 0.0)["w"], current["w"])


def test_generator_ema_from_beta_averages_params_and_copies_other_collections():
    ema = GeneratorEMA.from_beta(0.999, 64)
    assert ema.half_life_images == pytest.approx(64 * np.log(0.5) / np.log(0.999))
    assert ema.decay(64) == pytest.approx(0.999, rel=1e-12)
    average = {"params": {"w": jnp.array([1.0])}, "w_avg": {"w_avg": jnp.array([5.0])}}
    current = {"params": {"w": jnp.array([3.0])}, "w_avg": {"w_avg": jnp.array([7.0])}}
    updated = GeneratorEMA(10_000).update(average, current, 10_000)  # one half-life: β = ½
    np.testing.assert_allclose(updated["params"]["w"], [2.0])
    np.testing.assert_array_equal(updated["w_avg"]["w_avg"], [7.0])  # copied, not averaged
    with pytest.raises(ValueError, match="β"):
        GeneratorEMA.from_beta(1.0, 64)
