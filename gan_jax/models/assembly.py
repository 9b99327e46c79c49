"""How every recipe becomes something to train: the one :class:`Trainer` contract, the
registries of losses and update rules chosen by name, and :func:`assemble`.

A recipe (DCGAN, progressive, StyleGAN, LAG, the feature-conditioned GANs, the 2-D mixture
GAN) decides only what is its own: the networks, the :class:`~gan_jax.dynamics.Game`, the
initial players and how a step draws its batch.  What they share is written here once:

* :func:`initial_state`: the scheme's state from the players, the training key attached,
  and ``extra["g_ema"]`` for G's moving average (:class:`~gan_jax.averaging.GeneratorEMA`);
* :func:`extra_update`: after each step, the average ``θ̄ ← β·θ̄ + (1 − β)·θ`` (β from the
  images seen, :func:`ema_clock`) and any model-specific ``extra`` (PGGAN's α);
* :func:`training_step`: :func:`gan_jax.training.make_train_step` over data held on device;
* :func:`assemble`: all three, with the data and state replicated over a mesh.

:func:`uniform_real_batches` is the usual batch: ``batch_size`` real images drawn uniformly
with replacement from the data on device (:func:`gan_jax.data.random_batch`), the step's
noise key and the step count (read by lazy penalties).
"""

from __future__ import annotations

import argparse
import dataclasses
from collections.abc import Callable, Iterable, Sequence
from typing import Any, Protocol

import jax
import jax.numpy as jnp
import optax
from jax.sharding import Mesh

from gan_jax import cli, losses, training
from gan_jax import dynamics as dy
from gan_jax.averaging import GeneratorEMA
from gan_jax.configs import option
from gan_jax.data import random_batch
from gan_jax.dynamics.game import Game, GameState, PyTree
from gan_jax.errors import UserError
from gan_jax.nets.progressive import stage_resolutions
from gan_jax.training import parallel

__all__ = [
    "LOSSES",
    "SCHEMES",
    "Assembly",
    "DrawBatch",
    "Trainer",
    "adam_beta_option",
    "adam_rate_option",
    "assemble",
    "batch_size_option",
    "ema_beta_option",
    "ema_clock",
    "ema_rampup_option",
    "extra_update",
    "initial_state",
    "loss_option",
    "make_scheme",
    "player_steps_option",
    "progressive_resolution_flag",
    "require_choice",
    "require_player_steps",
    "resolution_type",
    "scheme_option",
    "training_step",
    "uniform_real_batches",
]

Array = jax.Array
# (key, state before the step, the data on device) -> the step's batch
DrawBatch = Callable[[Array, GameState, Any], PyTree]

# name -> (generator loss, discriminator loss), on logits (gan_jax.losses, TF-GAN semantics)
LOSSES: dict[str, tuple[Callable, Callable]] = {
    "ns": (losses.modified_generator_loss, losses.minimax_discriminator_loss),
    "minimax": (losses.minimax_generator_loss, losses.minimax_discriminator_loss),
    "hinge": (
        losses.wasserstein_hinge_generator_loss,
        losses.wasserstein_hinge_discriminator_loss,
    ),
    "lsgan": (losses.least_squares_generator_loss, losses.least_squares_discriminator_loss),
    # R3GAN's relativistic pairing loss (arXiv:2501.05441); R3GAN adds (γ/2)(R1 + R2),
    # gan.r1 and gan.r2 (train_dcgan: --r1-gamma, --r2-gamma with --no-d-batch-norm)
    "rpgan": (
        losses.relativistic_paired_generator_loss,
        losses.relativistic_paired_discriminator_loss,
    ),
}

# name -> scheme(opt_g, opt_d) (gan_jax.dynamics)
SCHEMES: dict[
    str, Callable[[optax.GradientTransformation, optax.GradientTransformation], object]
] = {
    "alternating": dy.alternating,
    "simultaneous": dy.simultaneous,
    "extragradient": dy.extragradient,
    "optimistic": dy.optimistic,
    "consensus": dy.consensus,
}


def resolution_type(check: Callable[[int], object]) -> Callable[[str], int]:
    """The argparse type of a ``--resolution`` that ``check`` accepts (it raises a
    ``ValueError`` naming the sizes it builds otherwise)."""

    def resolution(text: str) -> int:
        """``--resolution``: an image size the recipe builds."""
        try:
            check(int(text))
        except ValueError as err:
            raise argparse.ArgumentTypeError(f"{err}: pass one of those sizes") from None
        return int(text)

    return resolution


# argparse type of PGGAN's and StyleGAN's ``--resolution``: ``4·2^k``
progressive_resolution_flag = resolution_type(stage_resolutions)


# The fields every recipe's config shares, declared once (gan_jax.configs): the update
# rule, the loss, Adam's rates and βs, the batch and G's moving average.


