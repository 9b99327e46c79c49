"""The classifier behind the image metrics: training, checkpointing, loading, and an evaluator
that turns generated images into a Fréchet classifier distance and class coverage.

Training (``python -m experiments.train_classifier``): cross-entropy, Adam(1e-3), batches
of 128 drawn on device with replacement, random translations of up to ±2 pixels as the only
augmentation; the checkpoint holds the parameters plus ``num_classes``, the image shape
and the held-out accuracy.  The evaluator fits the real Gaussian once (train split) and,
at every evaluation, the generated one (see :mod:`gan_jax.metrics`).
"""

from __future__ import annotations

import dataclasses
import functools
import json
import os
import shutil
import time
from collections.abc import Callable

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax

from gan_jax.data import ImageDataset, load_dataset, map_in_batches, random_batch
from gan_jax.losses import batch_all_triplet_loss, batch_hard_triplet_loss
from gan_jax.metrics import (
    class_coverage,
    classifier_score,
    density_coverage,
    frechet_feature_distance,
    kernel_distance,
    knn_radii,
    precision_recall,
)
from gan_jax.nets.classifier import Classifier, PyramidClassifier
from gan_jax.nets.variables import init_variables
from gan_jax.training.checkpoint import Checkpointer, CheckpointError
from gan_jax.training.loop import minimize
from gan_jax.xla_options import full_optimization_options

Array = jax.Array
META_FILE = "classifier.json"
# the evaluation classifier's recipe: Adam(1e-3) decayed to 0 by a cosine over 3,000 steps of
# batches of 128 shifted by ±2 pixels (docs/library/image_metrics.md: held-out accuracies)
DEFAULT_CLASSIFIER_STEPS = 3000
CLASSIFIER_RECIPE = "adam-cosine"  # in a cached classifier's meta; another is retrained
CLASSIFIER_CACHE = "runs"  # where the evaluation classifiers are cached, per dataset and size
PR_NEIGHBOURS = 3  # k of precision and recall
DC_NEIGHBOURS = 5  # k of density and coverage (Naeem et al.'s)
# what a checkpoint's meta "architecture" names (absent: the Classifier)
ARCHITECTURES = {"classifier": Classifier, "pyramid": PyramidClassifier}


def random_shift(key: Array, images: Array, max_shift: int = 2) -> Array:
    """Translate each image by an integer offset in ``[-max_shift, max_shift]²`` (edge
    padding)."""
    n, h, w, _ = images.shape
    padded = jnp.pad(images, ((0, 0), (max_shift,) * 2, (max_shift,) * 2, (0, 0)), mode="edge")
    offsets = jax.random.randint(key, (n, 2), 0, 2 * max_shift + 1)

    def crop(image: Array, offset: Array) -> Array:
        return jax.lax.dynamic_slice(image, (offset[0], offset[1], 0), (h, w, image.shape[-1]))

    return jax.vmap(crop)(padded, offsets)


def predicted_classes(
    model: nn.Module, params: dict, images: Array, batch: int = 512
) -> np.ndarray:
    """``argmax`` of ``model``'s logits for each of ``images`` ``(N, H, W, C)`` (batches of
    ``batch`` images, the last one padded: one compiled program whatever ``N``)."""
    predict = _predictor(model)
    return np.asarray(map_in_batches(lambda x: predict(params, x), images, size=batch))


def accuracy(model: Classifier, params: dict, dataset: ImageDataset, batch: int = 512) -> float:
    """Top-1 accuracy of ``model`` on ``dataset`` (:func:`predicted_classes`)."""
    predictions = predicted_classes(model, params, dataset.images, batch)
    return float(np.mean(predictions == np.asarray(dataset.labels)))


@functools.lru_cache(maxsize=8)
def _predictor(model: nn.Module) -> Callable[[dict, Array], Array]:
    """``(params, images) -> predicted classes``, jitted once per (equal) model, so the
    test and training sets' accuracies share one compilation."""
    return jax.jit(
        lambda p, x: jnp.argmax(model.apply(p, x), -1), compiler_options=full_optimization_options()
    )


