"""Semantic Pyramid generation (Shocher et al. 2020, arXiv:2003.06221): a generator fed the
features of a frozen classifier at one level of its hierarchy, from maps that pin the
source's pixels down to class scores that keep only its semantics.

The pyramid is :class:`~gan_jax.nets.classifier.PyramidClassifier`'s seven levels (maps at
strides 2 … 32, then fc and logits), each divided by its root-mean-square over training
images so that every level enters G at unit scale.  **Hierarchical masking**: for each
example one level ``ℓ`` is chosen (uniformly in training) and every other level is
multiplied by 0, so G's output does not depend on them at all (a test checks the
gradient).  The maps enter G at their resolution, the vectors (fc, logits) through its
conditional BatchNorms, together with the one-hot of ``ℓ``
(:class:`~gan_jax.nets.conditional.ConditionalGenerator`; the 1×1 stride-32 map counts as a
vector).

G's feature loss (:func:`level_reconstruction_loss`) is the paper's reconstruction loss at
the chosen level: ``Σ_j m_j · mean (φ_j(G(…)) − φ_j(x))²`` over the normalised levels, with
``m`` the mask.  The projection discriminator is conditioned on the source's fc features
scaled to unit norm (our choice: the one level that always carries its semantics; the masking
concerns what G sees).
"""

from __future__ import annotations

from collections.abc import Sequence

import jax
import jax.numpy as jnp

from gan_jax.nets.classifier import PYRAMID_LEVELS

Array = jax.Array
NUM_LEVELS = len(PYRAMID_LEVELS)
FC_LEVEL = PYRAMID_LEVELS.index("fc")


def level_scales(levels: Sequence[Array]) -> Array:
    """The root-mean-square of every level over a batch of images ``(NUM_LEVELS,)``."""
    return jnp.stack([jnp.sqrt(jnp.mean(jnp.square(level)) + 1e-12) for level in levels])


def normalize_levels(levels: Sequence[Array], scales: Array) -> list[Array]:
    """Each pyramid level divided by its scale (``scales[j]``), so levels are comparable."""
    return [level / scales[j] for j, level in enumerate(levels)]


def level_mask(chosen: Array) -> Array:
    """One-hot ``(N, NUM_LEVELS)`` masks of the chosen levels ``(N,)``."""
    return jax.nn.one_hot(chosen, NUM_LEVELS)


def masked_inputs(levels: Sequence[Array], mask: Array) -> tuple[Array, tuple[Array, ...]]:
    """G's inputs ``(condition, maps)`` from normalised ``levels`` and ``mask`` ``(N, L)``:
    every level multiplied by its mask entry; maps larger than 1×1 stay maps, the rest
    (1×1 maps and vectors) are flattened and concatenated with the mask itself into the
    condition (a 1×1 map is a global feature vector: as a map it would only shift G's
    4×4 activations channel by channel)."""
    masked = [
        level * mask[:, j].reshape((-1,) + (1,) * (level.ndim - 1))
        for j, level in enumerate(levels)
    ]
    maps = tuple(level for level in masked if level.ndim == 4 and level.shape[1] > 1)
    vectors = [
        level.reshape(level.shape[0], -1)
        for level in masked
        if level.ndim == 2 or level.shape[1] == 1
    ]
    return jnp.concatenate(vectors + [mask], axis=-1), maps


def level_reconstruction_loss(
    fake_levels: Sequence[Array], target_levels: Sequence[Array], mask: Array
) -> Array:
    """``mean_i Σ_j m_ij · mean (φ_j(fake_i) − φ_j(x_i))²`` over normalised levels."""
    per_example = 0.0
    for j, (fake, target) in enumerate(zip(fake_levels, target_levels, strict=True)):
        axes = tuple(range(1, fake.ndim))
        per_example = per_example + mask[:, j] * jnp.mean(jnp.square(fake - target), axis=axes)
    return jnp.mean(per_example)
