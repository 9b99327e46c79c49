"""The latent space of our DCGAN: interpolation, vector arithmetic and projection
(arXiv:1511.06434, arXiv:1609.03552), measured with :mod:`gan_jax.latent`.

    python -m experiments.latent_space                      # the train_dcgan run in runs/dcgan_mnist
    python -m experiments.latent_space --workdir runs/x     # another train_dcgan run
    python -m experiments.latent_space --quick              # smaller counts, for a look

It restores the newest checkpoint of a ``train_dcgan`` run (``--workdir``; a short run of
``--train-steps`` is trained there first if it holds none) and its digit classifier.

1. **Interpolation**: lerp vs slerp between latent pairs; the norm of their midpoints.
2. **Vector arithmetic** (Radford et al. 2016, arXiv:1511.06434, Fig. 7): a concept is a
   (class, attribute) pair, the class from our classifier (confidence > 0.9), the
   attribute ``ink`` (stroke mass, :func:`gan_jax.metrics.ink_mass`) or ``slant``
   (:func:`gan_jax.metrics.slant`), *high* / *low* meaning the top / bottom quarter within
   the class, in a pool of generated samples.  A triple ``A − B + C`` uses
   ``A = (c₁, ±)``, ``B = (c₁, ∓)``, ``C = (c₂, ∓)`` and targets ``(c₂, ±)``; it succeeds
   when the classifier puts ``G(A − B + C)`` in ``c₂`` *and* its attribute moved the
   intended way from ``G(mean C)``.  Success rates over ``--triples`` random triples with
   concepts averaged over 1, 3 and 10 latents, beside two controls: the same rates with
   the result rescaled to ``‖mean C‖`` (averaging also moves the result towards the
   origin: ``‖A − B + C‖ ≈ √(3d/k)``), and how often ``G(mean C)`` alone is already of
   class ``c₂``.  Attribute sweeps along
   :func:`~gan_jax.latent.attribute_direction`.
3. **Projection of generated targets** ``G(z*)``: ``--restarts`` restarts each, pixel MSE,
   Adam(0.05), ``--proj-steps`` steps.  A restart *succeeds* when its final pixel MSE is
   below ``--success-mse`` (default 1e-3: an RMS error of 0.032 on the [−1, 1] scale, 1.6 %
   of the range, invisible at this size).  Success vs restarts R = 1, 4, 16, 64 uses the
   first R restarts of each target (they do not depend on R), and a 2-D slice of the loss
   through ``z*``, a typical failed restart's end point (the median final loss of the
   failed ones) and its start shows the basins.
4. **Projection of held-out real digits**: random starts with restarts, an encoder alone
   (:func:`~gan_jax.latent.train_encoder`), and the encoder's guess refined by
   optimisation; pixel MSE and the classifier-feature distance, and the seconds each took.

Outputs in ``--out``: ``interpolation.png``, ``arithmetic.png``, ``attribute_sweep.png``,
``projection_losses.png``, ``projection_restarts.png``, ``loss_slice.png``,
``reconstructions.png`` and ``metrics.json``, whose ``generator`` block is the analysed
generator's own FCD, KID, precision/recall and density/coverage (``--eval-samples`` of its
run's evaluation latents: with the run's own count, the run's final numbers).
"""

from __future__ import annotations

import argparse
import functools
import os
import time
from collections.abc import Sequence

import jax
import jax.numpy as jnp
import numpy as np
from tqdm import tqdm

from gan_jax import cli, configs, data, gan, latent
from gan_jax.models.feature_classifier import (
    ClassifierMetrics,
    classifier_cache_dir,
    load_classifier,
)
from gan_jax.models.image_gan import ImageGANConfig, build_image_gan
from gan_jax.nets.classifier import Classifier
from gan_jax.runner import dcgan
from gan_jax.studies import latent_space as study
from gan_jax.training.checkpoint import Checkpointer
from gan_jax.viz.studies import draw_all

QUICK = os.path.join(os.path.dirname(__file__), "presets", "latent_space_quick.yaml")


def build_parser() -> configs.ConfigParser:
    parser = configs.ConfigParser(
        prog="python -m experiments.latent_space", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--workdir", default="runs/dcgan_mnist", help="a train_dcgan run")
    parser.add_argument("--out", type=cli.output_directory, default="runs/latent_space")
    parser.add_argument("--classifier", default=None, help="classifier checkpoint folder")
    parser.add_argument("--train-steps", type=cli.positive_int, default=2500,
                        help="train_dcgan steps when --workdir holds no checkpoint (the main "
                        "job's 2,500, ≈ 10.5 min, give the results page's numbers)")  # fmt: skip
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--eval-samples", type=cli.positive_int, default=1000,
                        help="samples of the generator's FCD, KID, precision/recall (its "
                        "run's --eval-samples reproduce the run's final numbers)")  # fmt: skip
    parser.add_argument("--pool", type=cli.positive_int, default=8192, help="samples for concepts")
    parser.add_argument("--triples", type=cli.positive_int, default=200, help="per group size")
    parser.add_argument("--targets", type=cli.positive_int, default=16, help="generated targets")
    parser.add_argument("--restarts", type=cli.positive_int, default=64)
    parser.add_argument("--proj-steps", type=cli.positive_int, default=200)
    parser.add_argument("--success-mse", type=cli.positive_float, default=1e-3)
    parser.add_argument("--real-targets", type=cli.positive_int, default=64)
    parser.add_argument("--real-restarts", type=cli.positive_int, default=8)
    parser.add_argument("--encoder-steps", type=cli.positive_int, default=2000)
    parser.add_argument("--encoder-pairs", type=cli.positive_int, default=16384,
                        help="(G(z), z) pairs generated once for the encoder")  # fmt: skip
    parser.add_preset("quick", QUICK, "small counts, a look in about a minute")
    parser.add_argument("--no-progress", action="store_true")
    return parser


