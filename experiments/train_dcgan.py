"""Train a DCGAN (Radford et al. 2016, arXiv:1511.06434) on real images: the project's main job.

    python -m experiments.train_dcgan                        # digits, 32×32, ≈ 10 min on 2 cores
    python -m experiments.train_dcgan --resume               # continue the run in --workdir
    python -m experiments.train_dcgan --resume-from 1500     # or from an earlier checkpoint
    python -m experiments.train_dcgan --tpu --dataset cifar10   # every TPU core, data-parallel

Defaults are the DCGAN-32 reference (:mod:`gan_jax.nets.dcgan`): z = 100, Adam(2e-4,
β₁ = 0.5), batch 64, non-saturating loss, alternating updates with one D step first, on
the embedded ``digits`` (1,437 training images upsampled to 32×32).  Every
``--eval-every`` steps it reports the Fréchet classifier distance (FCD) to the training
images and class coverage, measured with our own digit classifier (trained on first use
and cached, see ``experiments.train_classifier``); ``fcd_real_test`` in ``metrics.json`` is
the FCD of the held-out real images, the value a perfect generator would reach with the
same sample sizes.

Outputs: checkpoints, ``metrics.jsonl``, ``curves.png`` and sample grids in ``--workdir``;
``metrics.json``, ``samples.png`` (100 samples from a fixed z), ``curves.png`` (losses) and
``eval_curves.png`` (FCD and classes covered over steps) in ``--out``.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from collections.abc import Sequence

import jax
import numpy as np

from gan_jax import cli, data, parallel, train
from gan_jax.checkpoint import CheckpointError
from gan_jax.feature_classifier import ClassifierMetrics, load_classifier
from gan_jax.gan import latents
from gan_jax.image_gan import LOSSES, SCHEMES, ImageGANConfig, build_image_gan, resolution_flag
from gan_jax.metrics import frechet_feature_distance
from gan_jax.plotting import plot_classifier_metrics, save_image_grid

# Arguments that define the model and its training; --resume refuses to change them.
RUN_DEFINING = (
    "dataset",
    "resolution",
    "batch_size",
    "scheme",
    "seed",
    "loss",
    "lr_g",
    "lr_d",
    "beta1",
    "width",
    "max_examples",
)
NUM_SAMPLES = 100


def build_parser() -> cli.ArgumentParser:
    parser = cli.ArgumentParser(
        prog="python -m experiments.train_dcgan", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--dataset", default="digits", help=f"one of {', '.join(data.DATASETS)}")
    parser.add_argument("--steps", type=cli.positive_int, default=2500)
    parser.add_argument("--batch-size", type=cli.positive_int, default=64)
    parser.add_argument("--scheme", default="alternating", help=f"one of {', '.join(SCHEMES)}")
    parser.add_argument("--loss", default="ns", help=f"one of {', '.join(LOSSES)}")
    parser.add_argument("--lr-g", type=cli.positive_float, default=2e-4, help="G's Adam rate")
    parser.add_argument("--lr-d", type=cli.positive_float, default=2e-4, help="D's Adam rate")
    parser.add_argument("--beta1", type=float, default=0.5, help="Adam β₁ of both players")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--resolution", type=resolution_flag, default=32, help="4·2^k: 8, 16, 32, 64, …"
    )
    parser.add_argument("--width", type=cli.positive_int, default=64, help="D's first width")
    parser.add_argument("--workdir", default=None, help="checkpoints (default runs/dcgan_<data>)")
    parser.add_argument("--out", default="figures/train_dcgan", help="figures + metrics.json")
    parser.add_argument("--resume", action="store_true", help="continue the run in --workdir")
    parser.add_argument(
        "--resume-from",
        type=int,
        default=None,
        metavar="STEP",
        help="continue from this earlier checkpoint (when the newest is damaged); newer "
        "checkpoints are moved aside, not deleted",
    )
    parser.add_argument("--tpu", action="store_true", help="shard the batch over every TPU")
    parser.add_argument("--devices", type=cli.positive_int, default=None, help="use N devices")
    parser.add_argument("--log-every", type=cli.positive_int, default=50)
    parser.add_argument("--eval-every", type=int, default=500, help="0: only at the end")
    parser.add_argument("--checkpoint-every", type=cli.positive_int, default=500)
    parser.add_argument("--sample-every", type=int, default=500)
    parser.add_argument("--eval-samples", type=cli.positive_int, default=1000)
    parser.add_argument("--classifier", default=None, help="classifier checkpoint folder")
    parser.add_argument("--data-dir", default=None, help="tfds data directory")
    parser.add_argument("--max-examples", type=cli.positive_int, default=None)
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    return parser


def check_resume_config(workdir: str, args: cli.argparse.Namespace) -> None:
    """Write ``config.json`` for a new run; on ``--resume``, refuse changed model flags."""
    path = os.path.join(workdir, "config.json")
    mine = {name: getattr(args, name) for name in RUN_DEFINING}
    if args.resume:
        if not os.path.exists(path):
            raise CheckpointError(
                f"no run to resume in {workdir} (no config.json): start it without --resume"
            )
        with open(path) as f:
            saved = json.load(f)
        changed = [
            f"--{k.replace('_', '-')} {saved.get(k)} → {v}"
            for k, v in mine.items()
            if saved.get(k) != v
        ]
        if changed:
            raise cli.UserError(
                f"--resume with different settings ({'; '.join(changed)}): use the run's "
                "original flags, or a new --workdir"
            )
        return
    if not parallel.is_primary():
        return
    os.makedirs(workdir, exist_ok=True)
    with open(path, "w") as f:
        json.dump(mine, f, indent=2, sort_keys=True)


def get_classifier(args: cli.argparse.Namespace) -> tuple:
    from experiments.train_classifier import default_classifier_dir, train_and_save

    directory = args.classifier or default_classifier_dir(args.dataset, args.resolution)
    if args.classifier is None and not os.path.exists(os.path.join(directory, "classifier.json")):
        print(f"no classifier for {args.dataset} yet: training one into {directory}")
        train_and_save(args.dataset, args.resolution, directory, data_dir=args.data_dir)
    return load_classifier(directory)


def main(argv: Sequence[str] | None = None) -> dict:
    args = build_parser().parse_args(argv)
    args.resume = args.resume or args.resume_from is not None
    data.check_dataset_name(args.dataset)
    parallel.initialize_distributed()
    devices = parallel.select_devices(args.tpu, args.devices)
    mesh = parallel.data_mesh(devices) if (args.tpu or len(devices) > 1) else None
    config = train.FitConfig(
        steps=args.steps,
        log_every=args.log_every,
        checkpoint_every=args.checkpoint_every,
        eval_every=args.eval_every,
        sample_every=args.sample_every,
    )
    workdir = args.workdir or os.path.join("runs", f"dcgan_{args.dataset}")
    check_resume_config(workdir, args)

    train_set = data.load_dataset(
        args.dataset, args.resolution, "train", args.data_dir, args.max_examples
    )
    test_set = data.load_dataset(args.dataset, args.resolution, "test", args.data_dir)
    gan_config = ImageGANConfig(
        resolution=args.resolution,
        channels=train_set.image_shape[-1],
        width=args.width,
        loss=args.loss,
        scheme=args.scheme,
        lr_g=args.lr_g,
        lr_d=args.lr_d,
        beta1=args.beta1,
        batch_size=args.batch_size,
    )
    model = build_image_gan(gan_config, train_set.images, jax.random.key(args.seed), mesh)
    primary = parallel.is_primary()  # only process 0 evaluates and writes outputs
    if primary:
        classifier, classifier_params, classifier_meta = get_classifier(args)
        measure = ClassifierMetrics(classifier, classifier_params, train_set.images)
        fcd_real_test = frechet_feature_distance(
            measure.real_features, measure.features_and_logits(test_set.images)[0]
        )
    eval_z = latents(jax.random.key(args.seed + 1), args.eval_samples, gan_config.latent_dim)
    sample_z = latents(jax.random.key(args.seed + 2), NUM_SAMPLES, gan_config.latent_dim)
    generate = jax.jit(model.generate)

    def evaluate(state) -> dict[str, float]:
        return measure(generate(state, eval_z))

    def samples(state) -> np.ndarray:
        return np.asarray(generate(state, sample_z))

    start = time.perf_counter()
    result = train.fit(
        model.step,
        model.state,
        workdir,
        config,
        evaluate=evaluate if primary else None,
        sample_fn=samples if primary else None,
        resume=args.resume,
        resume_from=args.resume_from,
        progress=not args.no_progress,
        description=f"DCGAN {args.dataset} ({args.scheme})",
    )
    seconds = time.perf_counter() - start
    if not primary:
        if result.interrupted:
            raise SystemExit(cli.INTERRUPTED_EXIT_CODE)
        return {}
    state = parallel.host_local(result.state)  # like fit, evaluate on one device's copy
    rows = train.read_metrics(workdir)
    evals = [r for r in rows if r.get("eval")]
    if evals and evals[-1]["step"] == result.step:  # fit evaluated the final state already
        last = evals[-1]
        final = {"fcd": last["fcd"], "classes": int(last["classes"]), "class_kl": last["class_kl"]}
    else:
        final = evaluate(state)
    metrics = {
        "dataset": args.dataset,
        "steps": result.step,
        "interrupted": result.interrupted,
        "scheme": args.scheme,
        "loss": args.loss,
        "devices": len(devices),
        "processes": jax.process_count(),
        "backend": devices[0].platform,
        "seconds_this_session": round(seconds, 1),
        "fcd": final["fcd"],
        "classes": final["classes"],
        "class_kl": final["class_kl"],
        "fcd_real_test": fcd_real_test,
        "classifier_test_accuracy": classifier_meta.get("test_accuracy"),
        "eval_samples": args.eval_samples,
        "history": evals,
        "final_loss_d": float(np.mean([r["loss_d"] for r in rows if "loss_d" in r][-100:])),
        "final_loss_g": float(np.mean([r["loss_g"] for r in rows if "loss_g" in r][-100:])),
    }
    os.makedirs(args.out, exist_ok=True)
    cli.write_metrics(args.out, metrics)
    save_image_grid(
        samples(state),
        os.path.join(args.out, "samples.png"),
        ncols=10,
        title=f"DCGAN on {args.dataset} ({args.scheme}), step {result.step}: "
        f"FCD {final['fcd']:.1f}, {final['classes']} classes",
    )
    if os.path.exists(os.path.join(workdir, "curves.png")):
        shutil.copyfile(os.path.join(workdir, "curves.png"), os.path.join(args.out, "curves.png"))
    if evals:
        plot_classifier_metrics(
            {args.scheme: evals}, os.path.join(args.out, "eval_curves.png"), fcd_real_test
        )
    if result.interrupted:
        print(
            f"interrupted at step {result.step}; checkpoint saved in {workdir}: continue "
            "with the same command plus --resume"
        )
        raise SystemExit(cli.INTERRUPTED_EXIT_CODE)
    print(
        f"step {result.step}: FCD {final['fcd']:.3f} (real held-out {fcd_real_test:.3f}), "
        f"{final['classes']}/{train_set.num_classes} classes, KL {final['class_kl']:.3f}; "
        f"outputs in {args.out}"
    )
    return metrics


if __name__ == "__main__":
    cli.run_main(main)
