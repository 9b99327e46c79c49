"""What every experiment CLI shares: an argument parser whose errors are one line,
a ``main`` wrapper that turns user errors into one line and a non-zero exit, and
``metrics.json`` writing.

A *user error* is anything the user can fix by changing the command: a bad flag, an unknown
dataset, a missing or corrupt checkpoint, ``--tpu`` without a TPU.  It exits with status 2
and a single ``error: …`` line on stderr that names the fix, never a traceback.  Bugs still
raise with a full traceback.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import os
import sys
import tempfile
import traceback
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, NoReturn

import numpy as np

from gan_jax.errors import USER_ERRORS, UserError

__all__ = [
    "INTERRUPTED_EXIT_CODE",
    "USER_ERROR_EXIT_CODE",
    "ArgumentParser",
    "UserError",
    "add_toy_device_flag",
    "check_writable_directory",
    "choice",
    "decay_rate",
    "existing_directory",
    "fail",
    "momentum",
    "non_negative_float",
    "non_negative_int",
    "output_directory",
    "positive_float",
    "positive_int",
    "probability",
    "run_main",
    "toy_device",
    "user_errors",
    "write_metrics",
]

USER_ERROR_EXIT_CODE = 2
INTERRUPTED_EXIT_CODE = 130  # a run stopped by Ctrl-C/SIGTERM after saving its state
# what a collective's error says when another process of the job went away
PEER_LOSS_MARKERS = ("Connection reset by peer", "Connection closed by peer", "Gloo")


def user_errors() -> tuple[type[BaseException], ...]:
    """The exception types that are user errors (:data:`gan_jax.errors.USER_ERRORS`):
    :class:`UserError`, unknown or unavailable datasets, missing or damaged checkpoints."""
    return USER_ERRORS


def fail(message: str) -> NoReturn:
    """Print ``error: message`` as one line on stderr and exit with status 2."""
    print(f"error: {' '.join(message.split())}", file=sys.stderr)
    raise SystemExit(USER_ERROR_EXIT_CODE)


class _DefaultsHelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Shows each flag's default, except ``None``: a flag that falls back on something
    else (a setup's value) says so in its own help."""

    def _get_help_string(self, action: argparse.Action) -> str:
        if action.default is None:
            return action.help or ""
        return super()._get_help_string(action)