def train_classifier(
    train_set: ImageDataset,
    key: Array,
    steps: int = 1500,
    batch_size: int = 128,
    learning_rate: float | optax.Schedule = 1e-3,
    progress: bool = True,
    model: nn.Module | None = None,
) -> tuple[nn.Module, dict, list[float]]:
    """Train ``model`` (default :class:`Classifier`; any module mapping images to logits)
    on ``train_set`` with Adam at ``learning_rate`` (a number or an optax schedule);
    returns the model, its params and the per-step training losses."""
    model = model or Classifier(num_classes=train_set.num_classes)

    def cross_entropy(params: dict, images: Array, labels: Array) -> Array:
        logits = model.apply(params, images)
        return optax.softmax_cross_entropy_with_integer_labels(logits, labels).mean()

    params, history = _train_on_shifted_batches(
        model, cross_entropy, train_set, key, steps, batch_size, learning_rate, "classifier",
        progress,
    )  # fmt: skip
    return model, params, history


def _train_on_shifted_batches(
    model: nn.Module,
    objective,
    train_set: ImageDataset,
    key: Array,
    steps: int,
    batch_size: int,
    learning_rate: float,
    description: str,
    progress: bool,
) -> tuple[dict, list[float]]:
    """Adam on ``objective(params, images, labels)`` over random batches of ``train_set``
    (with replacement, on device) shifted by up to ±2 pixels: the classifier's and the
    embedding's training loop."""
    init_key, key = jax.random.split(key)
    params = init_variables(model, init_key, train_set.images[:1])
    data = (train_set.images, train_set.labels)

    def loss(params: dict, key: Array) -> Array:
        key_batch, key_shift = jax.random.split(key)
        images, labels = random_batch(key_batch, data, batch_size)
        return objective(params, random_shift(key_shift, images), labels)

    # minimize compiles with the Eigen options of the GAN steps (25 % faster here)
    return minimize(loss, params, key, steps, optax.adam(learning_rate), description, progress)


def unit_norm(x: Array) -> Array:
    """``x/‖x‖`` row by row (rows of norm below 1e-12 divided by 1e-12)."""
    return x / jnp.maximum(jnp.linalg.norm(x, axis=-1, keepdims=True), 1e-12)


def normalized_embedding(model: nn.Module, params: dict, images: Array) -> Array:
    """``f(x)/‖f(x)‖``: the unit-norm embedding of ``images`` by ``model``."""
    return unit_norm(model.apply(params, images))


TRIPLET_LOSSES = {"all": batch_all_triplet_loss, "hard": batch_hard_triplet_loss}


def train_embedding(
    train_set: ImageDataset,
    key: Array,
    dim: int = 32,
    margin: float = 0.2,
    steps: int = 1500,
    batch_size: int = 128,
    learning_rate: float = 1e-3,
    progress: bool = True,
    mining: str = "all",
) -> tuple[Classifier, dict, list[float]]:
    """A metric-learning embedding: :class:`Classifier`'s network with a ``dim``-wide last
    layer, its output normalised to the unit sphere (:func:`normalized_embedding`), trained
    with the triplet loss (Hermans et al. 2017, arXiv:1703.07737) over every triplet of the
    batch (``mining="all"``, :func:`gan_jax.losses.batch_all_triplet_loss`) or its hardest
    ones (``"hard"``, :func:`gan_jax.losses.batch_hard_triplet_loss`) on random batches with
    the classifier's ±2-pixel shifts, Adam.  ``"all"`` is the default because batch-hard
    mining from a random initialisation collapses on MNIST: every embedding on one point,
    the loss stuck at the margin (docs/results/opengan.md gives the measurement)."""
    if mining not in TRIPLET_LOSSES:
        raise ValueError(f"mining must be one of {sorted(TRIPLET_LOSSES)}, not {mining!r}")
    model = Classifier(num_classes=dim)
    triplet_loss = TRIPLET_LOSSES[mining]

    def triplet(params: dict, images: Array, labels: Array) -> Array:
        embeddings = normalized_embedding(model, params, images)
        return triplet_loss(embeddings, labels, margin)

    params, history = _train_on_shifted_batches(
        model, triplet, train_set, key, steps, batch_size, learning_rate, "embedding", progress
    )
    return model, params, history


def save_classifier(directory: str, params: dict, meta: dict) -> None:
    """Checkpoint ``params`` (orbax, atomic) and write ``meta`` next to it.  The directory
    is made here, not by orbax, and the parameters are saved as host arrays: in a
    multi-process job orbax refuses both to create the directory of a process-local save
    (``create=True`` with ``active_processes``) and to serialise a single-device array."""
    os.makedirs(directory, exist_ok=True)
    with Checkpointer(directory, max_to_keep=1, create=False, process_local=True) as checkpointer:
        # host arrays: orbax refuses a single-device jax.Array in a multi-process job
        checkpointer.save(0, jax.device_get(params))
    with open(os.path.join(directory, META_FILE), "w") as f:
        json.dump(meta, f, indent=2, sort_keys=True)


