"""Shared fixtures.  Tests run offline, on CPU (CI) or on a GPU.

Numerical precision: tests that compare two numerical forms of one computation run in
float64 (``jax.enable_x64``), so that summation order (CPU vector width, Eigen vs YNNPACK
kernels) cannot flip them.  The rest run at full float32 precision: on GPU, XLA would
otherwise compute float32 matrix products and convolutions in TF32 (a 10-bit mantissa) by
default, so the suite sets ``jax_default_matmul_precision="highest"`` for itself and for
the CLIs it starts (a no-op on CPU).  The library itself keeps JAX's default (README, GPU
section).
"""

from __future__ import annotations

import os
import pathlib
import tempfile

# Several pytest-xdist workers may share one GPU: no worker may take 75 % of its memory.
os.environ.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")
# Most of the suite's time is XLA compiling small programs; LLVM's -O0 halves it (a
# mode-collapse CLI run: 36 s -> 21 s) and changes no result: without fast-math, XLA's
# arithmetic does not depend on the optimisation level, and the suite also passes at the
# default level (README, test-suite section).  Benchmarks, not tests, measure speed.
# GAN_JAX_TEST_XLA_OPT_LEVEL=default keeps XLA's default.
TEST_OPT_LEVEL_FLAG = "--xla_backend_optimization_level=0"
# Resume tests compare states bit for bit.  XLA on a GPU may reduce with atomics and pick
# convolution algorithms by timing (autotuning), so one program can round differently
# from run to run (an H200 run of the suite: two resume tests off by 1 ulp).  Deterministic
# ops and no autotuning make GPU runs repeatable; both flags are no-ops on a CPU.
TEST_GPU_DETERMINISM_FLAGS = "--xla_gpu_deterministic_ops=true --xla_gpu_autotune_level=0"
# XLA's CPU fusion emitters (MLIR) cost more to compile than the older element-wise
# emitter: without them a one-op program compiles in 18 ms instead of 31 ms, and the five
# BatchNorm-GAN scheme steps of test_gan in 17 s instead of 26 s (tests/README.md).  Both
# emitters compute the same IEEE operations without fast-math; a value computed inside
# two different fused programs may round differently (by an ulp), as it may between any
# two programs.  An XLA that no longer knows a flag aborts the process, so on a jaxlib not
# yet verified the flag is probed once per session in a child interpreter (the xdist
# workers inherit the answer).
TEST_FAST_COMPILE_FLAGS = "--xla_cpu_use_fusion_emitters=false"
_PROBED = "GAN_JAX_TEST_FAST_COMPILE_FLAGS"


# jaxlib releases known to accept them (checked by the probe below): these skip the probe,
# which costs a child interpreter (≈ 1.7 s before the workers can start).
FAST_COMPILE_FLAGS_VERIFIED = ("0.10.",)


def _fast_compile_flags() -> str:
    """TEST_FAST_COMPILE_FLAGS if this XLA accepts them, else nothing."""
    if _PROBED not in os.environ:
        from jaxlib.version import __version__ as jaxlib_version  # initialises no backend

        if jaxlib_version.startswith(FAST_COMPILE_FLAGS_VERIFIED):
            os.environ[_PROBED] = TEST_FAST_COMPILE_FLAGS
            return TEST_FAST_COMPILE_FLAGS
        import subprocess
        import sys

        env = dict(os.environ, XLA_FLAGS=TEST_FAST_COMPILE_FLAGS, JAX_PLATFORMS="cpu")
        probe = "import jax; jax.jit(lambda x: x + 1)(1.0).block_until_ready()"
        result = subprocess.run(
            [sys.executable, "-c", probe], check=False, env=env, capture_output=True
        )
        os.environ[_PROBED] = TEST_FAST_COMPILE_FLAGS if result.returncode == 0 else ""
    return os.environ[_PROBED]


_flags = [os.environ.get("XLA_FLAGS", ""), TEST_GPU_DETERMINISM_FLAGS]
if os.environ.get("GAN_JAX_TEST_XLA_OPT_LEVEL", "0") != "default":
    _flags += [TEST_OPT_LEVEL_FLAG, _fast_compile_flags()]
os.environ["XLA_FLAGS"] = " ".join(flag for flag in _flags if flag).strip()

import jax
import pytest

jax.config.update("jax_default_matmul_precision", "highest")

# One persistent compilation cache for the whole session, shared by the in-process tests
# and the CLIs they start: the CLI tests compile the same DCGAN programs many times (a
# small train_dcgan run took 27 s cold and 8 s with a warm cache on 2 cores).  It is a
# fresh directory per session (shared by its xdist workers), so no stale program is reused.
_RUN = os.environ.get("PYTEST_XDIST_TESTRUNUID")
COMPILATION_CACHE = {
    "JAX_COMPILATION_CACHE_DIR": (
        os.path.join(tempfile.gettempdir(), f"gan_jax_test_xla_cache_{_RUN}")
        if _RUN
        else tempfile.mkdtemp(prefix="gan_jax_test_xla_cache_")
    ),
    # every program: a CLI's many small ones (metrics, plotting inputs) add up to seconds
    "JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS": "0",
    "JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES": "0",
}
jax.config.update("jax_compilation_cache_dir", COMPILATION_CACHE["JAX_COMPILATION_CACHE_DIR"])
jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.5)
jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)

