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


@pytest.mark.integration  # starts a fresh interpreter (tests/README.md, tiers)
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
    "averaging", "checkpoint", "cli", "data", "dynamics", "errors", "gan", "interpolation",
    "latent", "losses", "metrics", "models", "models.assembly", "models.image_gan", "nets",
    "parallel", "runner", "studies", "train", "training", "training.steps", "training.loop",
    "viz", "xla_options",
)  # fmt: skip


@pytest.mark.parametrize("name", PUBLIC)
def test_every_public_module_declares_all_and_every_name_exists(name):
    """Every name of ``__all__`` exists: an attribute, or a submodule of a package."""
    module = importlib.import_module(f"gan_jax.{name}")
    assert module.__all__ and len(set(module.__all__)) == len(module.__all__)
    for attribute in module.__all__:
        if not hasattr(module, attribute):
            importlib.import_module(f"gan_jax.{name}.{attribute}")


@pytest.mark.integration  # starts a fresh interpreter (tests/README.md, tiers)
def test_the_training_facade_exports_its_modules_names_and_steps_load_no_orbax():
    """``gan_jax.training.__all__`` is its submodules plus the union of its homes'
    ``__all__``s; the pure steps come from a fresh interpreter without orbax."""
    from gan_jax import training

    homes = [importlib.import_module(home) for home in training._HOMES]
    exported = {name for module in homes for name in module.__all__}
    assert set(training.__all__) == exported | set(training._SUBMODULES)
    for name in exported:
        assert getattr(training, name) is next(getattr(m, name) for m in homes if name in m.__all__)
    code = (
        "import sys\n"
        "from gan_jax import training\n"
        "training.make_train_step, training.PeriodicStep\n"
        "print('orbax' in sys.modules)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    )
    assert result.stdout.strip() == "False"


@pytest.mark.integration  # starts a fresh interpreter (tests/README.md, tiers)
def test_moved_modules_keep_their_first_names():
    """0.1.0 moved the recipes into ``models`` and the engine into ``training``; the first
    names import the very same module objects, so code written against them still runs."""
    from gan_jax.image_gan import build_image_gan

    from gan_jax import checkpoint, train
    from gan_jax.models import image_gan
    from gan_jax.training import loop, steps

    assert checkpoint is importlib.import_module("gan_jax.training.checkpoint")
    assert checkpoint.__name__ == "gan_jax.training.checkpoint"  # its own spec, not the alias
    assert checkpoint.__spec__.name == "gan_jax.training.checkpoint"
    assert build_image_gan is image_gan.build_image_gan
    assert train is importlib.import_module("gan_jax.training")
    assert train.fit is loop.fit and train.make_train_step is steps.make_train_step
    for old, new in gan_jax.MOVED.items():
        assert importlib.import_module(f"gan_jax.{old}") is importlib.import_module(new)
    with pytest.raises(ModuleNotFoundError):
        importlib.import_module("gan_jax.no_such_module")
    # and python -m runs a moved module under its first name
    result = subprocess.run(
        [sys.executable, "-m", "gan_jax.launch", "--help"],
        check=False, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 0 and "usage: python -m gan_jax.training.launch" in result.stdout


def test_experiments_are_thin_and_import_no_other_experiment(repo_root):
    """Every ``experiments/*.py`` is flags, a library call and outputs: it imports no other
    experiment and no matplotlib (figures are :mod:`gan_jax.viz`'s), and its ``main`` stays
    within 60 lines (the computation lives in :mod:`gan_jax.studies` or
    :mod:`gan_jax.runner`)."""
    problems = []
    for path in sorted((repo_root / "experiments").glob("*.py")):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            names = (
                [node.module or ""]
                if isinstance(node, ast.ImportFrom)
                else [alias.name for alias in node.names]
                if isinstance(node, ast.Import)
                else []
            )
            problems += [
                f"{path.name} imports {n}"
                for n in names
                if n.split(".")[0] in ("experiments", "matplotlib")
            ]
        mains = [n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == "main"]
        problems += [
            f"{path.name}: main has {n.end_lineno - n.lineno + 1} lines"
            for n in mains
            if n.end_lineno - n.lineno + 1 > 60
        ]
    assert problems == []


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
