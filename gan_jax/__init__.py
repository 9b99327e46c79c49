"""gan_jax: functional JAX/Flax GANs with training dynamics first.

The subpackages a researcher composes from (each with an explicit ``__all__``):

* :mod:`gan_jax.losses`: adversarial losses and penalties on logits (TF-GAN's formulas);
* :mod:`gan_jax.dynamics`: :class:`~gan_jax.dynamics.Game`, the update rules, toy games,
  closed forms, the game spectrum and the discretisation drift;
* :mod:`gan_jax.nets`: flax.linen networks;
* :mod:`gan_jax.gan`: the game of a (generator, discriminator, losses, penalties) GAN;
* :mod:`gan_jax.data`, :mod:`gan_jax.metrics`, :mod:`gan_jax.latent`;
* :mod:`gan_jax.training`: the engine (pure steps, the fit loop with its callbacks and
  metric writers, checkpoints, multi-device training and the multi-process launcher);
* :mod:`gan_jax.configs`: settings declared once as dataclass fields (CLI flags, config
  files);
* :mod:`gan_jax.models`: the recipes (DCGAN, progressive, StyleGAN, LAG, feature-conditioned
  and mixture GANs, the evaluation classifier), each assembled by one
  :func:`~gan_jax.models.assembly`;
* :mod:`gan_jax.studies`: each experiment's computation (numbers and figure data);
* :mod:`gan_jax.viz`: every figure; :mod:`gan_jax.runner`: what the training CLIs share.

``import gan_jax`` loads none of them; ``gan_jax.losses`` (any name of ``__all__``)
imports its subpackage on first use, so ``import gan_jax; gan_jax.losses.r1_penalty``
works without loading matplotlib, orbax or tensorflow-datasets.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.util
import sys
from typing import Any, ClassVar

__version__ = "0.1.0"

__all__ = [
    "__version__",
    "averaging",
    "checkpoint",
    "cli",
    "configs",
    "data",
    "dynamics",
    "errors",
    "gan",
    "interpolation",
    "latent",
    "losses",
    "metrics",
    "models",
    "nets",
    "parallel",
    "runner",
    "studies",
    "train",
    "training",
    "viz",
]

# Modules that moved into subpackages (0.1.0), importable under their first names as the
# same module object (``import gan_jax.checkpoint`` gives ``gan_jax.training.checkpoint``).
MOVED = {
    "train": "gan_jax.training",
    "checkpoint": "gan_jax.training.checkpoint",
    "parallel": "gan_jax.training.parallel",
    "launch": "gan_jax.training.launch",
    **{
        name: f"gan_jax.models.{name}"
        for name in (
            "image_gan",
            "progressive_gan",
            "stylegan",
            "lag",
            "feature_gan",
            "mixture_gan",
            "feature_classifier",
            "semantic_pyramid",
            "optimal_discriminator",
        )
    },
}


class _MovedModules(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """``import gan_jax.<old name>`` gives the module at its new home (:data:`MOVED`)."""

    def find_spec(self, fullname: str, path: Any = None, target: Any = None) -> Any:
        prefix, _, name = fullname.rpartition(".")
        if prefix != __name__ or name not in MOVED:
            return None
        return importlib.util.spec_from_loader(fullname, self)

    def create_module(self, spec: Any) -> Any:
        module = importlib.import_module(MOVED[spec.name.rpartition(".")[2]])
        self._specs[module.__name__] = module.__spec__
        return module

    def exec_module(self, module: Any) -> None:
        # the import system set the alias' spec on the module: give it back its own
        module.__spec__ = self._specs[module.__name__]

    def get_code(self, fullname: str) -> Any:
        """The moved module's code, so ``python -m gan_jax.<old name>`` still runs it."""
        target = MOVED[fullname.rpartition(".")[2]]
        return importlib.util.find_spec(target).loader.get_code(target)

    _specs: ClassVar[dict[str, Any]] = {}


if not any(isinstance(finder, _MovedModules) for finder in sys.meta_path):
    sys.meta_path.append(_MovedModules())


def __getattr__(name: str) -> Any:
    if name in MOVED:
        return importlib.import_module(MOVED[name])
    if name in __all__:
        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
