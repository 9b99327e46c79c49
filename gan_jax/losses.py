"""Adversarial losses and gradient penalties, as pure functions of discriminator logits.

Every loss takes the raw discriminator outputs (logits, any shape) and returns the scalar
mean, so the same function serves a 2-D toy GAN, a PatchGAN and a StyleGAN.  The formulas
and constants follow TF-GAN (``tfgan.losses.wargs``) so its published golden values
reproduce; the one deliberate difference is documented in :func:`minimax_generator_loss`.

Numerical stability: every log-probability is written with ``log σ(l) = -softplus(-l)``,
so the losses and their gradients stay finite for logits of magnitude 1e4 and beyond.

A generator loss takes the fake logits alone, unless it is marked with
:func:`uses_real_logits`: the relativistic losses compare each fake with real samples, so
they take ``(real_logits, fake_logits)`` (:func:`gan_jax.gan.gan_game` reads the mark).

Penalties take a discriminator *function* ``d_fn: x -> logits`` whose outputs are
per-sample (no cross-sample coupling such as BatchNorm in training mode), because the
input gradient of each sample is taken as the gradient of ``sum(d_fn(x))``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import optax

__all__ = [
    "CategoricalCode",
    "GaussianCode",
    "acgan_discriminator_loss",
    "acgan_generator_loss",
    "batch_all_triplet_loss",
    "batch_hard_triplet_loss",
    "combine_adversarial_loss",
    "cycle_consistency_loss",
    "input_gradients",
    "latent_center_loss",
    "least_squares_discriminator_loss",
    "least_squares_generator_loss",
    "minimax_discriminator_loss",
    "minimax_generator_loss",
    "mode_seeking_loss",
    "modified_discriminator_loss",
    "modified_generator_loss",
    "mutual_information_penalty",
    "non_saturating_generator_loss",
    "pairwise_distances",
    "r1_penalty",
    "r2_penalty",
    "relativistic_discriminator_loss",
    "relativistic_generator_loss",
    "relativistic_paired_discriminator_loss",
    "relativistic_paired_generator_loss",
    "sigmoid_cross_entropy",
    "squared_gradient_norm",
    "uses_real_logits",
    "wasserstein_discriminator_loss",
    "wasserstein_drift_discriminator_loss",
    "wasserstein_generator_loss",
    "wasserstein_gradient_penalty",
    "wasserstein_hinge_discriminator_loss",
    "wasserstein_hinge_generator_loss",
]

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


# the discoverable name of TF-GAN's "modified" generator loss (Goodfellow et al. 2014, §3)
non_saturating_generator_loss = modified_generator_loss


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


# ---------------------------------------------------------------- conditional and multi-task


def acgan_generator_loss(fake_class_logits: Array, one_hot_labels: Array) -> Array:
    """AC-GAN's auxiliary-classifier loss for G (Odena et al. 2017, arXiv:1610.09585):
    ``L_G = mean_i CE(y_i, softmax(c(G(z_i, y_i))))``, the softmax cross-entropy of the
    class the sample was generated for.  TF-GAN's ``acgan_generator_loss``; add it to an
    adversarial loss."""
    return jnp.mean(optax.softmax_cross_entropy(fake_class_logits, one_hot_labels))


def acgan_discriminator_loss(
    fake_class_logits: Array, real_class_logits: Array, one_hot_labels: Array
) -> Array:
    """AC-GAN's auxiliary-classifier loss for D (arXiv:1610.09585): the class
    cross-entropy on generated *and* real samples, ``mean CE(y, c(G(z, y))) + mean CE(y,
    c(x))`` (TF-GAN's ``acgan_discriminator_loss``; D classifies fakes as their intended
    class too)."""
    return jnp.mean(optax.softmax_cross_entropy(fake_class_logits, one_hot_labels)) + jnp.mean(
        optax.softmax_cross_entropy(real_class_logits, one_hot_labels)
    )


def uses_real_logits(generator_loss: Callable[[Array, Array], Array]) -> Callable:
    """Mark ``generator_loss`` as one of ``(real_logits, fake_logits)`` (a relativistic
    loss): :func:`gan_jax.gan.gan_game` then scores the real batch in G's loss too and
    passes both.  Returns the function itself, marked."""
    generator_loss.uses_real_logits = True  # type: ignore[attr-defined]
    return generator_loss


def _relativistic_logits(real_logits: Array, fake_logits: Array) -> tuple[Array, Array]:
    return real_logits - jnp.mean(fake_logits), fake_logits - jnp.mean(real_logits)


def relativistic_discriminator_loss(real_logits: Array, fake_logits: Array) -> Array:
    """Relativistic average GAN (Jolicoeur-Martineau 2018, arXiv:1807.00734, RaSGAN):
    with ``D̃(x) = C(x) − mean C(x̃)`` and ``D̃(x̃) = C(x̃) − mean C(x)``,
    ``L_D = −mean log σ(D̃(x)) − mean log(1 − σ(D̃(x̃)))``: D judges whether a real sample
    is more realistic than the average fake, and the reverse."""
    rel_real, rel_fake = _relativistic_logits(real_logits, fake_logits)
    return jnp.mean(jax.nn.softplus(-rel_real)) + jnp.mean(jax.nn.softplus(rel_fake))


@uses_real_logits
def relativistic_generator_loss(real_logits: Array, fake_logits: Array) -> Array:
    """RaSGAN's generator loss (arXiv:1807.00734), the discriminator's with the roles
    swapped: ``L_G = −mean log σ(D̃(x̃)) − mean log(1 − σ(D̃(x)))``; unlike the standard
    GAN, G's gradient also flows through the real samples' term."""
    rel_real, rel_fake = _relativistic_logits(real_logits, fake_logits)
    return jnp.mean(jax.nn.softplus(-rel_fake)) + jnp.mean(jax.nn.softplus(rel_real))


def relativistic_paired_discriminator_loss(real_logits: Array, fake_logits: Array) -> Array:
    """The relativistic pairing GAN's D loss (RpGAN; Jolicoeur-Martineau 2018,
    arXiv:1807.00734; R3GAN's loss, Huang et al. 2024, arXiv:2501.05441, eq. 2):
    ``L_D = mean_i f(D(x̃_i) − D(x_i))`` with ``f(t) = softplus(t) = −log σ(−t)``, over
    pairs of one real ``x_i`` and one fake ``x̃_i`` (the two arrays pair up element by
    element).  Each fake is judged against its own real partner, not the batch average
    (RaSGAN, :func:`relativistic_discriminator_loss`); with R1 and R2, the R3GAN paper
    proves local convergence and reports no mode dropping on Stacked MNIST."""
    return jnp.mean(jax.nn.softplus(fake_logits - real_logits))


@uses_real_logits
def relativistic_paired_generator_loss(real_logits: Array, fake_logits: Array) -> Array:
    """RpGAN's G loss (arXiv:2501.05441, eq. 2): the same pairs with the roles swapped,
    ``L_G = mean_i softplus(D(x_i) − D(x̃_i))``."""
    return jnp.mean(jax.nn.softplus(real_logits - fake_logits))


class CategoricalCode(NamedTuple):
    """Q's prediction of a categorical code: ``logits`` (..., K); ``log_prob(c)`` of class
    indices ``c`` (...)."""

    logits: Array

    def log_prob(self, code: Array) -> Array:
        log_p = jax.nn.log_softmax(self.logits, axis=-1)
        index = jnp.asarray(code).astype(jnp.int32)[..., None]
        return jnp.take_along_axis(log_p, index, axis=-1)[..., 0]


class GaussianCode(NamedTuple):
    """Q's prediction of a continuous code: a factorised Gaussian ``N(mean, scale²)``;
    ``log_prob(c)`` per element, ``−(c − μ)²/(2s²) − log s − ½ log 2π``."""

    mean: Array
    scale: Array

    def log_prob(self, code: Array) -> Array:
        z = (code - self.mean) / self.scale
        return -0.5 * jnp.square(z) - jnp.log(self.scale) - 0.5 * math.log(2.0 * math.pi)


def mutual_information_penalty(
    structured_generator_inputs: Sequence[Array],
    predicted_distributions: Sequence[CategoricalCode | GaussianCode],
) -> Array:
    """InfoGAN's variational mutual-information penalty (Chen et al. 2016,
    arXiv:1606.03657): ``−mean_k mean log Q(c_k | G(z, c))``, the negative log-likelihood
    of each structured code ``c_k`` under the recognition network's predicted distribution
    for it, averaged over the codes (TF-GAN's ``mutual_information_penalty``).  Minimising
    it over G and Q maximises the lower bound ``H(c) − L`` on ``I(c; G(z, c))``."""
    if len(structured_generator_inputs) != len(predicted_distributions):
        raise ValueError(
            f"{len(structured_generator_inputs)} codes but "
            f"{len(predicted_distributions)} predicted distributions"
        )
    log_probs = [
        jnp.mean(dist.log_prob(code))
        for code, dist in zip(structured_generator_inputs, predicted_distributions, strict=True)
    ]
    return -jnp.mean(jnp.stack(log_probs))


def cycle_consistency_loss(
    x: Array, x_reconstructed: Array, y: Array, y_reconstructed: Array
) -> Array:
    """CycleGAN's cycle-consistency loss (Zhu et al. 2017, arXiv:1703.10593) in TF-GAN's
    normalisation: ``½ (mean |x − F(G(x))| + mean |y − G(F(y))|)``."""
    return 0.5 * (jnp.mean(jnp.abs(x - x_reconstructed)) + jnp.mean(jnp.abs(y - y_reconstructed)))


def _global_norm(tree) -> Array:
    """``‖tree‖₂`` over every leaf, scaled by the largest magnitude first so that squares
    cannot overflow (TF-GAN's numerically stable global norm)."""
    leaves = [jnp.ravel(leaf) for leaf in jax.tree.leaves(tree)]
    flat = jnp.concatenate(leaves) if leaves else jnp.zeros((0,))
    scale = jnp.maximum(jnp.max(jnp.abs(flat), initial=0.0), jnp.finfo(flat.dtype).tiny)
    return scale * jnp.sqrt(jnp.sum(jnp.square(flat / scale)))


def combine_adversarial_loss(
    main_loss_fn: Callable[[Any], Array],
    adversarial_loss_fn: Callable[[Any], Array],
    params: Any,
    *,
    weight_factor: float | None = None,
    gradient_ratio: float | None = None,
    gradient_ratio_epsilon: float = 1e-6,
) -> Array:
    """A task loss plus a weighted adversarial loss, ``main + c · adversarial``, both
    functions of ``params`` (TF-GAN's ``combine_adversarial_loss``; the balancing of
    Johnson et al.'s and Ledig et al.'s image losses, arXiv:1609.04802).

    Exactly one of:

    * ``weight_factor``: ``c = weight_factor``;
    * ``gradient_ratio``: ``c = ‖∇main‖ / (‖∇adversarial‖ · gradient_ratio + ε)``, the
      gradient norms over ``params``, so that the adversarial gradient is ``1 /
      gradient_ratio`` times the main one.  ``c`` is held constant under differentiation
      (``stop_gradient``), as in TF-GAN.

    A zero weight or ratio returns the main loss alone (the adversarial loss is not
    evaluated).  Differentiate the result with respect to ``params`` as usual.
    """
    if (weight_factor is None) == (gradient_ratio is None):
        raise ValueError("give exactly one of weight_factor and gradient_ratio")
    main = main_loss_fn(params)
    if (weight_factor if weight_factor is not None else gradient_ratio) == 0:
        return main
    adversarial = adversarial_loss_fn(params)
    if weight_factor is not None:
        return main + weight_factor * adversarial
    main_norm = _global_norm(jax.grad(main_loss_fn)(params))
    adversarial_norm = _global_norm(jax.grad(adversarial_loss_fn)(params))
    coefficient = main_norm / (adversarial_norm * gradient_ratio + gradient_ratio_epsilon)
    return main + jax.lax.stop_gradient(coefficient) * adversarial


def pairwise_distances(embeddings: Array) -> Array:
    """Euclidean distances ``‖e_i − e_j‖`` ``(N, N)`` from ``‖e_i‖² + ‖e_j‖² − 2 e_i·e_j``,
    clipped at 0, with a zero gradient (not NaN) where a distance is 0 (the diagonal)."""
    squared_norms = jnp.sum(jnp.square(embeddings), axis=-1)
    squared = squared_norms[:, None] + squared_norms[None, :] - 2.0 * embeddings @ embeddings.T
    squared = jnp.maximum(squared, 0.0)
    positive = squared > 0.0
    return jnp.where(positive, jnp.sqrt(jnp.where(positive, squared, 1.0)), 0.0)


def batch_hard_triplet_loss(embeddings: Array, labels: Array, margin: float = 0.2) -> Array:
    """The triplet loss with batch-hard mining (Hermann, Beyer and Leibe 2017,
    arXiv:1703.07737): for every anchor ``a`` of the batch, its hardest positive (the
    farthest example of its class) and its hardest negative (the nearest of another class),

        L = mean_a max(0, m + max_{p: y_p = y_a, p ≠ a} d(a, p) − min_{n: y_n ≠ y_a} d(a, n)),

    with Euclidean ``d`` (:func:`pairwise_distances`).  An anchor without a positive or a
    negative in the batch contributes 0 and is left out of the mean."""
    distances = pairwise_distances(embeddings)
    same = labels[:, None] == labels[None, :]
    others = ~jnp.eye(labels.shape[0], dtype=bool)
    positives, negatives = same & others, ~same
    hardest_positive = jnp.max(jnp.where(positives, distances, -jnp.inf), axis=1)
    hardest_negative = jnp.min(jnp.where(negatives, distances, jnp.inf), axis=1)
    valid = positives.any(axis=1) & negatives.any(axis=1)
    per_anchor = jnp.maximum(margin + hardest_positive - hardest_negative, 0.0)
    per_anchor = jnp.where(valid, per_anchor, 0.0)
    return jnp.sum(per_anchor) / jnp.maximum(jnp.sum(valid), 1)


def batch_all_triplet_loss(embeddings: Array, labels: Array, margin: float = 0.2) -> Array:
    """The triplet loss over every valid triplet of the batch, averaged over the active
    ones (Hermans, Beyer and Leibe 2017, arXiv:1703.07737, "batch all", BA≠0): for anchors
    ``a``, positives ``p ≠ a`` with ``y_p = y_a`` and negatives ``n`` with ``y_n ≠ y_a``,

        L = Σ_{a,p,n} max(0, m + d(a, p) − d(a, n)) / #{(a, p, n): the term > 0},

    with Euclidean ``d`` (:func:`pairwise_distances`); 0 when no triplet is active.  Unlike
    :func:`batch_hard_triplet_loss` it does not collapse from a random initialisation on
    MNIST (every embedding on one point, the loss stuck at ``m``)."""
    distances = pairwise_distances(embeddings)
    same = labels[:, None] == labels[None, :]
    positives = same & ~jnp.eye(labels.shape[0], dtype=bool)
    valid = positives[:, :, None] & ~same[:, None, :]
    terms = margin + distances[:, :, None] - distances[:, None, :]
    terms = jnp.where(valid, jnp.maximum(terms, 0.0), 0.0)
    return jnp.sum(terms) / jnp.maximum(jnp.sum(terms > 0.0), 1)


def mode_seeking_loss(
    fake_1: Array, fake_2: Array, z_1: Array, z_2: Array, epsilon: float = 1e-5
) -> Array:
    """Mode-seeking regularisation of a conditional generator (Mao et al. 2019,
    arXiv:1903.05628): with two latent codes for the same conditions,

        L_ms = 1 / (mean|G(c, z₁) − G(c, z₂)| / mean|z₁ − z₂| + ε),

    the reciprocal form of the paper's code, minimised by G: it grows without bound as G
    ignores ``z`` (the two samples coincide)."""
    ratio = jnp.mean(jnp.abs(fake_1 - fake_2)) / jnp.mean(jnp.abs(z_1 - z_2))
    return 1.0 / (ratio + epsilon)
