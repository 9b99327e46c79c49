"""Checkpoints of arbitrary state pytrees on top of orbax's ``CheckpointManager``.

* **Atomic.** Orbax writes each step into a temporary directory and renames it into place
  only once every file is written, so a crash mid-save never leaves a half checkpoint that
  looks complete.  Saves here are synchronous (``enable_async_checkpointing=False``): when
  :meth:`Checkpointer.save` returns, the step is on disk.  GAN states are small next to a
  training step, and "the last good checkpoint is on disk" is the guarantee the fit loop
  (NaN guard, Ctrl-C) builds on.
* **Keeps the last N** (``max_to_keep``).
* **Bit-exact.** Leaves are stored at full precision; new-style typed PRNG keys
  (``jax.random.key``) are stored as their raw key data and re-wrapped on restore, so
  a restored state continues the exact random stream.
* **Bit rot is detected.** Every step stores a SHA-256 digest of each leaf (its dtype,
  shape and bytes) in orbax's step metadata (``_CHECKPOINT_METADATA``), written inside the
  same temporary directory and renamed with the arrays, so the digests are as atomic as
  the data.  :meth:`Checkpointer.restore` recomputes them and raises
  :class:`CheckpointError` naming the step and the first damaged leaf: orbax's array files
  carry no checksum of their own, and flipped bytes in them otherwise restore silently as
  different numbers.  Hashing costs a small fraction of a save or restore
  (``benchmarks/checkpoint_io.py``; the numbers are on the benchmarks page), against
  minutes of training between checkpoints.
* **Older checkpoints** (written before digests existed) still restore, with one
  :class:`UnverifiedCheckpointWarning` line saying that their integrity cannot be checked;
  refusing them would strand runs that are most likely intact.
* **Falling back.** When the newest step is damaged, the error lists the earlier steps that
  verify, and ``restore(step, ...)`` (the CLIs' ``--resume-from STEP``) continues from one;
  :meth:`Checkpointer.set_aside_after` then moves the newer, abandoned steps out of the
  way (into ``<directory>.abandoned/``) instead of deleting them.
* **Clear errors.** A missing directory, an empty one or an unreadable step raises
  :class:`CheckpointError` with a one-line message that says what to do.
"""

from __future__ import annotations

import gc
import hashlib
import json
import logging
import os
import shutil
import sys
import time
import warnings
from typing import Any, Self

import jax
import numpy as np
import orbax.checkpoint as ocp

from gan_jax.dynamics.game import is_typed_key
from gan_jax.errors import CheckpointError

__all__ = [
    "DIGESTS_KEY",
    "STEP_METADATA_FILE",
    "CheckpointError",
    "Checkpointer",
    "UnverifiedCheckpointWarning",
    "leaf_digests",
    "leaf_path",
    "saved_steps",
]


class UnverifiedCheckpointWarning(UserWarning):
    """A step written before leaf digests existed was restored without an integrity check."""


DIGESTS_KEY = "gan_jax_leaf_sha256"  # in orbax's custom step metadata
STEP_METADATA_FILE = "_CHECKPOINT_METADATA"  # orbax's per-step metadata (JSON)


def leaf_path(path: tuple) -> str:
    """A pytree key path as ``"a/b/0"``: the same string for a state and for the nested
    dicts and lists orbax restores it as, so digests match with or without a template."""
    parts = []
    for entry in path:
        for attribute in ("key", "name", "idx"):
            if hasattr(entry, attribute):
                parts.append(str(getattr(entry, attribute)))
                break
        else:
            parts.append(str(entry))
    return "/".join(parts)


def leaf_digests(tree: Any) -> dict[str, str]:
    """``{leaf_path: sha256(dtype, shape, bytes)}`` of every array leaf (typed PRNG keys as
    their raw key data)."""
    digests = {}
    for path, leaf in jax.tree_util.tree_flatten_with_path(_keys_to_data(tree))[0]:
        array = np.ascontiguousarray(np.asarray(leaf))
        digest = hashlib.sha256(f"{array.dtype.name}{array.shape}".encode())
        digest.update(array.reshape(-1).view(np.uint8))  # bfloat16 has no buffer format
        digests[leaf_path(path)] = digest.hexdigest()
    return digests


def _is_orbax_leftover(unraisable: Any) -> bool:
    """Errors that only the leftovers of a failed orbax restore raise: tensorstore reads
    still in flight call ``call_soon_threadsafe`` on orbax's already closed event loop when
    they finish, and orbax's abandoned read coroutines raise ``GeneratorExit`` when they are
    garbage collected."""
    error, origin = unraisable.exc_value, unraisable.object
    if isinstance(error, RuntimeError) and str(error) == "Event loop is closed":
        return origin is None  # raised from tensorstore's C++ callback, not Python code
    code = getattr(origin, "cr_code", None)
    return code is not None and f"{os.sep}orbax{os.sep}" in code.co_filename


