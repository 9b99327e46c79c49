"""Build the :class:`~gan_jax.dynamics.Game` of a GAN, and the remedies for mode collapse as
reusable pieces that work with every scheme and every network.

:func:`gan_game` turns a (generator, discriminator, losses, penalties) tuple into a game
whose players are flax variables dicts.  The batch is ``{"real": x, "key": key}``; fakes
are ``G(z)`` with ``z ~ N(0, I)`` drawn from ``key`` (so multi-evaluation schemes, which
fold the key, draw fresh latents), as many as real samples.

Model state (BatchNorm statistics and any other non-``params`` collection) is handled
through the game's ``has_aux`` protocol: each player's collections are updated by the
forward passes of its own loss (D's while it scores real and fake samples in ``loss_d``,
G's while it generates in ``loss_g``).  Networks with such collections must accept a
``train: bool`` keyword.

Remedies:

* :func:`unrolled` — Unrolled GAN (Metz et al. 2017, arXiv:1611.02163): the generator's
  loss is taken through ``k`` differentiable discriminator steps;
* ``pack=m`` — PacGAN (Lin et al. 2018, arXiv:1712.04086): the discriminator scores packs
  of ``m`` samples concatenated along the last (feature/channel) axis;
* minibatch standard deviation (Karras et al. 2018, arXiv:1710.10196) is a layer,
  :class:`gan_jax.nets.layers.MinibatchStdDev`, used inside a discriminator;
* :func:`r1` and :func:`wgan_gp` — weighted penalties for ``penalties=[...]``;
  :func:`lazy` evaluates one only every ``k`` steps (StyleGAN2's lazy regularisation).

Stochastic generators (StyleGAN's noise inputs and style mixing) draw from the ``"noise"``
RNG stream: :func:`gan_game` passes ``rngs={"noise": fold_in(key, 2)}`` to every training
forward pass of G (networks that do not ask for it ignore it).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import optax

from gan_jax import losses
from gan_jax.dynamics.game import Game, PyTree, fold_batch, require_typed_key
from gan_jax.dynamics.schemes import apply_update
from gan_jax.nets.variables import init_variables

__all__ = [
    "UNROLL_OPTIMIZER_STATES",
    "LazyPenalty",
    "apply_model",
    "gan_game",
    "generate",
    "init_players",
    "latents",
    "lazy",
    "pack_samples",
    "r1",
    "r2",
    "unrolled",
    "wgan_gp",
]

Array = jax.Array
# penalty(d_fn, real, fake, key) -> weighted scalar added to D's loss
Penalty = Callable[[Callable[[Array], Array], Array, Array, Array], Array]

# Fold offset of the inner discriminator steps of an unrolled generator loss, far from
# the evaluation indices schemes use, so they draw their own latents.
_UNROLL_FOLD_OFFSET = 1_000_003


def r1(gamma: float) -> Penalty:
    """``(γ/2)·R1``: ``(γ/2)·mean ‖∇D(x)‖²`` on real data (Mescheder et al. 2018)."""

    def penalty(d_fn, real, fake, key):
        return 0.5 * gamma * losses.r1_penalty(d_fn, real)

    return penalty


def r2(gamma: float) -> Penalty:
    """``(γ/2)·R2``: ``(γ/2)·mean ‖∇D(x̃)‖²`` on generated samples (Mescheder et al. 2018,
    arXiv:1801.04406); with :func:`r1`, R3GAN's regulariser ``(γ/2)(R1 + R2)``
    (arXiv:2501.05441)."""

    def penalty(d_fn, real, fake, key):
        return 0.5 * gamma * losses.r2_penalty(d_fn, fake)

    return penalty


def wgan_gp(weight: float = 10.0, target: float = 1.0, one_sided: bool = False) -> Penalty:
    """``λ·GP`` of WGAN-GP (Gulrajani et al. 2017, arXiv:1704.00028), λ = 10 by default."""

    def penalty(d_fn, real, fake, key):
        return weight * losses.wasserstein_gradient_penalty(
            d_fn, real, fake, key, target=target, one_sided=one_sided
        )

    return penalty


@dataclasses.dataclass(frozen=True)
class LazyPenalty:
    """A penalty evaluated only at steps ``t ≡ 0 (mod every)`` and then multiplied by
    ``every`` (Karras et al. 2020, arXiv:1912.04958 §4: "lazy regularization"), so its
    average weight is unchanged while its cost (R1's double back-propagation) falls by a
    factor ``every``.

    :func:`gan_game` calls it with the batch's ``"regularize"`` when the batch has one (a
    Python bool: :func:`gan_jax.training.make_train_step` with ``regularize_every`` compiles
    the two kinds of step apart), else with ``step % every == 0`` from the batch's
    ``"step"``, a traced flag that a ``lax.cond`` acts on."""

    penalty: Penalty
    every: int

    def __call__(self, d_fn, real: Array, fake: Array, key: Array, regularize) -> Array:
        def value() -> Array:
            return self.every * self.penalty(d_fn, real, fake, key)

        if isinstance(regularize, bool):
            return value() if regularize else jnp.zeros((), real.dtype)
        return jax.lax.cond(regularize, value, lambda: jnp.zeros((), real.dtype))


def lazy(penalty: Penalty, every: int) -> Penalty | LazyPenalty:
    """``penalty`` every ``every`` steps, scaled by ``every`` (:class:`LazyPenalty`);
    ``every = 1`` returns ``penalty`` itself."""
    if every < 1:
        raise ValueError(f"lazy regularisation interval must be ≥ 1, got {every}")
    return penalty if every == 1 else LazyPenalty(penalty, every)


def pack_samples(x: Array, pack: int) -> Array:
    """PacGAN packing: ``(N, ..., C) -> (N/m, ..., m·C)``, samples ``m·i … m·i+m-1`` side by
    side along the last axis (features of a vector, channels of an image)."""
    if pack == 1:
        return x
    n = x.shape[0]
    if n % pack:
        raise ValueError(f"batch size {n} is not a multiple of the pack size {pack}")
    grouped = x.reshape((n // pack, pack) + x.shape[1:])
    grouped = jnp.moveaxis(grouped, 1, -2)
    return grouped.reshape(grouped.shape[:-2] + (pack * x.shape[-1],))


def _collections(variables: PyTree) -> list[str]:
    return [name for name in variables if name != "params"]


def apply_model(
    module: nn.Module,
    variables: PyTree,
    x: Array,
    rngs: dict[str, Array] | None = None,
    **context: Any,
) -> tuple[Array, dict]:
    """``module(x, **context)`` in training mode, returning ``(output, updated collections)``.

    A module whose variables hold only ``params`` is applied plainly (and returns ``{}``);
    one with other collections (``batch_stats``, ``w_avg``) is applied with ``train=True``
    and those collections mutable.  ``rngs`` go to flax's ``apply``.
    """
    mutable = _collections(variables)
    if not mutable:
        return module.apply(variables, x, rngs=rngs, **context), {}
    return module.apply(variables, x, train=True, mutable=mutable, rngs=rngs, **context)


def init_players(
    generator: nn.Module,
    discriminator: nn.Module,
    key: Array,
    real: Array,
    latent_dim: int,
    pack: int = 1,
) -> tuple[PyTree, PyTree]:
    """Initial flax variables ``(g, d)`` of G (on latent codes) and D (on packed ``real``),
    each created by one compiled program (:func:`gan_jax.nets.variables.init_variables`)."""
    key_g, key_d = jax.random.split(key)
    g = init_variables(generator, key_g, jnp.zeros((real.shape[0], latent_dim), real.dtype))
    d = init_variables(discriminator, key_d, pack_samples(real, pack))
    return g, d


def generate(
    generator: nn.Module,
    g: PyTree,
    z: Array,
    rngs: dict[str, Array] | None = None,
    **context: Any,
) -> Array:
    """``G(z, **context)`` for evaluation: inference mode (``train=False``) when G has model
    state; ``rngs`` (e.g. a fixed ``"noise"`` key) go to flax's ``apply``."""
    if _collections(g):
        return generator.apply(g, z, train=False, rngs=rngs, **context)
    return generator.apply(g, z, rngs=rngs, **context)


