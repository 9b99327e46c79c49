"""Train a StyleGAN (Karras et al. 2019, arXiv:1812.04948; StyleGAN2, arXiv:1912.04958) on
real images and measure its claims.

    python -m experiments.train_stylegan                     # digits, 32×32
    python -m experiments.train_stylegan --resume            # continue the run
    python -m experiments.train_stylegan --style adain       # StyleGAN's AdaIN instead

Defaults (:class:`gan_jax.models.stylegan.StyleGANConfig`): z and w of 128, an 8-layer mapping
network with learning-rate multiplier 0.01, the modulated/demodulated synthesis network
with noise inputs and skip outputs, the residual discriminator, widths
``min(64, 256/r)`` (64, 32, 16, 8 channels at 4, 8, 16, 32: the digits are 8×8 images
up-sampled, so the fine layers need few), style mixing at probability 0.9, the
non-saturating loss with (γ/2)·R1 (γ = 1) every 16 steps, Adam(2e-3, β₁ = 0, β₂ = 0.99),
batch 64 for 2,500 steps (160,000 images, as ``train_dcgan``), G's moving average (β =
0.999 with a 10 % ramp-up) evaluated.  Flags, evaluation and outputs are the shared
runner's (:mod:`gan_jax.runner.image_runs`).

Besides the runner's outputs (``samples.png`` is the uncurated grid), ``--out`` gets
``style_mixing.png`` (StyleGAN's Fig. 3: B's coarse, middle or fine styles copied into
A), ``truncation.png`` (ψ = 1, 0.7, 0.5, 0), ``noise.png`` (Fig. 4: one w under different
noise, and the per-pixel standard deviation), ``truncation_tradeoff.png`` (FCD and
diversity against ψ); ``metrics.json`` gains the perceptual path lengths in Z and W, the
locality of style mixing, the truncation trade-off and the claims checked on them.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Sequence

import jax
import jax.numpy as jnp
import numpy as np

from gan_jax import cli
from gan_jax.gan import latents
from gan_jax.models.image_gan import EVAL_NOISE_SEED, LOSSES, ImageGAN
from gan_jax.models.stylegan import (
    StyleGANConfig,
    StyleSampler,
    build_stylegan,
    mixing_locality,
    path_lengths,
    style_groups,
    swap_styles,
    truncation_tradeoff,
)
from gan_jax.nets.stylegan import STYLES
from gan_jax.runner import image_runs as runner
from gan_jax.viz.plotting import plot_image_rows, plot_truncation_tradeoff

RUN_DEFINING = (
    "resolution",
    "latent_dim",
    "w_dim",
    "mapping_layers",
    "mapping_lr",
    "fmap_base",
    "fmap_max",
    "style",
    "mixing_prob",
    "r1_gamma",
    "r1_every",
    "beta2",
    "ema_beta",
    "ema_rampup",
)
DEFAULTS = StyleGANConfig()
FIGURE_PSIS = (1.0, 0.7, 0.5, 0.0)
GROUP_LABELS = {"coarse": "coarse", "middle": "middle", "fine": "fine"}


def build_parser() -> cli.ArgumentParser:
    parser = runner.build_parser(
        "python -m experiments.train_stylegan",
        __doc__.split("\n\n")[0],
        steps=2500,
        losses=tuple(LOSSES),
        loss=DEFAULTS.loss,
        lr=DEFAULTS.lr_g,
        beta1=DEFAULTS.beta1,
        batch_size=DEFAULTS.batch_size,
    )
    runner.add_progressive_flags(parser, DEFAULTS)
    add = parser.add_argument
    add("--w-dim", type=cli.positive_int, default=DEFAULTS.w_dim)
    add("--mapping-layers", type=cli.positive_int, default=DEFAULTS.mapping_layers)
    add(
        "--mapping-lr",
        type=cli.positive_float,
        default=DEFAULTS.mapping_lr_multiplier,
        help="the mapping network's learning-rate multiplier",
    )
    add(
        "--style",
        type=cli.choice("style", STYLES),
        default=DEFAULTS.style,
        help=f"one of {', '.join(STYLES)}",
    )
    add("--mixing-prob", type=cli.probability, default=DEFAULTS.mixing_prob, help="mixing rate")
    add(
        "--r1-every",
        type=cli.positive_int,
        default=DEFAULTS.r1_every,
        help="lazy R1: every N steps, scaled by N",
    )
    add("--ema-beta", type=cli.decay_rate, default=DEFAULTS.ema_beta, help="G's average's β")
    add(
        "--ema-rampup",
        type=cli.non_negative_float,
        default=DEFAULTS.ema_rampup,
        help="EMA half-life at most this fraction of the images seen (0: none)",
    )
    add(
        "--analysis-samples",
        type=cli.positive_int,
        default=1000,
        help="samples of the path-length, mixing and truncation measurements",
    )
    return parser


def build(args: cli.argparse.Namespace, train_set, mesh) -> ImageGAN:
    config = StyleGANConfig(
        resolution=args.resolution,
        channels=train_set.image_shape[-1],
        latent_dim=args.latent_dim,
        w_dim=args.w_dim,
        mapping_layers=args.mapping_layers,
        mapping_lr_multiplier=args.mapping_lr,
        fmap_base=args.fmap_base,
        fmap_max=args.fmap_max,
        style=args.style,
        mixing_prob=args.mixing_prob,
        loss=args.loss,
        r1_gamma=args.r1_gamma,
        r1_every=args.r1_every,
        scheme=args.scheme,
        lr_g=args.lr_g,
        lr_d=args.lr_d,
        beta1=args.beta1,
        beta2=args.beta2,
        batch_size=args.batch_size,
        ema_beta=args.ema_beta,
        ema_rampup=args.ema_rampup,
    )
    return build_stylegan(config, train_set.images, jax.random.key(args.seed), mesh)


def style_mixing_rows(
    sampler: StyleSampler, resolution: int, latent_dim: int, key: jax.Array, noise_key
) -> tuple[list[np.ndarray], list[str]]:
    """StyleGAN's Fig. 3 at ``resolution``: a top row of sources A, then for each style
    group two sources B and A with B's styles of that group."""
    key_a, key_b = jax.random.split(key)
    ws_a = sampler.map(latents(key_a, 6, latent_dim))
    groups = style_groups(resolution)
    ws_b = sampler.map(latents(key_b, 2 * len(groups), latent_dim))
    a_images = np.asarray(sampler.synthesize(ws_a, noise_key))
    b_images = np.asarray(sampler.synthesize(ws_b, noise_key))
    blank = np.ones_like(a_images[:1])
    rows, labels = [np.concatenate([blank, a_images])], ["sources A →"]
    for g, (name, layers) in enumerate(groups.items()):
        for i in (2 * g, 2 * g + 1):
            ws_bi = jnp.broadcast_to(ws_b[i : i + 1], ws_a.shape)
            mixed = np.asarray(sampler.synthesize(swap_styles(ws_a, ws_bi, layers), noise_key))
            rows.append(np.concatenate([b_images[i : i + 1], mixed]))
            low, high = layers
            labels.append(f"B: {name} styles\n(inputs {low}–{high - 1})")
    return rows, labels


