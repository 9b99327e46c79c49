"""The engine: the pure step machinery, the host loop, checkpoints and multi-device runs.

* :mod:`~gan_jax.training.steps`: :func:`make_train_step`, :class:`PeriodicStep`,
  :func:`make_chunk`, :func:`chunk_lengths`, :func:`learning_rate_schedule`,
  :func:`init_state` (pure; no disk, no plotting, no flags);
* :mod:`~gan_jax.training.loop`: :func:`fit`, the host loop that never loses work
  (chunks, NaN guard, atomic checkpoints, Ctrl-C, exact resume), and :func:`minimize`;
* :mod:`~gan_jax.training.logs`: the run's ``metrics.jsonl``;
* :mod:`~gan_jax.training.callbacks` and :mod:`~gan_jax.training.writers`: :func:`fit`'s
  hooks (:class:`Callback`) and the metric writers on them (``metrics.jsonl``,
  TensorBoard, W&B);
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

# Where the names of ``__all__`` live, searched in this order on first use: the pure steps
# before the host loop, so ``training.make_train_step`` loads no orbax.  Each module's own
# ``__all__`` says what it exports (a test holds ``__all__`` below to their union).
_HOMES = (
    f"{__name__}.steps",
    f"{__name__}.logs",
    "gan_jax.xla_options",
    f"{__name__}.callbacks",
    f"{__name__}.writers",
    f"{__name__}.loop",
)
_SUBMODULES = (
    "callbacks", "checkpoint", "launch", "logs", "loop", "parallel", "steps", "writers",
)  # fmt: skip

__all__ = [
    "CHECKPOINT_DIR",
    "LR_SCHEDULES",
    "METRICS_FILE",
    "WRITERS",
    "XLA_CPU_OPTIONS",
    "BatchFn",
    "Callback",
    "FitConfig",
    "FitFigures",
    "FitResult",
    "JsonlWriter",
    "Metrics",
    "NonFiniteLossError",
    "PeriodicStep",
    "StepFn",
    "TensorBoardWriter",
    "WandbWriter",
    "call_all",
    "callbacks",
    "checkpoint",
    "chunk_lengths",
    "close_all",
    "first_non_finite",
    "fit",
    "full_optimization_options",
    "image_grid",
    "init_state",
    "json_number",
    "launch",
    "learning_rate_schedule",
    "logs",
    "loop",
    "loss_curves",
    "make_chunk",
    "make_train_step",
    "make_writers",
    "minimize",
    "parallel",
    "read_metrics",
    "step_compiler_options",
    "step_runner",
    "steps",
    "stop_requests",
    "truncate_metrics",
    "writers",
    "writers_flag",
]


def __getattr__(name: str) -> Any:
    if name in _SUBMODULES:
        return importlib.import_module(f"{__name__}.{name}")
    if name in __all__:
        for home in _HOMES:
            module = importlib.import_module(home)
            if name in module.__all__:
                return getattr(module, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