def scheme_option(default: str = "alternating") -> Any:
    """A config field naming an update rule of :data:`SCHEMES` (``--scheme``)."""
    return option(default, f"one of {', '.join(SCHEMES)}", type=cli.choice("scheme", SCHEMES))


def player_steps_option(player: str) -> Any:
    """A config field for the updates ``player`` (``"D"`` or ``"G"``) takes per alternating
    step (``--d-steps``, ``--g-steps``; DCGAN-TensorFlow's two G updates per D update).  Each
    update draws fresh latents (:func:`gan_jax.dynamics.game.fold_batch`); the step's real
    batch is shared by its updates, so ``--d-steps 5`` is WGAN's ``n_critic = 5`` with each
    real batch seen five times rather than five real batches."""
    return option(
        1,
        f"{player} updates per step, each with fresh latents, sharing the step's real batch "
        "(--scheme alternating)",
        type=cli.positive_int,
    )


def require_player_steps(scheme: str, d_steps: int, g_steps: int) -> None:
    """A :class:`~gan_jax.errors.UserError` unless ``d_steps = g_steps = 1`` or ``scheme`` is
    ``"alternating"``, the one update rule of :data:`SCHEMES` that takes several steps of one
    player (:class:`gan_jax.dynamics.schemes.Alternating`)."""
    if (d_steps, g_steps) != (1, 1) and scheme != "alternating":
        raise UserError(
            f"--d-steps and --g-steps repeat one player's update in alternating steps, not "
            f"--scheme {scheme}: add --scheme alternating or drop them"
        )


def make_scheme(
    name: str,
    opt_g: optax.GradientTransformation,
    opt_d: optax.GradientTransformation,
    d_steps: int = 1,
    g_steps: int = 1,
) -> object:
    """The update rule ``name`` of :data:`SCHEMES` on G's and D's optimizers; alternating
    takes ``d_steps`` D updates, then ``g_steps`` G updates, per step."""
    require_player_steps(name, d_steps, g_steps)
    if name == "alternating":
        return dy.alternating(opt_g, opt_d, d_steps=d_steps, g_steps=g_steps)
    return SCHEMES[name](opt_g, opt_d)


def loss_option(default: str, choices: Iterable[str]) -> Any:
    """A config field naming one of a recipe's losses (``--loss``)."""
    choices = tuple(choices)
    return option(default, f"one of {', '.join(choices)}", type=cli.choice("loss", choices))


def adam_rate_option(default: float, players: str) -> Any:
    """Adam's rate of ``players`` (``"G's"``, ``"D's"``, ``"both players'"``)."""
    return option(default, f"{players} Adam rate", type=cli.positive_float)


def adam_beta_option(default: float, which: int) -> Any:
    """Adam's β₁ (``which=1``) or β₂ of both players."""
    return option(default, f"Adam β{'₁₂'[which - 1]} of both", type=cli.decay_rate)


def batch_size_option(default: int, unit: str = "images") -> Any:
    """A config field for the batch size, counted in ``unit`` per step (``--batch-size``)."""
    return option(default, f"{unit} per step", type=cli.positive_int)


def ema_beta_option(default: float = 0.999) -> Any:
    """A config field for β of G's exponential moving average, in ``[0, 1)``."""
    return option(default, "G's average's β", type=cli.decay_rate)


def ema_rampup_option(default: float = 0.1) -> Any:
    """A config field for the EMA ramp-up: the half-life at most this fraction of the images
    seen (StyleGAN2's ``ema_rampup``; 0 turns it off)."""
    return option(
        default,
        "EMA half-life at most this fraction of the images seen (0: none)",
        type=cli.non_negative_float,
    )


def require_choice(kind: str, value: str, choices: Iterable[str]) -> None:
    """A ``ValueError`` naming the choices unless ``value`` is one of them (the CLIs check
    their flags before a config is built: :func:`gan_jax.cli.choice`)."""
    choices = tuple(choices)
    if value not in choices:
        raise ValueError(f"unknown {kind} {value!r}; choose one of: {', '.join(choices)}")


class Trainer(Protocol):
    """What a recipe hands the training runner (:mod:`gan_jax.runner`): its fit, its
    generator and where training is."""

    latent_dim: int

    def fit(
        self,
        workdir: str,
        config: training.FitConfig,
        evaluate: Callable | None,
        sample_fn: Callable | None,
        resume: bool,
        resume_from: int | None,
        progress: bool,
        description: str,
        figures: training.FitFigures | None,
        callbacks: Sequence[training.Callback],
    ) -> training.FitResult: ...

    def generate(self, state: GameState, z: Array) -> Array:
        """Images at the dataset's resolution, in inference mode."""

    def progress(self, state: GameState) -> dict[str, float]:
        """Where training is: at least ``images`` (real images seen)."""

    def read_metrics(self, workdir: str) -> list[dict]: ...


@dataclasses.dataclass(frozen=True)
class Assembly:
    """A recipe ready for :func:`gan_jax.training.fit`: the pure ``step`` and the ``state``
    it starts from."""

    step: training.StepFn
    state: GameState


