"""The latent space of a trained generator, measured with :mod:`gan_jax.latent`: the study
of ``python -m experiments.latent_space`` (its module doc states the protocol).

1. **Interpolation** (:func:`interpolation_study`): lerp vs slerp, the norm of midpoints.
2. **Vector arithmetic** (Radford et al. 2016, arXiv:1511.06434, Fig. 7;
   :func:`arithmetic_study`) on (class, attribute) concepts from a pool of samples, the
   attribute ``ink`` (:func:`gan_jax.metrics.ink_mass`) or ``slant``
   (:func:`gan_jax.metrics.slant`); attribute sweeps (:func:`sweep_study`).
3. **Projection** of generated targets with restarts (:func:`generated_projection_study`)
   and of held-out real images (:func:`real_projection_study`: random starts, an encoder,
   the encoder's guess refined; Zhu et al. 2016, arXiv:1609.03552).

Each study returns its numbers and its figures as data (:class:`ImageRows`,
:class:`ProjectionCurves`, :class:`LossSlice` of :mod:`gan_jax.studies.figures`, keyed by
file name), which :func:`gan_jax.viz.studies.draw_all` draws.  ``generate`` maps latents to images and
``classify`` images to class probabilities; ``settings`` is any object with the counts the
studies use (``triples, targets, restarts, proj_steps, success_mse, real_targets,
real_restarts, encoder_steps, encoder_pairs, seed, progress``).
"""

from __future__ import annotations

import math
import time

import jax
import jax.numpy as jnp
import numpy as np

from gan_jax import latent
from gan_jax.metrics import ink_mass, slant
from gan_jax.studies.figures import ImageRows, LossSlice, ProjectionCurves

__all__ = [
    "ATTRIBUTES",
    "ATTRIBUTE_WORDS",
    "GROUP_SIZES",
    "RESTART_COUNTS",
    "arithmetic_study",
    "concept_groups",
    "describe",
    "generated_projection_study",
    "interpolation_study",
    "loss_slice",
    "real_projection_study",
    "sweep_study",
]

ATTRIBUTES = {"ink": ink_mass, "slant": slant}
ATTRIBUTE_WORDS = {"ink": ("thin", "thick"), "slant": ("left-leaning", "right-leaning")}
GROUP_SIZES = (1, 3, 10)
RESTART_COUNTS = (1, 4, 16, 64)


def batched(fn, x: jax.Array, size: int = 1024) -> np.ndarray:
    return np.concatenate([np.asarray(fn(x[i : i + size])) for i in range(0, len(x), size)])


# --------------------------------------------------------------------------- studies


def interpolation_study(generate, key, latent_dim: int) -> tuple[dict, dict]:
    """Midpoint norms of lerp and slerp between 256 Gaussian latent pairs (over √d), and
    five pairs interpolated both ways (``interpolation.png``)."""
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
    figure = ImageRows(
        rows,
        labels,
        [f"t={t:.2f}" for t in np.linspace(0, 1, 9)],
        "lerp vs slerp between latent pairs (rows alternate)",
    )
    return {
        "midpoint_norm_over_sqrt_d": midpoint,
        "endpoint_norm_over_sqrt_d": float(
            jnp.mean(jnp.linalg.norm(pairs, axis=-1)) / math.sqrt(latent_dim)
        ),
    }, {"interpolation.png": figure}


def describe(generate, classify, z: jax.Array) -> dict[str, np.ndarray]:
    """Class, confidence and attributes of ``G(z)``."""
    images = batched(generate, z)
    probabilities = batched(classify, jax.device_put(images))
    out = {"class": probabilities.argmax(-1), "confidence": probabilities.max(-1)}
    out.update({name: np.asarray(fn(jax.device_put(images))) for name, fn in ATTRIBUTES.items()})
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


