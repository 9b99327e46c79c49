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
    """Run ``chunk`` (``length`` steps, :func:`gan_jax.train.make_chunk`) once to compile,
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
