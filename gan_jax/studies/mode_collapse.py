"""Mode collapse on 2-D Gaussian mixtures, measured, and the remedies side by side: the
study of ``python -m experiments.mode_collapse`` (its module doc describes the methods, the
setups and the protocol).

* :data:`METHODS` and :data:`SETUPS`: the recipes (scheme and remedies) and the published
  setups (networks, mixtures, optimiser, length);
* :func:`build`: a method's :class:`~gan_jax.dynamics.Game` and scheme under a setup;
* :func:`compile_method`: the whole multi-seed run as compiled programs: every seed at once
  under ``vmap``, trained in chunks (:func:`gan_jax.models.mixture_gan.train_chunk`, state
  on device between chunks) and scored at every snapshot;
* :func:`train_methods`: every (mixture, method) pair, compiling the next program on one
  core while the current one trains;
* :func:`summarise` and :func:`markdown_table`: the final numbers, mean ± s.e. over seeds.

``settings`` is the experiment's resolved flags (:func:`resolve`): any object with the
attributes ``setup, steps, seeds, every, mixtures, methods, batch_size, lr_g, lr_d, beta1,
lr_schedule, lr_final, ema_beta, unroll_lr, g_width, d_width, g_depth, d_depth,
latent_dim, codes, std, seed``.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import flax.linen as nn
import jax
import numpy as np
import optax
from tqdm import tqdm

from gan_jax import data, gan, losses, training
from gan_jax import dynamics as dy
from gan_jax.averaging import GeneratorEMA
from gan_jax.metrics import mean_and_standard_error
from gan_jax.models import mixture_gan
from gan_jax.nets.mlp import MLPDiscriminator, MLPGenerator

__all__ = [
    "COVERAGE",
    "FULL_SEEDS",
    "KERNEL_INITS",
    "METHODS",
    "SETUPS",
    "Method",
    "Program",
    "Setup",
    "build",
    "collect",
    "compile_method",
    "markdown_table",
    "method_for",
    "mixture_for",
    "networks",
    "optimizers",
    "resolve",
    "summarise",
    "train_methods",
]


@dataclasses.dataclass(frozen=True)
class Method:
    """One training recipe: the scheme, and the remedies switched on (all off: vanilla)."""

    label: str
    scheme: str = "alternating"  # or "simultaneous"
    unroll_steps: int = 0
    pack: int = 1
    minibatch_std_group: int = 0
    r1_gamma: float = 0.0
    wgan_gp_weight: float = 0.0
    latent_codes: int = 0  # G a mixture of this many generators (MLPGenerator.discrete_codes)
    code_weight: float = 0.0  # InfoGAN's weight λ on telling the codes apart (gan_game)

    @property
    def info_codes(self) -> int:
        """The codes D's head predicts (gan_game's ``latent_codes``): with a code term only."""
        return self.latent_codes if self.code_weight else 0


METHODS: dict[str, Method] = {
    "vanilla_alt": Method("vanilla (alt.)"),
    "vanilla_sim": Method("vanilla (sim.)", scheme="simultaneous"),
    "unrolled5": Method("unrolled k=5", unroll_steps=5),
    "pacgan2": Method("PacGAN2", pack=2),
    "pacgan3": Method("PacGAN3", pack=3),
    "pacgan4": Method("PacGAN4", pack=4),
    # "{codes}": the number of codes, 8 or --codes (method_for)
    "pacgan4_codes": Method("PacGAN4 + {codes} codes", pack=4, latent_codes=8),
    "pacgan4_info": Method(
        "PacGAN4 + {codes} InfoGAN codes", pack=4, latent_codes=8, code_weight=1.0
    ),
    "mbstd": Method("minibatch stddev", minibatch_std_group=4),
    "r1": Method("R1", r1_gamma=0.1),
    "wgan_gp": Method("WGAN-GP", wgan_gp_weight=0.1),
}

KERNEL_INITS: dict[str, nn.initializers.Initializer] = {
    "lecun": nn.initializers.lecun_normal(),
    "normal_0.02": nn.initializers.normal(0.02),
    "orthogonal_1.4": nn.initializers.orthogonal(1.4),
}


@dataclasses.dataclass(frozen=True)
class Setup:
    """Networks, mixtures, optimiser and training length of one published setup."""

    source: str
    ring: dict  # keyword arguments of data.mixture_of_gaussians("ring", ...)
    grid: dict
    methods: tuple[str, ...]
    g_width: int = 128
    g_depth: int = 2
    g_activation: str = "relu"
    g_batch_norm: bool = False
    d_width: int = 128
    d_depth: int = 2
    d_activation: str = "leaky_relu"
    d_maxout_pieces: int = 0
    kernel_init: str = "lecun"
    latent_dim: int = 256
    lr_g: float = 1e-3
    lr_d: float = 1e-3
    beta1: float = 0.5
    batch_size: int = 128
    steps: int = 5000
    unroll_optimizer: str = "sgd"  # SGD(unroll_lr) from scratch, or "adam_d": D's own Adam
    unroll_lr: float = 1e-3


SETUPS: dict[str, Setup] = {
    "default": Setup(
        source="ours",
        ring={"radius": 2.0, "std": 0.02},
        grid={"spacing": 2.0, "std": 0.02},
        methods=(
            "vanilla_alt",
            "vanilla_sim",
            "unrolled5",
            "pacgan2",
            "pacgan4",
            "mbstd",
            "r1",
            "wgan_gp",
        ),
    ),
    "pacgan": Setup(
        source="PacGAN's code (arXiv:1712.04086)",
        ring={"radius": 1.0, "std": 0.01},
        grid={"spacing": 2.0, "std": 0.05},
        methods=("vanilla_alt", "pacgan2", "pacgan3", "pacgan4"),
        g_width=400,
        g_depth=4,
        g_batch_norm=True,
        d_width=200,
        d_depth=3,
        d_maxout_pieces=5,
        kernel_init="normal_0.02",
        latent_dim=2,
        lr_g=1e-4,
        lr_d=1e-4,
        beta1=0.8,
        batch_size=100,
        steps=400_000,
    ),
    "unrolled": Setup(
        source="Metz et al.'s code (arXiv:1611.02163)",
        ring={"radius": 2.0, "std": 0.02},
        grid={"spacing": 2.0, "std": 0.02},
        methods=("vanilla_alt", "unrolled5"),
        g_activation="tanh",
        d_activation="tanh",
        kernel_init="orthogonal_1.4",
        lr_g=1e-3,
        lr_d=1e-4,
        beta1=0.5,
        batch_size=512,
        steps=25_000,
        unroll_optimizer="adam_d",
    ),
}

# The preview: 16 runs would spend ~2 min compiling alone on 2 cores, so --quick is the
# ring (where collapse shows first) with every method; --mixtures ring grid adds the grid.
FULL_SEEDS = 5


def method_for(name: str, settings: Any) -> Method:
    """``METHODS[name]`` with ``--codes`` for a method with discrete codes, labelled with
    its number of codes."""
    method = METHODS[name]
    if method.latent_codes and settings.codes:
        method = dataclasses.replace(method, latent_codes=settings.codes)
    return dataclasses.replace(method, label=method.label.format(codes=method.latent_codes))


def resolve(settings: Any) -> Any:
    """Fill every unset flag from the setup (a preset such as ``--quick`` sets flags)."""
    setup = SETUPS[settings.setup]
    settings.steps = settings.steps or setup.steps
    settings.seeds = settings.seeds or FULL_SEEDS
    settings.mixtures = settings.mixtures or list(data.MIXTURE_KINDS)
    settings.methods = settings.methods or list(setup.methods)
    settings.batch_size = settings.batch_size or setup.batch_size
    settings.lr_g = settings.lr or setup.lr_g
    settings.lr_d = settings.lr or setup.lr_d
    settings.beta1 = setup.beta1 if settings.beta1 is None else settings.beta1
    settings.unroll_lr = settings.unroll_lr or setup.unroll_lr
    settings.g_width = settings.width or setup.g_width
    settings.d_width = settings.width or setup.d_width
    settings.g_depth = settings.depth or setup.g_depth
    settings.d_depth = settings.depth or setup.d_depth
    settings.latent_dim = settings.latent_dim or setup.latent_dim
    # snapshots every steps // snapshots steps (at least 1), plus the final step
    settings.every = max(1, settings.steps // settings.snapshots)
    return settings


def mixture_for(kind: str, setup: Setup, std: float | None = None) -> data.GaussianMixture:
    """The setup's ring or grid; ``std`` (``--std``) replaces its components' σ."""
    shape = dict(setup.ring if kind == "ring" else setup.grid)
    if std is not None:
        shape["std"] = std
    return data.mixture_of_gaussians(kind, **shape)


def networks(method: Method, settings: Any) -> tuple[nn.Module, nn.Module]:
    """``(G, D)`` of the setup, with the method's minibatch-stddev layer."""
    setup = SETUPS[settings.setup]
    kernel_init = KERNEL_INITS[setup.kernel_init]
    generator = MLPGenerator(
        2,
        width=settings.g_width,
        depth=settings.g_depth,
        activation=setup.g_activation,
        batch_norm=setup.g_batch_norm,
        kernel_init=kernel_init,
        discrete_codes=method.latent_codes,
    )
    discriminator = MLPDiscriminator(
        width=settings.d_width,
        depth=settings.d_depth,
        activation=setup.d_activation,
        minibatch_std_group=method.minibatch_std_group,
        maxout_pieces=setup.d_maxout_pieces,
        kernel_init=kernel_init,
        code_outputs=method.pack * method.info_codes,
    )
    return generator, discriminator


