"""The latent space of our DCGAN: interpolation, vector arithmetic and projection (seed 001's
latent arithmetic, seed 002's inversion), measured with :mod:`gan_jax.latent`.

    python -m experiments.latent_space                      # the train_dcgan run in runs/dcgan_digits
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
   concepts averaged over 1, 3 and 10 latents.  Attribute sweeps along
   :func:`~gan_jax.latent.attribute_direction`.
3. **Projection of generated targets** ``G(z*)``: ``--restarts`` restarts each, pixel MSE,
   Adam(0.05), ``--proj-steps`` steps.  A restart *succeeds* when its final pixel MSE is
   below ``--success-mse`` (default 1e-3: an RMS error of 0.032 on the [−1, 1] scale, 1.6 %
   of the range, invisible at this size).  Success vs restarts R = 1, 4, 16, 64 uses the
   first R restarts of each target (they do not depend on R), and a 2-D slice of the loss
   through ``z*``, a failed restart's end point and its start shows the basins.
4. **Projection of held-out real digits**: random starts with restarts, an encoder alone
   (:func:`~gan_jax.latent.train_encoder`), and the encoder's guess refined by
   optimisation; pixel MSE and the classifier-feature distance, and the seconds each took.

Outputs in ``--out``: ``interpolation.png``, ``arithmetic.png``, ``attribute_sweep.png``,
``projection_losses.png``, ``projection_restarts.png``, ``loss_slice.png``,
``reconstructions.png`` and ``metrics.json``.
"""

from __future__ import annotations

import argparse
import functools
import math
import os
import time
from collections.abc import Sequence

import jax
import jax.numpy as jnp
import numpy as np
from tqdm import tqdm

from gan_jax import cli, data, gan, latent
from gan_jax.metrics import ink_mass, slant
from gan_jax.models.feature_classifier import classifier_cache_dir, load_classifier
from gan_jax.models.image_gan import ImageGANConfig, build_image_gan
from gan_jax.nets.classifier import Classifier
from gan_jax.runner import dcgan
from gan_jax.training.checkpoint import Checkpointer
from gan_jax.viz.plotting import plot_image_rows, plot_latent_slice, plot_projection_study

ATTRIBUTES = {"ink": ink_mass, "slant": slant}
ATTRIBUTE_WORDS = {"ink": ("thin", "thick"), "slant": ("left-leaning", "right-leaning")}
GROUP_SIZES = (1, 3, 10)
RESTART_COUNTS = (1, 4, 16, 64)


