"""Checks of what a command does, shared by the tests of every CLI: run one in a
subprocess or in-process, snapshot a folder, and the one rule for refused commands (one
clear line, no traceback, nothing on disk changed)."""

from __future__ import annotations

import contextlib
import hashlib
import importlib
import io
import pathlib
import subprocess
import sys
import time

from gan_jax import cli


def run_module(module, args, env, cwd, timeout=600):
    """``python -m module args`` in a fresh interpreter, as a user runs it."""
    return subprocess.run(
        [sys.executable, "-m", module, *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        check=False,
        text=True,
        timeout=timeout,
    )


def run_main_in_process(module, args) -> subprocess.CompletedProcess:
    """The CLI's ``__main__`` path, :func:`gan_jax.cli.run_main` on the module's ``main``,
    in this process: its exit status and what it printed, as :func:`run_module` returns.

    A fresh interpreter spends seconds importing JAX before it reaches a flag, so the
    user-error and ``--help`` tests run here; :func:`test_help` and the multi-process tests
    start real interpreters.  An exception that is not a user error propagates (and fails
    the test) where the subprocess would print a traceback."""
    main = importlib.import_module(module).main
    stdout, stderr = io.StringIO(), io.StringIO()
    code = 0
    with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
        try:
            cli.run_main(main, list(args))
        except SystemExit as stop:
            code = stop.code if isinstance(stop.code, int) else (0 if stop.code is None else 1)
    return subprocess.CompletedProcess([module, *args], code, stdout.getvalue(), stderr.getvalue())


def tree_state(root: pathlib.Path) -> dict[str, str]:
    """Every file under ``root`` as its SHA-256, every directory as ``"dir"``."""
    state = {}
    for path in sorted(root.rglob("*")):
        relative = str(path.relative_to(root))
        state[relative] = "dir" if path.is_dir() else hashlib.sha256(path.read_bytes()).hexdigest()
    return state


def bad_commands(
    run: pathlib.Path,
    scratch: pathlib.Path,
    lr_flag: str,
    batch: tuple[str, str] = ("--batch-size", "invalid positive_int value: 'many'"),
) -> list[tuple]:
    """Commands every training CLI must refuse against its finished run ``run`` (started
    with ``--seed 0``, a ``--checkpoint-every`` that 3 does not divide, and no step 7):
    ``(flags appended to the run's own command, what the one error line says)``.
    ``scratch`` (made here) holds a file and an empty directory; ``lr_flag`` is the CLI's
    step size; ``batch`` its batch-size flag and what it says of ``many``."""
    a_file, empty = scratch / "a_file", scratch / "empty"
    empty.mkdir(parents=True, exist_ok=True)
    a_file.write_text("not a directory")
    return [
        (["--steps", "0"], "must be a positive integer"),
        ([batch[0], "many"], batch[1]),
        (["--seed", "x"], "invalid int value: 'x'"),
        (["--scheme", "sideways"], "unknown --scheme 'sideways'; choose one of"),
        (["--no-such-flag"], "unrecognized arguments: --no-such-flag"),
        ([lr_flag, "nan"], "must be a positive number"),
        ([lr_flag, "0"], "must be a positive number"),
        (["--checkpoint-every", "0"], "must be a positive integer"),
        (["--log-every", "3"], "must be a multiple of --log-every 3"),
        (["--dataset", "imagenet"], "unknown dataset 'imagenet'"),
        (["--data-dir", str(scratch / "missing")], "is not a directory: create it first"),
        (["--seed", "1"], "already holds checkpoints"),  # a changed setting, no --resume
        ([lr_flag, "0.123"], "already holds checkpoints"),
        (["--resume", "--seed", "1"], "--resume with different settings (--seed 0 → 1)"),
        (["--resume", lr_flag, "0.123"], "--resume with different settings"),
        (["--resume-from", "7"], "no checkpoint for step 7"),
        (["--resume-from", "-1"], "must be an integer ≥ 0"),
        (["--resume", "--workdir", str(empty)], "no run to resume"),
        (["--out", str(a_file)], "is a file: pass a writable directory"),
        (["--out", str(a_file / "sub")], "is inside the file"),
        (["--workdir", str(a_file)], "is a file: pass a writable directory"),
    ]


def assert_refused_without_a_trace(
    module: str, command: list[str], run: pathlib.Path, bad: list[tuple]
) -> None:
    """Each of ``bad`` appended to ``command`` (the one that made ``run``): exit status 2,
    one ``error:`` line with its text, no traceback, every file under ``run``'s parent
    (the run, its outputs, :func:`bad_commands`' scratch folder) byte for byte as before, no new directory there
    or in the working directory's ``runs/``.  Prints each command's seconds."""
    root = run.parent
    before, runs_before = tree_state(root), sorted(pathlib.Path("runs").glob("*"))
    timings = []
    for flags, needle in bad:
        start = time.perf_counter()
        result = run_main_in_process(module, [*command, *flags])
        timings.append((time.perf_counter() - start, " ".join(flags)))
        assert_one_line_user_error(result, needle)
        assert tree_state(root) == before, flags
        assert sorted(pathlib.Path("runs").glob("*")) == runs_before, flags
    print(f"\n{module}: {len(bad)} refused commands, seconds each:")
    for seconds, flags in timings:
        print(f"  {seconds:6.2f}  {flags}")


def assert_one_line_user_error(result, needle):
    """Exit status 2 and a single ``error: …`` line containing ``needle``; no traceback."""
    assert result.returncode == cli.USER_ERROR_EXIT_CODE
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ") and needle in lines[0]
    assert "Traceback" not in result.stderr
