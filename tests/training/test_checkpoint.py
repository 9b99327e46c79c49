"""Checkpoint round trips are bit-exact, keep the last N, are atomic, and fail clearly."""

from __future__ import annotations

import json
import os
import shutil
from unittest import mock

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from gan_jax.nets.mlp import MLPDiscriminator
from gan_jax.nets.variables import init_variables
from gan_jax.training.checkpoint import (
    DIGESTS_KEY,
    STEP_METADATA_FILE,
    Checkpointer,
    CheckpointError,
    UnverifiedCheckpointWarning,
    leaf_digests,
)

# A refused checkpoint must not leave orbax's in-flight reads to print "Exception ignored"
# tracebacks later (issue 21): any such unraisable exception fails these tests.
pytestmark = [
    pytest.mark.filterwarnings("error::pytest.PytestUnraisableExceptionWarning"),
    pytest.mark.integration,  # checkpoints on disk (tests/README.md)
]


@jax.jit  # one program for the whole state (op by op it compiled ≈ 50 small ones)
def _make_state(key: jax.Array) -> dict:
    disc = MLPDiscriminator(width=16, depth=2)
    params = init_variables(disc, key, jnp.zeros((1, 2)))
    opt = optax.adam(1e-3)
    opt_state = opt.init(params)
    # Take one real step so the Adam moments and count are non-trivial.
    grads = jax.tree.map(lambda p: jnp.sin(p * 3.0 + 1.0), params)
    _, opt_state = opt.update(grads, opt_state, params)
    return {
        "params": params,
        "opt_state": opt_state,
        "ema": jax.tree.map(lambda p: (p * 0.3).astype(jnp.bfloat16), params),
    }


def make_state(seed: int = 0):
    return {
        **_make_state(jax.random.key(seed)),
        "key": jax.random.key(seed + 100),
        "raw_key": jax.random.PRNGKey(seed + 200),
        "step": jnp.int32(17),
    }


def leaves_as_numpy(tree):
    def to_np(x):
        if isinstance(x, jax.Array) and jax.dtypes.issubdtype(x.dtype, jax.dtypes.prng_key):
            return np.asarray(jax.random.key_data(x))
        return np.asarray(x)

    return [to_np(x) for x in jax.tree.leaves(tree)]


def test_round_trip_is_bit_exact(tmp_path):
    state = make_state()
    with Checkpointer(tmp_path / "ckpt") as ckpt:
        ckpt.save(5, state)
    restored = Checkpointer(tmp_path / "ckpt", create=False).restore(template=make_state(seed=1))
    assert jax.tree.structure(restored) == jax.tree.structure(state)
    for got, want in zip(leaves_as_numpy(restored), leaves_as_numpy(state)):
        assert got.dtype == want.dtype and got.shape == want.shape
        assert got.tobytes() == want.tobytes()
    # The restored typed key continues the exact random stream.
    np.testing.assert_array_equal(
        jax.random.normal(restored["key"], (4,)), jax.random.normal(state["key"], (4,))
    )
    assert isinstance(restored["opt_state"][0], optax.ScaleByAdamState)


def test_keeps_the_last_n(tmp_path):
    ckpt = Checkpointer(tmp_path, max_to_keep=2)
    for step in (10, 20, 30):
        ckpt.save(step, make_state(step))
    assert ckpt.all_steps() == [20, 30] and ckpt.latest_step() == 30
    restored = ckpt.restore(20, template=make_state())
    assert leaves_as_numpy(restored)[0].tobytes() == leaves_as_numpy(make_state(20))[0].tobytes()


def test_a_crash_during_save_leaves_the_previous_checkpoint(tmp_path):
    from orbax.checkpoint._src.path import atomicity

    ckpt = Checkpointer(tmp_path)
    ckpt.save(1, make_state(1))

    def crash(*args, **kwargs):
        raise OSError("simulated crash before the atomic rename")

    with (
        mock.patch.object(atomicity.AtomicRenameTemporaryPath, "finalize", crash),
        pytest.raises(OSError),
    ):
        ckpt.save(2, make_state(2))
    reopened = Checkpointer(tmp_path)
    assert reopened.all_steps() == [1]
    restored = reopened.restore(template=make_state())
    assert leaves_as_numpy(restored)[0].tobytes() == leaves_as_numpy(make_state(1))[0].tobytes()


def test_missing_directory(tmp_path):
    with pytest.raises(CheckpointError, match="no checkpoint directory"):
        Checkpointer(tmp_path / "nope", create=False)


def test_empty_directory(tmp_path):
    with pytest.raises(CheckpointError, match="no checkpoint in"):
        Checkpointer(tmp_path).restore(template=make_state())


def test_unknown_step(tmp_path):
    ckpt = Checkpointer(tmp_path)
    ckpt.save(3, make_state())
    with pytest.raises(CheckpointError, match="have \\[3\\]"):
        ckpt.restore(4, template=make_state())


@pytest.mark.parametrize("damage", ["metadata", "array_data", "truncate"])
def test_corrupt_checkpoint(tmp_path, damage):
    ckpt = Checkpointer(tmp_path)
    ckpt.save(7, make_state())
    files = [os.path.join(root, f) for root, _, names in os.walk(tmp_path / "7") for f in names]
    if damage == "metadata":
        targets = [f for f in files if os.path.basename(f) in ("_METADATA", "_CHECKPOINT_METADATA")]
    else:
        targets = [
            f for f in files if "ocdbt.process" in f or os.path.basename(f) == "manifest.ocdbt"
        ]
    assert targets
    for path in targets:
        if damage == "truncate":
            open(path, "wb").close()
        else:
            with open(path, "wb") as f:
                f.write(b"\x00garbage\xff" * 3)
    with pytest.raises(CheckpointError, match="unreadable"):
        Checkpointer(tmp_path).restore(template=make_state())


