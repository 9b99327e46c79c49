"""The engine: the pure step machinery, the host loop, checkpoints and multi-device runs.

* :mod:`~gan_jax.training.steps`: :func:`make_train_step`, :class:`PeriodicStep`,
  :func:`make_chunk`, :func:`chunk_lengths`, :func:`learning_rate_schedule`,
  :func:`init_state` (pure; no disk, no plotting, no flags);
* :mod:`~gan_jax.training.loop`: :func:`fit`, the host loop that never loses work
  (chunks, NaN guard, atomic checkpoints, Ctrl-C, exact resume), and :func:`minimize`;
* :mod:`~gan_jax.training.logs`: the run's ``metrics.jsonl``;
* :mod:`~gan_jax.training.checkpoint`, :mod:`~gan_jax.training.parallel` and
  :mod:`~gan_jax.training.launch`: orbax checkpoints, ``jax.sharding`` data parallelism
  and the multi-process launcher.

Each name of ``__all__`` is imported from its module on first use, so
``gan_jax.training.steps`` alone loads no orbax.  ``gan_jax.train`` (the name before the
package existed) is this package.
"""

from __future__ import annotations

import importlib
from typing import Any

_HOMES = {
    "steps": (
        "LR_SCHEDULES",
        "BatchFn",
        "Metrics",
        "PeriodicStep",
        "StepFn",
        "chunk_lengths",
        "init_state",
        "learning_rate_schedule",
        "make_chunk",
        "make_train_step",
        "step_runner",
    ),
    "loop": (
        "CHECKPOINT_DIR",
        "FitConfig",
        "FitFigures",
        "FitResult",
        "NonFiniteLossError",
        "first_non_finite",
        "fit",
        "minimize",
        "stop_requests",
    ),
    "logs": ("METRICS_FILE", "json_number", "loss_curves", "read_metrics", "truncate_metrics"),
    "xla": ("XLA_CPU_OPTIONS", "step_compiler_options"),
}
_MODULE_OF = {name: module for module, names in _HOMES.items() for name in names}
_SUBMODULES = ("checkpoint", "launch", "logs", "loop", "parallel", "steps")

__all__ = [
    "CHECKPOINT_DIR",
    "LR_SCHEDULES",
    "METRICS_FILE",
    "XLA_CPU_OPTIONS",
    "BatchFn",
    "FitConfig",
    "FitFigures",
    "FitResult",
    "Metrics",
    "NonFiniteLossError",
    "PeriodicStep",
    "StepFn",
    "checkpoint",
    "chunk_lengths",
    "first_non_finite",
    "fit",
    "init_state",
    "json_number",
    "launch",
    "learning_rate_schedule",
    "logs",
    "loop",
    "loss_curves",
    "make_chunk",
    "make_train_step",
    "minimize",
    "parallel",
    "read_metrics",
    "step_compiler_options",
    "step_runner",
    "steps",
    "stop_requests",
    "truncate_metrics",
]


def __getattr__(name: str) -> Any:
    if name in _SUBMODULES:
        return importlib.import_module(f"{__name__}.{name}")
    if name in _MODULE_OF:
        home = _MODULE_OF[name]
        module = "gan_jax.xla_options" if home == "xla" else f"{__name__}.{home}"
        return getattr(importlib.import_module(module), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