class ArgumentParser(argparse.ArgumentParser):
    """``argparse`` with a one-line error that points at ``--help`` instead of a usage dump,
    and every flag's default in ``--help`` (but ``None``), also for a flag declared without
    a help text (argparse prints nothing at all for those)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("formatter_class", _DefaultsHelpFormatter)
        super().__init__(*args, **kwargs)

    def add_argument(self, *args: Any, **kwargs: Any) -> argparse.Action:
        action = super().add_argument(*args, **kwargs)
        if not action.help and action.default not in (None, argparse.SUPPRESS):
            action.help = "(default: %(default)s)"
        return action

    def error(self, message: str) -> NoReturn:
        fail(f"{message} (run with --help to see the valid flags)")


def run_main(
    main: Callable[[Sequence[str] | None], Any], argv: Sequence[str] | None = None
) -> None:
    """Run an experiment's ``main(argv)``, mapping :func:`user_errors` to :func:`fail`.

    In a multi-controller job (:func:`gan_jax.training.parallel.initialize_distributed`), a process
    that fails leaves at once with its status (``_exit_now``); one that was interrupted
    after saving (status 130, every process stops at the same step) exits normally.

    orbax logs damaged checkpoints through absl before raising; the CLI reports them itself
    as one :class:`CheckpointError` line, so absl's log lines are silenced here.
    """
    logging.getLogger("absl").setLevel(logging.CRITICAL)
    try:
        try:
            main(argv)
        except user_errors() as err:
            fail(str(err))
    except SystemExit as stop:
        if stop.code not in (None, 0, INTERRUPTED_EXIT_CODE) and _in_distributed_job():
            _exit_now(stop.code if isinstance(stop.code, int) else 1)
        raise
    except KeyboardInterrupt:
        if _in_distributed_job():
            _exit_now(INTERRUPTED_EXIT_CODE)
        raise
    except BaseException as err:
        if _in_distributed_job():
            if _lost_a_peer(err):
                first = str(err).strip().splitlines()[0][:300] if str(err).strip() else ""
                print(
                    "error: lost the connection to another process of this job, which has "
                    f"probably died (see its output; {first}); restart from the last "
                    "checkpoint with --resume",
                    file=sys.stderr,
                )
            else:
                traceback.print_exc()
            _exit_now(1)
        raise


def _lost_a_peer(error: BaseException) -> bool:
    """Whether ``error`` is a collective failing because another process went away."""
    return any(marker in str(error) for marker in PEER_LOSS_MARKERS)


def _in_distributed_job() -> bool:
    jax = sys.modules.get("jax")
    return jax is not None and jax.distributed.is_initialized()


def _exit_now(code: int) -> NoReturn:
    """Leave a multi-controller job at once.  A normal exit would run JAX's shutdown, a
    barrier that waits for every other process, and those may be blocked in a collective
    waiting for this one: both would hang.  Exiting without it lets the others see this
    process die (the launcher, or JAX's heartbeat timeout, then stops them)."""
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def _bounded(
    name: str, convert: Callable[[str], Any], accept: Callable[[Any], bool], requirement: str
) -> Callable[[str], Any]:
    """An argparse type named ``name`` (argparse's "invalid NAME value" for text that
    ``convert`` rejects) whose values must pass ``accept``, else "must be REQUIREMENT"."""

    def parse(text: str) -> Any:
        value = convert(text)
        if not accept(value):
            raise argparse.ArgumentTypeError(f"must be {requirement}, got {text}")
        return value

    parse.__name__ = name
    parse.__doc__ = f"``{name}``: the flag's text as a number that is {requirement}."
    return parse


# argparse types for the ranges of numeric flags, one per range
positive_int = _bounded("positive_int", int, lambda v: v >= 1, "a positive integer")
non_negative_int = _bounded("non_negative_int", int, lambda v: v >= 0, "an integer ≥ 0")
positive_float = _bounded(
    "positive_float", float, lambda v: v > 0 and math.isfinite(v), "a positive number"
)
# a penalty weight, a noise scale
non_negative_float = _bounded(
    "non_negative_float", float, lambda v: v >= 0 and math.isfinite(v), "a finite number ≥ 0"
)
# Adam's β₁ and β₂, an EMA's β: at 1 the average never moves (Adam's bias correction
# divides by zero)
decay_rate = _bounded("decay_rate", float, lambda v: 0 <= v < 1, "in [0, 1)")
probability = _bounded("probability", float, lambda v: 0 <= v <= 1, "in [0, 1]")
# heavy-ball momentum, negative momentum included (Gidel et al. 2019, arXiv:1807.04740)
momentum = _bounded("momentum", float, lambda v: -1 < v < 1, "in (-1, 1)")


def choice(flag: str, choices: Sequence[str]) -> Callable[[str], str]:
    """argparse type of a flag that takes one of ``choices``: its error names them all
    (``unknown --loss 'foo'; choose one of: ns, …``), at parse time, before any work."""

    def parse(text: str) -> str:
        if text not in choices:
            raise argparse.ArgumentTypeError(
                f"unknown --{flag} {text!r}; choose one of: {', '.join(choices)}"
            )
        return text

    parse.__name__ = f"--{flag}"
    return parse


def _unwritable(target: str) -> str | None:
    """Why a run cannot write a directory at the absolute path ``target``, or ``None``.

    It can where ``target`` is an existing directory that accepts a new file, or where its
    nearest existing ancestor is such a directory (``target`` is created later).  Whether a
    file can be created is seen by creating and removing one temporary file: the only way
    to see a read-only file system, or an ACL when running as root.  No directory is made.
    """
    existing = target
    while not os.path.exists(existing):
        existing = os.path.dirname(existing)
    if not os.path.isdir(existing):
        return "is a file" if existing == target else f"is inside the file {existing}"
    try:
        with tempfile.TemporaryFile(dir=existing):
            pass
    except OSError as err:
        where = "" if existing == target else f" (its nearest existing folder {existing})"
        return f"is not writable{where}: {err.strerror}"
    return None


def check_writable_directory(path: str | os.PathLike, flag: str) -> str:
    """``path`` made absolute, or a :class:`UserError` naming ``flag`` when a run could not
    write a directory there (see ``_unwritable``)."""
    target = os.path.abspath(os.fspath(path))
    reason = _unwritable(target)
    if reason is not None:
        raise UserError(f"{flag} {path} {reason}: pass a writable directory")
    return target


def output_directory(text: str) -> str:
    """argparse type of ``--out`` and ``--workdir``: a directory a run can write (it need not
    exist yet).  Checked at parse time, so an unwritable path fails before any work."""
    reason = _unwritable(os.path.abspath(text))
    if reason is not None:
        raise argparse.ArgumentTypeError(f"{text} {reason}: pass a writable directory")
    return text


def existing_directory(text: str) -> str:
    """argparse type of ``--data-dir``: a directory that exists (a tool that reads from it
    must not create it by accident)."""
    if not os.path.isdir(text):
        raise argparse.ArgumentTypeError(
            f"{text} is not a directory: create it first, or pass a prepared data directory"
        )
    return text


TOY_DEVICES = ("cpu", "default")


def add_toy_device_flag(parser: argparse.ArgumentParser) -> None:
    """``--device cpu|default`` for CLIs whose games are scalars or tiny arrays."""
    parser.add_argument(
        "--device",
        choices=TOY_DEVICES,
        default="cpu",
        help="where the rollouts run: a scalar game is bound by kernel launches on an "
        "accelerator (about 700x slower on an H200 than on 2 CPU cores), so the CPU by "
        "default; 'default' is JAX's default device",
    )


@contextmanager
def toy_device(name: str) -> Iterator[None]:
    """Run the enclosed JAX work on the CPU (``"cpu"``) or on JAX's default device."""
    if name == "default":
        yield
        return
    import jax

    with jax.default_device(jax.devices("cpu")[0]):
        yield


def _to_builtin(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _to_builtin(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_to_builtin(v) for v in value]
    if hasattr(value, "tolist") and not isinstance(value, (str, bytes)):
        return _to_builtin(np.asarray(value).tolist())
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    return value


def write_metrics(
    out_dir: str | os.PathLike, metrics: dict[str, Any], name: str = "metrics.json"
) -> str:
    """Write ``metrics`` (numbers, arrays, nested dicts) as indented JSON into ``out_dir``."""
    os.makedirs(out_dir, exist_ok=True)
    path = os.path.join(os.fspath(out_dir), name)
    with open(path, "w") as f:
        json.dump(_to_builtin(metrics), f, indent=2, sort_keys=True)
        f.write("\n")
    return path