def test_mismatched_template_is_a_clear_error(tmp_path):
    ckpt = Checkpointer(tmp_path)
    ckpt.save(1, {"w": jnp.ones((3,))})
    with pytest.raises(CheckpointError):
        ckpt.restore(template={"w": jnp.ones((3,)), "extra": jnp.zeros(2)})


def step_files(directory, step) -> list[str]:
    return sorted(
        os.path.join(root, name)
        for root, _, names in os.walk(os.path.join(directory, str(step)))
        for name in names
    )


def flip_bytes(path: str, count: int = 3) -> None:
    """XOR ``count`` bytes spread evenly over the file (the first, the last, between)."""
    with open(path, "r+b") as f:
        data = bytearray(f.read())
        for i in range(count):
            position = (len(data) - 1) * i // max(count - 1, 1)
            data[position] ^= 0xFF
        f.seek(0)
        f.write(data)


def test_bit_rot_in_any_file_restores_exactly_or_raises(tmp_path):
    """Flip bytes in each file of a step, one file at a time: the restore is bit-exact or
    a CheckpointError, never different numbers."""
    state = make_state()
    want = leaves_as_numpy(state)
    ckpt = Checkpointer(tmp_path / "clean")
    ckpt.save(3, state)
    files = step_files(tmp_path / "clean", 3)
    data_files = [f for f in files if f"{os.sep}d{os.sep}" in f]
    assert data_files and len(files) > len(data_files)
    outcomes = {}
    for index, original in enumerate(files):
        run = tmp_path / f"damaged_{index}"
        shutil.copytree(tmp_path / "clean", run)
        flip_bytes(os.path.join(run, os.path.relpath(original, tmp_path / "clean")))
        try:
            restored = Checkpointer(run, create=False).restore(template=make_state(seed=1))
        except CheckpointError:
            outcomes[original] = "refused"
            continue
        got = leaves_as_numpy(restored)
        assert all(a.tobytes() == b.tobytes() for a, b in zip(got, want)), original
        outcomes[original] = "exact"
    # Some array-data files are never read (orbax keeps the per-process OCDBT files beside
    # the merged one), so "exact" is right for them; the ones that are read are refused.
    assert "refused" in {outcomes[f] for f in data_files}


def test_the_damaged_leaf_is_named(tmp_path):
    ckpt = Checkpointer(tmp_path)
    ckpt.save(1, {"w": jnp.arange(4096.0)})
    (largest,) = sorted(
        (f for f in step_files(tmp_path, 1) if f"{os.sep}d{os.sep}" in f), key=os.path.getsize
    )[-1:]
    # Flip bytes in the middle of the array's bytes only, where no decoder notices.
    with open(largest, "r+b") as f:
        data = bytearray(f.read())
        data[len(data) // 2] ^= 0x01
        f.seek(0)
        f.write(data)
    with pytest.raises(CheckpointError, match="step 1 .* is damaged: leaf w does not match"):
        ckpt.restore(template={"w": jnp.zeros(4096)})


def test_damaged_newest_step_lists_the_intact_ones_and_resume_from_falls_back(tmp_path):
    ckpt = Checkpointer(tmp_path / "ckpt", max_to_keep=5)
    for step in (10, 20, 30):
        ckpt.save(step, make_state(step))
    for path in step_files(tmp_path / "ckpt", 30):
        if f"{os.sep}d{os.sep}" in path:
            flip_bytes(path)
    with pytest.raises(CheckpointError, match=r"step 30 .*intact earlier steps: \[10, 20\]"):
        ckpt.restore(template=make_state())
    assert ckpt.intact_steps(make_state()) == [10, 20]
    restored = ckpt.restore(20, template=make_state())
    assert leaves_as_numpy(restored)[0].tobytes() == leaves_as_numpy(make_state(20))[0].tobytes()
    moved = ckpt.set_aside_after(20)
    assert ckpt.all_steps() == [10, 20] and len(moved) == 1 and os.path.isdir(moved[0])
    assert os.path.dirname(moved[0]) == str(tmp_path / "ckpt") + ".abandoned"
    ckpt.save(30, make_state(31))  # the step number is free again
    assert leaves_as_numpy(ckpt.restore(template=make_state()))[0].tobytes() == (
        leaves_as_numpy(make_state(31))[0].tobytes()
    )


def test_a_checkpoint_without_digests_restores_with_one_warning(tmp_path):
    state = make_state()
    Checkpointer(tmp_path).save(4, state)
    metadata_path = tmp_path / "4" / STEP_METADATA_FILE
    metadata = json.loads(metadata_path.read_text())
    del metadata["custom_metadata"][DIGESTS_KEY]  # as written before digests existed
    metadata_path.write_text(json.dumps(metadata))
    with pytest.warns(UnverifiedCheckpointWarning, match="predates leaf digests") as record:
        restored = Checkpointer(tmp_path, create=False).restore(template=make_state(seed=1))
    assert len(record) == 1
    assert all(
        a.tobytes() == b.tobytes()
        for a, b in zip(leaves_as_numpy(restored), leaves_as_numpy(state))
    )


def test_digests_match_with_and_without_a_template(tmp_path):
    state = make_state()
    Checkpointer(tmp_path).save(2, state)
    raw = Checkpointer(tmp_path, create=False).restore()  # verified against the same digests
    assert leaf_digests(raw) == leaf_digests(state)
