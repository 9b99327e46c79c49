"""Mode collapse on 2-D Gaussian mixtures, measured, and the remedies side by side.

Every method trains the same MLP generator and discriminator on the 8-Gaussian ring and
the 25-Gaussian grid through the same :mod:`gan_jax.dynamics` schemes, for several seeds
at once (``vmap``).  Coverage follows the VEEGAN/PacGAN protocol
(:func:`gan_jax.metrics.mode_coverage`, 2,500 samples): modes covered, the fraction of
high-quality samples (within 3σ of a mode) and the reverse KL of the mode histogram from
uniform, reported as mean ± standard error over seeds, for the trained generator and for
its exponential moving average (Yazıcı et al. 2019, arXiv:1806.04498; the average is
evaluated only, it never feeds back into training).

Methods: the non-saturating GAN under alternating and simultaneous updates; and, under
alternating updates, unrolled GAN (k = 5, arXiv:1611.02163), PacGAN2/3/4
(arXiv:1712.04086), minibatch standard deviation (arXiv:1710.10196), R1 (arXiv:1801.04406)
and WGAN-GP (arXiv:1704.00028).  Two methods (not in a setup's default list; name them
with ``--methods``) aim at the bridges a continuous generator draws between disconnected
modes, which are what keeps PacGAN4 under 96 % high quality on the ring:

* ``pacgan4_codes``: PacGAN4 with a generator that is a mixture of 8 weight-shared
  generators (:class:`~gan_jax.nets.mlp.MLPGenerator`'s ``discrete_codes``).  Measured, it
  does not thin them: nothing pushes the codes apart, and G does not use them (README).
* ``pacgan4_info``: the same, plus InfoGAN's code term (arXiv:1606.03657; MGAN's
  classifier term, arXiv:1708.02556): D's recognition head predicts each packed fake's
  code, and G and D both minimise its cross-entropy (λ = 1;
  :func:`gan_jax.gan.gan_game`'s ``latent_codes``).  Each code then takes a mode of its
  own, and no sample lies on a bridge (README).

``--setup`` picks the networks, mixtures, optimiser and length (:data:`SETUPS`):

* ``default``: our study.  MLPs with 2 hidden layers of 128 units, a 256-d latent,
  Adam(1e-3, β₁ = 0.5), 128 real samples per step, 5,000 steps, σ = 0.02 mixtures;
  unrolled D steps are SGD(1e-3) (the paper's eq. 4).
* ``pacgan``: PacGAN's public code (fjxmlzn/PacGAN, synthetic experiments): ring of
  radius 1 with σ = 0.01, grid −4…4 with σ = 0.05; G 4 × 400 ReLU with BatchNorm, D 3 ×
  200 maxout units of 5 pieces, weights N(0, 0.02²), z ~ N(0, I₂), Adam(1e-4, β₁ = 0.8),
  100 packs per step, 400 epochs of 100,000 samples = 400,000 steps.  (Their code draws
  from a fixed set of 100,000 samples; we sample fresh ones.)
* ``unrolled``: Metz et al.'s public code (poolio/unrolled_gan): G and D with 2 tanh
  layers of 128 units, orthogonal weights with gain 1.4, z ~ N(0, I₂₅₆), Adam with
  β₁ = 0.5, step 1e-4 for D and 1e-3 for G, batch 512, 25,000 steps, and inner steps that
  are D's own Adam steps continuing its moments (:func:`gan_jax.gan.unrolled`); the
  paper's σ = 0.02 ring of radius 2 (the notebook's ``linspace`` puts two of its 8 modes
  on the same point).

``--lr-schedule`` decays both players' step sizes (linear or cosine, to 0 by default) and
``--ema-beta`` sets the generator average; every other setting is a flag that overrides
the setup.

    python -m experiments.mode_collapse                  # full study (both mixtures, 5 seeds)
    python -m experiments.mode_collapse --quick          # a preview: the ring, < 2 minutes
    python -m experiments.mode_collapse --setup pacgan --steps 20000 --lr-schedule cosine
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor

import flax.linen as nn
import jax
import numpy as np
import optax
from tqdm import tqdm

from gan_jax import cli, data, gan, losses, training
from gan_jax import dynamics as dy
from gan_jax.averaging import GeneratorEMA
from gan_jax.metrics import mean_and_standard_error
from gan_jax.models import mixture_gan
from gan_jax.nets.mlp import MLPDiscriminator, MLPGenerator
from gan_jax.viz.plotting import plot_mean_with_band, plot_sample_snapshots


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
QUICK = {"steps": 1000, "seeds": 2, "mixtures": ["ring"]}
FULL_SEEDS = 5


def parse_args(argv: Sequence[str] | None) -> cli.argparse.Namespace:
    parser = cli.ArgumentParser(
        prog="python -m experiments.mode_collapse", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument(
        "--out", type=cli.output_directory, default="runs/mode_collapse", help="output folder"
    )
    parser.add_argument(
        "--setup",
        choices=list(SETUPS),
        default="default",
        help="networks, mixtures, optimiser and length: ours, or a paper's public code",
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help=f"preview: {QUICK['steps']} steps, {QUICK['seeds']} seeds, the "
        f"{' and '.join(QUICK['mixtures'])} only (default setup: under 2 minutes on 2 cores)",
    )
    parser.add_argument(
        "--mixtures",
        nargs="+",
        choices=data.MIXTURE_KINDS,
        default=None,
        help=f"default {' '.join(data.MIXTURE_KINDS)}; --quick {' '.join(QUICK['mixtures'])}",
    )
    parser.add_argument(
        "--methods", nargs="+", choices=list(METHODS), default=None, help="default: the setup's"
    )
    parser.add_argument(
        "--steps", type=cli.positive_int, default=None, help="training steps (default: the setup's)"
    )
    parser.add_argument(
        "--seeds",
        type=cli.positive_int,
        default=None,
        help=f"seeds per method (default {FULL_SEEDS}; --quick {QUICK['seeds']})",
    )
    parser.add_argument("--seed", type=int, default=0, help="base PRNG seed")
    parser.add_argument(
        "--batch-size",
        type=cli.positive_int,
        default=None,
        help="real samples (PacGAN: packs) per step (default: the setup's)",
    )
    parser.add_argument(
        "--lr", type=cli.positive_float, default=None, help="Adam step size of both players"
    )
    parser.add_argument(
        "--lr-schedule",
        choices=training.LR_SCHEDULES,
        default="constant",
        help="step-size decay of both players over --steps (to --lr-final × the step size)",
    )
    parser.add_argument(
        "--lr-final",
        type=cli.probability,
        default=0.0,
        help="final step size / initial (decays only)",
    )
    parser.add_argument(
        "--ema-beta",
        type=cli.decay_rate,
        default=0.999,
        help="per-step decay of the evaluated generator average (0: no average)",
    )
    parser.add_argument(
        "--unroll-lr",
        type=cli.positive_float,
        default=None,
        help="SGD step size of the unrolled D steps (setups with SGD inner steps)",
    )
    parser.add_argument(
        "--beta1", type=cli.decay_rate, default=None, help="Adam β₁ (default: the setup's)"
    )
    parser.add_argument(
        "--snapshots",
        type=cli.positive_int,
        default=20,
        help="coverage is measured this many times over training",
    )
    overrides = (  # unset: the setup's (or the method's) value
        ("--width", cli.positive_int, "hidden units of G and of D"),
        ("--depth", cli.positive_int, "hidden layers of G and of D"),
        ("--latent-dim", cli.positive_int, "z dimension (default: the setup's)"),
        ("--std", cli.positive_float, "σ of every mixture component (default: the setup's)"),
        ("--codes", cli.positive_int, "discrete codes of pacgan4_codes, pacgan4_info (default 8)"),
    )
    for flag, kind, help_text in overrides:
        parser.add_argument(flag, type=kind, default=None, help=help_text)
    args = parser.parse_args(argv)
    args = resolve(args)
    codes = max(method_for(name, args).latent_codes for name in args.methods)
    if codes >= args.latent_dim:
        parser.error(f"{codes} latent codes need --latent-dim > {codes}, got {args.latent_dim}")
    return args


def method_for(name: str, args: cli.argparse.Namespace) -> Method:
    """``METHODS[name]`` with ``--codes`` for a method with discrete codes, labelled with
    its number of codes."""
    method = METHODS[name]
    if method.latent_codes and args.codes:
        method = dataclasses.replace(method, latent_codes=args.codes)
    return dataclasses.replace(method, label=method.label.format(codes=method.latent_codes))


def resolve(args: cli.argparse.Namespace) -> cli.argparse.Namespace:
    """Fill every unset flag from the setup (and ``--quick``)."""
    setup = SETUPS[args.setup]
    quick = args.quick
    args.steps = args.steps or (QUICK["steps"] if quick else setup.steps)
    args.seeds = args.seeds or (QUICK["seeds"] if quick else FULL_SEEDS)
    args.mixtures = args.mixtures or (QUICK["mixtures"] if quick else list(data.MIXTURE_KINDS))
    args.methods = args.methods or list(setup.methods)
    args.batch_size = args.batch_size or setup.batch_size
    args.lr_g = args.lr or setup.lr_g
    args.lr_d = args.lr or setup.lr_d
    args.beta1 = setup.beta1 if args.beta1 is None else args.beta1
    args.unroll_lr = args.unroll_lr or setup.unroll_lr
    args.g_width = args.width or setup.g_width
    args.d_width = args.width or setup.d_width
    args.g_depth = args.depth or setup.g_depth
    args.d_depth = args.depth or setup.d_depth
    args.latent_dim = args.latent_dim or setup.latent_dim
    # snapshots every steps // snapshots steps (at least 1), plus the final step
    args.every = max(1, args.steps // args.snapshots)
    return args


def mixture_for(kind: str, setup: Setup, std: float | None = None) -> data.GaussianMixture:
    """The setup's ring or grid; ``std`` (``--std``) replaces its components' σ."""
    shape = dict(setup.ring if kind == "ring" else setup.grid)
    if std is not None:
        shape["std"] = std
    return data.mixture_of_gaussians(kind, **shape)


def networks(method: Method, args: cli.argparse.Namespace) -> tuple[nn.Module, nn.Module]:
    """``(G, D)`` of the setup, with the method's minibatch-stddev layer."""
    setup = SETUPS[args.setup]
    kernel_init = KERNEL_INITS[setup.kernel_init]
    generator = MLPGenerator(
        2,
        width=args.g_width,
        depth=args.g_depth,
        activation=setup.g_activation,
        batch_norm=setup.g_batch_norm,
        kernel_init=kernel_init,
        discrete_codes=method.latent_codes,
    )
    discriminator = MLPDiscriminator(
        width=args.d_width,
        depth=args.d_depth,
        activation=setup.d_activation,
        minibatch_std_group=method.minibatch_std_group,
        maxout_pieces=setup.d_maxout_pieces,
        kernel_init=kernel_init,
        code_outputs=method.pack * method.info_codes,
    )
    return generator, discriminator


