"""Data-parallel training on a :class:`jax.sharding.Mesh`, on one process or many.

The mesh has one axis, ``"data"``.  Training state (parameters, BatchNorm statistics,
optimizer states, keys) is *replicated*; each batch is *sharded* along its leading axis.
Under ``jit`` the SPMD partitioner then inserts the collectives itself: gradient
all-reduces, and the cross-device means of BatchNorm's batch statistics, so a sharded step
computes the same function as the unsharded step on the same global batch (synchronised
BatchNorm; a test pins parameters to 1e-11 in float64 on 4 forced host devices).

* ``--tpu``: every TPU device, or a one-line :class:`~gan_jax.cli.UserError` at once.
* ``--devices N``: the first ``N`` devices of the default backend (GPU if present).

**Multi-controller (several processes, one per host).**  :func:`initialize_distributed`
calls ``jax.distributed.initialize()`` when the environment asks for it; the mesh then spans
``jax.devices()`` of every process, and every process runs the same program on its own
devices (JAX's multi-controller model).

* ``JAX_COORDINATOR_ADDRESS=host:port`` with ``JAX_NUM_PROCESSES`` and ``JAX_PROCESS_ID``
  (what :mod:`gan_jax.training.launch` sets for local runs; on a cluster, the job script), or
  ``JAX_COORDINATOR_ADDRESS`` alone / ``GAN_JAX_DISTRIBUTED=1`` where JAX detects the rest
  itself (Cloud TPU pod slices, Slurm, Open MPI, Kubernetes).
* ``GAN_JAX_INIT_TIMEOUT`` (seconds, default 300): how long to wait for every process to
  join.  ``GAN_JAX_HEARTBEAT_TIMEOUT`` (default 100): after this long without a heartbeat
  from a process, JAX's coordination service declares it dead and terminates every other
  process with "the JAX distributed service detected fatal errors ... another task died",
  so a dead process never leaves the others hanging.
* A coordinator address that is already in use (process 0), or that nobody answers on
  within the init timeout (the other processes), is a one-line :class:`UserError` here:
  JAX itself would crash in C++ with a stack trace.

**Data.**  Each process holds the whole dataset on its devices (replicated), and the
global batch of a step is drawn on device from the step's key
(:func:`gan_jax.data.random_batch`); the batch is sharded, so each device gathers only its
own rows.  The data order is therefore the same for any process and device count, which is
what makes a 2-process run equal to a 1-process one.  A dataset too large for one device's
memory would instead need host-fed shards (``jax.make_array_from_process_local_data``);
none of the project's datasets is (CIFAR-10 at 32² is 0.6 GB in float32).

**Host work.**  Only process 0 (:func:`is_primary`) writes logs, figures and
``metrics.json``; it evaluates on a copy of the replicated state on its own first device
(:func:`host_local`).  Checkpoints are written by every process together (orbax).  A stop
request (Ctrl-C, SIGTERM) that reaches only some processes is agreed on by all of them
(:func:`any_process`) before the next collective, so they stop at the same step.
"""

from __future__ import annotations

import errno
import os
import socket
import time
from collections.abc import Mapping
from typing import Any

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from gan_jax.dynamics.game import is_typed_key
from gan_jax.errors import UserError
from gan_jax.job_env import (
    AUTO_DETECT_ENV,
    COORDINATOR_ENV,
    HEARTBEAT_TIMEOUT_ENV,
    INIT_TIMEOUT_ENV,
    NUM_PROCESSES_ENV,
    PROCESS_ID_ENV,
)

__all__ = [
    "DATA_AXIS",
    "any_process",
    "batch_sharded",
    "constrain_batch",
    "data_mesh",
    "host_local",
    "initialize_distributed",
    "is_primary",
    "replicate",
    "replicated",
    "select_devices",
    "sync",
]

DATA_AXIS = "data"


def initialize_distributed(environ: Mapping[str, str] | None = None) -> bool:
    """Join a multi-controller job if the environment asks for one (see module doc); returns
    whether this process is part of one.  Call it before anything touches a device."""
    environ = os.environ if environ is None else environ
    address = environ.get(COORDINATOR_ENV) or None
    if address is None and environ.get(AUTO_DETECT_ENV) != "1":
        return False
    if jax.distributed.is_initialized():
        return True
    num_processes = _int_from_env(environ, NUM_PROCESSES_ENV, minimum=1)
    process_id = _int_from_env(environ, PROCESS_ID_ENV, minimum=0)
    init_timeout = _int_from_env(environ, INIT_TIMEOUT_ENV, minimum=1) or 300
    heartbeat_timeout = _int_from_env(environ, HEARTBEAT_TIMEOUT_ENV, minimum=1) or 100
    if (num_processes is None) != (process_id is None):
        raise UserError(
            f"set both {NUM_PROCESSES_ENV} and {PROCESS_ID_ENV}, or neither (then JAX detects "
            "them from the cluster environment)"
        )
    if process_id is not None and process_id >= num_processes:
        raise UserError(
            f"{PROCESS_ID_ENV}={process_id} is not below {NUM_PROCESSES_ENV}={num_processes}: "
            "process ids run from 0"
        )
    if address is not None and process_id is not None:
        host, port = _split_address(address)
        if process_id == 0:
            _check_port_free(host, port, address)
        else:
            _wait_for_coordinator(host, port, address, init_timeout)
    jax.distributed.initialize(
        address,
        num_processes,
        process_id,
        initialization_timeout=init_timeout,
        heartbeat_timeout_seconds=heartbeat_timeout,
    )
    # The first collective over a set of devices sets up gloo's connections, and gives up
    # if a process arrives 30 s after the others.  Make it now, while every process has
    # just joined; later collectives wait as long as a slow process needs (process 0
    # training the evaluation classifier, or evaluating, while the others wait).
    sync("gan_jax_joined")
    return True