def uniform_real_batches(
    batch_size: int, sample: Callable[[Array, Array, int], Array] = random_batch
) -> DrawBatch:
    """``{"real": batch_size images drawn uniformly with replacement, "key": the step's
    noise key, "step": the step count}`` from images ``(N, …)`` on device; ``sample(key,
    images, batch_size)`` draws them (default :func:`gan_jax.data.random_batch`; Stacked
    MNIST stacks three draws)."""

    def draw(key: Array, state: GameState, images: Array) -> dict:
        key_data, key_noise = jax.random.split(key)
        real = sample(key_data, images, batch_size)
        return {"real": real, "key": key_noise, "step": state.step}

    return draw


def ema_clock(batch_size: int, since: int = 0) -> Callable[[GameState], Array]:
    """Images seen since step ``since`` (PGGAN: the phase's growth) after a step: the
    clock of the average's ramp-up."""
    return lambda state: (state.step - since) * batch_size


def initial_state(
    scheme: Any,
    game: Game,
    g: PyTree,
    d: PyTree,
    key: Array,
    *,
    ema: GeneratorEMA | None = None,
    g_ema: PyTree = None,
    extra: dict | None = None,
    step: int | None = None,
) -> GameState:
    """``scheme``'s state of the players ``(g, d)`` with the training ``key``; with ``ema``
    its ``extra["g_ema"]`` starts at ``g_ema`` (default ``g``), beside ``extra``; ``step``
    sets the step count (a phase that starts mid-run)."""
    state = training.init_state(scheme, game, g, d, key)
    extras = dict(extra or {})
    if ema is not None:
        extras["g_ema"] = ema.init(g if g_ema is None else g_ema)
    if extras:
        state = state.replace(extra=extras)
    if step is not None:
        state = state.replace(step=jnp.asarray(step, jnp.int32))
    return state


def extra_update(
    ema: GeneratorEMA | None,
    batch_size: int,
    clock: Callable[[GameState], Array] | None = None,
    update_extra: Callable[[GameState], dict] | None = None,
) -> Callable[[GameState], dict] | None:
    """The state's new ``extra`` after a step (:func:`gan_jax.dynamics.scheme_step`):
    ``update_extra(state)``'s entries and, with ``ema``, the average moved towards
    ``state.g`` with β for ``batch_size`` images (ramped up by ``clock(state)`` images seen
    when given).  ``None`` when there is nothing to update."""
    if ema is None:
        return update_extra

    def update(state: GameState) -> dict:
        new = {} if update_extra is None else dict(update_extra(state))
        seen = None if clock is None else clock(state)
        new["g_ema"] = ema.update(state.extra["g_ema"], state.g, batch_size, seen)
        return new

    return update


def training_step(
    game: Game,
    scheme: Any,
    data: Any,
    draw_batch: DrawBatch,
    *,
    batch_size: int,
    mesh: Mesh | None = None,
    ema: GeneratorEMA | None = None,
    clock: Callable[[GameState], Array] | None = None,
    update_extra: Callable[[GameState], dict] | None = None,
    regularize_every: int = 1,
) -> training.StepFn:
    """The pure step: the batch ``draw_batch(key, state, data)`` from ``data`` on device
    (already replicated over ``mesh``, if any), the scheme's step, then
    :func:`extra_update`; ``regularize_every > 1`` makes it a
    :class:`~gan_jax.training.PeriodicStep` (lazy penalties)."""

    def batch_fn(key: Array, state: GameState) -> PyTree:
        return draw_batch(key, state, data)

    return training.make_train_step(
        game,
        scheme,
        batch_fn,
        mesh,
        extra_update(ema, batch_size, clock, update_extra),
        regularize_every,
    )


def assemble(
    game: Game,
    scheme: Any,
    players: tuple[PyTree, PyTree],
    key: Array,
    data: Any,
    draw_batch: DrawBatch,
    *,
    batch_size: int,
    mesh: Mesh | None = None,
    ema: GeneratorEMA | None = None,
    clock: Callable[[GameState], Array] | None = None,
    extra: dict | None = None,
    update_extra: Callable[[GameState], dict] | None = None,
    regularize_every: int = 1,
) -> Assembly:
    """A recipe's :class:`Assembly`: :func:`initial_state` of the initialised ``players``
    with the training ``key``, ``data`` and state replicated over ``mesh`` (every device of
    every process) when there is one, and :func:`training_step`."""
    g, d = players
    state = initial_state(scheme, game, g, d, key, ema=ema, extra=extra)
    if mesh is not None:
        data, state = parallel.replicate((data, state), mesh)
    step = training_step(
        game,
        scheme,
        data,
        draw_batch,
        batch_size=batch_size,
        mesh=mesh,
        ema=ema,
        clock=clock,
        update_extra=update_extra,
        regularize_every=regularize_every,
    )
    return Assembly(step, state)
