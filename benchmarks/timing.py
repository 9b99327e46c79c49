"""The timing loop the training-step benchmarks share."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from typing import Any

import jax


def time_chunks(
    chunk: Callable[[Any], tuple[Any, Any]], state: Any, length: int, repeats: int
) -> tuple[Any, dict]:
    """Run ``chunk`` (``length`` steps, :func:`gan_jax.training.make_chunk`) once to compile,
    then ``repeats`` timed times; returns the final state and ``compile_s`` (the first
    call minus one chunk at the median rate), ``steps_per_s`` (the median) and ``rates``."""
    start = time.perf_counter()
    state, metrics = chunk(state)
    jax.block_until_ready(metrics)
    first_call = time.perf_counter() - start
    rates = []
    for _ in range(repeats):
        start = time.perf_counter()
        state, metrics = chunk(state)
        jax.block_until_ready(metrics)
        rates.append(length / (time.perf_counter() - start))
    steps_per_s = statistics.median(rates)
    return state, {
        "compile_s": round(first_call - length / steps_per_s, 3),
        "steps_per_s": round(steps_per_s, 3),
        "rates": [round(r, 3) for r in rates],
    }


def report(benchmark: str, config: Any, timing: dict, batch_size: int, state: Any) -> dict:
    """The JSON object a training-step benchmark prints: its name, the model ``config`` (a
    dataclass), the machine, :func:`time_chunks`' numbers, images/s and parameter counts."""
    import dataclasses
    import os

    from gan_jax.models.image_gan import parameter_count

    return {
        "benchmark": benchmark,
        "config": dataclasses.asdict(config),
        "backend": jax.default_backend(),
        "device": str(jax.devices()[0].device_kind),
        "cpu_count": os.cpu_count(),
        "jax": jax.__version__,
        "compile_s": timing["compile_s"],
        "steps_per_s": timing["steps_per_s"],
        "images_per_s": round(timing["steps_per_s"] * batch_size, 1),
        "rates": timing["rates"],
        "params_g": parameter_count(state.g),
        "params_d": parameter_count(state.d),
    }
