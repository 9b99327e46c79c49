"""Multi-controller training with real processes: ``gan_jax.training.launch`` starts 2 processes × 2
CPU devices over loopback (gloo collectives), and their DCGAN run equals a 1-process run
on 4 devices; checkpoints move between process counts both ways; Ctrl-C that reaches one
process stops both at one step; killing a process stops the launcher; coordinator
mistakes are one line.

Parameters are compared in float32 against 1e-5 (the issue's bound): both runs execute the
same per-device program on equal per-device shapes, so they differ only in the order of
the cross-device sums (gloo across processes vs XLA within one), measured at 2.4e-7 after
4 steps."""

from __future__ import annotations

import json
import os
import pathlib
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time

import jax
import numpy as np
import pytest
from cli_checks import assert_one_line_user_error, run_module

from gan_jax import training
from gan_jax.cli import UserError
from gan_jax.training import parallel
from gan_jax.training.checkpoint import Checkpointer
from gan_jax.training.launch import forward, launcher_status

pytestmark = [
    pytest.mark.xdist_group("multihost"),  # one worker: 2 processes use both cores
    pytest.mark.integration,  # several processes (tests/README.md)
]

REPO_ROOT = pathlib.Path(__file__).resolve().parents[2]
LAUNCHER_ENV = dict(os.environ, PYTHONPATH=str(REPO_ROOT))  # runs from any directory
BOUND = 1e-5
KILL_EXIT_BOUND_S = 5.0  # the launcher polls every 0.1 s and kills the rest at once


def dcgan_args(workdir, classifier, steps, checkpoint_every=2) -> list[str]:
    """Tiny train_dcgan flags; ``classifier=None`` uses the runner's cache (``runs/``)."""
    return [
        "--dataset", "digits", "--steps", str(steps), "--resolution", "8", "--batch-size", "16",
        "--width", "8",
        "--log-every", "2", "--checkpoint-every", str(checkpoint_every), "--eval-every", "0",
        "--sample-every", "0", "--eval-samples", "50",
        *(["--classifier", classifier] if classifier else []),
        "--workdir", str(workdir), "--out", str(workdir) + "_out", "--no-progress",
    ]  # fmt: skip


def documented_command(marker: str) -> list[str]:
    """The scaling-out guide's bash block after ``<!-- marker -->``, as an argument list."""
    text = (REPO_ROOT / "docs" / "guides" / "scaling.md").read_text()
    block = text.split(f"<!-- {marker} -->", 1)[1].split("```bash\n", 1)[1].split("```", 1)[0]
    words = shlex.split(block.replace("\\\n", " "))
    return [sys.executable if word == "python" else word for word in words]


def one_process(args, env, cwd) -> subprocess.CompletedProcess:
    """The CLI as one process on 4 CPU devices."""
    return run_module("experiments.train_dcgan", args, dict(env, JAX_NUM_CPU_DEVICES="4"), cwd)


def launch_command(args) -> list[str]:
    return [
        sys.executable, "-m", "gan_jax.training.launch", "--processes", "2", "--devices-per-process",
        "2", "--", sys.executable, "-m", "experiments.train_dcgan", *args,
    ]  # fmt: skip


def two_processes(args, env, cwd, command=None) -> subprocess.CompletedProcess:
    """``args`` appended to ``command`` (default: the launcher on 2 × 2 devices)."""
    return subprocess.run(
        (command or launch_command([])) + list(args),
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )


def leaves(workdir, step) -> list[np.ndarray]:
    state = Checkpointer(os.path.join(workdir, "checkpoints"), create=False).restore(step)
    return [np.asarray(x) for x in jax.tree.leaves(state)]


def max_difference(a, b) -> float:
    return max(float(np.max(np.abs(x.astype(np.float64) - y))) for x, y in zip(a, b, strict=True))


def logged_steps(workdir) -> list[int]:
    return [r["step"] for r in training.read_metrics(workdir) if "loss_d" in r]


