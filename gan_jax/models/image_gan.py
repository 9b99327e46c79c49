"""An image GAN (DCGAN by default) assembled from the library's parts, ready for
:func:`gan_jax.training.fit`: networks, loss, scheme, optimizers, on-device batches, state.

Everything here is a choice a researcher makes by name (``--loss``, ``--scheme``); the
defaults are the DCGAN-32 reference of :mod:`gan_jax.nets.dcgan`: z = 100, Adam(2e-4,
β₁ = 0.5) for both players, batch 64, the non-saturating loss, alternating updates with one
D step first.  D's options: its own width (``d_width``; Metz et al.'s hard Stacked-MNIST
setting gives D a quarter of G's), PacGAN's packs (``pack``, Lin et al. 2018,
arXiv:1712.04086) and the gradient penalties ``(γ/2)·R1`` and ``(γ/2)·R2`` (Mescheder et
al. 2018, arXiv:1801.04406; both together with ``loss="rpgan"`` are R3GAN's objective,
arXiv:2501.05441), which need D without BatchNorm (``d_batch_norm=False``).  G's moving
average (``ema_half_life``, in real images; :class:`gan_jax.averaging.GeneratorEMA`, the
one every model uses) is what :meth:`ImageGAN.generate` evaluates when it is set.  Each
step draws its real batch uniformly with replacement from the dataset held on device
(:func:`gan_jax.data.random_batch`) and its latents from the step's key.
"""

from __future__ import annotations

import dataclasses
import functools
import math
from collections.abc import Callable
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax.sharding import Mesh

from gan_jax import cli, gan, training
from gan_jax import dynamics as dy
from gan_jax.averaging import GeneratorEMA
from gan_jax.configs import option
from gan_jax.dynamics.drift import DRIFT_SCHEMES
from gan_jax.dynamics.game import Game, GameState
from gan_jax.errors import UserError
from gan_jax.models.assembly import (
    LOSSES,
    SCHEMES,
    DrawBatch,
    adam_beta_option,
    adam_rate_option,
    assemble,
    batch_size_option,
    ema_clock,
    loss_option,
    make_scheme,
    player_steps_option,
    require_choice,
    require_player_steps,
    resolution_type,
    scheme_option,
    uniform_real_batches,
)
from gan_jax.nets.dcgan import (
    DOWNSAMPLE_METHODS,
    SECOND_ORDER_METHODS,
    UPSAMPLE_METHODS,
    DCGANDiscriminator,
    DCGANGenerator,
    num_stages,
)
from gan_jax.nets.dcgan_tf import DCGANTFDiscriminator, DCGANTFGenerator

Array = jax.Array
__all__ = [
    "EVAL_NOISE_SEED",
    "LOSSES",
    "SCHEMES",
    "ImageGAN",
    "ImageGANConfig",
    "assemble_image_gan",
    "build_image_gan",
    "check_batch_split",
    "discriminator_downsample",
    "parameter_count",
    "resolution_flag",
]

EVAL_NOISE_SEED = 20191212  # the fixed noise key of evaluation and sample grids
OPTIMIZERS = ("adam", "sgd")
# ``--nets``: the library's DCGAN-32 family, or DCGAN-TensorFlow's (gan_jax.nets.dcgan_tf)
NETS = ("dcgan", "dcgan_tf")


# argparse type of ``--resolution``: a size the DCGAN networks build (4·2^k ≥ 8)
resolution_flag = resolution_type(num_stages)


