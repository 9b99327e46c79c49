"""The documentation stays true: the README's quick start and every guide's Python blocks
run; the README stays short; every public name has a docstring and an API entry; every
``{metric}`` number on a results page resolves against its committed ``metrics.json``;
user-facing text names papers and methods, not how the work was organised."""

from __future__ import annotations

import contextlib
import glob
import inspect
import io
import os
import re
import sys
import types

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DOCS = os.path.join(ROOT, "docs")
sys.path.insert(0, DOCS)

import api_pages
import metric_role


def read(path: str) -> str:
    with open(path, encoding="utf-8") as f:
        return f.read()


def python_blocks(text: str) -> list[str]:
    return re.findall(r"^```python\n(.*?)^```", text, flags=re.DOTALL | re.MULTILINE)


def run_blocks(blocks: list[str], name: str) -> str:
    """Run the blocks in order as one program; its printed output."""
    out = io.StringIO()
    module = types.ModuleType(f"docs_{name}")  # a real module: dataclasses look theirs up
    sys.modules[module.__name__] = module
    try:
        with contextlib.redirect_stdout(out):
            for block in blocks:
                exec(compile(block, name, "exec"), module.__dict__)  # noqa: S102
    finally:
        del sys.modules[module.__name__]
    return out.getvalue()


def test_readme_is_short_and_keeps_its_two_commands():
    text = read(os.path.join(ROOT, "README.md"))
    assert len(text.splitlines()) <= 250
    for marker in ("<!-- main-command -->", "<!-- test-command -->", "<!-- quick-start -->"):
        assert text.count(marker) == 1, marker


@pytest.mark.integration
def test_readme_quick_start_trains_a_gan_that_covers_the_ring():
    """The quick start (≤ 25 lines) runs as written and its GAN, with R1 and alternating
    updates, covers at least 7 of the ring's 8 modes (8 measured)."""
    text = read(os.path.join(ROOT, "README.md"))
    block = python_blocks(text.split("<!-- quick-start -->", 1)[1])[0]
    assert len(block.splitlines()) <= 25
    printed = run_blocks([block], "quick_start")
    modes = int(re.fullmatch(r"(\d+) of 8 modes\n", printed).group(1))
    assert 7 <= modes <= 8


# the guides that teach through code; the others (index, numerics, scaling) show commands
CODE_GUIDES = ["image_gan", "losses", "nnx", "update_rules"]


def test_the_code_guides_are_the_guides_with_python_blocks():
    with_code = [
        os.path.basename(p)[:-3]
        for p in sorted(glob.glob(os.path.join(DOCS, "guides", "*.md")))
        if python_blocks(read(p))
    ]
    assert with_code == CODE_GUIDES


@pytest.mark.integration
@pytest.mark.parametrize("name", CODE_GUIDES)
def test_guide_code_runs(name):
    """Each guide's Python blocks run in order (their own asserts check what they show)."""
    run_blocks(python_blocks(read(os.path.join(DOCS, "guides", f"{name}.md"))), name)


def public_objects():
    for name, module in api_pages.walk():
        for member in api_pages._public(module):
            value = api_pages._member(module, member)
            if not isinstance(value, types.ModuleType):
                yield f"{name}.{member}", value


def test_every_public_module_and_callable_has_a_docstring():
    missing = [name for name, module in api_pages.walk() if not (module.__doc__ or "").strip()]
    for name, value in public_objects():
        # functions and classes under their own names (not type aliases, not constants
        # such as an initializer that a library function returned)
        is_code = inspect.isfunction(value) or inspect.isclass(value)
        is_code = is_code and getattr(value, "__name__", None) == name.rsplit(".", 1)[1]
        if is_code and not (value.__doc__ or "").strip():
            missing.append(name)
    assert not missing


def test_every_public_name_has_one_api_entry(tmp_path):
    """The generated pages document each public object once, and list it everywhere
    else it is exported."""
    api_pages.write_pages(str(tmp_path))
    pages = {p: read(os.path.join(tmp_path, p))
             for p in os.listdir(tmp_path)}  # fmt: skip
    text = "\n".join(pages.values())
    modules = [name for name, _ in api_pages.walk()]
    assert {f"{m}.md" for m in modules} | {"index.md"} == set(pages)
    for name, _ in public_objects():
        module, member = name.rsplit(".", 1)
        page = pages[f"{module}.md"]
        documented = re.search(rf"^\.\. auto\w+:: {re.escape(name)}$", page, flags=re.MULTILINE)
        listed = f"- `{member}`: the same object as" in page
        assert documented or listed, name
    entries = re.findall(r"^\.\. auto\w+:: (\S+)$", text, flags=re.MULTILINE)
    assert len(entries) == len(set(entries))


RESULTS = sorted(glob.glob(os.path.join(DOCS, "results", "*.md")))


@pytest.mark.parametrize("path", RESULTS, ids=os.path.basename)
def test_results_page_numbers_resolve_against_metrics(path):
    """Every ``{metric}`` role on a results page names a key its study's committed
    ``metrics.json`` has (the build fails on the same error)."""
    text = read(path)
    for role in metric_role.PATTERN.findall(text):
        value = metric_role.resolve(ROOT, role)
        assert value