def latents(key: Array, n: int, latent_dim: int) -> Array:
    """``n`` standard-normal latent codes ``z ~ N(0, I_latent_dim)``."""
    return jax.random.normal(key, (n, latent_dim))


def gan_game(
    generator: nn.Module,
    discriminator: nn.Module,
    g_loss: Callable[..., Array] = losses.modified_generator_loss,
    d_loss: Callable[[Array, Array], Array] = losses.minimax_discriminator_loss,
    penalties: Sequence[Penalty] = (),
    latent_dim: int = 2,
    pack: int = 1,
    latent_codes: int = 0,
    code_weight: float = 1.0,
) -> Game:
    """The game of a GAN: ``g`` and ``d`` are the flax variables of G and D.

    * ``loss_g(g, d, batch) = g_loss(D(pack(G(z))))``, or
      ``g_loss(D(pack(x)), D(pack(G(z))))`` for a relativistic loss marked with
      :func:`gan_jax.losses.uses_real_logits` (D's real-batch statistics from that pass
      are dropped, as G's loss keeps only G's)
    * ``loss_d(g, d, batch) = d_loss(D(pack(x)), D(pack(G(z)))) + Σ penalties``

    ``latent_codes = K > 0`` adds InfoGAN's categorical code (Chen et al. 2016,
    arXiv:1606.03657), for a G that reads one (:func:`gan_jax.nets.mlp.with_discrete_code`:
    the code of ``z`` is ``c = argmax z[:, :K]``).  D then returns ``(logits, code_logits)``,
    ``code_logits`` of shape ``(N/m, m·K)``: its recognition head Q, sharing D's body as in
    InfoGAN, predicts the code of each of the ``m`` samples in a pack (for sample ``m·i + j``,
    entries ``j·K … j·K + K − 1`` of row ``i``).  Both losses add ``code_weight · L_I`` with
    ``L_I = −mean log Q(c | G(z, c))`` on the fakes
    (:func:`gan_jax.losses.mutual_information_penalty`): G and Q together maximise the lower
    bound ``H(c) − L_I`` on the mutual information ``I(c; G(z, c))``, so G must make its
    codes distinguishable, which is MGAN's classifier term for its mixture of generators
    (Hoang et al. 2018, arXiv:1708.02556).  D's real-sample code predictions are unused.

    ``batch = {"real": x, "key": key}`` with a
    typed key (``jax.random.key``), and optionally ``"context"``: keyword arguments both
    networks receive on every call, penalties included (PGGAN's fade-in ``alpha``), and
    ``"step"``, the training step, or ``"regularize"`` (what :class:`LazyPenalty` needs).  G's training passes
    get ``rngs={"noise": fold_in(key, 2)}``.  Penalties see ``d_fn = D∘pack`` with D's collections
    frozen, and unpacked real and fake samples; gradient penalties need a discriminator
    that scores samples independently (no BatchNorm), as in WGAN-GP.  The game always has
    ``has_aux=True``; for params-only networks the model state is empty.
    """

    if latent_codes < 0:
        raise ValueError(f"latent_codes must be ≥ 0, got {latent_codes}")

    def latent_batch(batch: dict) -> Array:
        key = require_typed_key(batch["key"], "gan_game's batch['key']")
        return latents(jax.random.fold_in(key, 0), batch["real"].shape[0], latent_dim)

    def fake_samples(g: PyTree, z: Array, batch: dict) -> tuple[Array, dict]:
        noise = {"noise": jax.random.fold_in(batch["key"], 2)}
        return apply_model(generator, g, z, rngs=noise, **batch.get("context", {}))

    def score_all(d: PyTree, x: Array, batch: dict) -> tuple[Any, dict]:
        return apply_model(discriminator, d, pack_samples(x, pack), **batch.get("context", {}))

    def logits_of(outputs: Any) -> Array:
        return outputs[0] if latent_codes else outputs

    def score(d: PyTree, x: Array, batch: dict) -> tuple[Array, dict]:
        outputs, state = score_all(d, x, batch)
        return logits_of(outputs), state

    def with_code_penalty(loss: Array, fake_outputs: Any, z: Array) -> Array:
        if not latent_codes:
            return loss  # not even a + 0: the plain game's program is unchanged
        code = jnp.argmax(z[:, :latent_codes], axis=-1)
        code_logits = fake_outputs[1].reshape(code.shape[0], latent_codes)
        prediction = losses.CategoricalCode(code_logits)
        return loss + code_weight * losses.mutual_information_penalty([code], [prediction])

    def loss_g(g: PyTree, d: PyTree, batch: dict) -> tuple[Array, dict]:
        z = latent_batch(batch)
        fake, g_state = fake_samples(g, z, batch)
        fake_outputs, _ = score_all(d, fake, batch)
        fake_logits = logits_of(fake_outputs)
        if getattr(g_loss, "uses_real_logits", False):  # relativistic: D's real scores too
            value = g_loss(score(d, batch["real"], batch)[0], fake_logits)
        else:
            value = g_loss(fake_logits)
        return with_code_penalty(value, fake_outputs, z), g_state

    def loss_d(g: PyTree, d: PyTree, batch: dict) -> tuple[Array, dict]:
        real = batch["real"]
        # No stop_gradient on the fakes: D's gradient is taken w.r.t. d only, and an unrolled
        # generator loss differentiates D's update through them.
        z = latent_batch(batch)
        fake, _ = fake_samples(g, z, batch)
        real_logits, d_state = score(d, real, batch)
        fake_outputs, d_state = score_all(Game.absorb(d, d_state), fake, batch)
        fake_logits = logits_of(fake_outputs)
        total = with_code_penalty(d_loss(real_logits, fake_logits), fake_outputs, z)
        if penalties:
            frozen = Game.absorb(d, d_state)

            def d_fn(x: Array) -> Array:
                return score(frozen, x, batch)[0]

            penalty_key = jax.random.fold_in(batch["key"], 1)
            for i, penalty in enumerate(penalties):
                key = jax.random.fold_in(penalty_key, i)
                if isinstance(penalty, LazyPenalty):
                    regularize = batch.get("regularize")
                    if regularize is None:
                        regularize = batch["step"] % penalty.every == 0
                    total = total + penalty(d_fn, real, fake, key, regularize)
                else:
                    total = total + penalty(d_fn, real, fake, key)
        return total, d_state

    return Game(loss_g=loss_g, loss_d=loss_d, has_aux=True)