def arithmetic_study(
    generate, classify, pool_z, pool, num_classes, settings, rng
) -> tuple[dict, dict]:
    """Success rates of ``A − B + C`` over ``settings.triples`` random triples per group size
    and attribute (module doc), and the Fig. 7 layout for one triple (``arithmetic.png``).

    Two controls beside each rate.  **Norm**: the mean of ``k`` Gaussian latents has norm
    ``≈ √(d/k)``, so ``A − B + C`` sits at ``≈ √(3d/k)``: ``1.73·√d`` for ``k = 1``,
    ``0.55·√d`` for ``k = 10``, and "averaging helps" could be "a latent nearer the origin
    helps".  The ``_rescaled`` rates use the same direction at the norm of ``mean C``.
    **No arithmetic**: ``c_alone_class_ok`` is how often ``G(mean C)`` alone is already
    of C's class, the rate that "the result keeps the target class" must beat."""
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
            for _ in range(settings.triples):
                c1, c2 = rng.choice(classes, 2, replace=False)
                sign = int(rng.choice([-1, 1]))
                picks = [
                    rng.choice(groups[key], k) for key in ((c1, sign), (c1, -sign), (c2, -sign))
                ]
                latents_abc.append(np.stack([pool_z[p] for p in picks]))  # (3, k, d)
                triples.append((int(c1), int(c2), sign))
            abc = jax.device_put(np.stack(latents_abc))  # (T, 3, k, d)
            means = latent.concept_mean(abc)  # (T, 3, d)
            result = means[:, 0] - means[:, 1] + means[:, 2]
            # the norm control: the same direction at C's own norm, so that every k and
            # G(mean C) are compared at one distance from the origin
            c_norm = jnp.linalg.norm(means[:, 2], axis=-1, keepdims=True)
            rescaled = result * c_norm / jnp.linalg.norm(result, axis=-1, keepdims=True)
            base = describe(generate, classify, means[:, 2])
            target = np.array([c2 for _, c2, _ in triples])
            sign = np.array([s for _, _, s in triples])
            row = {"triples": len(triples)}
            for name, z in (("", result), ("_rescaled", rescaled)):
                got = describe(generate, classify, z)
                class_ok = got["class"] == target
                moved = sign * (got[attribute] - base[attribute]) > 0
                row[f"success{name}"] = float(np.mean(class_ok & moved))
                row[f"class_ok{name}"] = float(np.mean(class_ok))
                row[f"attribute_moved{name}"] = float(np.mean(moved))
            root_d = math.sqrt(result.shape[-1])
            row["c_alone_class_ok"] = float(np.mean(base["class"] == target))
            row["result_norm_over_sqrt_d"] = float(
                jnp.mean(jnp.linalg.norm(result, axis=-1)) / root_d
            )
            row["c_norm_over_sqrt_d"] = float(jnp.mean(c_norm) / root_d)
            results[attribute][k] = row
    if ink_groups is None:
        return results, {}
    # The Fig. 7 layout for one triple: thick 7 − thin 7 + thin 1 (other digits if those
    # classes have too few confident samples).
    groups = ink_groups
    classes = sorted({c for c, _ in groups})
    c1, c2 = (7, 1) if {7, 1} <= set(classes) else tuple(classes[:2])
    picks = [rng.choice(groups[key], 3) for key in ((c1, 1), (c1, -1), (c2, -1))]
    rows, labels = [], []
    thin, thick = ATTRIBUTE_WORDS["ink"]
    for p, name in zip(picks, (f"{thick} {c1}", f"{thin} {c1}", f"{thin} {c2}"), strict=True):
        z = jax.device_put(pool_z[p])
        rows.append(
            np.concatenate([np.asarray(generate(z)), np.asarray(generate(z.mean(0)[None]))])
        )
        labels.append(name)
    means = [jax.device_put(pool_z[p]).mean(0) for p in picks]
    result = means[0] - means[1] + means[2]
    neighbours = result + 0.25 * jax.random.normal(
        jax.random.key(settings.seed + 7), (8, result.shape[0])
    )
    rows.append(np.asarray(generate(jnp.concatenate([result[None], neighbours]))))
    labels.append(f"= {thick} {c2}?")
    figure = ImageRows(
        rows,
        labels,
        ["sample 1", "sample 2", "sample 3", "G(mean)"] + ["+ noise"] * 5,
        f"{thick} {c1} − {thin} {c1} + {thin} {c2}: concepts average 3 latents; "
        "last row: G(result) and 8 neighbours (σ = 0.25)",
    )
    return results, {"arithmetic.png": figure}