REPO_ROOT = pathlib.Path(__file__).resolve().parents[1]


# The two tiers (tests/README.md).  A test is in the integration tier when it is marked
# ``integration`` (training and optimisation runs, fresh interpreters) or ``slow`` (a full
# study), lives in tests/experiments/ (the CLIs), or uses a fixture that starts a CLI or
# trains an evaluation classifier; every other test is a unit test.
INTEGRATION_FIXTURES = frozenset(
    {"subprocess_env", "timed_subprocess_env", "classifier8", "classifier32"}
)
INTEGRATION_FOLDERS = ("experiments",)


def is_integration(item: pytest.Item) -> bool:
    folder = pathlib.Path(str(item.fspath)).parent.name
    return (
        item.get_closest_marker("integration") is not None
        or item.get_closest_marker("slow") is not None
        or folder in INTEGRATION_FOLDERS
        or bool(INTEGRATION_FIXTURES.intersection(getattr(item, "fixturenames", ())))
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark the integration tier (above), so ``-m "not integration"`` selects the unit
    tier alone; then run the ``expensive`` tests (15 s or more on 2 cores) first:
    pytest-xdist hands tests out in collection order, and a long test that starts last
    leaves the other worker idle until it ends.  The sort is stable, so the rest keep
    their order."""
    for item in items:
        if is_integration(item) and item.get_closest_marker("integration") is None:
            item.add_marker(pytest.mark.integration)
    items.sort(key=lambda item: item.get_closest_marker("expensive") is None)


# The compile profile (tests/README.md): with GAN_JAX_TEST_COMPILE_PROFILE=DIR every worker
# counts the XLA programs it compiles (and the seconds spent tracing, lowering and
# compiling) per test, from jax.monitoring's events, and writes DIR/<worker>.json at the
# end; `python tests/compile_profile.py DIR` summarises them.
COMPILE_PROFILE = os.environ.get("GAN_JAX_TEST_COMPILE_PROFILE")
COMPILE_EVENTS = {
    "/jax/core/compile/backend_compile_duration": "compile",
    "/jax/core/compile/jaxpr_trace_duration": "trace",
    "/jax/core/compile/jaxpr_to_mlir_module_duration": "lower",
}
_profile: dict[str, dict[str, float]] = {}
_current = ["(outside tests)"]


def _record_compile_event(event: str, duration: float, **kwargs: object) -> None:
    kind = COMPILE_EVENTS.get(event)
    if kind is None:
        return
    row = _profile.setdefault(
        _current[0], {"programs": 0, "compile": 0.0, "trace": 0.0, "lower": 0.0, "names": {}}
    )
    row[kind] += duration
    if kind == "compile":
        row["programs"] += 1
        names = row.setdefault("names", {})
        name = str(kwargs.get("fun_name", "?"))
        names[name] = names.get(name, 0) + 1


if COMPILE_PROFILE:
    jax.monitoring.register_event_duration_secs_listener(_record_compile_event)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None):
    _current[0] = item.nodeid
    yield
    _current[0] = "(outside tests)"


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if not COMPILE_PROFILE:
        return
    import json

    worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
    os.makedirs(COMPILE_PROFILE, exist_ok=True)
    with open(os.path.join(COMPILE_PROFILE, f"{worker}.json"), "w") as f:
        json.dump(_profile, f, indent=1, sort_keys=True)


@pytest.fixture
def repo_root() -> pathlib.Path:
    return REPO_ROOT


@pytest.fixture
def subprocess_env() -> dict[str, str]:
    """Environment for running experiment CLIs as a user would, from the repo root."""
    env = dict(os.environ)
    env["PYTHONPATH"] = str(REPO_ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    env.setdefault("JAX_PLATFORMS", "cpu")
    env["JAX_DEFAULT_MATMUL_PRECISION"] = "highest"
    env.update(COMPILATION_CACHE)
    return env


@pytest.fixture
def timed_subprocess_env(subprocess_env: dict[str, str]) -> dict[str, str]:
    """:func:`subprocess_env` with XLA's default optimisation level and emitters, for the
    slow tests that hold a CLI to a wall-time bound (at -O0 its compiled programs run
    several times slower)."""
    env = dict(subprocess_env)
    flags = env.get("XLA_FLAGS", "")
    for test_only in (TEST_OPT_LEVEL_FLAG, TEST_FAST_COMPILE_FLAGS):
        flags = flags.replace(test_only, "")
    env["XLA_FLAGS"] = " ".join(flags.split())
    return env


def _tiny_classifier(tmp_path_factory, resolution: int) -> str:
    """A digits classifier trained for 5 steps: enough for CLI tests, whose metrics are
    checked for invariants, not values."""
    from gan_jax.models.feature_classifier import train_and_save_classifier

    directory = str(tmp_path_factory.mktemp(f"classifier{resolution}"))
    train_and_save_classifier("digits", resolution, directory, steps=5)
    return directory


@pytest.fixture(scope="session")
def classifier8(tmp_path_factory) -> str:
    return _tiny_classifier(tmp_path_factory, 8)


@pytest.fixture(scope="session")
def classifier32(tmp_path_factory) -> str:
    return _tiny_classifier(tmp_path_factory, 32)
