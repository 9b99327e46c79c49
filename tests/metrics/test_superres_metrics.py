"""The super-resolution study's data and metrics (issue 16), pinned to their definitions:
area down-sampling, LR consistency, the sharpness ratio, per-pixel diversity and the
photograph patches with whole photographs held out."""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np
from random_inputs import normal, uniform

from gan_jax.metrics import (
    detail_by_region,
    diversity_by_region,
    edge_and_flat_masks,
    lr_consistency,
    per_pixel_std,
    psnr,
    sharpness_ratio,
)
from gan_jax.nets.progressive import area_downsample, upsample
from gan_jax.photographs import load_photograph_patches, patches


def test_area_downsampling_is_the_block_mean():
    x = np.random.default_rng(0).normal(size=(2, 8, 12, 3))
    y = np.asarray(area_downsample(jnp.asarray(x), 4))
    expected = np.empty((2, 2, 3, 3))
    for i in range(2):
        for j in range(3):
            expected[:, i, j] = x[:, 4 * i : 4 * i + 4, 4 * j : 4 * j + 4].mean(axis=(1, 2))
    np.testing.assert_allclose(y, expected, rtol=1e-6, atol=1e-7)


def test_lr_consistency_is_exact_for_an_upsampled_copy_of_the_input():
    low = uniform(0, (3, 8, 8, 3), minval=-1, maxval=1)
    copy = upsample(upsample(low))  # nearest ×4: every 4×4 block holds its LR pixel
    assert np.all(np.isinf(np.asarray(lr_consistency(copy, low))))
    noisy = copy + 0.01 * normal(1, copy.shape)
    assert np.all(np.asarray(lr_consistency(noisy, low)) > 40)  # finite, and high
    # PSNR's definition: 10·log10(2²/MSE)
    np.testing.assert_allclose(psnr(low + 0.1, low), 10 * np.log10(4 / 0.01), rtol=1e-5)


def test_sharpness_ratio_is_one_for_identical_images_and_below_one_when_blurred():
    hr = uniform(2, (4, 32, 32, 3), minval=-1, maxval=1)
    assert sharpness_ratio(hr, hr) == 1.0
    blurred = upsample(area_downsample(hr, 2))  # a 2×2 box blur
    assert sharpness_ratio(blurred, hr) < 0.6
    assert sharpness_ratio(hr, blurred) > 1.0


def test_diversity_is_the_per_pixel_std_and_finds_the_edges():
    # inputs built with NumPy (jnp ops outside jit each compile a program)
    target = np.zeros((1, 16, 16, 1), np.float32)
    target[:, :, 8:] = 1.0  # one vertical edge
    edges, flat = (np.asarray(m) for m in edge_and_flat_masks(target, fraction=0.1))
    assert edges[0][:, 7].all() and not flat[0][:, 7].any()
    # samples that differ only at the edge column: std 0.5 there (±0.5), 0 elsewhere
    signs = np.array([1.0, -1.0], np.float32)[:, None, None, None, None]
    column = (np.arange(16) == 7).astype(np.float32)[None, None, None, :, None]
    samples = np.broadcast_to(target, (2, 1, 16, 16, 1)) + 0.5 * signs * column
    np.testing.assert_allclose(np.asarray(per_pixel_std(samples))[0][:, 7], 0.5)
    region = diversity_by_region(samples, target, fraction=0.1)
    assert region["edges"] > 0.2 and region["flat"] == 0.0


def test_photograph_patches_hold_out_whole_photographs():
    image = np.arange(40 * 48 * 3).reshape(40, 48, 3)
    crops = patches(image, size=32, stride=16)
    assert crops.shape == (2, 32, 32, 3)  # corners (0, 0) and (0, 16)
    np.testing.assert_array_equal(crops[1], image[:32, 16:48])
    train, test = load_photograph_patches("train"), load_photograph_patches("test")
    assert train.image_shape == (32, 32, 3) == test.image_shape
    assert float(train.images.min()) >= -1 and float(train.images.max()) <= 1
    train_set = {np.asarray(p).tobytes() for p in train.images[::50]}
    assert not any(np.asarray(p).tobytes() in train_set for p in test.images[::50])
    assert len(train) > 2500 and len(test) > 1000


def test_detail_by_region_finds_speckle_on_flat_regions():
    """A flat half and an edge: the truth's detail layer is 0 on its flat pixels.  Adding a
    ±a checkerboard (its 4×4 block means are 0, so its seed and their bicubic are 0 and
    its detail layer is itself) gives flat-region RMS detail exactly ``a``; the truth
    itself has edge ratio 1."""
    target = np.zeros((1, 16, 16, 1), np.float32)
    target[:, :, 8:] = 1.0
    target[:, :8, :] += np.linspace(0.0, 0.5, 16, dtype=np.float32)[None, None, :, None]
    same = detail_by_region(target, target, 4)
    assert same["edges_ratio"] == 1.0 and same["flat_rms"] == same["target_flat_rms"]
    checker = np.indices((16, 16)).sum(axis=0) % 2 * 2.0 - 1.0
    flat = np.zeros((1, 16, 16, 1), np.float32)  # a flat target
    speckled = flat + 0.1 * checker[None, :, :, None].astype(np.float32)
    numbers = detail_by_region(speckled, flat, 4)
    assert numbers["target_flat_rms"] == 0.0
    np.testing.assert_allclose(numbers["flat_rms"], 0.1, rtol=1e-5)
