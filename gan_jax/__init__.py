"""gan_jax: functional JAX/Flax GANs with training dynamics first.

The subpackages a researcher composes from (each with an explicit ``__all__``):

* :mod:`gan_jax.losses`: adversarial losses and penalties on logits (TF-GAN's formulas);
* :mod:`gan_jax.dynamics`: :class:`~gan_jax.dynamics.Game`, the update rules, toy games,
  closed forms and the game spectrum;
* :mod:`gan_jax.nets`: flax.linen networks;
* :mod:`gan_jax.gan`: the game of a (generator, discriminator, losses, penalties) GAN;
* :mod:`gan_jax.data`, :mod:`gan_jax.metrics`, :mod:`gan_jax.latent`;
* :mod:`gan_jax.train`, :mod:`gan_jax.checkpoint`, :mod:`gan_jax.parallel`: the fit loop,
  checkpoints and multi-device training;
* :mod:`gan_jax.viz`: every figure.

``import gan_jax`` loads none of them; ``gan_jax.losses`` (any name of ``__all__``)
imports its subpackage on first use, so ``import gan_jax; gan_jax.losses.r1_penalty``
works without loading matplotlib, orbax or tensorflow-datasets.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

__all__ = [
    "__version__",
    "averaging",
    "checkpoint",
    "data",
    "dynamics",
    "errors",
    "gan",
    "interpolation",
    "latent",
    "losses",
    "metrics",
    "nets",
    "parallel",
    "train",
    "viz",
]


def __getattr__(name: str) -> Any:
    if name in __all__:
        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