def sweep_study(generate, pool_z, pool, key) -> tuple[dict, dict]:
    """Each attribute's direction swept over strengths −8 … 8 from 256 latents: the mean
    attribute and the share of monotone sweeps (``attribute_sweep.png``)."""
    strengths = np.linspace(-8.0, 8.0, 9)
    base = jax.random.normal(key, (256, pool_z.shape[1]))
    rows, labels, measured = [], [], {}
    for attribute, fn in ATTRIBUTES.items():
        direction = latent.attribute_direction(
            jax.device_put(pool_z), jax.device_put(pool[attribute])
        )
        swept = latent.apply_direction(base[:, None], direction, jax.device_put(strengths[None]))
        images = batched(generate, swept.reshape(-1, swept.shape[-1])).reshape(
            256, len(strengths), *generate(base[:1]).shape[1:]
        )
        values = np.asarray(fn(jax.device_put(images.reshape(-1, *images.shape[2:])))).reshape(
            256, -1
        )
        measured[attribute] = {
            "strengths": strengths.tolist(),
            "mean": values.mean(0).tolist(),
            "monotone_fraction": float(np.mean(np.all(np.diff(values, axis=1) > 0, axis=1))),
        }
        for i in range(4):
            rows.append(images[i])
            labels.append(f"{attribute} {i + 1}")
    figure = ImageRows(
        rows,
        labels,
        [f"{s:+.0f}" for s in strengths],
        "z + s·direction for the ink (thickness) and slant directions (‖z‖ ≈ 10)",
    )
    return measured, {"attribute_sweep.png": figure}


