"""Adversarial losses and gradient penalties, as pure functions of discriminator logits.

Every loss takes the raw discriminator outputs (logits, any shape) and returns the scalar
mean, so the same function serves a 2-D toy GAN, a PatchGAN and a StyleGAN.  The formulas
and constants follow TF-GAN (``tfgan.losses.wargs``) so its published golden values
reproduce; the one deliberate difference is documented in :func:`minimax_generator_loss`.

Numerical stability: every log-probability is written with ``log σ(l) = -softplus(-l)``,
so the losses and their gradients stay finite for logits of magnitude 1e4 and beyond.

Penalties take a discriminator *function* ``d_fn: x -> logits`` whose outputs are
per-sample (no cross-sample coupling such as BatchNorm in training mode), because the
input gradient of each sample is taken as the gradient of ``sum(d_fn(x))``.
"""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp

Array = jax.Array
DiscriminatorFn = Callable[[Array], Array]

# TF-GAN adds this inside the square root of the gradient norm so that its gradient stays
# finite where the input gradient vanishes.
_GRADIENT_NORM_EPSILON = 1e-10


def sigmoid_cross_entropy(logits: Array, targets: Array | float) -> Array:
    """Element-wise binary cross-entropy on logits, ``-t·log σ(l) - (1-t)·log(1-σ(l))``.

    Written with ``log σ(l)`` and ``log(1-σ(l)) = log σ(-l)`` so that it is exact and finite
    for any finite logit.
    """
    return -(targets * jax.nn.log_sigmoid(logits) + (1.0 - targets) * jax.nn.log_sigmoid(-logits))


def minimax_discriminator_loss(
    real_logits: Array, fake_logits: Array, label_smoothing: float = 0.0
) -> Array:
    """Goodfellow et al. 2014 (arXiv:1406.2661) discriminator loss.

    ``L_D = mean BCE(l_real, 1 - s/2) + mean BCE(l_fake, 0)``

    which is ``-V(D, G) = -E[log D(x)] - E[log(1 - D(G(z)))]`` for ``s = 0``.  Label
    smoothing uses TensorFlow's semantics (the real target ``y`` becomes
    ``y·(1-s) + s/2``) and, as in TF-GAN, touches only the real term (one-sided smoothing,
    Salimans et al. 2016, arXiv:1606.03498).
    """
    real_target = 1.0 - 0.5 * label_smoothing
    return jnp.mean(sigmoid_cross_entropy(real_logits, real_target)) + jnp.mean(
        sigmoid_cross_entropy(fake_logits, 0.0)
    )


def modified_discriminator_loss(
    real_logits: Array, fake_logits: Array, label_smoothing: float = 0.0
) -> Array:
    """The discriminator loss that goes with the non-saturating generator loss.

    It is the minimax discriminator loss (Goodfellow et al. 2014, arXiv:1406.2661); only the
    generator's loss is modified.  Provided for parity with TF-GAN's loss pairs.
    """
    return minimax_discriminator_loss(real_logits, fake_logits, label_smoothing)


def minimax_generator_loss(fake_logits: Array) -> Array:
    """The saturating generator loss of the original minimax game (arXiv:1406.2661).

    ``L_G = mean log(1 - σ(l_fake)) = mean log σ(-l_fake)``

    It saturates (vanishing gradient) when D confidently rejects fakes.  TF-GAN computes the
    same quantity as ``-minimax_discriminator_loss(ones, l_fake)``, which adds the constant
    ``-softplus(-1)`` from its dummy real logits of 1: TF-GAN's value equals this one minus
    ``softplus(-1) ≈ 0.31326``, and the gradients are identical.
    """
    return jnp.mean(jax.nn.log_sigmoid(-fake_logits))


def modified_generator_loss(fake_logits: Array) -> Array:
    """Non-saturating generator loss (arXiv:1406.2661, §3): ``L_G = -mean log σ(l_fake)``."""
    return -jnp.mean(jax.nn.log_sigmoid(fake_logits))


def wasserstein_generator_loss(fake_logits: Array) -> Array:
    """WGAN generator loss (Arjovsky et al. 2017, arXiv:1701.07875): ``L_G = -mean D(G(z))``."""
    return -jnp.mean(fake_logits)


def wasserstein_discriminator_loss(real_logits: Array, fake_logits: Array) -> Array:
    """WGAN critic loss (arXiv:1701.07875): ``L_D = mean D(G(z)) - mean D(x)``.

    The Lipschitz constraint is separate: weight clipping, a gradient penalty
    (:func:`wasserstein_gradient_penalty`) or spectral normalisation.
    """
    return jnp.mean(fake_logits) - jnp.mean(real_logits)


def wasserstein_drift_discriminator_loss(
    real_logits: Array, fake_logits: Array, epsilon: float = 0.001
) -> Array:
    """PGGAN's critic loss (Karras et al. 2018, arXiv:1710.10196, §A.1): the WGAN critic
    loss plus the drift term ``ε·mean D(x)²`` (ε = 0.001) that keeps the real scores from
    drifting far from zero: ``L_D = mean D(G(z)) − mean D(x) + ε·mean D(x)²``.  The
    gradient penalty is added separately."""
    return wasserstein_discriminator_loss(real_logits, fake_logits) + epsilon * jnp.mean(
        jnp.square(real_logits)
    )