UNROLL_OPTIMIZER_STATES = ("fresh", "discriminator")


def unrolled(
    game: Game,
    optimizer: optax.GradientTransformation,
    steps: int,
    optimizer_state: str = "fresh",
) -> Game:
    """Unrolled GAN (Metz et al. 2017, arXiv:1611.02163): ``loss_g(g, d) = loss_g(g, d_k(g))``
    where ``d_k`` is ``k = steps`` optimizer steps of D on ``loss_d`` from ``d``, kept
    differentiable so G's gradient sees how D would respond.  D's own loss is unchanged.

    ``optimizer_state`` says where the inner optimizer starts:

    * ``"fresh"``: ``optimizer.init(d)`` at every evaluation.  With ``optax.sgd`` this is
      the paper's update (eq. 4) exactly.
    * ``"discriminator"``: D's own optimizer state, which the schemes pass to G's loss as
      ``batch["opt_state_d"]``; ``optimizer`` must then be D's optimizer.  The inner steps
      are D's real Adam steps, moments and step count included, as in Metz et al.'s code
      (the unrolled steps there are the D optimizer's own update ops, rewired).

    Why a *fresh* Adam went NaN: its first step is ``m̂/(√v̂ + ε)`` with ``v = (1−β₂)g²``.
    The derivative of ``√v`` at ``v = 0`` is infinite, so a coordinate whose gradient is
    exactly 0 gives ``∞·0 = NaN`` in G's gradient, and one NaN spreads to every parameter
    at the next step.  Measured on the ring (2 × 128 MLPs, k = 5, Adam(1e-3, β₁ = 0.5),
    seed 0): at step 271 one entry of D's ``hidden_1`` kernel gradient was exactly 0.0 in
    float32, and G's gradient came out NaN in all 49,537 of its coordinates.  D's running state has ``v > 0`` wherever
    D has ever moved; for the coordinates still at ``v = 0`` the inner steps use optax's
    ``eps_root`` (pass ``optax.adam(..., eps_root=1e-16)``), which keeps ``√(v + ε_root)``
    differentiable.  Inner step ``i`` uses ``fold_batch(batch, offset + i)``.  ``steps = 0``
    runs the same code with an empty scan, so ``d_0 = d`` and the game is the plain one (a
    test pins this).
    """
    if steps < 0:
        raise ValueError(f"unrolled steps must be ≥ 0, got {steps}")
    if optimizer_state not in UNROLL_OPTIMIZER_STATES:
        raise ValueError(
            f"unknown unroll optimizer state {optimizer_state!r}; choose one of: "
            + ", ".join(UNROLL_OPTIMIZER_STATES)
        )

    def loss_g(g: PyTree, d: PyTree, batch: PyTree) -> Any:
        def inner(carry: tuple[PyTree, PyTree], i: Array) -> tuple[tuple[PyTree, PyTree], None]:
            d_i, opt_state = carry
            _, grad, model_state = game.grad_d(g, d_i, fold_batch(batch, _UNROLL_FOLD_OFFSET + i))
            d_next, opt_state = apply_update(optimizer, grad, opt_state, d_i, model_state)
            return (d_next, opt_state), None

        if optimizer_state == "fresh" or steps == 0:
            start = optimizer.init(d)
        elif "opt_state_d" not in batch:
            raise ValueError(
                "an unrolled loss that continues D's optimizer state needs a scheme that "
                "passes batch['opt_state_d'] (alternating or simultaneous)"
            )
        else:
            start = batch["opt_state_d"]
        (d_k, _), _ = jax.lax.scan(inner, (d, start), jnp.arange(steps))
        return game.loss_g(g, d_k, batch)

    return Game(loss_g=loss_g, loss_d=game.loss_d, has_aux=game.has_aux)