def _collect_orbax_leftovers() -> None:
    """Garbage-collect what a failed orbax restore abandoned (its read tasks and coroutines
    on the closed event loop) now, quietly, instead of at some later collection that would
    print "Task exception was never retrieved" and "coroutine ... was never awaited"."""
    asyncio_log = logging.getLogger("asyncio")
    level = asyncio_log.level
    asyncio_log.setLevel(logging.CRITICAL)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            gc.collect()
    finally:
        asyncio_log.setLevel(level)


def _drop_orbax_leftovers() -> None:
    """Install (once) an ``sys.unraisablehook`` that drops exactly the errors of
    :func:`_is_orbax_leftover` and passes every other one on.

    When orbax's restore fails on a damaged file, it closes its private event loop while
    other reads of the same restore are still running (``asyncio.gather`` does not cancel
    them); they then fail in a tensorstore thread or at garbage collection, which Python
    prints as an "Exception ignored" traceback long after :class:`CheckpointError` has been
    raised cleanly.  Neither that loop nor those reads are reachable from here (orbax
    creates and closes the loop inside one call), so their errors are dropped at the only
    place they surface.
    """
    if getattr(sys.unraisablehook, "_gan_jax", False):
        return
    previous = sys.unraisablehook

    def hook(unraisable: Any) -> None:
        if not _is_orbax_leftover(unraisable):
            previous(unraisable)

    hook._gan_jax = True  # type: ignore[attr-defined]
    sys.unraisablehook = hook


def _keys_to_data(tree: Any) -> Any:
    return jax.tree.map(lambda x: jax.random.key_data(x) if is_typed_key(x) else x, tree)


def _data_to_keys(restored: Any, template: Any) -> Any:
    def rewrap(data: Any, like: Any) -> Any:
        if is_typed_key(like):
            return jax.random.wrap_key_data(data, impl=jax.random.key_impl(like))
        return data

    return jax.tree.map(rewrap, restored, template)


def _restore_target(template: Any) -> Any:
    """Abstract arrays describing ``template`` (with keys as their raw uint32 data)."""
    return jax.tree.map(
        lambda x: (
            jax.ShapeDtypeStruct(np.shape(x), np.asarray(x).dtype)
            if not isinstance(x, jax.Array)
            else jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=x.sharding)
        ),
        _keys_to_data(template),
    )


def saved_steps(directory: str | os.PathLike) -> list[int]:
    """The steps of the finished checkpoints in ``directory`` (ascending; ``[]`` when it does
    not exist), read from the file names alone: orbax names a finished step's folder by the
    step and writes its ``_CHECKPOINT_METADATA`` on commit.  No orbax, no JAX backend, no
    write: what a command checks before it starts (:class:`Checkpointer` reads the same)."""
    directory = os.fspath(directory)
    if not os.path.isdir(directory):
        return []
    return sorted(
        int(name)
        for name in os.listdir(directory)
        if name.isdigit() and os.path.isfile(os.path.join(directory, name, STEP_METADATA_FILE))
    )