def optimizers(
    args: cli.argparse.Namespace,
) -> tuple[optax.GradientTransformation, optax.GradientTransformation]:
    """Both players' Adam, with the step-size schedule.  ``eps_root`` keeps Adam's square
    root differentiable where a moment is 0 (an unrolled loss differentiates D's steps;
    :func:`gan_jax.gan.unrolled`); at 1e-16 it does not change a step otherwise."""

    def adam(lr: float) -> optax.GradientTransformation:
        schedule = training.learning_rate_schedule(args.lr_schedule, lr, args.steps, args.lr_final)
        return optax.adam(schedule, b1=args.beta1, eps_root=1e-16)

    return adam(args.lr_g), adam(args.lr_d)


def build(method: Method, args: cli.argparse.Namespace):
    """``(game, scheme, generator, discriminator)`` of a method under ``args.setup``."""
    setup = SETUPS[args.setup]
    generator, discriminator = networks(method, args)
    opt_g, opt_d = optimizers(args)
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
        latent_dim=args.latent_dim,
        pack=method.pack,
        latent_codes=method.info_codes,
        code_weight=method.code_weight,
    )
    if setup.unroll_optimizer == "adam_d":
        # Metz et al.'s code: the inner steps are D's own Adam steps, from its moments.
        game = gan.unrolled(game, opt_d, method.unroll_steps, optimizer_state="discriminator")
    else:
        # The paper's update (arXiv:1611.02163, eq. 4): plain SGD steps.
        game = gan.unrolled(game, optax.sgd(args.unroll_lr), method.unroll_steps)
    if method.scheme == "simultaneous":
        scheme = dy.simultaneous(opt_g, opt_d)
    else:
        scheme = dy.alternating(opt_g, opt_d)
    return game, scheme, generator, discriminator


