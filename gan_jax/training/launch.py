"""Run one multi-controller JAX job as N processes on this machine, over loopback.

    python -m gan_jax.training.launch --processes 2 --devices-per-process 2 -- \\
        python -m experiments.train_dcgan --steps 200 --workdir runs/two_hosts

A development and test tool: it stands in for N hosts with N local processes, each with
``--devices-per-process`` CPU devices, so the multi-host path of
:func:`gan_jax.training.parallel.initialize_distributed` (collectives across processes with gloo,
multi-process orbax checkpoints, process-0-only outputs) runs on any machine.  On a TPU pod
slice or a GPU cluster, the scheduler starts one process per host instead (docs/guides/scaling.md,
"Scaling out").

* **Environment.**  Process ``i`` gets ``JAX_COORDINATOR_ADDRESS=127.0.0.1:PORT`` (a free
  port unless ``--port``), ``JAX_NUM_PROCESSES=N``, ``JAX_PROCESS_ID=i``,
  ``JAX_PLATFORMS=cpu``, ``JAX_NUM_CPU_DEVICES=K`` and ``PYTHONUNBUFFERED=1``; a
  ``GAN_JAX_HEARTBEAT_TIMEOUT`` already set is kept (default here: 30 s).
* **Output.**  Every line of a process's stdout and stderr is forwarded with a ``[pI]``
  prefix (carriage-return progress updates too).
* **Failure.**  When a process is killed by a signal, the others are killed at once; when
  one exits with an error status, the others get ``--grace`` seconds to exit by
  themselves (they do when the error is the same on every process, e.g. a bad flag), then
  are killed.  The launcher names every process that failed by itself and exits with the
  status of the cause (128 + the signal number for a signal): a process killed by a signal
  when there is one, since a survivor whose collective lost that peer may exit first.
  SIGABRT counts with the error exits (it is how the C++ runtime dies of an error: gloo
  aborts a survivor whose peer vanished, sometimes before the killed peer is reaped), so a
  process killed by SIGKILL is the cause beside one that aborted.  It polls every 0.1 s, so it exits within about 0.2 s of a
  process dying by a signal and within ``--grace`` + 0.2 s of an error exit.
* **Orphans.**  On Linux each process is killed by the kernel if the launcher itself dies
  (``PR_SET_PDEATHSIG``), even by SIGKILL.
* **Ctrl-C / SIGTERM** are forwarded to every process (each runs in its own process group,
  outside the terminal's foreground group, so a terminal's Ctrl-C reaches them once, through
  here): the training loop stops every
  process at the same step, saves and exits with status 130.  A second Ctrl-C is
  forwarded too and aborts them.
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from typing import IO

from gan_jax import cli
from gan_jax.job_env import (
    COORDINATOR_ENV,
    HEARTBEAT_TIMEOUT_ENV,
    NUM_PROCESSES_ENV,
    PROCESS_ID_ENV,
)

POLL_SECONDS = 0.1
DEFAULT_HEARTBEAT_TIMEOUT = "30"


def build_parser() -> cli.ArgumentParser:
    """The launcher's flags (processes, devices per process, coordinator) and the command."""
    parser = cli.ArgumentParser(
        prog="python -m gan_jax.training.launch",
        description=__doc__.split("\n\n")[0],
        epilog="example: python -m gan_jax.training.launch --processes 2 --devices-per-process 2 -- "
        "python -m experiments.train_dcgan --steps 200",
    )
    parser.add_argument(
        "--processes", type=cli.positive_int, default=2, help="how many processes (hosts)"
    )
    parser.add_argument(
        "--devices-per-process",
        type=cli.positive_int,
        default=1,
        help="CPU devices each process sees (JAX_NUM_CPU_DEVICES)",
    )
    parser.add_argument("--port", type=int, default=0, help="coordinator port (0: a free one)")
    parser.add_argument(
        "--grace",
        type=cli.positive_float,
        default=10.0,
        help="seconds the other processes get to exit after one exits with an error",
    )
    parser.add_argument("command", nargs=argparse.REMAINDER, help="-- then the command to run")
    return parser


def free_port() -> int:
    """A TCP port on the loopback interface that nothing listens on now (the coordinator's)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def process_env(
    base: dict[str, str], address: str, processes: int, index: int, devices: int
) -> dict[str, str]:
    """The environment of process ``index`` (see module doc)."""
    env = dict(base)
    env.update(
        {
            COORDINATOR_ENV: address,
            NUM_PROCESSES_ENV: str(processes),
            PROCESS_ID_ENV: str(index),
            "JAX_PLATFORMS": "cpu",
            "JAX_NUM_CPU_DEVICES": str(devices),
            "PYTHONUNBUFFERED": "1",
        }
    )
    env.setdefault(HEARTBEAT_TIMEOUT_ENV, DEFAULT_HEARTBEAT_TIMEOUT)
    return env


def forward(stream: IO[bytes], sink: IO[bytes], prefix: bytes, lock: threading.Lock) -> None:
    """Copy ``stream`` to ``sink`` a line at a time (``\\n`` or ``\\r``), each with ``prefix``."""
    pending = b""
    while chunk := stream.read1(65536) if hasattr(stream, "read1") else stream.read(65536):
        pending += chunk
        while True:
            ends = [i for i in (pending.find(b"\n"), pending.find(b"\r")) if i >= 0]
            if not ends:
                break
            end = min(ends) + 1
            with lock:  # a bare "\r" (progress bars start with one) needs no prefix
                sink.write(pending[:end] if end == 1 else prefix + pending[:end])
                sink.flush()
            pending = pending[end:]
    if pending:
        with lock:
            sink.write(prefix + pending + b"\n")
            sink.flush()


def _die_with_parent() -> None:
    """In the child, before ``exec``: on Linux, ask the kernel to kill it if the launcher
    dies (even by SIGKILL), so a killed launcher never leaves orphaned processes that hold
    the coordinator port or the CPU."""
    if sys.platform.startswith("linux"):
        import ctypes

        PR_SET_PDEATHSIG = 1
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


def describe_exit(code: int) -> str:
    """A process's exit status in words ("exited with status 2", "was killed by SIGKILL")."""
    if code < 0:
        try:
            return f"was killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"was killed by signal {-code}"
    return f"exited with status {code}"


