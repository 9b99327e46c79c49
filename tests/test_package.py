"""The package as outside code sees it: a light public surface, explicit ``__all__``s, one
version, and layers without imports hidden in function bodies (the layer contracts
themselves are ``lint-imports``', run by the README's test command)."""

from __future__ import annotations

import ast
import importlib
import importlib.metadata
import json
import pathlib
import subprocess
import sys

import pytest

import gan_jax

PACKAGE = pathlib.Path(gan_jax.__file__).parent
HEAVY = ("matplotlib", "orbax", "tensorflow_datasets", "sklearn", "skimage", "scipy")


def test_the_core_imports_load_no_plotting_checkpointing_datasets_or_scipy():
    """``import gan_jax.losses, gan_jax.dynamics, gan_jax.nets, gan_jax.gan`` in a fresh
    interpreter loads none of the heavy dependencies; ``import gan_jax`` then reaches
    ``gan_jax.losses.r1_penalty`` and ``__version__``."""
    code = (
        "import json, sys\n"
        "import gan_jax.losses, gan_jax.dynamics, gan_jax.nets, gan_jax.gan\n"
        "import gan_jax.nets.dcgan, gan_jax.nets.stylegan, gan_jax.nets.progressive\n"
        "import gan_jax\n"
        "assert callable(gan_jax.losses.r1_penalty)\n"
        f"print(json.dumps([gan_jax.__version__, [m for m in {HEAVY!r} if m in sys.modules]]))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    )
    version, loaded = json.loads(result.stdout)
    assert loaded == []
    assert version == gan_jax.__version__ == importlib.metadata.version("gan_jax")


def test_the_top_level_names_its_subpackages_and_nothing_else():
    assert gan_jax.losses is importlib.import_module("gan_jax.losses")
    assert gan_jax.losses.non_saturating_generator_loss is gan_jax.losses.modified_generator_loss
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        gan_jax.nope  # noqa: B018


PUBLIC = (
    "averaging", "checkpoint", "data", "dynamics", "errors", "gan", "interpolation", "latent",
    "losses", "metrics", "nets", "parallel", "train", "xla_options",
)  # fmt: skip


@pytest.mark.parametrize("name", PUBLIC)
def test_every_public_module_declares_all_and_every_name_exists(name):
    module = importlib.import_module(f"gan_jax.{name}")
    assert module.__all__ and len(set(module.__all__)) == len(module.__all__)
    for attribute in module.__all__:
        if name == "nets":
            importlib.import_module(f"gan_jax.nets.{attribute}")
        else:
            assert hasattr(module, attribute), f"gan_jax.{name}.{attribute}"


def test_no_library_module_imports_the_library_inside_a_function():
    """An import of gan_jax inside a function body is how a cycle hides from the layer
    check; there is none."""
    hidden = []
    for path in sorted(PACKAGE.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                continue
            for inner in ast.walk(node):
                module = (
                    inner.module
                    if isinstance(inner, ast.ImportFrom)
                    else inner.names[0].name
                    if isinstance(inner, ast.Import)
                    else None
                )
                if module and (module.startswith("gan_jax") or getattr(inner, "level", 0)):
                    hidden.append(f"{path.relative_to(PACKAGE)}:{inner.lineno}")
    assert hidden == []


def test_packaging_ships_the_license_and_the_type_marker(repo_root):
    assert "Apache License" in (repo_root / "LICENSE").read_text()
    assert (PACKAGE / "py.typed").exists()
