"""Creating a network's variables as one compiled program, once per network, and copying
a tree of them as one program."""

from __future__ import annotations

import functools
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp


@functools.partial(jax.jit, static_argnums=0)
def _init(module: nn.Module, key: jax.Array, *inputs: Any) -> Any:
    return module.init(key, *inputs)


def init_variables(module: nn.Module, key: jax.Array, *inputs: Any) -> Any:
    """``module.init(key, *inputs)``, jitted: run eagerly, every initializer and layer op
    compiles on its own (hundreds of small programs for the DCGAN-32; the cost is on
    :doc:`/library/image_gans`).

    The module is a static argument, so equal modules (flax modules compare by their
    fields) share one compiled program per input shape; ``jax.jit(module.init)`` compiled
    it again for every new module object.  A module with an unhashable field falls back
    to that.
    """
    try:
        hash(module)
    except TypeError:
        return jax.jit(module.init)(key, *inputs)
    return _init(module, key, *inputs)


@jax.jit
def copy_tree(tree: Any) -> Any:
    """A copy of every array of ``tree`` in its own buffers (same shardings), as one
    program: steps that donate their inputs must not consume the caller's arrays, and
    copying leaf by leaf outside ``jit`` compiled a program per leaf shape."""
    return jax.tree.map(jnp.copy, tree)
