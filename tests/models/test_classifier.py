"""The metric's classifier: ≥ 97 % held-out accuracy on digits (≥ 98 % on the embedded
MNIST with the full recipe), a checkpoint that restores exactly, and an evaluator whose
numbers behave on real images."""

from __future__ import annotations

import json
import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from random_inputs import uniform

from experiments.train_classifier import train_and_save
from gan_jax import data
from gan_jax.models.feature_classifier import ClassifierMetrics, load_classifier, random_shift
from gan_jax.training.checkpoint import CheckpointError

pytestmark = pytest.mark.xdist_group("trained_classifier")  # one worker trains it once


# The default recipe's 3,000 steps are a study (≈ 100 s on 2 cores): the default suite
# trains the same recipe (a cosine over the steps) for 200 steps on digits, the slow tests
# the full recipe on digits and on the embedded MNIST.
SHORT_RECIPE_STEPS = 200


@pytest.fixture(scope="session")  # module scope is torn down when xdist interleaves modules
def trained(tmp_path_factory):
    directory = str(tmp_path_factory.mktemp("classifier"))
    metrics = train_and_save("digits", 32, directory, steps=SHORT_RECIPE_STEPS)
    return directory, metrics


def check_held_out_accuracy(directory, metrics, examples=data.DIGITS_TEST_SIZE, bound=0.97):
    assert metrics["test_examples"] == examples
    assert metrics["test_accuracy"] >= bound
    with open(f"{directory}/metrics.json") as f:
        saved = json.load(f)
    assert saved["test_accuracy"] == metrics["test_accuracy"]


@pytest.mark.integration
@pytest.mark.expensive
def test_held_out_accuracy_at_least_97_percent(trained):
    check_held_out_accuracy(*trained)


@pytest.mark.slow
def test_default_recipe_held_out_accuracy_at_least_97_percent(tmp_path):
    directory = str(tmp_path / "classifier")
    check_held_out_accuracy(directory, train_and_save("digits", 32, directory))


@pytest.mark.slow
def test_default_recipe_on_mnist_held_out_accuracy_at_least_98_percent(tmp_path):
    directory = str(tmp_path / "classifier")
    metrics = train_and_save("mnist", 32, directory)
    check_held_out_accuracy(directory, metrics, examples=1000, bound=0.98)


def test_a_cached_classifier_of_an_older_recipe_is_retrained(tmp_path, monkeypatch):
    from gan_jax.models import feature_classifier

    monkeypatch.chdir(tmp_path)
    cache = tmp_path / feature_classifier.classifier_cache_dir("digits", 8, 5)
    feature_classifier.train_and_save_classifier("digits", 8, str(cache), steps=5)
    meta_path = cache / feature_classifier.META_FILE
    meta = json.loads(meta_path.read_text())
    assert meta["recipe"] == feature_classifier.CLASSIFIER_RECIPE
    del meta["recipe"]  # what a cache from before the recipe was recorded holds
    meta_path.write_text(json.dumps(meta))
    said = []
    _, _, fresh = feature_classifier.cached_classifier("digits", 8, 5, announce=said.append)
    assert fresh["recipe"] == feature_classifier.CLASSIFIER_RECIPE
    assert len(said) == 1 and "older recipe" in said[0]
    feature_classifier.cached_classifier("digits", 8, 5, announce=said.append)
    assert len(said) == 1  # the current recipe's cache is reused


