"""Stacked MNIST: the 1,000-mode image benchmark of mode collapse (Metz et al. 2017,
arXiv:1611.02163; VEEGAN, arXiv:1705.07761; PacGAN, arXiv:1712.04086; R3GAN,
arXiv:2501.05441).

Each real image stacks three digits drawn independently from the embedded MNIST training
split as its three colour channels (:func:`gan_jax.data.random_stacked_batch`, on device),
so the data has 10³ equally likely modes.  A generated sample's mode is the triple of
classes the MNIST evaluation classifier gives its channels
(:func:`gan_jax.metrics.stacked_mode_coverage`); a run is scored by the modes its
generator reaches and ``KL(p̂ ‖ uniform)`` of the mode histogram from
:data:`NUM_SAMPLES` samples, PacGAN's count.

**Architectures** (:data:`ARCHITECTURES`): two of the DCGAN-32 networks of
:mod:`gan_jax.nets.dcgan` at 32×32×3 (the papers use 28×28×3), and the papers' own:

* ``dcgan``: VEEGAN's and PacGAN's Table 2 setting, DCGAN-like G and D of equal width
  (G 4×4×256 → 8×8×128 → 16×16×64 → 32×32×3; D 64 → 128 → 256), the library's
  DCGAN-32.
* ``dcgan_tf``: the networks those tables actually trained, DCGAN-TensorFlow's at
  28×28×3 (:mod:`gan_jax.nets.dcgan_tf`: 5×5 kernels, D 64 → 128 → 256 → 512 and a dense
  logit, G from 2×2×512, ``z`` uniform on [−1, 1]).  The real stacks are the 32×32 pool's
  central 28×28 (the embedded digits are 28×28 padded with background), and a sample is
  padded back to 32×32 with background for the classifier.  The papers trained them for
  50 epochs of 128,000 images (100,000 steps); we train the steps a 2-core CPU allows.
* ``quarter``: Metz et al.'s hard setting (PacGAN Table 3), D with a quarter of G's
  width: G 4×4×64 → 8×8×32 → 16×16×16 → 32×32×3 and D 4 → 8 → 16 (their G is
  4×4×64 → 7×7×32 → 14×14×16 → 28×28×8 → 3 channels and D 2 → 4 → 8, 3×3 kernels).

**Methods** (:data:`METHODS`): the non-saturating GAN (``gan``), and with G stepped twice
per D step as DCGAN-TensorFlow does (``gan_g2``: the papers' DCGAN update); PacGAN with packs of
``m`` (``pacgan2``…``pacgan4``: D scores ``m`` samples concatenated along channels, with
the batch grown to ``64·m`` so that D sees 64 packs a step, as PacGAN's code does); and
R3GAN's objectives on a D without BatchNorm (whose per-sample gradients the penalties
need): ``gan_r1`` / ``gan_r1_r2`` (non-saturating loss) and ``rpgan_r1`` /
``rpgan_r1_r2`` (relativistic pairing loss), with ``(γ/2)·R1`` and ``(γ/2)·R2``; and their
control, ``gan_no_bn``: the GAN with that D, no penalty.

Every run is a :func:`gan_jax.models.image_gan.build_image_gan` model trained by
:func:`gan_jax.training.fit` (checkpoints in its own workdir, so an interrupted study
continues with ``--resume``), with Adam(2e-4, β₁ = 0.5) for both players, batch 64 and
alternating updates (one D, then one G update a step; ``gan_g2``: two G updates, each on
fresh latents), like the library's DCGAN.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import time
from collections.abc import Callable, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from gan_jax import data
from gan_jax.errors import UserError
from gan_jax.gan import latents
from gan_jax.metrics import stacked_mode_coverage
from gan_jax.models.assembly import uniform_real_batches
from gan_jax.models.feature_classifier import predicted_classes
from gan_jax.models.image_gan import EVAL_NOISE_SEED, ImageGAN, ImageGANConfig, build_image_gan
from gan_jax.studies.figures import Curves, ImageRows
from gan_jax.training import FitConfig

Array = jax.Array

__all__ = [
    "ARCHITECTURES",
    "CHANNELS",
    "CLASSIFIER_RESOLUTION",
    "METHODS",
    "NUM_SAMPLES",
    "RESULT_FILE",
    "SAMPLES_FILE",
    "SETTINGS_FILE",
    "Method",
    "StudyPlan",
    "build",
    "channel_labels",
    "check_resumable",
    "coverage_numbers",
    "evaluate",
    "markdown_table",
    "real_reference",
    "run_settings",
    "run_study",
    "study_figures",
    "study_metrics",
    "summarise",
    "train_one",
]

CHANNELS = 3  # digits per image: 10³ modes
NUM_SAMPLES = 26_000  # samples per evaluation (PacGAN's code)
RESULT_FILE = "result.json"  # a finished run's numbers, in its workdir
SETTINGS_FILE = "settings.json"  # what defines the run, written when it starts
SAMPLES_FILE = "samples.npy"  # and its first SHOWN_SAMPLES evaluation images
SHOWN_SAMPLES = 16

# name -> the networks, their resolution, G's last width and D's first width
# (ImageGANConfig's nets, resolution, width and d_width)
ARCHITECTURES: dict[str, dict[str, Any]] = {
    "dcgan": {"nets": "dcgan", "resolution": 32, "width": 64, "d_width": 64},
    "quarter": {"nets": "dcgan", "resolution": 32, "width": 16, "d_width": 4},
    "dcgan_tf": {"nets": "dcgan_tf", "resolution": 28, "width": 64, "d_width": 64},
}
CLASSIFIER_RESOLUTION = 32  # the evaluation classifier's input, the pool's size


@dataclasses.dataclass(frozen=True)
class Method:
    """A training recipe: the loss (:data:`gan_jax.models.assembly.LOSSES`), PacGAN's pack
    size, the γ of R1 and R2 (which need a D without BatchNorm), whether D has BatchNorm,
    Adam's β₁, β₂ for both players, and G's updates per D update."""

    loss: str = "ns"
    pack: int = 1
    r1_gamma: float = 0.0
    r2_gamma: float = 0.0
    d_batch_norm: bool = True
    beta1: float = 0.5
    beta2: float = 0.999
    g_steps: int = 1


GAMMA = 0.1  # γ of R1 and R2 (R3GAN's Stacked-MNIST and CIFAR-10 configs use 0.05–0.1)
METHODS: dict[str, Method] = {
    "gan": Method(),
    # DCGAN-TensorFlow's update, which VEEGAN's and PacGAN's DCGAN rows use: G twice per D
    "gan_g2": Method(g_steps=2),
    "pacgan2": Method(pack=2),
    "pacgan3": Method(pack=3),
    "pacgan4": Method(pack=4),
    # the control of the penalised methods: their D without BatchNorm, no penalty
    "gan_no_bn": Method(d_batch_norm=False),
    "gan_r1": Method(r1_gamma=GAMMA, d_batch_norm=False),
    "gan_r1_r2": Method(r1_gamma=GAMMA, r2_gamma=GAMMA, d_batch_norm=False),
    "rpgan_r1": Method(loss="rpgan", r1_gamma=GAMMA, d_batch_norm=False),
    "rpgan_r1_r2": Method(loss="rpgan", r1_gamma=GAMMA, r2_gamma=GAMMA, d_batch_norm=False),
}


def config_for(
    architecture: str, method: Method, batch_size: int = 64, ema_half_life: float = 0.0
) -> ImageGANConfig:
    """The run's :class:`ImageGANConfig`: the architecture's networks, resolution and
    widths, 3 channels, the method's loss, pack (batch ``batch_size·pack``), penalties and
    Adam β's, and G's moving average (half-life ``ema_half_life`` real images; 0: none)."""
    return ImageGANConfig(
        channels=CHANNELS,
        **ARCHITECTURES[architecture],
        loss=method.loss,
        batch_size=batch_size * method.pack,
        pack=method.pack,
        r1_gamma=method.r1_gamma,
        r2_gamma=method.r2_gamma,
        d_batch_norm=method.d_batch_norm,
        beta1=method.beta1,
        beta2=method.beta2,
        g_steps=method.g_steps,
        ema_half_life=ema_half_life,
    )


def stacked_sample(key: Array, images: Array, batch_size: int) -> Array:
    """Stacked-MNIST images from the grey-scale pool ``images`` (the draw of
    :func:`gan_jax.models.assembly.uniform_real_batches`)."""
    return data.random_stacked_batch(key, images, batch_size, CHANNELS)[0]


def build(
    architecture: str,
    method: Method,
    pool: Array,
    seed: int,
    batch_size: int = 64,
    ema_half_life: float = 0.0,
) -> ImageGAN:
    """The run's :class:`~gan_jax.models.image_gan.ImageGAN` on the grey-scale ``pool``
    (32×32; its central crop at a 28×28 architecture)."""
    config = config_for(architecture, method, batch_size, ema_half_life)
    draw = uniform_real_batches(config.batch_size, stacked_sample)
    images = data.center_crop(pool, config.resolution)
    return build_image_gan(config, images, jax.random.key(seed), draw_batch=draw)


def channel_labels(classify: Callable[[Array], np.ndarray], images: Array) -> np.ndarray:
    """``(N, C)`` classes of each channel of ``images`` ``(N, H, W, C)``, by ``classify``
    on grey-scale images ``(M, H, W, 1)``."""
    n, h, w, c = images.shape
    channels = jnp.moveaxis(jnp.asarray(images), -1, 1).reshape(n * c, h, w, 1)
    return np.asarray(classify(channels)).reshape(n, c)


def coverage_numbers(labels: np.ndarray) -> dict[str, Any]:
    """Modes, KL and the descending mode counts of ``labels`` ``(N, C)``."""
    result = stacked_mode_coverage(jnp.asarray(labels))
    counts = np.sort(np.asarray(result["histogram"]) * len(labels))[::-1]
    return {
        "modes": int(result["modes"]),
        "kl": float(result["kl_from_uniform"]),
        "sorted_counts": np.rint(counts).astype(int).tolist(),
    }


def evaluate(
    model: ImageGAN, state: Any, classify: Callable[[Array], np.ndarray], samples: int
) -> tuple[dict[str, Any], np.ndarray]:
    """:func:`coverage_numbers` of ``samples`` images of ``model``'s G at ``state`` (the
    fixed evaluation latents of :data:`EVAL_NOISE_SEED`; G's average when the model keeps
    one, and then the trained G's numbers too, under ``"raw"``), and the first
    :data:`SHOWN_SAMPLES` images, every image padded to the classifier's 32×32
    (:func:`gan_jax.data.pad_with_background`)."""
    z = latents(jax.random.key(EVAL_NOISE_SEED), samples, model.latent_dim)

    def score(generate: Callable[[Any, Array], Array]) -> tuple[dict[str, Any], Array]:
        images = data.map_in_batches(
            lambda zz: data.pad_with_background(generate(state, zz), CLASSIFIER_RESOLUTION),
            z,
            size=1000,
        )
        return coverage_numbers(channel_labels(classify, images)), images

    numbers, images = score(model.generate)
    if model.generate_raw is not None:
        raw, _ = score(model.generate_raw)
        numbers["raw"] = {k: raw[k] for k in ("modes", "kl")}
    return numbers, np.asarray(images[:SHOWN_SAMPLES])


def real_reference(
    test_set: data.ImageDataset, classify: Callable[[Array], np.ndarray], samples: int
) -> dict[str, Any]:
    """The control: ``samples`` stacked images of *held-out* real digits scored like a
    generator's (``classified``: what a perfect generator would score, classifier errors
    included) and with their true labels (``true``: the multinomial noise of ``samples``
    draws alone)."""
    images, indices = data.random_stacked_batch(
        jax.random.key(EVAL_NOISE_SEED), test_set.images, samples, CHANNELS
    )
    return {
        "classified": coverage_numbers(channel_labels(classify, images)),
        "true": coverage_numbers(np.asarray(test_set.labels)[np.asarray(indices)]),
    }


def classifier(model: Any, params: dict) -> Callable[[Array], np.ndarray]:
    """``images (M, H, W, 1) -> classes (M,)`` of the evaluation classifier ``model``."""
    return lambda images: predicted_classes(model, params, images)


def run_settings(
    architecture: str,
    method: str,
    seed: int,
    steps: int,
    samples: int,
    batch_size: int,
    ema_half_life: float = 0.0,
) -> dict[str, Any]:
    """What defines a run (saved in its workdir's :data:`SETTINGS_FILE`).  G's average is
    named only when there is one, so the settings of runs without it read as before."""
    settings = {
        "architecture": architecture,
        "method": method,
        "seed": seed,
        "steps": steps,
        "samples": samples,
        "batch_size": batch_size,
    }
    if ema_half_life > 0:
        settings["ema_half_life"] = ema_half_life
    return settings


def check_resumable(workdir: str, settings: dict[str, Any]) -> None:
    """A :class:`~gan_jax.errors.UserError` if ``workdir`` holds a run trained with other
    settings than ``settings`` (more ``steps`` continue it; fewer or any other change would
    mix two runs).  Call it for every run before training any, so a refused study changes
    nothing on disk."""
    path = os.path.join(workdir, SETTINGS_FILE)
    if not os.path.isfile(path):
        return
    with open(path) as f:
        saved = json.load(f)
    changed = [
        f"{key} {saved.get(key)} → {value}"
        for key, value in settings.items()
        if saved.get(key) != value and not (key == "steps" and value >= saved.get(key, 0))
    ]
    if changed:
        raise UserError(
            f"--resume: {workdir} was trained with other settings ({'; '.join(changed)}): "
            "pass the study's original flags, or a new --workdir"
        )


def train_one(
    architecture: str,
    method_name: str,
    seed: int,
    pool: Array,
    classify: Callable[[Array], np.ndarray],
    workdir: str,
    *,
    steps: int,
    samples: int = NUM_SAMPLES,
    batch_size: int = 64,
    ema_half_life: float = 0.0,
    resume: bool = False,
    progress: bool = True,
) -> dict[str, Any]:
    """Train one run in ``workdir`` (continuing it with ``resume``; a finished run's
    :data:`RESULT_FILE` is read back instead) and score it: modes, KL, wall seconds."""
    settings = run_settings(
        architecture, method_name, seed, steps, samples, batch_size, ema_half_life
    )
    check_resumable(workdir, settings)
    os.makedirs(workdir, exist_ok=True)
    with open(os.path.join(workdir, SETTINGS_FILE), "w") as f:
        json.dump(settings, f)
    result_path = os.path.join(workdir, RESULT_FILE)
    if resume and os.path.isfile(result_path):
        with open(result_path) as f:
            saved = json.load(f)
        if saved.get("settings") == settings:
            return saved
    model = build(architecture, METHODS[method_name], pool, seed, batch_size, ema_half_life)
    every = math.gcd(steps, 100)
    fit = FitConfig(
        steps=steps, log_every=every, checkpoint_every=every * max(1, 1000 // every),
        eval_every=0, sample_every=0,
    )  # fmt: skip
    start = time.perf_counter()
    fitted = model.fit(
        workdir,
        fit,
        resume=resume and os.path.isdir(os.path.join(workdir, "checkpoints")),
        progress=progress,
        description=f"{architecture} {method_name} seed {seed}",
    )
    seconds = time.perf_counter() - start
    numbers, shown = evaluate(model, fitted.state, classify, samples)
    result = {
        "settings": settings,
        **numbers,
        "train_seconds": round(seconds, 1),
        "interrupted": fitted.interrupted,
    }
    if not fitted.interrupted:
        np.save(os.path.join(workdir, SAMPLES_FILE), shown)
        with open(result_path, "w") as f:
            json.dump(result, f)
    return result


def _spread(x: np.ndarray) -> float:
    return float(np.std(x, ddof=1)) if len(x) > 1 else 0.0


def summarise(runs: Sequence[dict]) -> dict[str, Any]:
    """Mean ± standard deviation over seeds of modes and KL (``ddof = 1``; 0 for one seed),
    and the same of the trained G (``"raw"``) when the runs evaluated G's average."""
    modes = np.array([r["modes"] for r in runs], dtype=float)
    kls = np.array([r["kl"] for r in runs], dtype=float)
    summary = {
        "seeds": len(runs),
        "modes_mean": float(modes.mean()),
        "modes_std": _spread(modes),
        "kl_mean": float(kls.mean()),
        "kl_std": _spread(kls),
        "modes": modes.astype(int).tolist(),
        "kl": kls.round(4).tolist(),
        "train_seconds_mean": float(np.mean([r["train_seconds"] for r in runs])),
    }
    if all("raw" in r for r in runs):
        raw = summarise([{**r["raw"], "train_seconds": r["train_seconds"]} for r in runs])
        summary["raw"] = {k: v for k, v in raw.items() if k != "train_seconds_mean"}
    return summary


def markdown_table(summary: dict[str, dict[str, dict]], steps: int) -> str:
    """The results page's table: one row per architecture and method (two when the runs kept G's
    average: the average's and the trained G's)."""
    lines = [
        "| architecture | method | seeds | steps | modes (of 1,000) | KL | s per run |",
        "|---|---|---|---|---|---|---|",
    ]
    for architecture, methods in summary.items():
        for name, row in methods.items():
            rows = [(name, row)]
            if "raw" in row:
                rows = [(f"{name}, G's average", row), (f"{name}, trained G", row["raw"])]
            for label, numbers in rows:
                lines.append(
                    f"| {architecture} | {label} | {numbers['seeds']} | {steps} | "
                    f"{numbers['modes_mean']:.1f} ± {numbers['modes_std']:.1f} | "
                    f"{numbers['kl_mean']:.3f} ± {numbers['kl_std']:.3f} | "
                    f"{row['train_seconds_mean']:.0f} |"
                )
    return "\n".join(lines)


@dataclasses.dataclass(frozen=True)
class StudyPlan:
    """Which runs a study trains, and where: every architecture × method × seed, each in
    ``<workdir>/<architecture>_<method>_seed<seed>``."""

    architectures: Sequence[str]
    methods: Sequence[str]
    seeds: Sequence[int]
    steps: int
    samples: int = NUM_SAMPLES
    batch_size: int = 64
    workdir: str = os.path.join("runs", "stacked_mnist")
    ema_half_life: float = 0.0

    def runs(self) -> list[tuple[str, str, int, str]]:
        """``(architecture, method, seed, workdir)`` of every run."""
        return [
            (
                architecture,
                method,
                seed,
                os.path.join(self.workdir, f"{architecture}_{method}_seed{seed}"),
            )
            for architecture in self.architectures
            for method in self.methods
            for seed in self.seeds
        ]

    def settings(self, architecture: str, method: str, seed: int) -> dict[str, Any]:
        return run_settings(
            architecture, method, seed, self.steps, self.samples, self.batch_size,
            self.ema_half_life,
        )  # fmt: skip

    def check_resumable(self) -> None:
        """:func:`check_resumable` of every run, before any is trained."""
        for architecture, method, seed, workdir in self.runs():
            check_resumable(workdir, self.settings(architecture, method, seed))


def run_study(
    plan: StudyPlan,
    pool: Array,
    classify: Callable[[Array], np.ndarray],
    *,
    resume: bool = False,
    progress: bool = True,
    report: Callable[[str], None] = print,
) -> tuple[dict[str, dict[str, list[dict]]], str | None]:
    """Train and score every run of ``plan`` (:func:`train_one`), reporting each result.
    Returns ``{architecture: {method: [result per seed]}}`` and, when a run was interrupted
    (Ctrl-C: its checkpoint is saved), that run's workdir, the study stopping there."""
    results: dict[str, dict[str, list[dict]]] = {}
    for architecture, method, seed, workdir in plan.runs():
        result = train_one(
            architecture, method, seed, pool, classify, workdir,
            steps=plan.steps, samples=plan.samples, batch_size=plan.batch_size,
            ema_half_life=plan.ema_half_life, resume=resume, progress=progress,
        )  # fmt: skip
        if result["interrupted"]:
            return results, workdir
        results.setdefault(architecture, {}).setdefault(method, []).append(result)
        report(
            f"{architecture} {method} seed {seed}: {result['modes']} modes, "
            f"KL {result['kl']:.3f} ({result['train_seconds']:.0f} s)"
        )
    return results, None


def study_metrics(
    plan: StudyPlan, results: dict, real: dict, classifier_accuracy: float | None
) -> dict[str, Any]:
    """``metrics.json``: the plan, the real control, the summary (:func:`summarise`) and
    every run's modes, KL and seconds."""
    return {
        "settings": {
            "architectures": list(plan.architectures),
            "methods": list(plan.methods),
            "seeds": list(plan.seeds),
            "steps": plan.steps,
            "batch_size": plan.batch_size,
            "samples": plan.samples,
            "ema_half_life": plan.ema_half_life,
        },
        "classifier_test_accuracy": classifier_accuracy,
        "real_test_stacks": {k: {"modes": v["modes"], "kl": v["kl"]} for k, v in real.items()},
        "summary": {
            architecture: {name: summarise(runs) for name, runs in methods.items()}
            for architecture, methods in results.items()
        },
        "runs": {
            architecture: {
                name: [
                    {k: r[k] for k in ("modes", "kl", "train_seconds", "raw") if k in r}
                    for r in runs
                ]
                for name, runs in methods.items()
            }
            for architecture, methods in results.items()
        },
    }


def study_figures(plan: StudyPlan, results: dict, real: dict) -> dict[str, Any]:
    """Per architecture, the first seed's samples per method (``samples_<arch>.png``) and
    its samples per mode, modes sorted by count, beside the real control's
    (``mode_counts_<arch>.png``), as :mod:`gan_jax.studies.figures` data."""
    figures: dict[str, Any] = {}
    seed = plan.seeds[0]
    average = (
        f", G's average (half-life {plan.ema_half_life:g} images)" if plan.ema_half_life else ""
    )
    ranks = np.arange(1, 1001)
    for architecture, methods in results.items():
        first = {name: runs[0] for name, runs in methods.items()}
        rows = [
            np.load(os.path.join(plan.workdir, f"{architecture}_{name}_seed{seed}", SAMPLES_FILE))
            for name in methods
        ]
        figures[f"samples_{architecture}.png"] = ImageRows(
            rows,
            [f"{name}: {run['modes']} modes" for name, run in first.items()],
            None,
            f"Stacked MNIST, {architecture} networks, {plan.steps} steps, seed {seed}{average}",
        )
        curves = {
            f"{name} ({run['modes']} modes, KL {run['kl']:.2f})": (
                ranks, np.maximum(run["sorted_counts"], 0.5)
            )
            for name, run in first.items()
        }  # fmt: skip
        control = real["classified"]
        curves[f"real held-out stacks ({control['modes']} modes, KL {control['kl']:.2f})"] = (
            ranks, np.maximum(control["sorted_counts"], 0.5)
        )  # fmt: skip
        figures[f"mode_counts_{architecture}.png"] = Curves(
            curves,
            "mode, by decreasing count",
            f"samples (of {plan.samples}; empty modes at 0.5)",
            f"Stacked MNIST, {architecture} networks, seed {seed}{average}: samples per mode",
            logy=True,
            hlines={"uniform": plan.samples / 1000},
        )
    return figures