def test_every_study_page_reads_numbers_from_its_metrics():
    """A results page whose study commits ``figures/<page>/metrics.json`` takes at least
    one number from it (the benchmark and GPU pages have no such file)."""
    for path in RESULTS:
        name = os.path.basename(path)[:-3]
        if os.path.exists(os.path.join(ROOT, "figures", name, "metrics.json")):
            roles = metric_role.PATTERN.findall(read(path))
            assert any(r.split(";")[0].strip() == name for r in roles), name


NUMBER = re.compile(r"(?<![\w.])\d{1,3}(?:,\d{3})+(?:\.\d+)?|(?<![\w.,])\d+(?:\.\d+)?")


def test_readme_headlines_are_numbers_of_their_results_pages():
    """Every number in a study's README headline appears on its results page once the page's
    ``{metric}`` roles are read from ``metrics.json``: the README cannot drift from them."""
    rows = re.findall(
        r"^\| \[`\w+`\]\(docs/results/(\w+)\.md\)[^|]*\|[^|]*\| (.*) \|$",
        read(os.path.join(ROOT, "README.md")),
        re.MULTILINE,
    )
    assert len(rows) >= 15
    missing = {}
    for page, headline in rows:
        text = read(os.path.join(DOCS, "results", f"{page}.md"))
        text = metric_role.PATTERN.sub(lambda m: metric_role.resolve(ROOT, m.group(1)), text)
        on_page = set(NUMBER.findall(text))
        headline = re.sub(r"arXiv:\S+", "", headline)
        if absent := [n for n in NUMBER.findall(headline) if n not in on_page]:
            missing[page] = absent
    assert not missing


ROLE_CASES = [
    ("study; a; b; 1; .1f", "123.5"),
    ("study; a; b; 0; .0%", "50%"),
    ("study; n; .1f", "—"),
    ("study; ok; ", "yes"),
    ("study; a; b; 1 ± 0; .2f", "123.46 ± 0.50"),
    ("study/levels.json; l; *; v; mean .2f", "2.50"),
    ("study/levels.json; l; *; v; min .1f", "1.0"),
    ("study/levels.json; l; *; v; sum .1f", "5.0"),
    ("study/levels.json; l; *; v; argmax", "y"),
    ("study; a; b; *; max .1f", "123.5"),
    ("study/seed_*.json; fcd; mean±std .2f", "12.00 ± 2.83"),  # the sample std, √8
    ("study/seed_*.json; fcd; argmax", "seed_1.json"),
    ("study/seed_0.json; fcd & study/levels.json; l; y; v; mean±std .1f", "7.0 ± 4.2"),
]


def test_metric_role_formats_and_refuses_missing_keys(tmp_path):
    folder = tmp_path / "figures" / "study"
    folder.mkdir(parents=True)
    (folder / "metrics.json").write_text('{"a": {"b": [0.5, 123.456]}, "n": null, "ok": true}')
    (folder / "levels.json").write_text('{"l": {"x": {"v": 1.0}, "y": {"v": 4.0}}}')
    (folder / "seed_0.json").write_text('{"fcd": 10.0}')
    (folder / "seed_1.json").write_text('{"fcd": 14.0}')
    metric_role._load.cache_clear()
    assert [metric_role.resolve(str(tmp_path), role) for role, _ in ROLE_CASES] == [
        expected for _, expected in ROLE_CASES
    ]
    with pytest.raises(ValueError, match="starts with one of"):
        metric_role.resolve(str(tmp_path), "study/levels.json; l; *; v; .1f")
    with pytest.raises(KeyError, match="has no 'c'"):
        metric_role.resolve(str(tmp_path), "study; a; c; .1f")


FORBIDDEN = re.compile(r"seed 00|lecture|\bissues?\b|session|this task", re.IGNORECASE)


def test_user_facing_text_names_papers_not_how_the_work_was_organised():
    """The README, the docs' sources, the library, the CLIs and the benchmark scripts name
    papers, dates and hardware, never how the work was organised (``gpu_session.sh`` is the
    name the GPU tooling runs; it only starts ``gpu_checks.sh``)."""
    paths = [os.path.join(ROOT, "README.md")]
    for folder in ("docs", "gan_jax", "experiments", "benchmarks"):
        for ext in ("md", "py", "sh"):
            paths += glob.glob(os.path.join(ROOT, folder, "**", f"*.{ext}"), recursive=True)
    paths = [
        p
        for p in paths
        if "_build" not in p
        and os.sep + "api" + os.sep not in p
        and os.path.basename(p) != "gpu_session.sh"
    ]
    found = [
        f"{os.path.relpath(p, ROOT)}:{i}: {line.strip()[:80]}"
        for p in paths
        for i, line in enumerate(read(p).splitlines(), 1)
        if FORBIDDEN.search(line)
    ]
    assert not found, "\n".join(found)