def wasserstein_hinge_generator_loss(fake_logits: Array) -> Array:
    """Hinge-GAN generator loss (Lim & Ye 2017, arXiv:1705.02894): ``L_G = -mean D(G(z))``."""
    return wasserstein_generator_loss(fake_logits)


def wasserstein_hinge_discriminator_loss(real_logits: Array, fake_logits: Array) -> Array:
    """Hinge discriminator loss (arXiv:1705.02894; used by SAGAN and BigGAN).

    ``L_D = mean max(0, 1 - D(x)) + mean max(0, 1 + D(G(z)))``
    """
    return jnp.mean(jax.nn.relu(1.0 - real_logits)) + jnp.mean(jax.nn.relu(1.0 + fake_logits))


def least_squares_generator_loss(fake_logits: Array, real_label: float = 1.0) -> Array:
    """LSGAN generator loss (Mao et al. 2017, arXiv:1611.04076): ``½·mean (D(G(z)) - c)²``."""
    return 0.5 * jnp.mean(jnp.square(fake_logits - real_label))


def least_squares_discriminator_loss(
    real_logits: Array, fake_logits: Array, real_label: float = 1.0, fake_label: float = 0.0
) -> Array:
    """LSGAN discriminator loss (arXiv:1611.04076).

    ``L_D = ½·mean (D(x) - b)² + ½·mean (D(G(z)) - a)²`` with ``b = 1``, ``a = 0``.
    """
    return 0.5 * jnp.mean(jnp.square(real_logits - real_label)) + 0.5 * jnp.mean(
        jnp.square(fake_logits - fake_label)
    )


def input_gradients(d_fn: DiscriminatorFn, x: Array) -> Array:
    """``∇_x D(x)`` for every sample of the batch ``x`` (shape of ``x``).

    Taken as ``∇_x Σ_i D(x_i)``, which is exact when ``d_fn`` treats samples independently.
    """
    return jax.grad(lambda inputs: jnp.sum(d_fn(inputs)))(x)


def _per_sample_squared_norm(grads: Array) -> Array:
    return jnp.sum(jnp.square(grads.reshape(grads.shape[0], -1)), axis=1)


def wasserstein_gradient_penalty(
    d_fn: DiscriminatorFn,
    real: Array,
    fake: Array,
    key: Array,
    target: float = 1.0,
    one_sided: bool = False,
) -> Array:
    """WGAN-GP penalty (Gulrajani et al. 2017, arXiv:1704.00028).

    ``x̂ = x + α (x̃ - x)`` with ``α ~ U[0, 1]`` per sample, and

    ``GP = mean ((‖∇D(x̂)‖ - t) / t)²``

    where ``t`` is ``target`` (TF-GAN's normalisation, so ``t`` rescales the penalty
    rather than only moving its minimum).  ``one_sided=True`` penalises only norms above
    the target: ``mean max(0, ‖∇D(x̂)‖/t - 1)²``.  The weight (λ = 10 in the paper) belongs
    to the caller.
    """
    alpha_shape = (real.shape[0],) + (1,) * (real.ndim - 1)
    alpha = jax.random.uniform(key, alpha_shape, dtype=real.dtype)
    interpolates = real + alpha * (fake - real)
    norms = jnp.sqrt(
        _per_sample_squared_norm(input_gradients(d_fn, interpolates)) + _GRADIENT_NORM_EPSILON
    )
    excess = norms / target - 1.0
    if one_sided:
        excess = jax.nn.relu(excess)
    return jnp.mean(jnp.square(excess))


def latent_center_loss(latent_real: Array, latent_center: Array) -> Array:
    """LAG's centre loss (Berthelot et al. 2020, arXiv:2003.02365): ``mean (D(x) − D(G(y,
    0)))²``, the squared distance *in the discriminator's latent space* between a real
    high-resolution image and the generator's output for its low-resolution seed ``y`` at
    ``z = 0``.  It pulls the centre of G's distribution towards the truth in the features
    D has learned, not in pixels (where the answer is the blurry mean)."""
    return jnp.mean(jnp.square(latent_real - latent_center))


def squared_gradient_norm(d_fn: DiscriminatorFn, x: Array) -> Array:
    """``mean_i ‖∇_x D(x_i)‖²``: the zero-centred gradient penalty at the points ``x``."""
    return jnp.mean(_per_sample_squared_norm(input_gradients(d_fn, x)))


def r1_penalty(d_fn: DiscriminatorFn, real: Array) -> Array:
    """R1 (Mescheder et al. 2018, arXiv:1801.04406): ``mean ‖∇D(x)‖²`` on real data.

    The paper's regulariser is ``(γ/2)·R1``; the caller multiplies by ``γ/2``.
    """
    return squared_gradient_norm(d_fn, real)


def r2_penalty(d_fn: DiscriminatorFn, fake: Array) -> Array:
    """R2 (arXiv:1801.04406): ``mean ‖∇D(x̃)‖²`` on generated samples; weight ``γ/2``."""
    return squared_gradient_norm(d_fn, fake)
