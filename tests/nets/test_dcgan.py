"""DCGAN nets: every way of computing the up-sampling equals the transposed convolution's
definition, and every way of computing the down-sampling equals the strided convolution,
with equal gradients; the reference config has the paper's layer sizes (parameter counts in
closed form)."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from random_inputs import normal

from gan_jax.models.image_gan import parameter_count
from gan_jax.nets.dcgan import (
    Conv4x4Down,
    ConvTranspose4x4,
    DCGANDiscriminator,
    DCGANGenerator,
    im2col_4x4_stride2,
)
from gan_jax.nets.variables import init_variables


def transposed_conv_by_definition(x: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    """out[2i − 1 + k] += in[i]·w[k] in both spatial axes (PyTorch's ConvTranspose2d(4, 2, 1))."""
    n, h, w, _ = x.shape
    out = np.zeros((n, 2 * h, 2 * w, kernel.shape[-1]))
    for i in range(h):
        for j in range(w):
            for ky in range(4):
                for kx in range(4):
                    oy, ox = 2 * i - 1 + ky, 2 * j - 1 + kx
                    if 0 <= oy < 2 * h and 0 <= ox < 2 * w:
                        out[:, oy, ox] += x[:, i, j] @ kernel[ky, kx]
    return out


UP_METHODS = ["subpixel", "overlap_add", "transpose", "auto"]


# Every comparison of two numerical forms below runs in float64, so that it holds on any
# CPU (summation order differs with vector width and kernel library) and on GPU (TF32
# convolutions): the forms agree to ~1e-15 relative, and 1e-10 leaves room for nothing
# but rounding.


def as_float64(tree):
    """Cast on the host: ``jnp.asarray(a, jnp.float64)`` compiles a conversion per shape."""
    return jax.tree.map(lambda a: jax.device_put(np.asarray(a, np.float64)), tree)


@pytest.mark.parametrize("method", UP_METHODS)
@pytest.mark.parametrize("features", [1, 6])
def test_up_sampling_equals_the_definition(method, features):
    with jax.enable_x64(True):
        key_k = jax.random.key(1)
        x = normal(0, (2, 3, 4, 5), jnp.float64)
        layer = ConvTranspose4x4(features, use_bias=False, method=method)
        params = as_float64(init_variables(layer, key_k, x))
        y = jax.jit(layer.apply)(params, x)  # one program, not one per op
        assert y.dtype == jnp.float64 and y.shape == (2, 6, 8, features)
        expected = transposed_conv_by_definition(
            np.asarray(x), np.asarray(params["params"]["kernel"])
        )
        np.testing.assert_allclose(np.asarray(y), expected, atol=1e-10, rtol=1e-10)


def assert_equal_gradients(layers, x, weights):
    """Gradients w.r.t. parameters and input of ``Σ tanh(layer(x))·weights`` agree (call
    under ``jax.enable_x64``, with float64 ``x`` and ``weights``)."""
    params = as_float64(init_variables(layers[0], jax.random.key(2), x))

    def loss(layer):
        return lambda p, x: jnp.sum(jnp.tanh(layer.apply(p, x)) * weights)

    reference = jax.jit(jax.grad(loss(layers[0]), argnums=(0, 1)))(params, x)
    for layer in layers[1:]:
        grads = jax.jit(jax.grad(loss(layer), argnums=(0, 1)))(params, x)
        for a, b in zip(jax.tree.leaves(grads), jax.tree.leaves(reference)):
            assert a.dtype == jnp.float64
            np.testing.assert_allclose(a, b, atol=1e-10, rtol=1e-10)


@pytest.mark.parametrize("features", [1, 3])
def test_up_sampling_methods_have_equal_gradients(features):
    with jax.enable_x64(True):
        x = normal(1, (4, 4, 4, 8), jnp.float64)
        weights = normal(3, (4, 8, 8, features), jnp.float64)
        layers = [ConvTranspose4x4(features, method=m) for m in ["transpose"] + UP_METHODS[:2]]
        assert_equal_gradients(layers, x, weights)


def test_im2col_patches_are_the_strided_windows():
    x = normal(0, (2, 6, 8, 3))
    patches = np.asarray(im2col_4x4_stride2(x)).reshape(2, 3, 4, 4, 4, 3)
    padded = np.pad(np.asarray(x), ((0, 0), (1, 1), (1, 1), (0, 0)))
    for i in range(3):
        for j in range(4):
            np.testing.assert_array_equal(
                patches[:, i, j], padded[:, 2 * i : 2 * i + 4, 2 * j : 2 * j + 4]
            )


@pytest.mark.parametrize("channels", [1, 3, 8])
def test_down_sampling_methods_equal_the_strided_convolution(channels):
    with jax.enable_x64(True):
        x = normal(0, (3, 8, 8, channels), jnp.float64)
        weights = normal(3, (3, 4, 4, 5), jnp.float64)
        layers = [Conv4x4Down(5, method=m) for m in ("conv", "im2col", "auto")]
        params = as_float64(init_variables(layers[0], jax.random.key(2), x))
        kernel, bias = params["params"]["kernel"], params["params"]["bias"]
        expected = jax.jit(
            lambda x, kernel, bias: (
                jax.lax.conv_general_dilated(
                    x,
                    kernel,
                    (2, 2),
                    ((1, 1), (1, 1)),
                    dimension_numbers=("NHWC", "HWIO", "NHWC"),
                    precision=jax.lax.Precision.HIGHEST,
                )
                + bias
            )
        )(x, kernel, bias)
        for layer in layers:
            y = jax.jit(layer.apply)(params, x)  # one program, not one per op
            assert y.dtype == jnp.float64
            np.testing.assert_allclose(y, expected, atol=1e-10, rtol=1e-10)
        assert_equal_gradients(layers, x, weights)


def test_reference_config_parameter_counts():
    # G: project 100→4·4·256 (no bias) + BN(256), up 256→128, BN(128), up 128→64, BN(64),
    # up 64→1 with bias; D: 1→64 with bias, 64→128 + BN(128), 128→256 + BN(256), 256→1 + bias.
    g_expected = 100 * 4096 + 2 * 256 + 16 * 256 * 128 + 2 * 128 + 16 * 128 * 64 + 2 * 64
    g_expected += 16 * 64 * 1 + 1
    d_expected = 16 * 1 * 64 + 64 + 16 * 64 * 128 + 2 * 128 + 16 * 128 * 256 + 2 * 256
    d_expected += 16 * 256 + 1
    z = jnp.zeros((2, 100))
    g = jax.eval_shape(DCGANGenerator().init, jax.random.key(0), z)
    d = jax.eval_shape(DCGANDiscriminator().init, jax.random.key(1), jnp.zeros((2, 32, 32, 1)))
    assert parameter_count(g) == g_expected == 1_066_881
    assert parameter_count(d) == d_expected == 661_313
    # BatchNorm everywhere but G's output and D's input layer.
    assert len(g["batch_stats"]) == 3 and len(d["batch_stats"]) == 2


def test_discriminator_without_batch_norm_scores_each_sample_alone():
    """``batch_norm=False``: no BatchNorm variables, a bias on every convolution instead
    (the parameter count of the reference D minus BN's scales and offsets plus the biases),
    and each logit a function of its own sample, which R1 and R2 assume."""
    x = np.asarray(normal(3, (6, 32, 32, 3)))  # sliced on the host: no eager programs
    plain = DCGANDiscriminator(width=8, batch_norm=False)
    d = init_variables(plain, jax.random.key(0), x)
    assert "batch_stats" not in d
    with_bn = jax.eval_shape(DCGANDiscriminator(width=8).init, jax.random.key(0), x)
    # BN(16) and BN(32) have 2·(16 + 32) parameters; the two convolutions gain 16 + 32 biases
    assert parameter_count(with_bn) - parameter_count(d) == 2 * 48 - 48
    score = jax.jit(lambda d, x: plain.apply(d, x))
    whole = np.asarray(score(d, x))
    alone = np.concatenate([np.asarray(score(d, x[i : i + 1])) for i in range(6)])
    np.testing.assert_allclose(whole, alone, rtol=1e-5, atol=1e-6)
    # with BatchNorm in training mode a sample's logit depends on the rest of its batch
    batch_norm = DCGANDiscriminator(width=8)
    d_bn = init_variables(batch_norm, jax.random.key(0), x)

    @jax.jit
    def coupled(x):
        return batch_norm.apply(d_bn, x, mutable=["batch_stats"])[0]

    assert np.max(np.abs(coupled(x)[:3] - coupled(x[:3]))) > 1e-3


# Grey 32² and RGB 64²: both resolutions' layouts and both channel counts.
@pytest.mark.parametrize("resolution,channels", [(32, 1), (64, 3)])
def test_shapes_ranges_and_batch_statistics(resolution, channels):
    generator = DCGANGenerator(resolution=resolution, channels=channels)
    discriminator = DCGANDiscriminator()
    z = normal(0, (4, 100))
    g = init_variables(generator, jax.random.key(1), z)
    train_step = jax.jit(lambda g, z: generator.apply(g, z, train=True, mutable=["batch_stats"]))
    images, state = train_step(g, z)
    assert images.shape == (4, resolution, resolution, channels)
    assert np.max(np.abs(np.asarray(images))) <= 1.0
    changed = jax.tree.map(
        lambda a, b: bool(np.any(np.asarray(a) != np.asarray(b))),
        g["batch_stats"],
        state["batch_stats"],
    )
    assert all(jax.tree.leaves(changed))
    d = init_variables(discriminator, jax.random.key(2), images)
    logits = jax.jit(lambda d, x: discriminator.apply(d, x, train=False))(d, images)
    assert logits.shape == (4,)
    # 64×64 gets one more stage: a 512-wide 4×4 map in G and a fourth conv in D.
    if resolution == 64:
        assert g["params"]["Dense_0"]["kernel"].shape == (100, 4 * 4 * 512)
        assert "Conv_4" in d["params"]


def test_resolution_must_be_four_times_a_power_of_two():
    with pytest.raises(ValueError, match="4·2"):
        DCGANGenerator(resolution=48).init(jax.random.key(0), jnp.zeros((1, 100)))


def test_second_order_methods_give_the_same_parameters_and_game_jacobian():
    """The layer methods used for spectra (SECOND_ORDER_METHODS) initialise the same
    parameters (so a training run's checkpoints restore into them) and give the same
    ``Jᵀ·u``: the same function, differentiated twice."""
    from gan_jax.dynamics.spectrum import FlatGame
    from gan_jax.models.image_gan import ImageGANConfig, build_image_gan
    from gan_jax.nets.dcgan import SECOND_ORDER_METHODS

    with jax.enable_x64(True):
        images = jax.random.uniform(jax.random.key(0), (8, 8, 8, 3), jnp.float64, -1.0)
        batch = {"real": images, "key": jax.random.key(1)}
        config = ImageGANConfig(resolution=8, channels=3, width=4, batch_size=8)
        products = []
        for methods in ({}, SECOND_ORDER_METHODS):
            model = build_image_gan(
                ImageGANConfig(**{**config.__dict__, **methods}), images, jax.random.key(2)
            )
            flat = FlatGame(model.game, as_float64(model.state.g), as_float64(model.state.d), batch)
            u = normal(3, flat.theta.shape, jnp.float64)
            products.append((flat.theta, flat.transposed_product(u)))
        np.testing.assert_array_equal(products[0][0], products[1][0])
        assert products[0][1].dtype == jnp.float64 and np.abs(products[0][1]).max() > 0
        np.testing.assert_allclose(products[1][1], products[0][1], atol=1e-10, rtol=1e-10)


def test_penalised_discriminator_computes_strided_convolutions_as_im2col_on_cpu():
    """R1 and R2 differentiate D twice, so ``downsample="auto"`` resolves to the
    second-order method there (on CPU, where it was measured); an explicit choice and an
    unpenalised D keep theirs."""
    from gan_jax.models.image_gan import ImageGANConfig, build_image_gan
    from gan_jax.nets.dcgan import SECOND_ORDER_METHODS

    assert jax.default_backend() == "cpu"
    images = jnp.zeros((8, 8, 8, 1))
    expected = {
        (0.1, "auto"): SECOND_ORDER_METHODS["downsample"],
        (0.0, "auto"): "auto",
        (0.1, "conv"): "conv",
    }
    for (gamma, downsample), method in expected.items():
        config = ImageGANConfig(
            resolution=8, width=4, batch_size=8, downsample=downsample, r2_gamma=gamma,
            d_batch_norm=not gamma,
        )  # fmt: skip
        model = build_image_gan(config, images, jax.random.key(0))
        assert model.discriminator.downsample == method, (gamma, downsample)