@pytest.mark.expensive
def test_two_processes_equal_one_and_checkpoints_cross_process_counts(
    repo_root, subprocess_env, tmp_path, classifier8
):
    one, two, back = tmp_path / "one", tmp_path / "two", tmp_path / "back"
    # 1 process × 4 devices, steps 0 → 4.
    result = one_process(dcgan_args(one, classifier8, 4), subprocess_env, repo_root)
    assert result.returncode == 0, result.stderr
    # 2 processes × 2 devices continue the 1-process run from its step 2, to step 6: the
    # scaling-out guide's command (sizes and folders appended) in a fresh folder, as in a fresh clone,
    # so process 0 trains the evaluation classifier into the empty cache on first use.
    shutil.copytree(one, two)
    fresh = tmp_path / "fresh_clone"
    fresh.mkdir()
    args = dcgan_args(two, None, 6) + ["--resume-from", "2", "--classifier-steps", "20"]
    args += ["--writers", "tensorboard"]  # written by process 0 alone
    result = two_processes(
        args, subprocess_env, fresh, documented_command("scaling-out-one-machine")
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "[p0] step 6: FCD" in result.stdout and "[p1] step 6" not in result.stdout
    assert result.stdout.count("training one into") == 1  # on process 0 only
    cache = fresh / "runs" / "classifier_digits_8_steps20"
    assert (cache / "classifier.json").exists()
    assert sorted(p.name for p in (fresh / "runs").iterdir()) == [cache.name]
    assert logged_steps(two) == list(range(1, 7))  # process 0 alone logs, once per step
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    (events,) = two.glob("events.out.tfevents.*")  # one event file: process 0's
    accumulator = EventAccumulator(str(events), size_guidance={"scalars": 0})
    accumulator.Reload()
    assert [e.step for e in accumulator.Scalars("train/loss_d")] == [3, 4, 5, 6]
    metrics = json.loads((tmp_path / "two_out" / "metrics.json").read_text())
    assert metrics["processes"] == 2 and metrics["devices"] == 4 and metrics["steps"] == 6
    # Steps 3-4 on 2 processes equal steps 3-4 on 1 process.
    difference = max_difference(leaves(two, 4), leaves(one, 4))
    assert difference < BOUND
    assert max_difference(leaves(two, 4), leaves(two, 2)) > 1e-4  # the steps moved them
    # And back: 1 process continues the 2-process run from its step 4, to step 6.
    shutil.copytree(two, back)
    args = dcgan_args(back, None, 6) + ["--resume-from", "4", "--classifier-steps", "20"]
    result = one_process(args, subprocess_env, fresh)  # the second use reads the cache
    assert result.returncode == 0, result.stderr
    assert "training one" not in result.stdout and "step 6: FCD" in result.stdout
    assert max_difference(leaves(back, 6), leaves(two, 6)) < BOUND
    # The restores themselves are exact: each step's arrays match the digests it was
    # saved with (Checkpointer.restore verifies them), and the logged losses of the
    # shared steps agree.
    rows_two = {r["step"]: r for r in training.read_metrics(two) if "loss_d" in r}
    for row in training.read_metrics(back):
        if "loss_d" in row:
            assert abs(row["loss_d"] - rows_two[row["step"]]["loss_d"]) < BOUND


def launcher_pids(log_path, deadline) -> dict[int, int]:
    while time.time() < deadline:
        match = re.search(r"p0 pid (\d+), p1 pid (\d+)", log_path.read_text())
        if match:
            return {0: int(match.group(1)), 1: int(match.group(2))}
        time.sleep(0.1)
    raise AssertionError(f"the launcher never reported its processes: {log_path.read_text()}")


def wait_for_step(workdir, step, process, deadline) -> None:
    while time.time() < deadline and process.poll() is None:
        if (workdir / "metrics.jsonl").exists() and logged_steps(workdir)[-1:] >= [step]:
            return
        time.sleep(0.2)
    raise AssertionError(f"training never reached step {step}")


@pytest.fixture
def stop_leftovers():
    """Processes a failing test must not leave running: the launchers and their children."""
    pids: list[int] = []
    yield pids
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


@pytest.mark.expensive
def test_ctrl_c_on_one_process_stops_both_then_a_killed_process_stops_the_launcher(
    repo_root, subprocess_env, tmp_path, classifier8, stop_leftovers
):
    run, log = tmp_path / "run", tmp_path / "launch.log"
    args = dcgan_args(run, classifier8, 100000, checkpoint_every=100000)
    deadline = time.time() + 300
    with open(log, "w") as sink:
        process = subprocess.Popen(
            launch_command(args), cwd=repo_root, env=subprocess_env, stdout=sink, stderr=sink
        )
        stop_leftovers.append(process.pid)
        pids = launcher_pids(log, deadline)
        stop_leftovers.extend(pids.values())
        wait_for_step(run, 4, process, deadline)
        os.kill(pids[1], signal.SIGINT)  # Ctrl-C reaches process 1 only
        assert process.wait(timeout=120) == 130, log.read_text()
    output = log.read_text()
    assert "[p0] interrupted at step" in output
    # Both processes stopped after the same chunk and saved it together: the checkpoint
    # is complete and the log ends at its step.
    saved = Checkpointer(run / "checkpoints", create=False).all_steps()[-1]
    assert saved >= 4 and saved % 2 == 0 and logged_steps(run)[-1] == saved

    # Resume on 2 processes, then kill process 1 mid-run.
    with open(log, "w") as sink:
        process = subprocess.Popen(
            launch_command([*args, "--resume"]),
            cwd=repo_root,
            env=subprocess_env,
            stdout=sink,
            stderr=sink,
        )
        stop_leftovers.append(process.pid)
        pids = launcher_pids(log, deadline)
        stop_leftovers.extend(pids.values())
        wait_for_step(run, saved + 4, process, deadline)
        killed_at = time.time()
        os.kill(pids[1], signal.SIGKILL)
        code = process.wait(timeout=120)
        seconds = time.time() - killed_at
    output = log.read_text()
    assert code == 128 + signal.SIGKILL, output
    assert f"process 1 (pid {pids[1]}) was killed by SIGKILL" in output
    assert seconds < KILL_EXIT_BOUND_S, seconds
    # Process 0 is gone too: stopped by the launcher, or ended by its collective losing
    # the peer, with one line that says so.
    assert not alive(pids[0])
    if "stopped process(es) [0]" not in output:
        assert "[p0] error: lost the connection to another process" in output


@pytest.mark.slow  # the guard acts on replicated losses, the same on every process by design
def test_nan_loss_stops_every_process_with_one_message(
    repo_root, subprocess_env, tmp_path, classifier8
):
    run = tmp_path / "run"
    args = dcgan_args(run, classifier8, 40) + ["--lr-d", "1e30", "--lr-g", "1e30"]
    started = time.time()
    result = two_processes(args, subprocess_env, repo_root)
    output = result.stdout + result.stderr
    assert result.returncode == 2, output
    # Both processes saw the same non-finite loss at the same step and stopped there.
    errors = re.findall(r"\[p(\d)\] error: (loss_\w) became \S+ at step (\d+)", output)
    assert sorted(e[0] for e in errors) == ["0", "1"] and errors[0][1:] == errors[1][1:]
    assert "Traceback" not in output
    assert Checkpointer(run / "checkpoints", create=False).all_steps()[-1] < int(errors[0][2])
    assert time.time() - started < 120  # no process waited on another


SURVIVOR = """
import time
from gan_jax.training import parallel
parallel.initialize_distributed()
print("joined", flush=True)
while True:  # a collective every 0.1 s, as training would
    parallel.any_process(False)
    time.sleep(0.1)
"""


def test_without_a_launcher_a_dead_process_ends_the_others_after_the_heartbeat_timeout(
    repo_root, subprocess_env, tmp_path
):
    """On a cluster nobody kills the survivors: JAX's coordination service declares a
    process dead after GAN_JAX_HEARTBEAT_TIMEOUT seconds without a heartbeat and
    terminates the others with a message naming the cause."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    heartbeat = 3
    processes, logs = [], []
    for index in range(2):
        env = dict(
            subprocess_env,
            JAX_COORDINATOR_ADDRESS=f"127.0.0.1:{port}",
            JAX_NUM_PROCESSES="2",
            JAX_PROCESS_ID=str(index),
            GAN_JAX_HEARTBEAT_TIMEOUT=str(heartbeat),
        )
        logs.append(tmp_path / f"p{index}.log")
        with open(logs[-1], "w") as sink:
            processes.append(
                subprocess.Popen(
                    [sys.executable, "-c", SURVIVOR],
                    cwd=repo_root,
                    env=env,
                    stdout=sink,
                    stderr=subprocess.STDOUT,
                )
            )
    try:
        deadline = time.time() + 120
        while not all("joined" in log.read_text() for log in logs):
            assert time.time() < deadline and all(p.poll() is None for p in processes)
            time.sleep(0.1)
        time.sleep(0.5)
        processes[1].kill()
        killed_at = time.time()
        code = processes[0].wait(timeout=60)
        seconds = time.time() - killed_at
    finally:
        for process in processes:
            process.kill()
    assert code != 0
    assert "another task died" in logs[0].read_text()
    assert seconds < 3 * heartbeat, seconds


LATE_PRIMARY = """
import time
from gan_jax.training import parallel
parallel.initialize_distributed()
if parallel.is_primary():
    time.sleep(40)  # e.g. training the evaluation classifier while the others wait
print("agreed", parallel.any_process(parallel.is_primary()), flush=True)
"""


@pytest.mark.slow  # 40 s of waiting
def test_a_process_may_reach_its_first_collective_long_after_the_others(repo_root, subprocess_env):
    """gloo gives up on setting up a device set's connections when a process arrives 30 s
    late; initialize_distributed sets them up while every process has just joined."""
    result = run_launcher(LATE_PRIMARY, timeout=300)
    assert result.returncode == 0, result.stderr
    agreed = sorted(line for line in result.stdout.splitlines() if "agreed" in line)
    assert agreed == ["[p0] agreed True", "[p1] agreed True"]


def test_coordinator_in_use_or_unreachable_is_one_line(repo_root, subprocess_env, tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        address = f"127.0.0.1:{taken.getsockname()[1]}"
        env = dict(
            subprocess_env,
            JAX_COORDINATOR_ADDRESS=address,
            JAX_NUM_PROCESSES="2",
            JAX_PROCESS_ID="0",
        )
        args = ["--steps", "1", "--workdir", str(tmp_path / "run")]  # not the checkout's runs/
        result = run_module("experiments.train_dcgan", args, env, repo_root)
        assert_one_line_user_error(result, f"the coordinator address {address} is in use")
    free = socket.socket()
    free.bind(("127.0.0.1", 0))
    address = f"127.0.0.1:{free.getsockname()[1]}"
    free.close()  # nobody listens there now
    environ = {
        "JAX_COORDINATOR_ADDRESS": address,
        "JAX_NUM_PROCESSES": "2",
        "JAX_PROCESS_ID": "1",
        "GAN_JAX_INIT_TIMEOUT": "1",
    }
    started = time.time()
    with pytest.raises(UserError, match=f"no coordinator answered at {address} within 1 s"):
        parallel.initialize_distributed(environ)
    assert time.time() - started < 5
    for bad, needle in [
        ({"JAX_PROCESS_ID": "2"}, "is not below JAX_NUM_PROCESSES=2"),
        ({"JAX_PROCESS_ID": None}, "set both JAX_NUM_PROCESSES and JAX_PROCESS_ID"),
        ({"JAX_COORDINATOR_ADDRESS": "nohost"}, "is not host:port"),
        ({"GAN_JAX_INIT_TIMEOUT": "soon"}, "must be an integer of at least 1"),
    ]:
        broken = {k: v for k, v in {**environ, **bad}.items() if v is not None}
        with pytest.raises(UserError, match=needle):
            parallel.initialize_distributed(broken)
    assert not jax.distributed.is_initialized()


# --------------------------------------------------------------------------- the launcher


def test_forward_prefixes_every_line_and_carriage_return(tmp_path):
    source, sink = tmp_path / "in", tmp_path / "out"
    source.write_bytes(b"a\n\rbar 10%\rbar 20%\rdone\nno newline")
    with open(source, "rb") as stream, open(sink, "wb") as out:
        forward(stream, out, b"[p1] ", threading.Lock())
    assert (
        sink.read_bytes() == b"[p1] a\n\r[p1] bar 10%\r[p1] bar 20%\r[p1] done\n[p1] no newline\n"
    )
    assert launcher_status(-signal.SIGKILL) == 137 and launcher_status(3) == 3


def run_launcher(command, *flags, timeout=60) -> subprocess.CompletedProcess:
    """The launcher running ``python -c command`` in every process."""
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "gan_jax.training.launch",
            *flags,
            "--",
            sys.executable,
            "-c",
            command,
        ],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=LAUNCHER_ENV,
        check=False,
    )


def alive(pid: int) -> bool:
    """Whether ``pid`` runs (a zombie that no init process has reaped yet does not)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def test_launcher_environment_errors_and_grace():
    show = (
        "import os; print(os.environ['JAX_PROCESS_ID'], os.environ['JAX_NUM_PROCESSES'], "
        "os.environ['JAX_NUM_CPU_DEVICES'], os.environ['JAX_COORDINATOR_ADDRESS'])"
    )
    result = run_launcher(show, "--processes", "3", "--devices-per-process", "2")
    assert result.returncode == 0, result.stderr
    lines = sorted(result.stdout.splitlines())
    address = lines[0].split()[-1]
    assert address.startswith("127.0.0.1:")
    assert lines == [f"[p{i}] {i} 3 2 {address}" for i in range(3)]

    # Process 1 fails with status 3 while process 0 would run for a minute: after the
    # grace period (1 s) process 0 is killed and the launcher exits with status 3.
    failing = (
        "import os, sys, time; i = int(os.environ['JAX_PROCESS_ID']); "
        "time.sleep(60) if i == 0 else sys.exit(3)"
    )
    started = time.time()
    result = run_launcher(failing, "--grace", "1")
    assert result.returncode == 3
    assert "process 1 (pid" in result.stderr and "exited with status 3" in result.stderr
    assert "stopped process(es) [0]" in result.stderr
    assert time.time() - started < 10

    # Process 0 aborts (SIGABRT: what gloo does when its peer vanishes) just before
    # process 1 is killed by SIGKILL: the kill is the cause, the abort its consequence.
    aborting = (
        "import os, signal, time; i = int(os.environ['JAX_PROCESS_ID']); "
        "os.abort() if i == 0 else (time.sleep(0.5), os.kill(os.getpid(), signal.SIGKILL))"
    )
    result = run_launcher(aborting, "--grace", "5")
    assert result.returncode == 128 + signal.SIGKILL, result.stderr
    assert "process 0 (pid" in result.stderr and "killed by SIGABRT" in result.stderr
    assert "process 1 (pid" in result.stderr and "killed by SIGKILL" in result.stderr

    # A launcher killed outright takes its processes with it (Linux: PR_SET_PDEATHSIG).
    if sys.platform.startswith("linux"):
        sleeper = "import os, time; print(os.getpid(), flush=True); time.sleep(60)"
        launcher = subprocess.Popen(
            [sys.executable, "-m", "gan_jax.training.launch", "--", sys.executable, "-c", sleeper],
            stdout=subprocess.PIPE,
            text=True,
            env=LAUNCHER_ENV,
        )
        children = [int(launcher.stdout.readline().split()[-1]) for _ in range(2)]
        launcher.kill()
        launcher.wait()
        deadline = time.time() + 10
        while any(alive(pid) for pid in children):
            assert time.time() < deadline, "the launcher's processes outlived it"
            time.sleep(0.05)

    # Ctrl-C on the launcher reaches every process once; they exit 130, so does it.
    waiter = (
        "import signal, sys, time\n"
        "signal.signal(signal.SIGINT, lambda *a: (print('got SIGINT', flush=True), sys.exit(130)))\n"
        "print('ready', flush=True)\n"
        "time.sleep(60)"
    )
    launcher = subprocess.Popen(
        [sys.executable, "-m", "gan_jax.training.launch", "--", sys.executable, "-c", waiter],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=LAUNCHER_ENV,
    )
    assert sorted(launcher.stdout.readline() for _ in range(2)) == ["[p0] ready\n", "[p1] ready\n"]
    launcher.send_signal(signal.SIGINT)
    stdout, _ = launcher.communicate(timeout=30)
    assert launcher.returncode == 130
    assert sorted(stdout.splitlines()) == ["[p0] got SIGINT", "[p1] got SIGINT"]

    result = run_launcher("pass", "--port", "70000")
    assert result.returncode == 2 and "--port 70000 is not a TCP port" in result.stderr
    result = subprocess.run(
        [sys.executable, "-m", "gan_jax.training.launch", "--", "no-such-program-here"],
        capture_output=True,
        text=True,
        check=False,
        env=LAUNCHER_ENV,
    )
    assert_one_line_user_error(result, "cannot start 'no-such-program-here'")


def test_a_bad_flag_in_a_two_process_job_is_one_line_per_process_before_connecting(
    repo_root, subprocess_env, tmp_path
):
    """Both processes refuse the command in their flag checks, which come before
    jax.distributed.initialize: the launcher exits 2, each process prints one error line,
    no traceback, and the run directory is never made."""
    workdir = tmp_path / "run"
    args = dcgan_args(workdir, str(tmp_path / "no_classifier"), steps=4, checkpoint_every=3)
    start = time.perf_counter()
    result = two_processes(args, subprocess_env, repo_root)
    seconds = time.perf_counter() - start
    print(f"refused by a 2-process job in {seconds:.1f} s (interpreter start-up included)")
    assert result.returncode == 2, result.stderr
    errors = [line for line in result.stderr.splitlines() if "error: " in line]
    assert len(errors) == 2, result.stderr
    assert all("--checkpoint-every 3 must be a multiple of --log-every 2" in e for e in errors)
    assert "Traceback" not in result.stderr and "gloo" not in result.stderr.lower()
    assert not workdir.exists() and not pathlib.Path(str(workdir) + "_out").exists()


FIRST_USE = """
import os, sys
import jax, numpy as np
from gan_jax.training import parallel
from gan_jax.models.feature_classifier import load_classifier, save_classifier
parallel.initialize_distributed()
directory = sys.argv[1]
if parallel.is_primary():  # the runner's first use: process 0 alone trains and saves
    params = {"params": {"w": jax.numpy.arange(6.0)}}  # a single-device jax.Array
    save_classifier(directory, params, {"num_classes": 10, "image_shape": [8, 8, 1]})
    print("saved", sorted(os.listdir(directory)))
parallel.sync("saved")
print("process", jax.process_index(), "sees", os.path.exists(os.path.join(directory, "classifier.json")))
"""


def test_process_zero_saves_the_classifier_alone_in_a_multi_process_job(repo_root, tmp_path):
    """The first use of the evaluation cache in a 2-process job: process 0 saves the
    classifier with a process-local checkpointer (orbax refused to create its directory
    under ``active_processes``, which crashed the README's 2-process command on a fresh
    clone) and both processes then see it."""
    directory = tmp_path / "classifier"
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "gan_jax.training.launch",
            "--processes",
            "2",
            "--devices-per-process",
            "1",
            "--",
            sys.executable,
            "-c",
            FIRST_USE,
            str(directory),
        ],
        cwd=repo_root,
        env=dict(LAUNCHER_ENV, JAX_PLATFORMS="cpu"),
        capture_output=True,
        text=True,
        timeout=120,  # a failed save leaves process 1 waiting at the barrier
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    assert result.stdout.count("sees True") == 2, result.stdout
    assert (directory / "classifier.json").exists()
