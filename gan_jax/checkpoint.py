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
* **Clear errors.** A missing directory, an empty one or an unreadable step raises
  :class:`CheckpointError` with a one-line message that says what to do.
"""

from __future__ import annotations

import os
import sys
from typing import Any

import jax
import numpy as np
import orbax.checkpoint as ocp

from gan_jax.dynamics.game import is_typed_key

if sys.version_info >= (3, 11):
    from typing import Self
else:  # pragma: no cover
    from typing_extensions import Self


class CheckpointError(RuntimeError):
    """A checkpoint directory is missing, empty or unreadable."""


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


class Checkpointer:
    """Save and restore a state pytree by integer step in ``directory``.

    >>> ckpt = Checkpointer("runs/x/checkpoints", max_to_keep=3)
    >>> ckpt.save(100, state)
    >>> state = ckpt.restore(template=state)          # latest step
    """

    def __init__(self, directory: str | os.PathLike, max_to_keep: int = 3, create: bool = True):
        self.directory = os.path.abspath(os.fspath(directory))
        if not create and not os.path.isdir(self.directory):
            raise CheckpointError(
                f"no checkpoint directory at {self.directory}: check the path, or start a "
                "new run without --resume"
            )
        options = ocp.CheckpointManagerOptions(
            max_to_keep=max_to_keep, create=create, enable_async_checkpointing=False
        )
        self._manager = ocp.CheckpointManager(self.directory, options=options)

    def all_steps(self) -> list[int]:
        """Steps with a complete checkpoint, ascending."""
        return sorted(self._manager.all_steps())

    def latest_step(self) -> int | None:
        return self._manager.latest_step()

    def save(self, step: int, state: Any) -> None:
        """Write ``state`` as ``step`` (overwrites nothing: an existing step is kept)."""
        if step in self._manager.all_steps():
            return
        self._manager.save(step, args=ocp.args.StandardSave(_keys_to_data(state)), force=True)
        self._manager.wait_until_finished()

    def restore(self, step: int | None = None, template: Any = None) -> Any:
        """Read ``step`` (default: the latest).

        With ``template`` (a state of the same structure, e.g. a freshly initialised one)
        the result has its exact pytree structure, dtypes and shardings, including optax
        named tuples and typed PRNG keys.  Without it, nested dicts/lists of arrays.
        """
        steps = self.all_steps()
        if not steps:
            raise CheckpointError(
                f"no checkpoint in {self.directory}: start a new run without --resume, or "
                "point --workdir at the run to continue"
            )
        if step is None:
            step = steps[-1]
        elif step not in steps:
            raise CheckpointError(
                f"no checkpoint for step {step} in {self.directory} (have {steps}): pick one "
                "of those steps"
            )
        try:
            if template is None:
                return self._manager.restore(step)
            restored = self._manager.restore(
                step, args=ocp.args.StandardRestore(_restore_target(template))
            )
        except Exception as err:  # orbax/tensorstore raise many types for damaged files
            first_line = str(err).strip().splitlines()[0] if str(err).strip() else ""
            raise CheckpointError(
                f"checkpoint step {step} in {self.directory} is unreadable or does not match "
                f"this model ({type(err).__name__}: {first_line[:200]}): delete that step's "
                "directory to fall back to an earlier one, or start a new run"
            ) from err
        return _data_to_keys(restored, template)

    def close(self) -> None:
        self._manager.wait_until_finished()
        self._manager.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