@dataclasses.dataclass
class Program:
    """One method on one mixture, ``args.seeds`` seeds under ``vmap``, compiled: ``init``
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


def compile_method(
    mixture: data.GaussianMixture, method: Method, args: cli.argparse.Namespace
) -> Program:
    """Compile the programs that train ``args.seeds`` seeds of ``method`` in chunks of
    ``args.every`` steps (one snapshot each) and score every snapshot."""
    game, scheme, generator, discriminator = build(method, args)
    batch_size = args.batch_size * method.pack
    ema = GeneratorEMA.from_beta(args.ema_beta, batch_size) if args.ema_beta else None

    def init(key: jax.Array) -> dy.GameState:
        return mixture_gan.init_on_mixture(
            game, scheme, generator, discriminator, mixture, key,
            batch_size=batch_size, latent_dim=args.latent_dim, pack=method.pack, ema=ema,
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
                generator, snapshots, mixture, key, latent_dim=args.latent_dim
            )
            result.update({prefix + name: value for name, value in coverage.items()})
        return result

    seeds = jax.random.split(jax.random.key(args.seed), args.seeds)
    train_keys, eval_keys = jax.vmap(jax.random.split, out_axes=1)(seeds)
    init_jit = jax.jit(jax.vmap(init))
    state_shape = jax.eval_shape(init_jit, train_keys)
    init_program = init_jit.lower(train_keys).compile()
    lengths = {min(args.every, args.steps - start) for start in range(0, args.steps, args.every)}
    chunks = {n: chunk(n).lower(state_shape, 0).compile() for n in lengths}
    kept = len(dy.kept_steps(args.steps, args.every))
    snapshots = jax.tree.map(
        lambda x: jax.ShapeDtypeStruct((x.shape[0], kept, *x.shape[1:]), x.dtype),
        (state_shape.g, state_shape.extra),
    )
    score_program = jax.jit(jax.vmap(score)).lower(*snapshots, eval_keys).compile()
    return Program(
        init_program, chunks, score_program, (train_keys, eval_keys), args.every, args.steps
    )


COVERAGE = ("modes", "high_quality", "reverse_kl", "off_mode", "spread")
FIGURE_NAMES = {"modes": "modes", "high_quality": "quality"}


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


def main(argv: Sequence[str] | None = None) -> dict:
    args = parse_args(argv)
    start = time.time()
    setup = SETUPS[args.setup]
    steps = dy.kept_steps(args.steps, args.every)
    metrics: dict = {"config": vars(args), "steps": steps, "results": {}, "seconds": {}}
    mixtures = {kind: mixture_for(kind, setup, args.std) for kind in args.mixtures}
    num_modes = {kind: mixture.num_modes for kind, mixture in mixtures.items()}
    jobs = [(kind, name) for kind in args.mixtures for name in args.methods]
    # the evaluated generator: the average when there is one
    shown = "ema_" if args.ema_beta else ""
    # XLA compiles on one core while a compiled program trains on the others, so the next
    # program is compiled in the background while the current one runs (--quick: about
    # 40 % of the time is compilation).
    with ThreadPoolExecutor(max_workers=1) as compiler:
        programs = [
            compiler.submit(compile_method, mixtures[kind], method_for(name, args), args)
            for kind, name in jobs
        ]
        results = {}
        bar = tqdm(total=len(jobs) * args.steps, desc="training", unit="step", unit_scale=True)
        for (kind, name), program in zip(jobs, programs):
            program = program.result()
            bar.set_postfix_str(f"{kind}/{name}")
            tic = time.time()
            results[kind, name] = program.run(bar.update)
            metrics["seconds"][f"{kind}/{name}"] = round(time.time() - tic, 1)  # training only
        bar.close()
    curves = {kind: {"modes": {}, "high_quality": {}} for kind in args.mixtures}
    snapshots: dict[str, dict] = {kind: {} for kind in args.mixtures}
    for (kind, name), result in results.items():
        row = summarise(result)
        for prefix in ("", "ema_") if args.ema_beta else ("",):
            for quantity in ("modes", "high_quality"):
                row[f"{prefix}{quantity}_over_steps"] = result[prefix + quantity].mean(axis=0)
        label = row["label"] = method_for(name, args).label
        metrics["results"].setdefault(kind, {})[name] = row
        curves[kind]["modes"][label] = result[shown + "modes"]
        curves[kind]["high_quality"][label] = 100.0 * result[shown + "high_quality"]
        snapshots[kind][label] = result[shown + "samples"][0]  # seed 0
    which = f"G's average (β = {args.ema_beta})" if args.ema_beta else "G"
    for kind, mixture in mixtures.items():
        spread = float(np.abs(np.asarray(mixture.centers)).max())
        where = f"{args.setup} setup, {kind} (σ = {mixture.std:g})"
        plot_sample_snapshots(
            snapshots[kind],
            steps,
            np.asarray(mixture.centers),
            f"{args.out}/snapshots_{kind}.png",
            limit=1.4 * spread + 0.2,
            columns=6,
            title=f"{where}: 2,500 samples of {which}, seed 0 (red ×: mode centres)",
        )
        for quantity, ylabel, hline in (
            ("modes", "modes covered", {f"all {mixture.num_modes} modes": mixture.num_modes}),
            ("high_quality", "samples within 3σ of a mode (%)", {"100 %": 100.0}),
        ):
            plot_mean_with_band(
                curves[kind][quantity],
                steps,
                f"{args.out}/{FIGURE_NAMES[quantity]}_{kind}.png",
                ylabel=ylabel,
                title=f"{where}: {ylabel}, {which}\n(mean ± s.e. over {args.seeds} seeds)",
                hlines=hline,
            )
    metrics["total_seconds"] = round(time.time() - start, 1)
    cli.write_metrics(args.out, metrics)
    print(markdown_table(metrics["results"], num_modes))
    print(
        f"{metrics['total_seconds']:.0f} s; wrote {args.out}/snapshots_*.png, modes_*.png, "
        "quality_*.png, metrics.json"
    )
    return metrics


if __name__ == "__main__":
    cli.run_main(main)
