"""Flax (linen) network modules, used only through ``init`` and ``apply``: one submodule
per family (``layers`` holds the pieces several families share)."""

__all__ = [
    "classifier",
    "conditional",
    "dcgan",
    "dcgan_tf",
    "layers",
    "mlp",
    "progressive",
    "stylegan",
    "superres",
    "variables",
]
