"""Progressive growing (Karras et al. 2018, arXiv:1710.10196) trained on the library's own
game (:func:`gan_jax.gan.gan_game`), schemes and fit loop (:func:`gan_jax.training.fit`).

**Schedule.**  Resolutions 4 → 8 → … → R.  The 4×4 stage trains for ``phase_images``
images; every later stage first *fades in* its new block over ``phase_images`` images
(α from 0 to 1) and then *stabilises* for ``phase_images`` images (α = 1).  The last
stage stabilises until the run's total (by default ``total_images`` = 160,000, the images
the default ``train_dcgan`` run sees; ``steps=`` cuts or extends the run at any step).
Each phase has its own batch size (``batch_sizes[i]`` at stage ``i``, the last entry
repeating) and lasts ``ceil(phase_images / batch)`` steps.

**State.**  α, the resolution and the generator's moving average live in the
:class:`~gan_jax.dynamics.GameState`'s ``extra`` (``{"alpha", "resolution", "g_ema"}``),
so they are checkpointed, and α is a traced
input of both networks: it changes every step without recompiling.  The step at global
step ``t`` of a fade that began at ``t₀`` and lasts ``F`` steps uses
``α = min(1, (t − t₀)/F)`` (:meth:`Phase.alpha`).  During a fade the real images are
blended the same way, ``x_α = (1 − α)·up(down(x)) + α·x`` (as the paper's code does), so
D sees reals and fakes at the same effective resolution.

**One fit per phase.**  Each phase is one :func:`gan_jax.training.fit` call in its own
directory ``workdir/<R>x<R>_<fade|stable>/`` (checkpoints, ``metrics.jsonl``, samples).
The step count is global.  Between resolutions the state *grows*
(:func:`gan_jax.nets.progressive.grow_parameters`: every old parameter copied bit for
bit, the new layers initialised from ``fold_in(init_key, R)``) and the optimizer states
start afresh (the paper's ``reset_opt_for_new_lod``); the key carries over.  A fade
phase hands its state to the stable phase unchanged.  So every resolution compiles one
step, and a run resumed at any step, mid-fade included, continues exactly: 2 × N
resumed steps equal 2N straight ones (a test pins it).

**Losses** (``loss=``): ``"wgan-gp"`` (the paper's: WGAN critic loss, gradient penalty
λ = 10 and drift ε = 0.001, :func:`gan_jax.losses.wasserstein_drift_discriminator_loss`)
or ``"ns-r1"`` (non-saturating loss with ``(γ/2)·R1``, Mescheder et al. 2018,
arXiv:1801.04406, γ = 10).  Optimiser: Adam(1e-3, β₁ = 0, β₂ = 0.99) for both players.

**Evaluation** uses the exponential moving average of G's weights
(:mod:`gan_jax.averaging`), as the paper does (§A.1), with a half-life of 10,000 images
(StyleGAN's ``ema_kimg``; β = 0.9956 at batch 64); at a growth the new layers' averages
start from their initial weights.  ``ema_half_life_images=0`` evaluates the raw weights.
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import math
import os
from collections.abc import Callable, Sequence

import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax.sharding import Mesh

from gan_jax import cli, gan, losses, training
from gan_jax.averaging import GeneratorEMA
from gan_jax.configs import option
from gan_jax.data import random_batch
from gan_jax.dynamics.game import Game, GameState
from gan_jax.errors import UserError
from gan_jax.models.assembly import (
    SCHEMES,
    adam_beta_option,
    adam_rate_option,
    ema_clock,
    ema_rampup_option,
    initial_state,
    loss_option,
    progressive_resolution_flag,
    require_choice,
    scheme_option,
    training_step,
)
from gan_jax.nets.progressive import (
    ProgressiveDiscriminator,
    ProgressiveGenerator,
    downsample,
    fade_in,
    grow_parameters,
    resize_to,
    stage_resolutions,
    upsample,
)
from gan_jax.training import parallel
from gan_jax.training.checkpoint import Checkpointer, CheckpointError, saved_steps

Array = jax.Array
PROGRESSIVE_LOSSES = ("wgan-gp", "ns-r1")


def batch_sizes_flag(text: str) -> tuple[int, ...]:
    """argparse type of ``--batch-sizes``: positive integers separated by commas."""
    try:
        sizes = tuple(int(part) for part in text.split(","))
    except ValueError:
        sizes = ()
    if not sizes or min(sizes) < 1:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a comma-separated list of positive batch sizes (e.g. 128,128,64)"
        )
    return sizes


@dataclasses.dataclass(frozen=True)
class ProgressiveConfig:
    """Model, loss, optimiser and schedule (defaults: the paper's loss and optimiser, widths
    for 32×32 digits)."""

    resolution: int = option(32, "the final resolution, 4·2^k", type=progressive_resolution_flag)
    channels: int = option(1, derived=True)  # the data's
    latent_dim: int = option(128, "z's size", type=cli.positive_int)
    fmap_base: int = option(
        1024, "width at resolution r: min(fmap_max, fmap_base/r)", type=cli.positive_int
    )
    fmap_max: int = option(128, "the widest layer", type=cli.positive_int)
    loss: str = loss_option("wgan-gp", PROGRESSIVE_LOSSES)
    gp_weight: float = option(10.0, "WGAN-GP λ", type=cli.non_negative_float)
    drift: float = option(0.001, "ε of the drift term ε·E[D(x)²]", type=cli.non_negative_float)
    r1_gamma: float = option(10.0, "γ of (γ/2)·R1 (--loss ns-r1)", type=cli.non_negative_float)
    scheme: str = scheme_option()
    lr_g: float = adam_rate_option(1e-3, "G's")
    lr_d: float = adam_rate_option(1e-3, "D's")
    beta1: float = adam_beta_option(0.0, 1)
    beta2: float = adam_beta_option(0.99, 2)
    batch_sizes: tuple[int, ...] = option(
        (128, 128, 64, 64),
        "per stage from 4×4 up, the last repeating (one number: that batch everywhere)",
        type=batch_sizes_flag,
    )
    phase_images: int = option(
        20_000, "images per fade-in and per stabilisation", type=cli.positive_int
    )
    total_images: int = option(
        160_000,
        "images of the whole run (when --steps is not given)",
        type=cli.positive_int,
        flag="images",
    )
    ema_half_life_images: float = option(
        10_000.0,
        "G's moving average's half-life in real images (0: none)",
        type=cli.non_negative_float,
        flag="ema-half-life",
    )
    ema_rampup: float = ema_rampup_option()

    def __post_init__(self) -> None:
        require_choice("loss", self.loss, PROGRESSIVE_LOSSES)
        require_choice("scheme", self.scheme, SCHEMES)
        if not self.batch_sizes or min(self.batch_sizes) < 1:
            raise UserError("--batch-sizes needs positive sizes, one per stage (4×4 first)")
        stage_resolutions(self.resolution)

    def batch_size(self, stage: int) -> int:
        return self.batch_sizes[min(stage, len(self.batch_sizes) - 1)]


@dataclasses.dataclass(frozen=True)
class Phase:
    """Steps ``[start, end)`` of one phase at ``resolution``: a fade-in or a stabilisation.
    Both phases of a stage carry the stage's fade (``fade_start``, ``fade_steps``; 0 steps
    at 4×4), so they share one α rule and one compiled step."""

    stage: int
    resolution: int
    fade: bool
    batch_size: int
    start: int
    end: int
    fade_start: int
    fade_steps: int

    @property
    def name(self) -> str:
        return f"{self.resolution}x{self.resolution}_{'fade' if self.fade else 'stable'}"

    def alpha(self, step: Array | int) -> Array:
        """α of the step taken at global step ``step``: ``min(1, (step − fade_start)/F)``
        (1 at 4×4, where nothing fades)."""
        if not self.fade_steps:
            return jnp.ones((), jnp.float32)
        t = jnp.asarray(step, jnp.float32) - self.fade_start
        return jnp.clip(t / self.fade_steps, 0.0, 1.0)


def phases(config: ProgressiveConfig, steps: int | None = None) -> list[Phase]:
    """The run's phases (module doc), cut at global step ``steps`` (default: when the run
    has seen ``config.total_images`` images; the last stage's stabilisation absorbs the
    difference either way)."""
    plan: list[tuple[int, int, bool, int, int]] = []  # stage, resolution, fade, batch, steps
    for stage, resolution in enumerate(stage_resolutions(config.resolution)):
        batch = config.batch_size(stage)
        length = math.ceil(config.phase_images / batch)
        if stage:
            plan.append((stage, resolution, True, batch, length))
        plan.append((stage, resolution, False, batch, length))
    if steps is None:  # the last phase runs until total_images are seen
        seen = sum(b * n for *_, b, n in plan[:-1])
        *head, batch, _ = plan[-1]
        plan[-1] = (*head, batch, max(1, math.ceil((config.total_images - seen) / batch)))
        steps = sum(n for *_, n in plan)
    result, start = [], 0
    fade_start, fade_steps = 0, 0
    for i, (stage, resolution, fade, batch, length) in enumerate(plan):
        end = start + length if i < len(plan) - 1 else steps
        end = min(end, steps)
        if start >= end:
            break
        if fade:
            fade_start, fade_steps = start, length
        elif stage == 0:
            fade_start, fade_steps = 0, 0
        result.append(Phase(stage, resolution, fade, batch, start, end, fade_start, fade_steps))
        start = end
    return result


def images_seen(run: list[Phase], step: int) -> int:
    """Real images drawn by the first ``step`` steps of ``run``."""
    return sum(p.batch_size * max(0, min(step, p.end) - p.start) for p in run)


@dataclasses.dataclass(frozen=True)
class PhaseModel:
    """One phase assembled: the networks at its resolution, the game, the jitted-to-be step
    and its initial state (grown from the previous phase's, or fresh)."""

    phase: Phase
    generator: ProgressiveGenerator
    discriminator: ProgressiveDiscriminator
    game: Game
    step: training.StepFn
    state: GameState


class ProgressiveGAN:
    """Builds each phase's model and trains the phases in turn (module doc)."""

    def __init__(
        self,
        config: ProgressiveConfig,
        images: Array,
        key: Array,
        mesh: Mesh | None = None,
        steps: int | None = None,
    ):
        if images.shape[1:] != (config.resolution, config.resolution, config.channels):
            raise ValueError(
                f"images of shape {images.shape[1:]} do not match the config's "
                f"{(config.resolution, config.resolution, config.channels)}"
            )
        self.config = config
        self.images = images
        self.mesh = mesh
        self.phases = phases(config, steps)
        self.steps = self.phases[-1].end
        self.init_key, self.train_key = jax.random.split(key)
        if mesh is not None:
            bad = sorted({p.batch_size for p in self.phases if p.batch_size % mesh.size})
            if bad:
                raise UserError(
                    f"batch sizes {bad} do not split over {mesh.size} devices: use multiples "
                    "of the device count"
                )
        self._generate: dict[int, Callable] = {}
        self._games: dict[int, Game] = {}
        self._templates: dict[int, GameState] = {}

    @property
    def latent_dim(self) -> int:
        return self.config.latent_dim

    # ------------------------------------------------------------------ networks and game
    def networks(self, resolution: int) -> tuple[ProgressiveGenerator, ProgressiveDiscriminator]:
        c = self.config
        return (
            ProgressiveGenerator(resolution, c.channels, c.fmap_base, c.fmap_max),
            ProgressiveDiscriminator(resolution, c.fmap_base, c.fmap_max),
        )

    def game(self, resolution: int) -> Game:
        """The game at ``resolution`` (built once: the step and the initial state share it)."""
        if resolution in self._games:
            return self._games[resolution]
        c = self.config
        generator, discriminator = self.networks(resolution)
        if c.loss == "wgan-gp":
            g_loss = losses.wasserstein_generator_loss

            def d_loss(real, fake):
                return losses.wasserstein_drift_discriminator_loss(real, fake, c.drift)

            penalties = [gan.wgan_gp(c.gp_weight)]
        else:
            g_loss, d_loss = losses.modified_generator_loss, losses.minimax_discriminator_loss
            penalties = [gan.r1(c.r1_gamma)]
        self._games[resolution] = gan.gan_game(
            generator, discriminator, g_loss, d_loss, penalties, latent_dim=c.latent_dim
        )
        return self._games[resolution]

    @functools.cached_property
    def ema(self) -> GeneratorEMA:
        """G's moving average (the evaluated generator)."""
        return GeneratorEMA(self.config.ema_half_life_images, self.config.ema_rampup)

    @functools.cached_property
    def scheme(self):
        """The update rule with both players' Adam (one object for every phase)."""
        c = self.config
        return SCHEMES[c.scheme](
            optax.adam(c.lr_g, b1=c.beta1, b2=c.beta2),
            optax.adam(c.lr_d, b1=c.beta1, b2=c.beta2),
        )

    def initial_state(self, phase: Phase, previous: GameState | None = None) -> GameState:
        """The state ``phase`` starts from, on one device: ``previous`` (the state at the end
        of the phase before) as it is when the resolution stays, grown into the new
        networks with fresh optimizers when it changes, or, without ``previous``, a fresh
        state of the right structure (the template a resumed phase restores into)."""
        c, r = self.config, phase.resolution
        if previous is not None:
            previous = parallel.host_local(previous)
            if int(previous.extra["resolution"]) == r:
                return previous  # fade → stable: the same networks, optimizers continue
        generator, discriminator = self.networks(r)
        key = jax.random.fold_in(self.init_key, r)
        real = resize_to(self.images[: phase.batch_size], r)
        g, d = gan.init_players(generator, discriminator, key, real, c.latent_dim)
        g_ema = g
        if previous is not None:
            g, d = grow_parameters(g, previous.g), grow_parameters(d, previous.d)
            g_ema = grow_parameters(g, previous.extra["g_ema"])
        return initial_state(
            self.scheme,
            self.game(r),
            g,
            d,
            self.train_key if previous is None else previous.key,
            ema=self.ema,
            g_ema=g_ema,
            extra={"alpha": phase.alpha(phase.start), "resolution": jnp.int32(r)},
            step=phase.start,
        )

    def build(self, phase: Phase, previous: GameState | None = None) -> PhaseModel:
        """Phase ``phase``'s model: networks, game, step and its :meth:`initial_state`
        (replicated over the mesh when there is one)."""
        r = phase.resolution
        generator, discriminator = self.networks(r)
        game = self.game(r)
        scheme = self.scheme
        images = resize_to(self.images, r)
        state = self.initial_state(phase, previous)
        if self.mesh is not None:
            images, state = parallel.replicate((images, state), self.mesh)

        def draw_batch(key: Array, state: GameState, images: Array) -> dict:
            key_data, key_noise = jax.random.split(key)
            real = random_batch(key_data, images, phase.batch_size)
            alpha = state.extra["alpha"]
            if r > 4:  # the reals fade in with the fakes
                real = fade_in(alpha, upsample(downsample(real)), real)
            return {"real": real, "key": key_noise, "context": {"alpha": alpha}}

        def update_alpha(state: GameState) -> dict:
            return {"alpha": phase.alpha(state.step), "resolution": state.extra["resolution"]}

        step = training_step(
            game,
            scheme,
            images,
            draw_batch,
            batch_size=phase.batch_size,
            mesh=self.mesh,
            ema=self.ema,
            clock=ema_clock(phase.batch_size, since=phase.fade_start),  # images since growth
            update_extra=update_alpha,
        )
        return PhaseModel(phase, generator, discriminator, game, step, state)

    # ------------------------------------------------------------------ sampling
    def generate_at(
        self,
        state: GameState,
        z: Array,
        alpha: float | Array | None = None,
        averaged: bool = True,
    ) -> Array:
        """``G_r(z, α)`` at the state's own resolution ``r`` (α: the state's by default),
        with the averaged weights ``extra["g_ema"]`` (the generator the paper evaluates)
        or, ``averaged=False``, the trained ones."""
        r = int(state.extra["resolution"])
        if r not in self._generate:
            generator = self.networks(r)[0]
            self._generate[r] = jax.jit(
                lambda g, z, alpha: gan.generate(generator, g, z, alpha=alpha)
            )
        alpha = state.extra["alpha"] if alpha is None else jnp.float32(alpha)
        return self._generate[r](state.extra["g_ema"] if averaged else state.g, z, alpha)

    def generate(self, state: GameState, z: Array) -> Array:
        """``G(z)`` (averaged weights) brought to the full resolution by nearest-neighbour
        up-sampling (what the metrics and sample grids see at every stage)."""
        return resize_to(self.generate_at(state, z), self.config.resolution)

    def generate_raw(self, state: GameState, z: Array) -> Array:
        """:meth:`generate` with the trained rather than the averaged weights."""
        return resize_to(self.generate_at(state, z, averaged=False), self.config.resolution)

    def progress(self, state: GameState) -> dict[str, float]:
        step = int(state.step)
        return {
            "images": images_seen(self.phases, step),
            "resolution": int(state.extra["resolution"]),
            "alpha": float(state.extra["alpha"]),
        }

    # ------------------------------------------------------------------ training
    def phase_dir(self, workdir: str, phase: Phase) -> str:
        return os.path.join(workdir, phase.name)

    def _checkpointed_phases(self, workdir: str) -> list[tuple[int, list[int]]]:
        """``(phase index, its saved steps)`` of every phase with a checkpoint."""
        found = []
        for i, phase in enumerate(self.phases):
            directory = os.path.join(self.phase_dir(workdir, phase), training.CHECKPOINT_DIR)
            steps = saved_steps(directory)
            if steps:
                found.append((i, steps))
        return found

    def resume_phase(self, workdir: str, resume_from: int | None = None) -> int:
        """Index of the phase a resumed run restarts in: the last one with a checkpoint, or
        the one holding checkpoint ``resume_from``."""
        found = self._checkpointed_phases(workdir)
        if not found:
            raise CheckpointError(
                f"no checkpoint to resume in {workdir}: start the run without --resume"
            )
        if resume_from is None:
            return found[-1][0]
        holding = [i for i, steps in found if resume_from in steps]
        if not holding:
            listed = sorted({s for _, steps in found for s in steps})
            raise CheckpointError(
                f"no checkpoint of step {resume_from} in {workdir}: pass --resume-from one "
                f"of {listed}"
            )
        return holding[-1]

    def fit(
        self,
        workdir: str,
        config: training.FitConfig,
        evaluate: Callable[[GameState], dict[str, float]] | None = None,
        sample_fn: Callable[[GameState], np.ndarray] | None = None,
        resume: bool = False,
        resume_from: int | None = None,
        progress: bool = True,
        description: str = "PGGAN",
        figures: training.FitFigures | None = None,
        callbacks: Sequence[training.Callback] = (),
    ) -> training.FitResult:
        """Train every phase with :func:`gan_jax.training.fit` (module doc); ``config.steps``
        is ignored in favour of the phases' ends.  ``callbacks`` see every phase (each
        phase's fit starts and closes them)."""
        workdir = os.path.abspath(workdir)
        first = 0
        if resume or resume_from is not None:
            first = self.resume_phase(workdir, resume_from)
            if resume_from is not None and parallel.is_primary():
                for phase in self.phases[first + 1 :]:  # later phases: moved aside, kept
                    directory = self.phase_dir(workdir, phase)
                    if os.path.isdir(directory):
                        os.replace(directory, f"{directory}.abandoned-{os.getpid()}")
            parallel.sync("gan_jax_progressive_resume")
        elif self._checkpointed_phases(workdir):
            raise UserError(
                f"{workdir} already holds checkpoints: pass --resume to continue that run, "
                "or choose a new --workdir"
            )
        state, result, model = None, None, None
        for i, phase in enumerate(self.phases[first:], start=first):
            if model is None or model.phase.resolution != phase.resolution:
                model = self.build(phase, state)
            else:  # fade → stable: the same step (one compilation), the state as it is
                model = dataclasses.replace(model, phase=phase, state=state)
            restoring = i == first and (resume or resume_from is not None)
            result = training.fit(
                model.step,
                model.state,
                self.phase_dir(workdir, phase),
                dataclasses.replace(config, steps=phase.end),
                evaluate=evaluate,
                sample_fn=sample_fn,
                resume=restoring and resume_from is None,
                resume_from=resume_from if restoring else None,
                progress=progress,
                figures=figures,
                callbacks=callbacks,
                description=f"{description} {phase.resolution}×{phase.resolution} "
                f"{'fade-in' if phase.fade else 'stable'}",
            )
            state = result.state
            if result.interrupted or result.stopped_early:
                break
        return result

    def read_metrics(self, workdir: str) -> list[dict]:
        """Every phase's ``metrics.jsonl`` rows, in order."""
        rows = []
        for phase in self.phases:
            rows += training.read_metrics(self.phase_dir(workdir, phase))
        return rows

    def phase_state(self, workdir: str, phase: Phase) -> GameState:
        """The state saved at the end of ``phase`` (its latest checkpoint), read by this
        process alone onto one device (for figures)."""
        if phase.resolution not in self._templates:  # a fade and its stabilisation share it
            self._templates[phase.resolution] = self.initial_state(phase)
        template = self._templates[phase.resolution]
        directory = os.path.join(self.phase_dir(workdir, phase), training.CHECKPOINT_DIR)
        checkpointer = Checkpointer(directory, create=False, process_local=True)
        try:
            return checkpointer.restore(template=template)
        finally:
            checkpointer.close()