@dataclasses.dataclass(frozen=True)
class ImageGANConfig:
    """The model and optimisation choices (defaults: the DCGAN-32 reference)."""

    resolution: int = option(32, "4·2^k: 8, 16, 32, 64, …", type=resolution_flag)
    channels: int = option(1, derived=True)  # the data's
    latent_dim: int = option(100, "z's size", type=cli.positive_int)
    width: int = option(64, "G's last and D's first width", type=cli.positive_int)
    nets: str = option(
        "dcgan",
        "the networks: dcgan (the DCGAN-32 reference, 4×4 kernels) or dcgan_tf (DCGAN-"
        "TensorFlow's, as in VEEGAN's and PacGAN's tables: 5×5 kernels, D 64 → 512, uniform z)",
        type=cli.choice("nets", tuple(NETS)),
    )
    loss: str = loss_option("ns", LOSSES)
    scheme: str = scheme_option()
    d_steps: int = player_steps_option("D")
    g_steps: int = player_steps_option("G")
    lr_g: float = adam_rate_option(2e-4, "G's")
    lr_d: float = adam_rate_option(2e-4, "D's")
    beta1: float = adam_beta_option(0.5, 1)
    beta2: float = adam_beta_option(0.999, 2)
    batch_size: int = batch_size_option(64)
    upsample: str = option(
        "auto",
        "how G's 4×4 transposed convolutions are computed (one function; speed only)",
        type=cli.choice("upsample", UPSAMPLE_METHODS),
    )
    downsample: str = option(
        "auto",
        "how D's 4×4 strided convolutions are computed (one function; speed only; auto: by "
        "width, im2col throughout on CPU with --r1-gamma or --r2-gamma)",
        type=cli.choice("downsample", DOWNSAMPLE_METHODS),
    )
    d_width: int | None = option(None, "D's first width (default --width)", type=cli.positive_int)
    d_batch_norm: bool = option(
        True, "D without BatchNorm (needed by --r1-gamma and --r2-gamma)", flag="no-d-batch-norm"
    )
    pack: int = option(1, "PacGAN: D scores packs of N samples", type=cli.positive_int)
    r1_gamma: float = option(0.0, "γ of (γ/2)·R1 on reals", type=cli.non_negative_float)
    r2_gamma: float = option(0.0, "γ of (γ/2)·R2 on fakes", type=cli.non_negative_float)
    ema_half_life: float = option(
        0.0,
        "evaluate G's moving average with this half-life in real images (StyleGAN: 10000; 0: "
        "the trained G alone); the trained G is scored too, as *_raw",
        type=cli.non_negative_float,
    )
    optimizer: str = option(
        "adam",
        "adam (with --beta1, --beta2) or sgd (plain gradient descent: the setting of the "
        "discretisation-drift analysis)",
        type=cli.choice("optimizer", OPTIMIZERS),
    )
    drift_regularizer: float = option(
        0.0,
        "strength of the explicit drift regulariser (arXiv:2105.13922; gan_jax.dynamics."
        "drift_regularized with the learning rates as η): 1 cancels the harmful interaction "
        "terms of simultaneous GD (both players) or of alternating GD (the first mover)",
        type=cli.non_negative_float,
    )
    self_drift_regularizer: float = option(
        0.0,
        "strength of the explicit self-drift regulariser on both players ((η/4)·‖∇L‖², "
        "gan_jax.dynamics.drift_regularized's self_g/self_d): 1 doubles gradient descent's "
        "implicit gradient regularisation and cancels extragradient's anti-regularising self "
        "terms",
        type=cli.non_negative_float,
    )

    def __post_init__(self) -> None:
        require_choice("loss", self.loss, LOSSES)
        require_choice("scheme", self.scheme, SCHEMES)
        require_player_steps(self.scheme, self.d_steps, self.g_steps)
        require_choice("nets", self.nets, NETS)
        if self.nets != "dcgan" and (self.upsample, self.downsample) != ("auto", "auto"):
            raise UserError(
                f"--upsample and --downsample choose how the dcgan nets compute their 4×4 "
                f"layers, not --nets {self.nets}'s: drop them"
            )
        if self.batch_size % self.pack:
            raise UserError(
                f"--batch-size {self.batch_size} is not a multiple of --pack {self.pack}: "
                "pick a batch size that splits into packs"
            )
        if (self.drift_regularizer or self.self_drift_regularizer) and (
            self.d_steps,
            self.g_steps,
        ) != (1, 1):
            raise UserError(
                "the drift regularisers are derived for one update of each player per step: "
                "drop --d-steps and --g-steps or the regulariser"
            )
        if self.drift_regularizer and self.scheme not in ("simultaneous", "alternating"):
            raise UserError(
                f"--drift-regularizer is derived for simultaneous and alternating updates, "
                f"not --scheme {self.scheme}: drop it or change the scheme"
            )
        if self.self_drift_regularizer and self.scheme not in DRIFT_SCHEMES:
            raise UserError(
                f"--self-drift-regularizer is derived for {', '.join(DRIFT_SCHEMES)} updates, "
                f"not --scheme {self.scheme}: drop it or change the scheme"
            )
        if (self.r1_gamma or self.r2_gamma) and self.d_batch_norm:
            raise UserError(
                "R1 and R2 penalise each sample's gradient ∇ₓD, which BatchNorm couples "
                "across the batch: add --no-d-batch-norm"
            )

    @property
    def penalties(self) -> tuple:
        """D's gradient penalties: ``(γ₁/2)·R1`` and ``(γ₂/2)·R2`` when their γ is set
        (:func:`gan_jax.gan.r1`, :func:`gan_jax.gan.r2`; R3GAN: both, arXiv:2501.05441)."""
        return tuple(
            make(gamma) for make, gamma in ((gan.r1, self.r1_gamma), (gan.r2, self.r2_gamma))
            if gamma
        )  # fmt: skip


