"""The hooks of :func:`gan_jax.training.fit`: what a researcher adds to a run without
editing the loop (a metric writer, a custom evaluation, an early stop).

A callback subclasses :class:`Callback` and overrides the hooks it needs.  :func:`fit` calls
them on process 0 only, between chunks of jitted steps, in this order after each chunk:
:meth:`~Callback.on_steps` (every step's losses), :meth:`~Callback.on_evaluation` (when the
run evaluates), :meth:`~Callback.on_samples` (when it draws its sample grid); then the
checkpoint.  A hook that returns ``True`` asks the run to stop: the state of that step is
saved, and :func:`fit` returns with ``stopped_early=True``.  A hook that raises stops the
run at once: nothing of that chunk is saved, so the last good checkpoint is what is on
disk (as for a non-finite loss), and the exception reaches the caller.
:meth:`~Callback.close` is called however the run ends.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

__all__ = ["Callback", "call_all", "close_all"]


class Callback:
    """No-op hooks (module doc); override the ones you need."""

    def on_start(self, workdir: str, step: int, resumed: bool) -> None:
        """The run starts at ``step`` (0, or the restored checkpoint's step)."""

    def on_steps(self, rows: Sequence[Mapping[str, Any]]) -> bool | None:
        """The rows of one chunk, one per step: ``{"step": s, "loss_d": …, "loss_g": …}``."""

    def on_evaluation(self, step: int, numbers: Mapping[str, Any], state: Any) -> bool | None:
        """The evaluator's ``numbers`` at ``step`` (JSON numbers: a non-finite one is a
        string), and the (host-local) state they measure."""

    def on_samples(self, step: int, images: np.ndarray) -> bool | None:
        """The sample grid's images ``(N, H, W, C)`` in ``[-1, 1]`` at ``step``."""

    def close(self) -> None:
        """The run has ended (finished, stopped, interrupted or failed)."""


def call_all(callbacks: Sequence[Callback], hook: str, *args: Any) -> bool:
    """Call ``hook`` on every callback (all of them, even after one asks to stop); whether
    any asked to stop."""
    stop = False
    for callback in callbacks:
        stop = bool(getattr(callback, hook)(*args)) or stop
    return stop


def close_all(callbacks: Sequence[Callback]) -> None:
    """Close every callback; the first error is raised after all were closed."""
    error = None
    for callback in callbacks:
        try:
            callback.close()
        except Exception as err:  # noqa: BLE001 — close the others first
            error = error or err
    if error is not None:
        raise error