def optimizers(
    settings: Any,
) -> tuple[optax.GradientTransformation, optax.GradientTransformation]:
    """Both players' Adam, with the step-size schedule.  ``eps_root`` keeps Adam's square
    root differentiable where a moment is 0 (an unrolled loss differentiates D's steps;
    :func:`gan_jax.gan.unrolled`); at 1e-16 it does not change a step otherwise."""

    def adam(lr: float) -> optax.GradientTransformation:
        schedule = training.learning_rate_schedule(
            settings.lr_schedule, lr, settings.steps, settings.lr_final
        )
        return optax.adam(schedule, b1=settings.beta1, eps_root=1e-16)

    return adam(settings.lr_g), adam(settings.lr_d)


def build(method: Method, settings: Any):
    """``(game, scheme, generator, discriminator)`` of a method under ``settings.setup``."""
    setup = SETUPS[settings.setup]
    generator, discriminator = networks(method, settings)
    opt_g, opt_d = optimizers(settings)
    if method.wgan_gp_weight:
        g_loss, d_loss = losses.wasserstein_generator_loss, losses.wasserstein_discriminator_loss
        penalties = [gan.wgan_gp(method.wgan_gp_weight)]
    else:
        g_loss, d_loss = losses.modified_generator_loss, losses.minimax_discriminator_loss
        penalties = [gan.r1(method.r1_gamma)] if method.r1_gamma else []
    game = gan.gan_game(
        generator,
        discriminator,
        g_loss=g_loss,
        d_loss=d_loss,
        penalties=penalties,
        latent_dim=settings.latent_dim,
        pack=method.pack,
        latent_codes=method.info_codes,
        code_weight=method.code_weight,
    )
    if setup.unroll_optimizer == "adam_d":
        # Metz et al.'s code: the inner steps are D's own Adam steps, from its moments.
        game = gan.unrolled(game, opt_d, method.unroll_steps, optimizer_state="discriminator")
    else:
        # The paper's update (arXiv:1611.02163, eq. 4): plain SGD steps.
        game = gan.unrolled(game, optax.sgd(settings.unroll_lr), method.unroll_steps)
    if method.scheme == "simultaneous":
        scheme = dy.simultaneous(opt_g, opt_d)
    else:
        scheme = dy.alternating(opt_g, opt_d)
    return game, scheme, generator, discriminator