def _int_from_env(environ: Mapping[str, str], name: str, minimum: int) -> int | None:
    text = environ.get(name)
    if text is None or text == "":
        return None
    try:
        value = int(text)
    except ValueError:
        value = minimum - 1
    if value < minimum:
        raise UserError(f"{name}={text!r} must be an integer of at least {minimum}")
    return value


def _split_address(address: str) -> tuple[str, int]:
    host, _, port = address.rpartition(":")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise UserError(
            f"{COORDINATOR_ENV}={address!r} is not host:port: set it to e.g. 10.0.0.2:12355"
        )
    return host.strip("[]"), int(port)


def _check_port_free(host: str, port: int, address: str) -> None:
    """Process 0 serves the coordinator on every interface at ``port`` (JAX's default bind
    address ``[::]:port``): fail in one line if something already listens there."""
    for family, bind_host in ((socket.AF_INET6, "::"), (socket.AF_INET, "0.0.0.0")):
        try:
            probe = socket.socket(family, socket.SOCK_STREAM)
        except OSError:  # no IPv6 on this machine
            continue
        with probe:
            # like gRPC: a port in TIME_WAIT from an earlier run is free to bind
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                probe.bind((bind_host, port))
                return
            except OSError as err:
                if err.errno == errno.EADDRINUSE:
                    raise UserError(
                        f"the coordinator address {address} is in use (port {port} is taken "
                        f"on this host): choose a free port in {COORDINATOR_ENV}, or stop "
                        "the run that holds it"
                    ) from None


def _wait_for_coordinator(host: str, port: int, address: str, timeout: float) -> None:
    """Processes other than 0 connect to the coordinator: wait until it accepts TCP
    connections, or fail in one line after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            with socket.create_connection((host, port), timeout=2.0):
                return
        except OSError:
            if time.monotonic() >= deadline:
                raise UserError(
                    f"no coordinator answered at {address} within {timeout:g} s: start "
                    f"process 0 (it serves the coordinator), check {COORDINATOR_ENV} and "
                    f"that the port is reachable, or raise {INIT_TIMEOUT_ENV}"
                ) from None
            time.sleep(0.25)


def is_primary() -> bool:
    """Whether this is process 0, the one that writes logs, figures and metrics."""
    return jax.process_index() == 0


def any_process(flag: bool) -> bool:
    """``flag`` OR-ed over every process (a collective: every process must call it at the
    same point).  On one process, ``flag`` itself."""
    if jax.process_count() == 1:
        return bool(flag)
    from jax.experimental import multihost_utils

    return bool(np.any(multihost_utils.process_allgather(np.int32(flag))))


def sync(name: str) -> None:
    """Wait until every process reaches this point (no-op on one process)."""
    if jax.process_count() > 1:
        from jax.experimental import multihost_utils

        multihost_utils.sync_global_devices(name)


def host_local(tree: Any) -> Any:
    """``tree`` with every array replicated over several devices (of this process or of
    several) replaced by its copy on this process's first device of the mesh, without a
    transfer: for single-device work such as evaluation and sampling, whose other inputs
    (a classifier, fixed latents) live on one device."""

    def local(leaf: Any) -> Any:
        if not isinstance(leaf, jax.Array) or len(leaf.sharding.device_set) == 1:
            return leaf
        if not leaf.is_fully_replicated:
            raise ValueError("host_local needs replicated arrays; this one is sharded")
        return leaf.addressable_data(0)

    return jax.tree.map(local, tree)


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
    """The sharding that keeps a whole copy of an array on every device of ``mesh``."""
    return NamedSharding(mesh, PartitionSpec())


def batch_sharded(mesh: Mesh) -> NamedSharding:
    """The sharding that splits an array's leading (batch) axis over ``mesh``'s data axis."""
    return NamedSharding(mesh, PartitionSpec(DATA_AXIS))


def replicate(tree: Any, mesh: Mesh) -> Any:
    """Put every leaf of ``tree`` on every device of ``mesh``.

    On a mesh that spans several processes, each process contributes its own copy, and the
    copies must be equal (they are: every process builds the state from the same seed)."""
    sharding = replicated(mesh)
    if sharding.is_fully_addressable:
        return jax.device_put(tree, sharding)

    def put(leaf: Any) -> Any:
        if is_typed_key(leaf):
            data = jax.device_put(np.asarray(jax.random.key_data(leaf)), sharding)
            return jax.random.wrap_key_data(data, impl=jax.random.key_impl(leaf))
        return jax.device_put(np.asarray(leaf), sharding)

    return jax.tree.map(put, tree)


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