def load_classifier(directory: str) -> tuple[Classifier, dict, dict]:
    """``(model, params, meta)`` from :func:`save_classifier`'s directory, or a
    :class:`~gan_jax.training.checkpoint.CheckpointError` naming the fix."""
    meta_path = os.path.join(directory, META_FILE)
    if not os.path.exists(meta_path):
        raise CheckpointError(
            f"no classifier in {directory}: train one with python -m "
            "experiments.train_classifier --out " + directory
        )
    try:
        with open(meta_path) as f:
            meta = json.load(f)
        model = ARCHITECTURES[meta.get("architecture", "classifier")](
            num_classes=int(meta["num_classes"])
        )
        shape = tuple(meta["image_shape"])
    except (ValueError, KeyError, TypeError) as err:
        raise CheckpointError(
            f"classifier metadata {meta_path} is unreadable ({err}): retrain with python -m "
            "experiments.train_classifier"
        ) from err
    template = init_variables(model, jax.random.key(0), jnp.zeros((1,) + shape))
    try:
        params = Checkpointer(directory, max_to_keep=1, create=False, process_local=True).restore(
            template=template
        )
    except CheckpointError as err:
        # the damage itself, without the run-resuming advice restore() adds to it
        problem = err.__cause__ if isinstance(err.__cause__, CheckpointError) else err
        raise CheckpointError(
            f"{problem}: retrain it with python -m experiments.train_classifier --out {directory}"
        ) from err
    return model, params, meta


@dataclasses.dataclass
class ClassifierMetrics:
    """Fréchet classifier distance, KID, precision/recall and class coverage of generated
    images, all on our classifier's penultimate features.

    ``real_images`` fix the real features once.  ``__call__(fake_images)`` returns ``fcd``,
    ``kid`` and ``kid_se`` (:func:`~gan_jax.metrics.kernel_distance`: 100 subsets of up to
    1,000), ``precision`` and ``recall`` (:func:`~gan_jax.metrics.precision_recall`, k =
    3), ``density`` and ``coverage`` (:func:`~gan_jax.metrics.density_coverage`, k = 5),
    ``classifier_score`` (:func:`~gan_jax.metrics.classifier_score`, the Inception-score
    formula on our classifier's logits, one split), ``classes`` (classes covered) and
    ``class_kl`` (KL of predictions from uniform).
    """

    model: Classifier
    params: dict
    real_images: Array
    batch: int = 500

    def __post_init__(self) -> None:
        self._apply = jax.jit(
            lambda p, x: self.model.apply(p, x, method=Classifier.features_and_logits),
            compiler_options=full_optimization_options(),
        )
        self.real_features, _ = self.features_and_logits(self.real_images)
        # the real manifold's k-NN radii, fixed like the real Gaussian
        self._real_radii = knn_radii(jnp.asarray(self.real_features), PR_NEIGHBOURS, exact=False)
        self._density_radii = knn_radii(jnp.asarray(self.real_features), DC_NEIGHBOURS)

    def features_and_logits(self, images: Array) -> tuple[np.ndarray, np.ndarray]:
        """In fixed-size batches (:func:`gan_jax.data.map_in_batches`): one compiled program
        for the real, generated and held-out sets alike."""
        features, logits = map_in_batches(
            lambda x: self._apply(self.params, x), images, size=self.batch
        )
        return np.asarray(features), np.asarray(logits)

    def __call__(self, fake_images: Array) -> dict[str, float]:
        return self.from_features(*self.features_and_logits(fake_images))

    def from_features(self, features: Array, logits: Array) -> dict[str, float]:
        """The numbers of ``__call__`` from generated images' features and logits already
        computed (:meth:`features_and_logits`), for a caller that also needs the logits."""
        coverage = class_coverage(jnp.asarray(logits))
        kid = kernel_distance(self.real_features, features)
        return {
            "fcd": frechet_feature_distance(self.real_features, features),
            "kid": kid.value,
            "kid_se": kid.std_error,
            **precision_recall(
                self.real_features, features, PR_NEIGHBOURS, real_radii=self._real_radii
            ),
            **density_coverage(
                self.real_features, features, DC_NEIGHBOURS, real_radii=self._density_radii
            ),
            "classifier_score": classifier_score(logits).value,
            "classes": int(coverage["classes"]),
            "class_kl": float(coverage["kl_from_uniform"]),
        }