@dataclasses.dataclass
class Program:
    """One method on one mixture, ``settings.seeds`` seeds under ``vmap``, compiled: ``init``
    (the states at step 0), ``chunk`` (``every`` steps from a traced start step, state
    donated) and ``score`` (coverage of every kept generator)."""

    init: Callable
    chunks: dict[int, Callable]
    score: Callable
    keys: jax.Array
    every: int
    steps: int

    def run(self, progress: Callable[[int], None] = lambda n: None) -> dict[str, np.ndarray]:
        """Train chunk by chunk (state on device between chunks), then score."""
        train_keys, eval_keys = self.keys
        state = self.init(train_keys)
        kept = [jax.tree.map(lambda x: x[:, None], (state.g, state.extra))]
        losses = []
        for start in range(0, self.steps, self.every):
            length = min(self.every, self.steps - start)
            state, ((g, _, extra), metrics) = self.chunks[length](state, start)
            kept.append((g, extra))
            losses.append(jax.block_until_ready(metrics))  # the bar shows finished steps
            progress(length)
        gs, extras = jax.tree.map(lambda *xs: jax.numpy.concatenate(xs, axis=1), *kept)
        metrics = jax.tree.map(lambda *xs: jax.numpy.concatenate(xs, axis=1), *losses)
        result = self.score(gs, extras, eval_keys)
        result.update(loss_g=metrics["loss_g"], loss_d=metrics["loss_d"])
        return {name: np.asarray(value) for name, value in result.items()}


