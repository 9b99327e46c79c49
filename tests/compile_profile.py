"""Summarise a compile profile of the test suite (tests/README.md):

    GAN_JAX_TEST_COMPILE_PROFILE=/tmp/profile python -m pytest
    python tests/compile_profile.py /tmp/profile            # per worker, then the top tests

Prints, per xdist worker, the XLA programs it compiled and the seconds it spent tracing,
lowering and compiling (programs a test's CLI subprocesses compile are not counted: they
run in other interpreters), then the tests that compiled the most.
"""

from __future__ import annotations

import json
import pathlib
import sys


def main(directory: str, top: int = 25) -> None:
    tests: dict[str, dict[str, float]] = {}
    for path in sorted(pathlib.Path(directory).glob("*.json")):
        rows = json.loads(path.read_text())
        total = {
            k: sum(r[k] for r in rows.values()) for k in ("programs", "trace", "lower", "compile")
        }
        print(
            f"{path.stem}: {int(total['programs'])} programs, compile {total['compile']:.0f} s, "
            f"trace {total['trace']:.0f} s, lower {total['lower']:.0f} s"
        )
        tests.update(rows)
    print(f"\ntop {top} tests by programs compiled:")
    ranked = sorted(tests.items(), key=lambda kv: -kv[1]["programs"])[:top]
    for name, row in ranked:
        print(f"{int(row['programs']):6d} {row['compile']:6.1f} s  {name}")


if __name__ == "__main__":
    main(*sys.argv[1:2], *(int(a) for a in sys.argv[2:3]))
