"""The library's error types, in a leaf module every layer may import (it imports nothing).

A *user error* is one the user fixes by changing the command or the files it names; its
message names the fix.  The CLIs (:func:`gan_jax.cli.run_main`) print these as one
``error: …`` line with exit status 2 instead of a traceback; library callers catch them
like any exception.
"""

from __future__ import annotations

__all__ = [
    "USER_ERRORS",
    "CheckpointError",
    "DatasetUnavailableError",
    "UnknownDatasetError",
    "UserError",
]


class UserError(Exception):
    """An error the user fixes by changing the command; its message names the fix."""


class CheckpointError(RuntimeError):
    """A checkpoint directory is missing, empty or unreadable, or a step fails its digests."""


class UnknownDatasetError(ValueError):
    """Raised for a dataset name that is not in :data:`gan_jax.data.DATASETS`."""


class DatasetUnavailableError(RuntimeError):
    """Raised when a known tfds dataset cannot be read (not downloaded, no network)."""


USER_ERRORS: tuple[type[BaseException], ...] = (
    UserError,
    UnknownDatasetError,
    DatasetUnavailableError,
    CheckpointError,
)