def figures(
    model: ImageGAN,
    state,
    workdir: str,
    out: str,
    metrics: dict,
    measure,
    analysis_samples: int = 1000,
) -> None:
    """The StyleGAN figures and measurements (module doc), on G's moving average."""
    config = model.config
    sampler = StyleSampler(model.generator, state.extra["g_ema"])
    noise_key = jax.random.key(EVAL_NOISE_SEED)
    n = analysis_samples

    def embed(images: jax.Array) -> np.ndarray:
        return measure.features_and_logits(images)[0]

    def predict(images: jax.Array) -> np.ndarray:
        return measure.features_and_logits(images)[1].argmax(-1)

    # Fig. 3: style mixing
    rows, labels = style_mixing_rows(
        sampler, config.resolution, config.latent_dim, jax.random.key(3), noise_key
    )
    plot_image_rows(
        rows,
        os.path.join(out, "style_mixing.png"),
        row_labels=labels,
        title="Style mixing: sources A (top) with B's coarse, middle or fine styles (left)",
    )
    # truncation
    z = latents(jax.random.key(4), 10, config.latent_dim)
    trunc_rows = [np.asarray(sampler.truncated(z, psi, noise_key)) for psi in FIGURE_PSIS]
    plot_image_rows(
        trunc_rows,
        os.path.join(out, "truncation.png"),
        row_labels=[f"ψ = {psi:g}" for psi in FIGURE_PSIS],
        title="Truncation in W: w̄ + ψ·(w − w̄), the same z and noise in every column",
    )
    # Fig. 4: noise
    ws = sampler.map(latents(jax.random.key(5), 4, config.latent_dim))
    draws = np.stack(
        [np.asarray(sampler.synthesize(ws, jax.random.key(100 + i))) for i in range(64)]
    )  # (64, 4, H, W, C)
    quiet = np.asarray(sampler.synthesize(ws, None))
    std = draws.std(axis=0)
    top = max(float(std.max()), 1e-12)
    noise_rows = [
        np.concatenate([draws[:4, i], quiet[i : i + 1], 2.0 * std[i : i + 1] / top - 1.0])
        for i in range(ws.shape[0])
    ]
    plot_image_rows(
        noise_rows,
        os.path.join(out, "noise.png"),
        row_labels=[f"w{i + 1}" for i in range(ws.shape[0])],
        col_labels=["noise 1", "noise 2", "noise 3", "noise 4", "no noise", "std"],
        title=f"Noise inputs: one w per row; std over 64 draws (white = {top:.3f})",
    )
    # the measurements
    ppl = path_lengths(sampler, embed, jax.random.key(6), config.latent_dim, n)
    locality = mixing_locality(
        sampler, predict, jax.random.key(7), config.latent_dim, config.resolution, n
    )
    tradeoff = truncation_tradeoff(
        sampler,
        measure,
        embed,
        latents(jax.random.key(8), n, config.latent_dim),
        noise_key,
    )
    plot_truncation_tradeoff(tradeoff, os.path.join(out, "truncation_tradeoff.png"))
    diversity = [row["diversity"] for row in tradeoff]  # ψ from 1 down to 0
    coarse = locality["coarse"]["class_change"]
    fine = locality["fine"]["class_change"]
    metrics["ppl"] = ppl
    metrics["mixing_locality"] = locality
    metrics["truncation"] = tradeoff
    metrics["noise_std_max"] = top
    metrics["claims"] = {
        "ppl_w_below_ppl_z": ppl["w"]["ppl"] < ppl["z"]["ppl"],
        "coarse_over_fine_class_change": coarse / fine if fine else float("inf"),
        "coarse_class_change_at_least_3x_fine": coarse >= 3 * fine,
        "diversity_falls_monotonically": bool(np.all(np.diff(diversity) < 0)),
    }
    print(
        f"PPL: Z {ppl['z']['ppl']:.1f}, W {ppl['w']['ppl']:.1f}; class changes: coarse "
        f"{coarse:.3f}, fine {fine:.3f}; diversity ψ=1 {diversity[0]:.2f} → ψ=0 "
        f"{diversity[-1]:.2f}"
    )


def main(argv: Sequence[str] | None = None) -> dict:
    args = build_parser().parse_args(argv)
    return runner.run(
        args,
        "StyleGAN",
        build,
        RUN_DEFINING,
        resolution=args.resolution,
        figures=functools.partial(figures, analysis_samples=args.analysis_samples),
    )


if __name__ == "__main__":
    cli.run_main(main)
