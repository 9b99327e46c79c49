"""Summarise a compile profile of the test suite (tests/README.md):

    GAN_JAX_TEST_COMPILE_PROFILE=/tmp/profile python -m pytest
    python tests/compile_profile.py /tmp/profile [TOP] [PATTERN]

Prints, per xdist worker, the XLA programs it compiled and the seconds it spent tracing,
lowering and compiling (programs a test's CLI subprocesses compile are not counted: they
run in other interpreters); then the tests that compiled the most, and the names of the
programs compiled most often (``jit(add)`` and the like are single operations run
eagerly, outside any ``jax.jit``).  PATTERN keeps only the tests whose id contains it.
"""

from __future__ import annotations

import collections
import json
import pathlib
import sys

TOTALS = ("programs", "trace", "lower", "compile")


def main(directory: str, top: int = 25, pattern: str = "") -> None:
    tests: dict[str, dict] = {}
    for path in sorted(pathlib.Path(directory).glob("*.json")):
        rows = {k: v for k, v in json.loads(path.read_text()).items() if pattern in k}
        total = {k: sum(r[k] for r in rows.values()) for k in TOTALS}
        print(
            f"{path.stem}: {int(total['programs'])} programs, compile {total['compile']:.0f} s, "
            f"trace {total['trace']:.0f} s, lower {total['lower']:.0f} s"
        )
        tests.update(rows)
    print(f"\ntop {top} tests by programs compiled:")
    ranked = sorted(tests.items(), key=lambda kv: -kv[1]["programs"])[:top]
    for name, row in ranked:
        print(f"{int(row['programs']):6d} {row['compile']:6.1f} s  {name}")
    names: collections.Counter[str] = collections.Counter()
    for row in tests.values():
        names.update(row.get("names", {}))
    print(f"\ntop {top} program names ({len(names)} distinct, {sum(names.values())} programs):")
    for name, count in names.most_common(top):
        print(f"{count:6d}  {name}")


if __name__ == "__main__":
    main(*sys.argv[1:2], *(int(a) for a in sys.argv[2:3]), *sys.argv[3:4])