@dataclasses.dataclass(frozen=True)
class ImageGAN:
    """The assembled pieces: ``step`` is the pure training step, ``state`` the initial
    :class:`~gan_jax.dynamics.GameState` (replicated over ``mesh`` when there is one).

    With ``ema`` (a :class:`~gan_jax.averaging.GeneratorEMA`) the state's
    ``extra["g_ema"]`` holds G's moving average: :meth:`generate` uses it and
    :attr:`generate_raw` the trained weights.  Generation passes a fixed ``"noise"`` key
    (StyleGAN's noise inputs; other generators ignore it), so evaluations are repeatable.
    ``config`` is any model config with ``latent_dim`` and ``batch_size``.
    """

    config: Any
    generator: nn.Module
    discriminator: nn.Module
    game: Game
    scheme: object
    step: training.StepFn
    state: GameState
    mesh: Mesh | None
    ema: GeneratorEMA | None = None

    @property
    def latent_dim(self) -> int:
        return self.config.latent_dim

    def generate(self, state: GameState, z: Array) -> Array:
        """Images ``G(z)`` in inference mode (BatchNorm running statistics), with the
        averaged weights when there is an ``ema``."""
        return self._generate(state.extra["g_ema"] if self.ema is not None else state.g, z)

    @property
    def generate_raw(self) -> Callable[[GameState, Array], Array] | None:
        """``G(z)`` with the trained weights, when :meth:`generate` uses the average."""
        if self.ema is None:
            return None
        return lambda state, z: self._generate(state.g, z)

    @functools.cached_property
    def _generate(self) -> Callable:
        noise = {"noise": jax.random.key(EVAL_NOISE_SEED)}
        return jax.jit(lambda g, z: gan.generate(self.generator, g, z, rngs=noise))

    def progress(self, state: GameState) -> dict[str, int]:
        """Real images seen after ``state.step`` steps."""
        return {"images": int(state.step) * self.config.batch_size}

    def fit(self, workdir: str, config: training.FitConfig, **kwargs) -> training.FitResult:
        """:func:`gan_jax.training.fit` of this model's step from its initial state."""
        return training.fit(self.step, self.state, workdir, config, **kwargs)

    def read_metrics(self, workdir: str) -> list[dict]:
        return training.read_metrics(workdir)


def check_batch_split(batch_size: int, mesh: Mesh | None) -> None:
    """Refuse (:class:`~gan_jax.errors.UserError`) a batch that does not split evenly over
    ``mesh``'s devices."""
    if mesh is not None and batch_size % mesh.size:
        raise UserError(
            f"--batch-size {batch_size} does not split over {mesh.size} devices: use a "
            "multiple of the device count"
        )


def assemble_image_gan(
    config: Any,
    generator: nn.Module,
    discriminator: nn.Module,
    game: Game,
    scheme: object,
    images: Array,
    key: Array,
    mesh: Mesh | None = None,
    ema: GeneratorEMA | None = None,
    regularize_every: int = 1,
    draw_batch: DrawBatch | None = None,
) -> ImageGAN:
    """Any (G, D, game, scheme) as an :class:`ImageGAN` on ``images`` ``(N, R, R, C)`` in
    ``[−1, 1]``: initial state from ``key`` (plus ``extra["g_ema"]`` with an ``ema``), and
    the step whose batch is ``{"real", "key", "step"}`` (a uniform draw with replacement from
    the images on device, the step's key, the step count for lazy penalties; with
    ``regularize_every`` the step is a :class:`gan_jax.training.PeriodicStep`).

    ``draw_batch`` replaces the uniform draw by any :data:`~gan_jax.models.assembly.DrawBatch`
    over ``images`` whose ``"real"`` has the config's shape (Stacked MNIST stacks three
    grey-scale digits: :func:`gan_jax.data.random_stacked_batch`)."""
    shape = (config.resolution, config.resolution, config.channels)
    if draw_batch is None:
        if images.shape[1:] != shape:
            raise ValueError(
                f"images of shape {images.shape[1:]} do not match the config's {shape}"
            )
        draw_batch = uniform_real_batches(config.batch_size)
        example = images[: config.batch_size]
    else:
        example = jnp.zeros((config.batch_size, *shape), images.dtype)  # init needs shapes only
    check_batch_split(config.batch_size, mesh)
    init_key, train_key = jax.random.split(key)
    players = gan.init_players(
        generator,
        discriminator,
        init_key,
        example,
        config.latent_dim,
        pack=getattr(config, "pack", 1),
    )
    assembly = assemble(
        game,
        scheme,
        players,
        train_key,
        images,
        draw_batch,
        batch_size=config.batch_size,
        mesh=mesh,
        ema=ema,
        clock=ema_clock(config.batch_size),
        regularize_every=regularize_every,
    )
    return ImageGAN(
        config, generator, discriminator, game, scheme, assembly.step, assembly.state, mesh, ema
    )


