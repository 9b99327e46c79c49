"""Throughput of the mode-collapse study's training program (prints JSON).

For each ``setup/method`` pair: the chunk program the study compiles (``--seeds`` seeds
under ``vmap``, ``--steps`` steps inside one ``lax.scan``, real samples and latents drawn
on device, G's average updated every step), timed after compilation: compile seconds (all
of the method's programs), steps/s for all seeds together, seed-steps/s, and the time
the setup's full training length would take at that rate.  Coverage scoring is left out
(it runs once per snapshot).

    python -m benchmarks.mode_collapse_step
    python -m benchmarks.mode_collapse_step --runs pacgan/pacgan4 --steps 2000
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Sequence

import jax

from experiments import mode_collapse
from gan_jax import cli

DEFAULT_RUNS = (
    "default/vanilla_alt",
    "default/pacgan4",
    "default/unrolled5",
    "pacgan/vanilla_alt",
    "pacgan/pacgan4",
    "unrolled/unrolled5",
)


def time_run(setup: str, method: str, steps: int, seeds: int, repeats: int) -> dict:
    """Compile seconds and steps/s of the study's chunk program (``steps`` steps of
    ``seeds`` vmapped seeds), as :func:`gan_jax.studies.mode_collapse.compile_method` builds it."""
    args = mode_collapse.parse_args(
        ["--setup", setup, "--steps", str(steps), "--snapshots", "1", "--seeds", str(seeds)]
    )
    spec = mode_collapse.method_for(method, args)
    mixture = mode_collapse.mixture_for("ring", mode_collapse.SETUPS[setup])
    tic = time.perf_counter()
    program = mode_collapse.compile_method(mixture, spec, args)
    compile_s = time.perf_counter() - tic
    state = program.init(program.keys[0])
    chunk = program.chunks[steps]
    best = float("inf")
    for _ in range(repeats):
        tic = time.perf_counter()
        state, out = chunk(state, 0)
        jax.block_until_ready(out)
        best = min(best, time.perf_counter() - tic)
    return {
        "run": f"{setup}/{method}",
        "batch": args.batch_size * spec.pack,
        "seeds": seeds,
        "compile_s": round(compile_s, 2),
        "steps_per_s": round(steps / best, 1),
        "seed_steps_per_s": round(seeds * steps / best, 1),
        "study_length_steps": mode_collapse.SETUPS[setup].steps,
        "study_length_s": round(mode_collapse.SETUPS[setup].steps * best / steps, 1),
    }


def main(argv: Sequence[str] | None = None) -> list[dict]:
    parser = cli.ArgumentParser(prog="python -m benchmarks.mode_collapse_step")
    parser.add_argument("--runs", nargs="+", default=list(DEFAULT_RUNS), help="setup/method")
    parser.add_argument("--steps", type=cli.positive_int, default=1000)
    parser.add_argument("--seeds", type=cli.positive_int, default=5)
    parser.add_argument("--repeats", type=cli.positive_int, default=2)
    args = parser.parse_args(argv)
    rows = []
    for run in args.runs:
        setup, method = run.split("/")
        row = time_run(setup, method, args.steps, args.seeds, args.repeats)
        row.update(backend=jax.default_backend(), cpu_count=os.cpu_count(), jax=jax.__version__)
        print(json.dumps(row), flush=True)
        rows.append(row)
    return rows


if __name__ == "__main__":
    main()