def train_and_save_classifier(
    dataset: str,
    resolution: int,
    out: str,
    steps: int = DEFAULT_CLASSIFIER_STEPS,
    batch_size: int = 128,
    lr: float = 1e-3,
    seed: int = 0,
    data_dir: str | None = None,
) -> tuple[dict, list[float]]:
    """Train the evaluation classifier on ``dataset``'s ``train`` split at ``resolution``
    (Adam from ``lr`` decayed to 0 by a cosine over ``steps``, which generalises better
    than a constant rate on the 4,000 training digits of the embedded MNIST: docs/library/image_metrics.md),
    measure it on ``test`` and save it to ``out`` (:func:`save_classifier`, its metadata
    holding the measurements).  Returns the metadata and the per-step losses."""
    train_set = load_dataset(dataset, resolution, "train", data_dir)
    test_set = load_dataset(dataset, resolution, "test", data_dir)
    start = time.perf_counter()
    schedule = optax.cosine_decay_schedule(lr, steps)
    model, params, losses = train_classifier(
        train_set, jax.random.key(seed), steps, batch_size, schedule
    )
    meta = {
        "recipe": CLASSIFIER_RECIPE,
        "dataset": dataset,
        "resolution": resolution,
        "num_classes": train_set.num_classes,
        "image_shape": list(train_set.image_shape),
        "train_examples": len(train_set),
        "test_examples": len(test_set),
        "test_accuracy": accuracy(model, params, test_set),
        "train_accuracy": accuracy(model, params, train_set),
        "steps": steps,
        "seconds": round(time.perf_counter() - start, 1),
        "loss_mean_last_100_steps": float(np.mean(losses[-100:])),
    }
    save_classifier(out, params, meta)
    return meta, losses


def classifier_cache_dir(
    dataset: str,
    resolution: int,
    steps: int = DEFAULT_CLASSIFIER_STEPS,
    root: str = CLASSIFIER_CACHE,
) -> str:
    """The cached evaluation classifier's folder: ``<root>/classifier_<dataset>_<resolution>``,
    with ``_steps<N>`` appended for a classifier trained for other than the default
    :data:`DEFAULT_CLASSIFIER_STEPS` (so a short smoke-test classifier never stands in for
    it)."""
    suffix = "" if steps == DEFAULT_CLASSIFIER_STEPS else f"_steps{steps}"
    return os.path.join(root, f"classifier_{dataset}_{resolution}{suffix}")


def _recipe(meta_path: str) -> str | None:
    with open(meta_path) as f:
        return json.load(f).get("recipe")


def cached_classifier(
    dataset: str,
    resolution: int,
    steps: int = DEFAULT_CLASSIFIER_STEPS,
    data_dir: str | None = None,
    root: str = CLASSIFIER_CACHE,
    announce: Callable[[str], None] = print,
) -> tuple[Classifier, dict, dict]:
    """The evaluation classifier of ``dataset`` at ``resolution``, ``(model, params, meta)``:
    loaded from :func:`classifier_cache_dir`, or trained there on first use
    (:func:`train_and_save_classifier`, announced through ``announce``).

    The first use trains into a sibling folder ``<dir>.incomplete-<pid>`` and renames it
    into place when complete, so a process killed or failing mid-training leaves no folder
    that a later call takes for a classifier (a leftover folder without
    ``classifier.json`` is replaced).  In a multi-process job only the process that
    evaluates (process 0) calls this; :func:`save_classifier` saves process-locally."""
    directory = classifier_cache_dir(dataset, resolution, steps, root)
    meta_path = os.path.join(directory, META_FILE)
    stale = os.path.exists(meta_path) and _recipe(meta_path) != CLASSIFIER_RECIPE
    if stale or not os.path.exists(meta_path):
        why = "an older recipe's is cached" if stale else "none yet"
        announce(f"no classifier for {dataset} ({why}): training one into {directory}")
        partial = f"{directory}.incomplete-{os.getpid()}"
        try:
            train_and_save_classifier(dataset, resolution, partial, steps, data_dir=data_dir)
            shutil.rmtree(directory, ignore_errors=True)  # a leftover without classifier.json
            os.replace(partial, directory)
        finally:
            shutil.rmtree(partial, ignore_errors=True)
    return load_classifier(directory)