@pytest.mark.integration
def test_checkpoint_round_trip_and_metric_sanity(trained):
    directory, _ = trained
    model, params, meta = load_classifier(directory)
    assert meta["num_classes"] == 10 and meta["image_shape"] == [32, 32, 1]
    train_set = data.load_dataset("digits", 32, "train")
    test_set = data.load_dataset("digits", 32, "test")
    measure = ClassifierMetrics(model, params, train_set.images)
    real = measure(test_set.images)
    # Held-out real digits: every class, nearly balanced predictions, small FCD.
    assert real["classes"] == 10 and real["class_kl"] < 0.02
    # One repeated digit: one class, KL near log 10, and a much larger FCD.
    ones = jnp.repeat(test_set.images[test_set.labels == 1][:1], 200, axis=0)
    collapsed = measure(ones)
    assert collapsed["classes"] == 1
    assert collapsed["class_kl"] == pytest.approx(np.log(10), rel=1e-5)
    assert collapsed["fcd"] > 10 * real["fcd"]
    # Pure noise is far from digits too.
    noise = uniform(0, (360, 32, 32, 1), minval=-1.0)
    noisy = measure(noise)
    assert noisy["fcd"] > 10 * real["fcd"]
    # Precision/recall separate quality from coverage: held-out digits have both; the
    # collapsed set keeps some precision (a real digit) but almost no recall; noise has
    # neither.  KID sees the collapse far outside its standard error.
    assert real["precision"] > 0.8 and real["recall"] > 0.8
    assert collapsed["recall"] < 0.05
    assert noisy["precision"] < 0.05 and noisy["recall"] < 0.05
    assert collapsed["kid"] > 20 * collapsed["kid_se"] and collapsed["kid"] > 10 * real["kid"]
    # Density/coverage: held-out digits have density near 1, and a real point's 5-NN ball
    # holds each of M samples from the same distribution with probability ≈ k/N, so the
    # expected coverage is 1 − (1 − k/N)^M (0.72 for M = 360 against N = 1,437); one
    # repeated digit covers at most the few neighbourhoods around it; noise none.  The
    # classifier score: close to the 10 classes for real digits, exactly 1 for one image.
    n, m = train_set.images.shape[0], test_set.images.shape[0]
    assert 0.7 < real["density"] < 1.3
    assert real["coverage"] == pytest.approx(1 - (1 - 5 / n) ** m, abs=0.08)
    assert collapsed["coverage"] < 0.02 and noisy["coverage"] == 0.0 and noisy["density"] == 0.0
    assert real["classifier_score"] > 8.0
    assert collapsed["classifier_score"] == pytest.approx(1.0, abs=1e-4)


def test_missing_classifier_names_the_fix(tmp_path):
    with pytest.raises(CheckpointError, match="experiments.train_classifier"):
        load_classifier(str(tmp_path))


def test_random_shift_is_a_translation():
    image = jnp.zeros((1, 8, 8, 1)).at[0, 3, 4, 0].set(1.0)
    shifted = random_shift(jax.random.key(3), jnp.repeat(image, 64, axis=0), max_shift=2)
    # Every output holds the single bright pixel exactly once, within ±2 of (3, 4).
    ys, xs = np.nonzero(np.asarray(shifted[..., 0]).reshape(64, 8, 8).sum(0))
    assert np.all(np.abs(ys - 3) <= 2) and np.all(np.abs(xs - 4) <= 2)
    assert np.allclose(np.asarray(shifted).sum(axis=(1, 2, 3)), 1.0)
    assert len(set(zip(ys, xs))) > 5


@pytest.mark.integration
def test_the_first_use_cache_never_holds_half_a_classifier(tmp_path, monkeypatch):
    """The runner's first use trains into a sibling folder and renames it into place.  A
    first use that dies mid-training (here: Ctrl-C from inside the training) leaves nothing
    in ``runs/``; what a kill -9 leaves (a ``.incomplete-PID`` folder, or the empty cache
    folder the old code left) is never taken for a classifier: the next run trains again,
    and the folder it fills loads."""
    import argparse

    from gan_jax.models import feature_classifier
    from gan_jax.runner import image_runs as runner

    assert feature_classifier.classifier_cache_dir("digits", 32) == "runs/classifier_digits_32"
    monkeypatch.chdir(tmp_path)
    args = argparse.Namespace(classifier=None, dataset="digits", data_dir=None, classifier_steps=5)

    def dies_mid_training(dataset, resolution, out, *rest, **kwargs):
        (tmp_path / out).mkdir(parents=True)
        (tmp_path / out / "half_written").write_text("partial")
        raise KeyboardInterrupt

    monkeypatch.setattr(feature_classifier, "train_and_save_classifier", dies_mid_training)
    with pytest.raises(KeyboardInterrupt):
        runner.get_classifier(args, 8)
    assert list((tmp_path / "runs").iterdir()) == []

    cache = tmp_path / "runs" / "classifier_digits_8_steps5"
    cache.mkdir()  # the empty folder a crashed first use used to leave
    (tmp_path / "runs" / "classifier_digits_8_steps5.incomplete-1").mkdir()  # kill -9's
    with pytest.raises(CheckpointError, match="no classifier"):
        load_classifier(str(cache))
    monkeypatch.undo()  # the real training from here on
    monkeypatch.chdir(tmp_path)
    _, _, meta = runner.get_classifier(args, 8)
    assert meta["image_shape"] == [8, 8, 1] and meta["steps"] == 5
    assert (cache / "classifier.json").exists()
    assert not any(p.name.endswith(f".incomplete-{os.getpid()}") for p in cache.parent.iterdir())
    # a study names its dataset itself (stacked_mnist: no --dataset flag): the same cache
    study_args = argparse.Namespace(classifier=None, classifier_steps=5)
    assert runner.get_classifier(study_args, 8, dataset="digits")[2] == meta