def launcher_status(code: int) -> int:
    """The launcher's exit status for a process's return code (shell convention)."""
    return 128 - code if code < 0 else code


def say(message: str) -> None:
    """One line on stderr, prefixed with the launcher's name."""
    print(f"gan_jax.training.launch: {message}", file=sys.stderr, flush=True)


def run(
    command: Sequence[str],
    processes: int,
    devices_per_process: int,
    port: int = 0,
    grace: float = 10.0,
) -> int:
    """Start the job, forward its output and signals, return the launcher's exit status."""
    address = f"127.0.0.1:{port or free_port()}"
    lock = threading.Lock()
    children: list[subprocess.Popen] = []
    threads = []

    def forward_signal(signum: int, frame: object) -> None:
        for child in children:
            if child.poll() is None:
                child.send_signal(signum)

    previous = {sig: signal.signal(sig, forward_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    for index in range(processes):  # all started before any thread (preexec_fn)
        try:
            child = subprocess.Popen(
                list(command),
                env=process_env(dict(os.environ), address, processes, index, devices_per_process),
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                process_group=0,  # signals reach it only through the launcher
                preexec_fn=_die_with_parent,  # noqa: PLW1509 (no thread is running yet)
            )
        except OSError as err:
            for started in children:
                started.kill()
            cli.fail(f"cannot start {command[0]!r} ({err.strerror}): check the command after --")
        children.append(child)
    for index, child in enumerate(children):
        for stream, sink in ((child.stdout, sys.stdout.buffer), (child.stderr, sys.stderr.buffer)):
            thread = threading.Thread(
                target=forward, args=(stream, sink, f"[p{index}] ".encode(), lock), daemon=True
            )
            thread.start()
            threads.append(thread)
    pids = ", ".join(f"p{i} pid {c.pid}" for i, c in enumerate(children))
    say(
        f"{processes} processes × {devices_per_process} CPU devices, coordinator {address} ({pids})"
    )

    stopped: set[int] = set()
    causes: set[int] = set()
    first_failure = None  # when the first process failed
    try:
        while any(child.poll() is None for child in children):
            cause = _report_failures(children, stopped, causes)
            if cause is not None:
                first_failure = first_failure or time.monotonic()
                index, code = cause
                if not _is_consequence(code) or time.monotonic() - first_failure > grace:
                    running = [i for i, c in enumerate(children) if c.poll() is None]
                    for i in running:
                        children[i].kill()
                    stopped.update(running)
                    say(f"stopped process(es) {running} after process {index} failed")
                    break
            time.sleep(POLL_SECONDS)
        for child in children:
            child.wait()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    for thread in threads:
        thread.join(timeout=5)
    cause = _report_failures(children, stopped, causes)
    return 0 if cause is None else launcher_status(cause[1])


def _is_consequence(code: int) -> bool:
    """Whether a failure status is one a process reaches by itself, possibly because a
    peer died: an error exit, or SIGABRT (module doc)."""
    return code > 0 or code == -signal.SIGABRT


def _report_failures(
    children: list[subprocess.Popen], stopped: set[int], causes: set[int]
) -> tuple[int, int] | None:
    """Name every process that newly failed by itself (not one in ``stopped``, which the
    launcher killed) and add it to ``causes``; return the cause of the failure so far,
    ``(index, return code)``, or ``None``.  A process killed by a signal other than
    SIGABRT is the cause when there is one: the others' errors and aborts (a collective
    losing its peer) are its consequences, and they can surface first, while the kernel is
    still tearing the killed one down."""
    for index, child in enumerate(children):
        code = child.poll()
        if code and index not in stopped and index not in causes:
            causes.add(index)
            say(f"process {index} (pid {child.pid}) {describe_exit(code)}")
    failed = [(i, children[i].returncode) for i in causes]
    return min(failed, key=lambda item: (_is_consequence(item[1]), item[0])) if failed else None


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m gan_jax.training.launch``: start the processes, return the job's status."""
    args = build_parser().parse_args(argv)
    command = list(args.command)
    if command[:1] == ["--"]:
        command = command[1:]
    if not command:
        cli.fail(
            "no command to run: add -- and the command, e.g. -- python -m experiments.train_dcgan"
        )
    if not 0 <= args.port < 65536:
        cli.fail(f"--port {args.port} is not a TCP port: pass 1-65535, or 0 for a free one")
    return run(command, args.processes, args.devices_per_process, args.port, args.grace)


if __name__ == "__main__":
    raise SystemExit(main())