def compile_method(mixture: data.GaussianMixture, method: Method, settings: Any) -> Program:
    """Compile the programs that train ``settings.seeds`` seeds of ``method`` in chunks of
    ``settings.every`` steps (one snapshot each) and score every snapshot."""
    game, scheme, generator, discriminator = build(method, settings)
    batch_size = settings.batch_size * method.pack
    ema = GeneratorEMA.from_beta(settings.ema_beta, batch_size) if settings.ema_beta else None

    def init(key: jax.Array) -> dy.GameState:
        return mixture_gan.init_on_mixture(
            game, scheme, generator, discriminator, mixture, key,
            batch_size=batch_size, latent_dim=settings.latent_dim, pack=method.pack, ema=ema,
        )  # fmt: skip

    def chunk(length: int) -> Callable:
        def one_seed(state: dy.GameState, start: jax.Array):
            return mixture_gan.train_chunk(
                game, scheme, mixture, state, start, length,
                batch_size=batch_size, every=length, ema=ema,
            )  # fmt: skip

        return jax.jit(jax.vmap(one_seed, in_axes=(0, None)), donate_argnums=0)

    def score(gs, extras, key: jax.Array) -> dict[str, jax.Array]:
        result = {}
        generators = {"": gs} if ema is None else {"": gs, "ema_": extras["g_ema"]}
        for prefix, snapshots in generators.items():
            coverage = mixture_gan.coverage_over_training(
                generator, snapshots, mixture, key, latent_dim=settings.latent_dim
            )
            result.update({prefix + name: value for name, value in coverage.items()})
        return result

    seeds = jax.random.split(jax.random.key(settings.seed), settings.seeds)
    train_keys, eval_keys = jax.vmap(jax.random.split, out_axes=1)(seeds)
    init_jit = jax.jit(jax.vmap(init))
    state_shape = jax.eval_shape(init_jit, train_keys)
    init_program = init_jit.lower(train_keys).compile()
    lengths = {
        min(settings.every, settings.steps - start)
        for start in range(0, settings.steps, settings.every)
    }
    chunks = {n: chunk(n).lower(state_shape, 0).compile() for n in lengths}
    kept = len(dy.kept_steps(settings.steps, settings.every))
    snapshots = jax.tree.map(
        lambda x: jax.ShapeDtypeStruct((x.shape[0], kept, *x.shape[1:]), x.dtype),
        (state_shape.g, state_shape.extra),
    )
    score_program = jax.jit(jax.vmap(score)).lower(*snapshots, eval_keys).compile()
    return Program(
        init_program, chunks, score_program, (train_keys, eval_keys), settings.every, settings.steps
    )


COVERAGE = ("modes", "high_quality", "reverse_kl", "off_mode", "spread")


def summarise(result: dict[str, np.ndarray]) -> dict[str, float | list]:
    """Final-snapshot mean ± s.e. over seeds, and the per-seed values, of the trained
    generator and (``ema_…``) of its average."""
    row: dict[str, float | list] = {}
    names = [prefix + name for prefix in ("", "ema_") for name in COVERAGE]
    for name in [n for n in names if n in result]:
        final = result[name][:, -1]
        mean, se = mean_and_standard_error(final)
        row[name] = float(mean)
        row[f"{name}_se"] = float(se)
        row[f"{name}_per_seed"] = final.tolist()
    finite = np.isfinite(result["loss_d"]).all(axis=1) & np.isfinite(result["loss_g"]).all(axis=1)
    row["diverged_seeds"] = int(np.sum(~finite))
    return row


def _cell(row: dict, name: str, scale: float = 1.0, digits: int = 1) -> str:
    return f"{scale * row[name]:.{digits}f} ± {scale * row[name + '_se']:.{digits}f}"