def optimizers(config: Any) -> tuple[optax.GradientTransformation, ...]:
    """G's and D's optimizers: Adam(lr, β₁, β₂), or plain SGD(lr) (``config.optimizer``)."""
    if config.optimizer == "sgd":
        return optax.sgd(config.lr_g), optax.sgd(config.lr_d)
    return (
        optax.adam(config.lr_g, b1=config.beta1, b2=config.beta2),
        optax.adam(config.lr_d, b1=config.beta1, b2=config.beta2),
    )


def drift_regularized_game(game: Game, config: Any) -> Game:
    """``game`` with the explicit drift regularisers of ``config``
    (:func:`gan_jax.dynamics.drift_regularized`, η = the learning rates): the interaction
    regulariser ``drift_regularizer`` on both players for simultaneous updates, on the first
    mover for alternating ones (its interaction term is the harmful one; the second mover's
    has the other sign); the self regulariser ``self_drift_regularizer`` on both."""
    strength = config.drift_regularizer
    # SCHEMES' alternating moves D first: D is the first mover
    strength_g = strength if config.scheme == "simultaneous" else 0.0
    own = config.self_drift_regularizer
    return dy.drift_regularized(
        game, config.lr_g, config.lr_d, strength_g, strength, self_g=own, self_d=own
    )


def build_image_gan(
    config: ImageGANConfig,
    images: Array,
    key: Array,
    mesh: Mesh | None = None,
    draw_batch: DrawBatch | None = None,
) -> ImageGAN:
    """The DCGAN of ``config`` (see module doc) as an :class:`ImageGAN` (``draw_batch``: see
    :func:`assemble_image_gan`)."""
    check_batch_split(config.batch_size, mesh)
    generator, discriminator = networks(config)
    g_loss, d_loss = LOSSES[config.loss]
    game = gan.gan_game(
        generator,
        discriminator,
        g_loss,
        d_loss,
        penalties=config.penalties,
        latent_dim=config.latent_dim,
        pack=config.pack,
    )
    if config.drift_regularizer or config.self_drift_regularizer:
        game = drift_regularized_game(game, config)
    opt_g, opt_d = optimizers(config)
    scheme = make_scheme(config.scheme, opt_g, opt_d, config.d_steps, config.g_steps)
    ema = GeneratorEMA(config.ema_half_life) if config.ema_half_life > 0 else None
    return assemble_image_gan(
        config,
        generator,
        discriminator,
        game,
        scheme,
        images,
        key,
        mesh,
        ema=ema,
        draw_batch=draw_batch,
    )


def networks(config: ImageGANConfig) -> tuple[nn.Module, nn.Module]:
    """G and D of ``config.nets``: :mod:`gan_jax.nets.dcgan`'s DCGAN-32 family, or
    DCGAN-TensorFlow's (:mod:`gan_jax.nets.dcgan_tf`; G reads ``z`` as uniform on [−1, 1])."""
    d_width = config.d_width or config.width
    if config.nets == "dcgan_tf":
        return (
            DCGANTFGenerator(config.resolution, config.channels, config.width),
            DCGANTFDiscriminator(d_width, batch_norm=config.d_batch_norm),
        )
    generator = DCGANGenerator(
        resolution=config.resolution,
        channels=config.channels,
        width=config.width,
        upsample=config.upsample,
    )
    discriminator = DCGANDiscriminator(
        width=d_width, downsample=discriminator_downsample(config), batch_norm=config.d_batch_norm
    )
    return generator, discriminator


def discriminator_downsample(config: ImageGANConfig) -> str:
    """How D's strided convolutions are computed: ``config.downsample``, except that
    ``"auto"`` becomes ``"im2col"`` (:data:`~gan_jax.nets.dcgan.SECOND_ORDER_METHODS`) on
    CPU when D's loss has a gradient penalty (R1, R2).  The penalty's gradient differentiates
    D twice, which XLA:CPU does several times faster through im2col's matrix products than
    through strided convolutions; the function and its parameters are the same either way
    (the measurements: the benchmarks page).  Other backends keep ``"auto"``: they were not
    measured."""
    if config.downsample == "auto" and config.penalties and jax.default_backend() == "cpu":
        return SECOND_ORDER_METHODS["downsample"]
    return config.downsample


def parameter_count(tree: object) -> int:
    """Number of scalars in the ``params`` collection of a flax variables dict (arrays or the
    shapes ``jax.eval_shape`` gives)."""
    return int(sum(math.prod(np.shape(leaf)) for leaf in jax.tree.leaves(tree["params"])))