def ensure_checkpoint(args: argparse.Namespace) -> None:
    """Train a short DCGAN into ``--workdir`` if it holds no checkpoint yet."""
    if os.path.isdir(os.path.join(args.workdir, "checkpoints")):
        return
    print(f"no train_dcgan run in {args.workdir}: training one for {args.train_steps} steps")
    flags = ["--steps", str(args.train_steps), "--workdir", args.workdir]
    flags += ["--out", os.path.join(args.workdir, "figures")]
    flags += ["--classifier", args.classifier] if args.classifier else []
    dcgan.train(flags + (["--no-progress"] if args.no_progress else []))


def load_run(workdir: str):
    """``(generator, g variables, step, run config, train set, test set)`` of a train_dcgan
    run, restored from its newest checkpoint."""
    saved = dcgan.read_run_config(workdir)
    train_set = data.load_dataset(saved["dataset"], saved["resolution"], "train")
    test_set = data.load_dataset(saved["dataset"], saved["resolution"], "test")
    config = dcgan.config_of(saved, train_set.image_shape[-1])
    model = build_image_gan(config, train_set.images, jax.random.key(saved["seed"]))
    checkpointer = Checkpointer(os.path.join(workdir, "checkpoints"), create=False)
    state = checkpointer.restore(template=model.state)
    return model.generator, state.g, int(state.step), saved, train_set, test_set


def generator_quality(generate, classifier, params, saved: dict, train_set, count: int) -> dict:
    """The analysed generator's sample quality as its run's final evaluation measures it
    (:class:`~gan_jax.models.feature_classifier.ClassifierMetrics` of ``count`` samples
    from the latents of ``seed + 1`` against the training images: the run's own numbers
    when ``count`` is its ``--eval-samples``), so that the study's ``metrics.json`` says
    which generator its numbers describe."""
    z = gan.latents(jax.random.key(saved["seed"] + 1), count, ImageGANConfig().latent_dim)
    return ClassifierMetrics(classifier, params, train_set.images)(generate(z))


def main(argv: Sequence[str] | None = None) -> dict:
    args = build_parser().parse_args(argv)
    ensure_checkpoint(args)
    generator, g, step, saved, train_set, test_set = load_run(args.workdir)
    directory = args.classifier or classifier_cache_dir(saved["dataset"], saved["resolution"])
    classifier, classifier_params, _ = load_classifier(directory)
    classify = jax.jit(lambda x: jax.nn.softmax(classifier.apply(classifier_params, x)))
    feature_loss = latent.feature_distance(
        lambda x: classifier.apply(classifier_params, x, method=Classifier.feature_maps)
    )
    generate = jax.jit(functools.partial(gan.generate, generator, g))
    latent_dim = ImageGANConfig().latent_dim
    settings = argparse.Namespace(**vars(args), progress=not args.no_progress)
    rng = np.random.default_rng(args.seed)
    stages = tqdm(total=5, desc="latent space", disable=args.no_progress, unit="study")
    metrics = {"workdir": args.workdir, "checkpoint_step": step, "dataset": saved["dataset"]}
    figures: dict = {}
    start = time.perf_counter()

    def record(name: str, result: tuple[dict, dict]) -> None:
        metrics[name], new_figures = result
        figures.update(new_figures)
        stages.update()

    record(
        "interpolation", study.interpolation_study(generate, jax.random.key(args.seed), latent_dim)
    )
    pool_z = np.asarray(jax.random.normal(jax.random.key(args.seed + 1), (args.pool, latent_dim)))
    pool = study.describe(generate, classify, jnp.asarray(pool_z))
    record("arithmetic", study.arithmetic_study(
        generate, classify, pool_z, pool, train_set.num_classes, settings, rng))  # fmt: skip
    record(
        "attribute_sweep", study.sweep_study(generate, pool_z, pool, jax.random.key(args.seed + 2))
    )
    record("projection_generated", study.generated_projection_study(generate, latent_dim, settings))
    record("projection_real", study.real_projection_study(
        generate, latent_dim, test_set, feature_loss, settings))  # fmt: skip
    stages.close()
    metrics["generator"] = generator_quality(
        generate, classifier, classifier_params, saved, train_set, args.eval_samples
    )
    metrics["seconds"] = round(time.perf_counter() - start, 1)
    os.makedirs(args.out, exist_ok=True)
    draw_all(figures, args.out)
    cli.write_metrics(args.out, metrics)
    arithmetic = metrics["arithmetic"]
    success = metrics["projection_generated"]["success_vs_restarts"]
    print(
        "arithmetic success (k = 1/3/10): "
        + "; ".join(f"{a} " + ("skipped" if "skipped" in arithmetic[a] else "/".join(
                    f"{arithmetic[a][k]['success']:.2f}" for k in study.GROUP_SIZES))
                    for a in study.ATTRIBUTES)
        + "; projection success vs restarts: "
        + ", ".join(f"R={r}: {v:.2f}" for r, v in success.items())
        + f"; outputs in {args.out}"
    )  # fmt: skip
    return metrics


if __name__ == "__main__":
    cli.run_main(main)
