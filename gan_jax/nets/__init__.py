"""Flax (linen) network modules, used only through ``init`` and ``apply``."""