def build_parser() -> cli.ArgumentParser:
    parser = cli.ArgumentParser(
        prog="python -m experiments.latent_space", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--workdir", default="runs/dcgan_digits", help="a train_dcgan run")
    parser.add_argument("--out", type=cli.output_directory, default="runs/latent_space")
    parser.add_argument("--classifier", default=None, help="classifier checkpoint folder")
    parser.add_argument("--train-steps", type=cli.positive_int, default=2500,
                        help="train_dcgan steps when --workdir holds no checkpoint (the main "
                        "job's 2,500, ≈ 10.5 min, give the README's numbers)")  # fmt: skip
    parser.add_argument("--seed", type=int, default=0)
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
    parser.add_argument("--quick", action="store_true", help="small counts: a look in ~1 min")
    parser.add_argument("--no-progress", action="store_true")
    return parser


QUICK = {"pool": 2048, "triples": 40, "targets": 4, "restarts": 16, "proj_steps": 60,
         "real_targets": 8, "real_restarts": 4, "encoder_steps": 300, "encoder_pairs": 2048}  # fmt: skip


# --------------------------------------------------------------------------- loading


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


def batched(fn, x: jax.Array, size: int = 1024) -> np.ndarray:
    return np.concatenate([np.asarray(fn(x[i : i + size])) for i in range(0, len(x), size)])


# --------------------------------------------------------------------------- studies


def interpolation_study(generate, key, latent_dim: int, out: str) -> dict:
    pairs = jax.random.normal(key, (256, 2, latent_dim))
    midpoint = {
        name: float(jnp.mean(jnp.linalg.norm(fn(pairs[:, 0], pairs[:, 1], 0.5), axis=-1)))
        / math.sqrt(latent_dim)
        for name, fn in latent.INTERPOLATIONS.items()
    }
    rows, labels = [], []
    for i in range(5):
        for name in ("lerp", "slerp"):
            rows.append(np.asarray(latent.interpolate(generate, *pairs[i], 9, method=name)))
            labels.append(f"pair {i + 1}: {name}")
    plot_image_rows(
        rows, os.path.join(out, "interpolation.png"), labels,
        [f"t={t:.2f}" for t in np.linspace(0, 1, 9)],
        title="lerp vs slerp between latent pairs (rows alternate)",
    )  # fmt: skip
    return {"midpoint_norm_over_sqrt_d": midpoint, "endpoint_norm_over_sqrt_d": float(
        jnp.mean(jnp.linalg.norm(pairs, axis=-1)) / math.sqrt(latent_dim))}  # fmt: skip


def describe(generate, classify, z: jax.Array) -> dict[str, np.ndarray]:
    """Class, confidence and attributes of ``G(z)``."""
    images = batched(generate, z)
    probabilities = batched(classify, jnp.asarray(images))
    out = {"class": probabilities.argmax(-1), "confidence": probabilities.max(-1)}
    out.update({name: np.asarray(fn(jnp.asarray(images))) for name, fn in ATTRIBUTES.items()})
    return out


def concept_groups(pool: dict, attribute: str, num_classes: int) -> dict:
    """``{(class, ±1): indices}``: confident samples of a class in the top (+1) or bottom
    (−1) quarter of the attribute within that class."""
    groups = {}
    for c in range(num_classes):
        members = np.flatnonzero((pool["class"] == c) & (pool["confidence"] > 0.9))
        if len(members) < 40:
            continue
        values = pool[attribute][members]
        low, high = np.quantile(values, [0.25, 0.75])
        groups[(c, -1)] = members[values <= low]
        groups[(c, +1)] = members[values >= high]
    return groups


def arithmetic_study(generate, classify, pool_z, pool, num_classes, args, rng, out) -> dict:
    results, ink_groups = {}, None
    for attribute in ATTRIBUTES:
        groups = concept_groups(pool, attribute, num_classes)
        classes = sorted({c for c, _ in groups})
        if len(classes) < 2:
            results[attribute] = {"skipped": "fewer than 2 classes with 40 confident samples"}
            continue
        results[attribute] = {}
        if attribute == "ink":
            ink_groups = groups  # for the figure below
        for k in GROUP_SIZES:
            triples, latents_abc = [], []
            for _ in range(args.triples):
                c1, c2 = rng.choice(classes, 2, replace=False)
                sign = int(rng.choice([-1, 1]))
                picks = [
                    rng.choice(groups[key], k) for key in ((c1, sign), (c1, -sign), (c2, -sign))
                ]
                latents_abc.append(np.stack([pool_z[p] for p in picks]))  # (3, k, d)
                triples.append((int(c1), int(c2), sign))
            abc = jnp.asarray(np.stack(latents_abc))  # (T, 3, k, d)
            means = latent.concept_mean(abc)  # (T, 3, d)
            result = means[:, 0] - means[:, 1] + means[:, 2]
            got = describe(generate, classify, result)
            base = describe(generate, classify, means[:, 2])
            target = np.array([c2 for _, c2, _ in triples])
            sign = np.array([s for _, _, s in triples])
            class_ok = got["class"] == target
            moved = sign * (got[attribute] - base[attribute]) > 0
            results[attribute][k] = {
                "success": float(np.mean(class_ok & moved)),
                "class_ok": float(np.mean(class_ok)),
                "attribute_moved": float(np.mean(moved)),
                "triples": len(triples),
            }
    if ink_groups is None:
        return results
    # The Fig. 7 layout for one triple: thick 7 − thin 7 + thin 1 (other digits if those
    # classes have too few confident samples).
    groups = ink_groups
    classes = sorted({c for c, _ in groups})
    c1, c2 = (7, 1) if {7, 1} <= set(classes) else tuple(classes[:2])
    picks = [rng.choice(groups[key], 3) for key in ((c1, 1), (c1, -1), (c2, -1))]
    rows, labels = [], []
    thin, thick = ATTRIBUTE_WORDS["ink"]
    for p, name in zip(picks, (f"{thick} {c1}", f"{thin} {c1}", f"{thin} {c2}"), strict=True):
        z = jnp.asarray(pool_z[p])
        rows.append(
            np.concatenate([np.asarray(generate(z)), np.asarray(generate(z.mean(0)[None]))])
        )
        labels.append(name)
    means = [jnp.asarray(pool_z[p]).mean(0) for p in picks]
    result = means[0] - means[1] + means[2]
    neighbours = result + 0.25 * jax.random.normal(
        jax.random.key(args.seed + 7), (8, result.shape[0])
    )
    rows.append(np.asarray(generate(jnp.concatenate([result[None], neighbours]))))
    labels.append(f"= {thick} {c2}?")
    plot_image_rows(
        rows, os.path.join(out, "arithmetic.png"), labels,
        ["sample 1", "sample 2", "sample 3", "G(mean)"] + ["+ noise"] * 5,
        title=f"{thick} {c1} − {thin} {c1} + {thin} {c2}: concepts average 3 latents; "
        "last row: G(result) and 8 neighbours (σ = 0.25)",
    )  # fmt: skip
    return results


def sweep_study(generate, pool_z, pool, key, out) -> dict:
    strengths = np.linspace(-8.0, 8.0, 9)
    base = jax.random.normal(key, (256, pool_z.shape[1]))
    rows, labels, measured = [], [], {}
    for attribute, fn in ATTRIBUTES.items():
        direction = latent.attribute_direction(jnp.asarray(pool_z), jnp.asarray(pool[attribute]))
        swept = latent.apply_direction(base[:, None], direction, jnp.asarray(strengths)[None])
        images = batched(generate, swept.reshape(-1, swept.shape[-1])).reshape(
            256, len(strengths), *generate(base[:1]).shape[1:]
        )
        values = np.asarray(fn(jnp.asarray(images.reshape(-1, *images.shape[2:])))).reshape(256, -1)
        measured[attribute] = {
            "strengths": strengths.tolist(),
            "mean": values.mean(0).tolist(),
            "monotone_fraction": float(np.mean(np.all(np.diff(values, axis=1) > 0, axis=1))),
        }
        for i in range(4):
            rows.append(images[i])
            labels.append(f"{attribute} {i + 1}")
    plot_image_rows(
        rows, os.path.join(out, "attribute_sweep.png"), labels,
        [f"{s:+.0f}" for s in strengths],
        title="z + s·direction for the ink (thickness) and slant directions (‖z‖ ≈ 10)",
    )  # fmt: skip
    return measured


def generated_projection_study(generate, latent_dim, args, out) -> dict:
    truth = jax.random.normal(jax.random.key(args.seed + 11), (args.targets, latent_dim))
    targets = generate(truth)
    start = time.perf_counter()
    result = latent.project(
        generate, targets, jax.random.key(args.seed + 12), restarts=args.restarts,
        steps=args.proj_steps, latent_dim=latent_dim,
    )  # fmt: skip
    final = np.asarray(result.final_losses)
    seconds = time.perf_counter() - start
    counts = [r for r in RESTART_COUNTS if r <= args.restarts]
    success = {
        r: float(np.mean(np.asarray(latent.best_of(result.final_losses, r)) < args.success_mse))
        for r in counts
    }
    per_restart = float(np.mean(final < args.success_mse))
    expected = {r: 1.0 - (1.0 - per_restart) ** r for r in counts}  # independent restarts
    distance = np.linalg.norm(np.asarray(result.best_latents - truth), axis=-1)
    plot_projection_study(final, counts, success, expected, args.success_mse,
                          os.path.join(out, "projection_losses.png"))  # fmt: skip
    # 2-D slice through z*, a failed restart's end point and its start
    failed = np.argwhere(final >= args.success_mse)
    slice_info = {}
    if len(failed):
        n, r = failed[np.argmax(final[failed[:, 0], failed[:, 1]])]
        slice_info = loss_slice(generate, truth[n], result.latents[n, r], result.starts[n, r],
                                targets[n], os.path.join(out, "loss_slice.png"))  # fmt: skip
        slice_info.update({"target": int(n), "restart": int(r), "final_loss": float(final[n, r])})
    rows = [np.asarray(targets[:8]), np.asarray(generate(result.best_latents[:8]))]
    worst = np.argmax(final[:8], axis=1)
    rows.append(np.asarray(generate(result.latents[np.arange(min(8, args.targets)), worst])))
    plot_image_rows(rows, os.path.join(out, "projection_restarts.png"),
                    ["target G(z*)", "best restart", "worst restart"],
                    title=f"projection of generated digits, {args.restarts} restarts")  # fmt: skip
    return {
        "targets": args.targets, "restarts": args.restarts, "steps": args.proj_steps,
        "success_mse": args.success_mse, "success_vs_restarts": success,
        "independent_restarts_prediction": expected, "per_restart_success": per_restart,
        "final_loss_quantiles": np.quantile(final, [0.0, 0.1, 0.5, 0.9, 1.0]).tolist(),
        "best_latent_distance_to_truth": {"median": float(np.median(distance)),
                                          "max": float(np.max(distance))},
        "seconds": round(seconds, 1), "slice": slice_info,
    }  # fmt: skip


def loss_slice(generate, truth, end, start, target, path) -> dict:
    """Pixel MSE on the plane through ``truth`` spanned by ``end − truth`` and the part of
    ``start − truth`` orthogonal to it; coordinates in units of those two lengths."""
    u = end - truth
    v = start - truth
    v_perp = v - jnp.dot(v, u) / jnp.dot(u, u) * u
    a = np.linspace(-0.5, 1.5, 41)
    b = np.linspace(-0.5, 1.5, 41)
    grid = truth + a[None, :, None] * u + b[:, None, None] * v_perp  # (b, a, d)
    losses = batched(lambda z: latent.pixel_mse(generate(z), target[None]),
                     grid.reshape(-1, truth.shape[0])).reshape(len(b), len(a))  # fmt: skip
    start_ab = (float(jnp.dot(v, u) / jnp.dot(u, u)), 1.0)
    plot_latent_slice(a, b, losses, {"z* (truth)": (0.0, 0.0), "failed end": (1.0, 0.0),
                                     "its start": start_ab}, path)  # fmt: skip
    return {"truth_to_end_distance": float(jnp.linalg.norm(u)), "grid_min": float(losses.min()),
            "loss_at_end": float(losses[10, 30])}  # a = 1, b = 0  # fmt: skip


def real_projection_study(generate, latent_dim, test_set, feature_loss, args, out) -> dict:
    targets = test_set.images[: args.real_targets]
    measures = {"pixel_mse": latent.pixel_mse, "feature_distance": feature_loss}

    @jax.jit
    def mean_errors(z: jax.Array) -> dict[str, jax.Array]:
        images = generate(z)
        return {name: jnp.mean(fn(images, targets)) for name, fn in measures.items()}

    def errors(z) -> dict[str, float]:
        return {name: float(value) for name, value in mean_errors(z).items()}

    report, rows = {}, [np.asarray(targets[:8])]
    start = time.perf_counter()
    random = latent.project(generate, targets, jax.random.key(args.seed + 21),
                            restarts=args.real_restarts, steps=args.proj_steps,
                            latent_dim=latent_dim)  # fmt: skip
    report["random_restarts"] = {**errors(random.best_latents), "restarts": args.real_restarts,
                                 "seconds": round(time.perf_counter() - start, 1)}  # fmt: skip
    rows.append(np.asarray(generate(random.best_latents[:8])))
    start = time.perf_counter()
    encoder, params, history = latent.train_encoder(
        generate, latent_dim, targets.shape[1:], jax.random.key(args.seed + 22),
        steps=args.encoder_steps, batch_size=64, width=32, num_pairs=args.encoder_pairs,
        progress=not args.no_progress,
    )  # fmt: skip
    train_seconds = time.perf_counter() - start
    start = time.perf_counter()
    guess = jax.block_until_ready(jax.jit(encoder.apply)(params, targets))
    report["encoder"] = {**errors(guess), "seconds": round(time.perf_counter() - start, 2),
                         "training_seconds": round(train_seconds, 1),
                         "final_training_loss": history[-1]}  # fmt: skip
    rows.append(np.asarray(generate(guess[:8])))
    start = time.perf_counter()
    refined = latent.project(generate, targets, jax.random.key(0), restarts=1,
                             steps=args.proj_steps, init=guess)  # fmt: skip
    report["encoder_then_optimise"] = {**errors(refined.best_latents),
                                       "seconds": round(time.perf_counter() - start, 1)}  # fmt: skip
    rows.append(np.asarray(generate(refined.best_latents[:8])))
    plot_image_rows(rows, os.path.join(out, "reconstructions.png"),
                    ["held-out digit", f"random, {args.real_restarts} restarts", "encoder E(x)",
                     "E(x) + optimise"],
                    title="projecting real digits the generator never saw")  # fmt: skip
    return report


def main(argv: Sequence[str] | None = None) -> dict:
    args = build_parser().parse_args(argv)
    if args.quick:
        for name, value in QUICK.items():
            setattr(args, name, value)
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
    os.makedirs(args.out, exist_ok=True)
    rng = np.random.default_rng(args.seed)
    stages = tqdm(total=5, desc="latent space", disable=args.no_progress, unit="study")
    metrics = {"workdir": args.workdir, "checkpoint_step": step, "dataset": saved["dataset"]}
    start = time.perf_counter()
    metrics["interpolation"] = interpolation_study(
        generate, jax.random.key(args.seed), latent_dim, args.out
    )
    stages.update()
    pool_z = np.asarray(jax.random.normal(jax.random.key(args.seed + 1), (args.pool, latent_dim)))
    pool = describe(generate, classify, jnp.asarray(pool_z))
    metrics["arithmetic"] = arithmetic_study(generate, classify, pool_z, pool,
                                             train_set.num_classes, args, rng, args.out)  # fmt: skip
    stages.update()
    metrics["attribute_sweep"] = sweep_study(generate, pool_z, pool,
                                             jax.random.key(args.seed + 2), args.out)  # fmt: skip
    stages.update()
    metrics["projection_generated"] = generated_projection_study(
        generate, latent_dim, args, args.out
    )
    stages.update()
    metrics["projection_real"] = real_projection_study(generate, latent_dim, test_set,
                                                       feature_loss, args, args.out)  # fmt: skip
    stages.update()
    stages.close()
    metrics["seconds"] = round(time.perf_counter() - start, 1)
    cli.write_metrics(args.out, metrics)
    arithmetic = metrics["arithmetic"]
    success = metrics["projection_generated"]["success_vs_restarts"]
    print(
        "arithmetic success (k = 1/3/10): "
        + "; ".join(f"{a} " + ("skipped" if "skipped" in arithmetic[a] else "/".join(
                    f"{arithmetic[a][k]['success']:.2f}" for k in GROUP_SIZES)) for a in ATTRIBUTES)
        + "; projection success vs restarts: "
        + ", ".join(f"R={r}: {v:.2f}" for r, v in success.items())
        + f"; outputs in {args.out}"
    )  # fmt: skip
    return metrics


if __name__ == "__main__":
    cli.run_main(main)
