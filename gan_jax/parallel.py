"""Data-parallel training on a :class:`jax.sharding.Mesh`, with JAX's own machinery only.

The mesh has one axis, ``"data"``.  Training state (parameters, BatchNorm statistics,
optimizer states, keys) is *replicated*; each batch is *sharded* along its leading axis.
Under ``jit`` the SPMD partitioner then inserts the collectives itself: gradient
all-reduces, and the cross-device means of BatchNorm's batch statistics, so a sharded step
computes the same function as the unsharded step on the same global batch (synchronised
BatchNorm; a test pins parameters to 1e-5 on 4 forced host devices).

* ``--tpu``: every TPU device, or a one-line :class:`~gan_jax.cli.UserError` at once.
* ``--devices N``: the first ``N`` local devices of the default backend (GPU if present).
* Multi-host: :func:`initialize_distributed` calls ``jax.distributed.initialize()`` when
  the environment asks for it (``JAX_COORDINATOR_ADDRESS`` set, or
  ``GAN_JAX_DISTRIBUTED=1`` on a Cloud TPU pod slice where JAX finds the coordinator
  itself); the mesh then spans ``jax.devices()`` of every host.  Not exercised here: no
  pod is reachable from this project's machines.
"""

from __future__ import annotations

import os
from typing import Any

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from gan_jax.cli import UserError
from gan_jax.dynamics.game import is_typed_key

DATA_AXIS = "data"


def initialize_distributed(environ: dict[str, str] | None = None) -> bool:
    """Call ``jax.distributed.initialize()`` if the environment asks for a multi-host run
    (see module doc); returns whether it did."""
    environ = os.environ if environ is None else environ
    if environ.get("JAX_COORDINATOR_ADDRESS") or environ.get("GAN_JAX_DISTRIBUTED") == "1":
        jax.distributed.initialize()
        return True
    return False


def select_devices(tpu: bool = False, num_devices: int | None = None) -> list[jax.Device]:
    """The devices to train on: all TPUs (``tpu=True``), or the first ``num_devices`` of the
    default backend (all of them when ``None``).  Raises :class:`UserError` if there are
    none or too few."""
    if tpu:
        try:
            devices = jax.devices("tpu")
        except RuntimeError:
            devices = []
        if not devices:
            found = ", ".join(sorted({d.platform for d in jax.devices()}))
            raise UserError(
                f"--tpu needs TPU devices, but JAX sees only: {found}; run on a TPU VM with "
                "jax[tpu] installed, or drop --tpu"
            )
    else:
        devices = jax.devices()
    if num_devices is not None:
        if num_devices > len(devices):
            raise UserError(
                f"--devices {num_devices} asks for more devices than the {len(devices)} "
                f"{devices[0].platform} device(s) available; pass --devices "
                f"{len(devices)} or fewer"
            )
        devices = devices[:num_devices]
    return devices


def data_mesh(devices: list[jax.Device] | None = None) -> Mesh:
    """A one-axis (``"data"``) mesh over ``devices`` (default: all)."""
    return Mesh(np.array(devices or jax.devices()), (DATA_AXIS,))


def replicated(mesh: Mesh) -> NamedSharding:
    return NamedSharding(mesh, PartitionSpec())


def batch_sharded(mesh: Mesh) -> NamedSharding:
    return NamedSharding(mesh, PartitionSpec(DATA_AXIS))


def replicate(tree: Any, mesh: Mesh) -> Any:
    """Put every leaf of ``tree`` on every device of ``mesh``."""
    return jax.device_put(tree, replicated(mesh))


def constrain_batch(batch: Any, mesh: Mesh | None) -> Any:
    """Inside ``jit``: shard every data leaf of ``batch`` (arrays with a leading batch axis)
    along ``"data"``; keys and scalars stay replicated.  ``mesh=None`` is a no-op."""
    if mesh is None or mesh.size == 1:
        return batch

    def constrain(leaf: Any) -> Any:
        if is_typed_key(leaf) or getattr(leaf, "ndim", 0) == 0:
            return leaf
        if leaf.shape[0] % mesh.size:
            raise ValueError(
                f"batch of {leaf.shape[0]} does not split over {mesh.size} devices: use a "
                "batch size that is a multiple of the device count"
            )
        return jax.lax.with_sharding_constraint(leaf, batch_sharded(mesh))

    return jax.tree.map(constrain, batch)