def generated_projection_study(generate, latent_dim, settings) -> tuple[dict, dict]:
    """Projection of generated targets ``G(z*)`` with restarts (module doc): success vs
    restarts against the independent-restarts prediction, and a loss slice through a
    typical failed restart (``projection_losses.png``, ``loss_slice.png``,
    ``projection_restarts.png``)."""
    truth = jax.random.normal(jax.random.key(settings.seed + 11), (settings.targets, latent_dim))
    targets = generate(truth)
    start = time.perf_counter()
    result = latent.project(
        generate,
        targets,
        jax.random.key(settings.seed + 12),
        restarts=settings.restarts,
        steps=settings.proj_steps,
        latent_dim=latent_dim,
    )
    final = np.asarray(result.final_losses)
    seconds = time.perf_counter() - start
    counts = [r for r in RESTART_COUNTS if r <= settings.restarts]
    success = {
        r: float(np.mean(np.asarray(latent.best_of(result.final_losses, r)) < settings.success_mse))
        for r in counts
    }
    per_restart = float(np.mean(final < settings.success_mse))
    expected = {r: 1.0 - (1.0 - per_restart) ** r for r in counts}  # independent restarts
    distance = np.linalg.norm(np.asarray(result.best_latents - truth), axis=-1)
    figures = {
        "projection_losses.png": ProjectionCurves(
            final, counts, success, expected, settings.success_mse
        )
    }
    # 2-D slice through z*, a typical failed restart's end point and its start: the failed
    # restart whose final loss is the median of the failed ones (not the worst)
    failed = np.argwhere(final >= settings.success_mse)
    slice_info = {}
    if len(failed):
        losses = final[failed[:, 0], failed[:, 1]]
        n, r = failed[np.argsort(losses)[len(losses) // 2]]
        slice_info, figures["loss_slice.png"] = loss_slice(
            generate, truth[n], result.latents[n, r], result.starts[n, r], targets[n]
        )
        slice_info.update({
            "target": int(n),
            "restart": int(r),
            "final_loss": float(final[n, r]),
            "chosen_as": "the failed restart with the median final loss",
            "failed_restarts": len(losses),
        })  # fmt: skip
    rows = [np.asarray(targets[:8]), np.asarray(generate(result.best_latents[:8]))]
    worst = np.argmax(final[:8], axis=1)
    rows.append(np.asarray(generate(result.latents[np.arange(min(8, settings.targets)), worst])))
    figures["projection_restarts.png"] = ImageRows(
        rows,
        ["target G(z*)", "best restart", "worst restart"],
        None,
        f"projection of generated digits, {settings.restarts} restarts",
    )
    return {
        "targets": settings.targets,
        "restarts": settings.restarts,
        "steps": settings.proj_steps,
        "success_mse": settings.success_mse,
        "success_vs_restarts": success,
        "independent_restarts_prediction": expected,
        "per_restart_success": per_restart,
        "final_loss_quantiles": np.quantile(final, [0.0, 0.1, 0.5, 0.9, 1.0]).tolist(),
        "best_latent_distance_to_truth": {
            "median": float(np.median(distance)),
            "max": float(np.max(distance)),
        },
        "seconds": round(seconds, 1),
        "slice": slice_info,
    }, figures


def loss_slice(generate, truth, end, start, target) -> tuple[dict, LossSlice]:
    """Pixel MSE on the plane through ``truth`` spanned by ``end − truth`` and the part of
    ``start − truth`` orthogonal to it; coordinates in units of those two lengths."""
    u = end - truth
    v = start - truth
    v_perp = v - jnp.dot(v, u) / jnp.dot(u, u) * u
    a = np.linspace(-0.5, 1.5, 41)
    b = np.linspace(-0.5, 1.5, 41)
    grid = truth + a[None, :, None] * u + b[:, None, None] * v_perp  # (b, a, d)
    losses = batched(
        lambda z: latent.pixel_mse(generate(z), target[None]), grid.reshape(-1, truth.shape[0])
    ).reshape(len(b), len(a))
    start_ab = (float(jnp.dot(v, u) / jnp.dot(u, u)), 1.0)
    figure = LossSlice(
        a, b, losses, {"z* (truth)": (0.0, 0.0), "restart's end": (1.0, 0.0), "its start": start_ab}
    )
    return {
        "truth_to_end_distance": float(jnp.linalg.norm(u)),
        "grid_min": float(losses.min()),
        "loss_at_end": float(losses[10, 30]),
    }, figure  # a = 1, b = 0


def real_projection_study(
    generate, latent_dim, test_set, feature_loss, settings
) -> tuple[dict, dict]:
    """Held-out real digits projected from random starts, by an encoder alone and by the
    encoder's guess refined (module doc), with their errors and seconds
    (``reconstructions.png``)."""
    targets = test_set.images[: settings.real_targets]
    measures = {"pixel_mse": latent.pixel_mse, "feature_distance": feature_loss}

    @jax.jit
    def mean_errors(z: jax.Array) -> dict[str, jax.Array]:
        images = generate(z)
        return {name: jnp.mean(fn(images, targets)) for name, fn in measures.items()}

    def errors(z) -> dict[str, float]:
        return {name: float(value) for name, value in mean_errors(z).items()}

    report, rows = {}, [np.asarray(targets[:8])]
    start = time.perf_counter()
    random = latent.project(
        generate,
        targets,
        jax.random.key(settings.seed + 21),
        restarts=settings.real_restarts,
        steps=settings.proj_steps,
        latent_dim=latent_dim,
    )
    report["random_restarts"] = {
        **errors(random.best_latents),
        "restarts": settings.real_restarts,
        "seconds": round(time.perf_counter() - start, 1),
    }
    rows.append(np.asarray(generate(random.best_latents[:8])))
    start = time.perf_counter()
    encoder, params, history = latent.train_encoder(
        generate,
        latent_dim,
        targets.shape[1:],
        jax.random.key(settings.seed + 22),
        steps=settings.encoder_steps,
        batch_size=64,
        width=32,
        num_pairs=settings.encoder_pairs,
        progress=settings.progress,
    )
    train_seconds = time.perf_counter() - start
    start = time.perf_counter()
    guess = jax.block_until_ready(jax.jit(encoder.apply)(params, targets))
    report["encoder"] = {
        **errors(guess),
        "seconds": round(time.perf_counter() - start, 2),
        "training_seconds": round(train_seconds, 1),
        "final_training_loss": history[-1],
    }
    rows.append(np.asarray(generate(guess[:8])))
    start = time.perf_counter()
    refined = latent.project(
        generate, targets, jax.random.key(0), restarts=1, steps=settings.proj_steps, init=guess
    )
    report["encoder_then_optimise"] = {
        **errors(refined.best_latents),
        "seconds": round(time.perf_counter() - start, 1),
    }
    rows.append(np.asarray(generate(refined.best_latents[:8])))
    figure = ImageRows(
        rows,
        [
            "held-out digit",
            f"random, {settings.real_restarts} restarts",
            "encoder E(x)",
            "E(x) + optimise",
        ],
        None,
        "projecting real digits the generator never saw",
    )
    return report, {"reconstructions.png": figure}