def markdown_table(summary: dict[str, dict[str, dict]], num_modes: dict[str, int]) -> str:
    """Final numbers per mixture and method: the trained G, then its average (if kept),
    then where the evaluated generator's low-quality samples are (off the modes, and the
    spread of the high-quality ones; :func:`gan_jax.metrics.mode_coverage`)."""
    with_ema = any("ema_modes" in row for rows in summary.values() for row in rows.values())
    header = "| mixture | method | modes | high quality % | reverse KL |"
    if with_ema:
        header += " EMA modes | EMA high quality % | EMA reverse KL |"
    header += " off the modes % | spread (σ) |"
    lines = [header, "|---" * (header.count("|") - 1) + "|"]
    shown = "ema_" if with_ema else ""  # the evaluated generator: the average when kept
    for kind, rows in summary.items():
        for row in rows.values():
            cells = [kind, row["label"]]
            for prefix in ("", "ema_") if with_ema else ("",):
                cells += [
                    f"{_cell(row, prefix + 'modes')} / {num_modes[kind]}",
                    _cell(row, prefix + "high_quality", 100.0),
                    _cell(row, prefix + "reverse_kl", digits=2),
                ]
            # why the evaluated generator's samples miss the 3σ disc
            cells += [
                _cell(row, shown + "off_mode", 100.0),
                _cell(row, shown + "spread", digits=2),
            ]
            if row["diverged_seeds"]:
                cells.append(f"{row['diverged_seeds']} seed(s) diverged")
            lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def train_methods(
    mixtures: dict[str, data.GaussianMixture], settings: Any, progress: bool = True
) -> tuple[dict[tuple[str, str], dict[str, np.ndarray]], dict[str, float]]:
    """Every method of ``settings.methods`` on every mixture: ``({(kind, name): per-seed
    coverage over the snapshots and losses}, {"kind/name": training seconds})``.  XLA
    compiles on one core while a compiled program trains on the others, so the next
    program is compiled in the background while the current one runs (with ``--quick``
    compilation is a large share of the time)."""
    jobs = [(kind, name) for kind in mixtures for name in settings.methods]
    results, seconds = {}, {}
    with ThreadPoolExecutor(max_workers=1) as compiler:
        programs = [
            compiler.submit(compile_method, mixtures[kind], method_for(name, settings), settings)
            for kind, name in jobs
        ]
        total = len(jobs) * settings.steps
        bar = tqdm(total=total, desc="training", unit="step", unit_scale=True, disable=not progress)
        for (kind, name), program in zip(jobs, programs):
            program = program.result()
            bar.set_postfix_str(f"{kind}/{name}")
            tic = time.time()
            results[kind, name] = program.run(bar.update)
            seconds[f"{kind}/{name}"] = round(time.time() - tic, 1)  # training only
        bar.close()
    return results, seconds


def collect(
    results: dict[tuple[str, str], dict[str, np.ndarray]], settings: Any
) -> tuple[dict[str, dict], dict[str, dict], dict[str, dict]]:
    """``(rows, curves, snapshots)`` per mixture: each method's :func:`summarise` row (with
    its mean curves over steps and its label), the evaluated generator's (G's average when
    there is one) per-seed modes and high-quality % over the snapshots, and seed 0's
    samples at every snapshot."""
    shown = "ema_" if settings.ema_beta else ""
    rows: dict[str, dict] = {}
    curves: dict[str, dict] = {}
    snapshots: dict[str, dict] = {}
    for (kind, name), result in results.items():
        row = summarise(result)
        for prefix in ("", "ema_") if settings.ema_beta else ("",):
            for quantity in ("modes", "high_quality"):
                row[f"{prefix}{quantity}_over_steps"] = result[prefix + quantity].mean(axis=0)
        label = row["label"] = method_for(name, settings).label
        rows.setdefault(kind, {})[name] = row
        kind_curves = curves.setdefault(kind, {"modes": {}, "high_quality": {}})
        kind_curves["modes"][label] = result[shown + "modes"]
        kind_curves["high_quality"][label] = 100.0 * result[shown + "high_quality"]
        snapshots.setdefault(kind, {})[label] = result[shown + "samples"][0]  # seed 0
    return rows, curves, snapshots