class Checkpointer:
    """Save and restore a state pytree by integer step in ``directory``.

    >>> ckpt = Checkpointer("runs/x/checkpoints", max_to_keep=3)
    >>> ckpt.save(100, state)
    >>> state = ckpt.restore(template=state)          # latest step
    """

    def __init__(
        self,
        directory: str | os.PathLike,
        max_to_keep: int = 3,
        create: bool = True,
        process_local: bool = False,
    ):
        """In a multi-process job every process saves and restores a checkpoint together
        (orbax's barriers; process 0 writes the metadata and the replicated arrays).
        ``process_local=True`` is for what one process reads or writes alone, such as the
        evaluation classifier that only process 0 loads."""
        self.directory = os.path.abspath(os.fspath(directory))
        if not create and not os.path.isdir(self.directory):
            raise CheckpointError(
                f"no checkpoint directory at {self.directory}: check the path, or start a "
                "new run without --resume"
            )
        multiprocessing = ocp.options.MultiprocessingOptions()
        if process_local and jax.process_count() > 1:
            me = jax.process_index()
            multiprocessing = ocp.options.MultiprocessingOptions(
                primary_host=me, active_processes={me}, barrier_sync_key_prefix=f"process{me}"
            )
        options = ocp.CheckpointManagerOptions(
            max_to_keep=max_to_keep,
            create=create,
            enable_async_checkpointing=False,
            multiprocessing_options=multiprocessing,
        )
        self._manager = ocp.CheckpointManager(
            self.directory, options=options, item_handlers=ocp.StandardCheckpointHandler()
        )

    def all_steps(self) -> list[int]:
        """Steps with a complete checkpoint, ascending."""
        return sorted(self._manager.all_steps())

    def latest_step(self) -> int | None:
        return self._manager.latest_step()

    def save(self, step: int, state: Any) -> None:
        """Write ``state`` as ``step`` with its leaf digests (overwrites nothing: an existing
        step is kept)."""
        if step in self._manager.all_steps():
            return
        data = _keys_to_data(state)
        self._manager.save(
            step,
            args=ocp.args.StandardSave(data),
            force=True,
            custom_metadata={DIGESTS_KEY: leaf_digests(data)},
        )
        self._manager.wait_until_finished()

    def restore(self, step: int | None = None, template: Any = None) -> Any:
        """Read ``step`` (default: the latest) and verify its leaf digests.

        With ``template`` (a state of the same structure, e.g. a freshly initialised one)
        the result has its exact pytree structure, dtypes and shardings, including optax
        named tuples and typed PRNG keys: a step saved on any mesh or process count
        restores onto the template's.  Without it, nested dicts/lists of arrays on this
        process's first device.
        When the latest step is damaged, the :class:`CheckpointError` lists the earlier
        steps that restore and verify.
        """
        steps = self.all_steps()
        if not steps:
            raise CheckpointError(
                f"no checkpoint in {self.directory}: start a new run without --resume, or "
                "point --workdir at the run to continue"
            )
        if step is not None and step not in steps:
            raise CheckpointError(
                f"no checkpoint for step {step} in {self.directory} (have {steps}): pick one "
                "of those steps"
            )
        try:
            return self._restore_verified(steps[-1] if step is None else step, template)
        except CheckpointError as err:
            earlier = steps[:-1] if step is None else [s for s in steps if s < step]
            intact = self.intact_steps(template, earlier)
            fix = (
                f"intact earlier steps: {intact}; continue from one of them with --resume-from STEP"
                if intact
                else "no earlier step is intact: start a new run"
            )
            raise CheckpointError(f"{err.args[0]}: {fix}") from err

    def _restore_verified(self, step: int, template: Any) -> Any:
        _drop_orbax_leftovers()
        try:
            digests = self._stored_digests(step)
            target = self._local_target(step) if template is None else _restore_target(template)
            restored = self._manager.restore(step, args=ocp.args.StandardRestore(target))
        except Exception as err:  # orbax/tensorstore raise many types for damaged files
            _collect_orbax_leftovers()
            first_line = str(err).strip().splitlines()[0] if str(err).strip() else ""
            raise CheckpointError(
                f"checkpoint step {step} in {self.directory} is unreadable or does not match "
                f"this model ({type(err).__name__}: {first_line[:200]})"
            ) from err
        if digests is None:
            warnings.warn(
                f"checkpoint step {step} in {self.directory} predates leaf digests, so its "
                "integrity cannot be checked; the next save of this run will carry them",
                UnverifiedCheckpointWarning,
                stacklevel=3,
            )
        else:
            actual = leaf_digests(restored)
            for name in sorted(set(digests) | set(actual)):
                if digests.get(name) != actual.get(name):
                    raise CheckpointError(
                        f"checkpoint step {step} in {self.directory} is damaged: leaf "
                        f"{name or '<root>'} does not match the digest stored with it"
                    )
        return restored if template is None else _data_to_keys(restored, template)

    def _local_target(self, step: int) -> Any:
        """The step's arrays as stored, each on this process's first device: a step saved
        on other devices (another mesh, another process count) restores here too."""
        device = jax.sharding.SingleDeviceSharding(jax.local_devices()[0])
        return jax.tree.map(
            lambda leaf: jax.ShapeDtypeStruct(leaf.shape, leaf.dtype, sharding=device),
            self._manager.item_metadata(step).tree,
        )

    def _stored_digests(self, step: int) -> dict[str, str] | None:
        """The step's leaf digests from orbax's step metadata file, or ``None`` for a step
        written before they existed.  A missing or unparsable file is damage (raises)."""
        path = os.path.join(self.directory, str(step), STEP_METADATA_FILE)
        with open(path) as f:
            metadata = json.load(f)
        digests = (metadata.get("custom_metadata") or {}).get(DIGESTS_KEY)
        if digests is not None and not (
            isinstance(digests, dict) and all(isinstance(v, str) for v in digests.values())
        ):
            raise ValueError(f"malformed {DIGESTS_KEY} in {path}")
        return digests

    def intact_steps(self, template: Any = None, steps: list[int] | None = None) -> list[int]:
        """The steps (default: all) that restore into ``template`` and match their digests."""
        intact = []
        for step in self.all_steps() if steps is None else steps:
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", UnverifiedCheckpointWarning)
                    self._restore_verified(step, template)
            except CheckpointError:
                continue
            intact.append(step)
        return intact

    def set_aside_after(self, step: int) -> list[str]:
        """Move every step newer than ``step`` into ``<directory>.abandoned/<step>-<time>``
        (so that a run continued from ``step`` can save those step numbers again) and return
        where they went.  Nothing is deleted.  In a multi-process job, process 0 moves them
        and every process calls this (it ends with a barrier)."""
        moved = []
        later_steps = [s for s in self.all_steps() if s > step]
        if jax.process_index() == 0:
            for later in later_steps:
                target = os.path.join(f"{self.directory}.abandoned", f"{later}-{time.time_ns()}")
                os.makedirs(os.path.dirname(target), exist_ok=True)
                shutil.move(os.path.join(self.directory, str(later)), target)
                moved.append(target)
        if jax.process_count() > 1:
            from jax.experimental import multihost_utils

            multihost_utils.sync_global_devices("gan_jax_checkpoint_set_aside")
        if later_steps:
            self._manager.reload()
        return moved

    def close(self) -> None:
        self._manager.wait_until_finished()
        self._manager.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
