"""XLA compiler options for training steps (a leaf module: the fit loop, the latent-space
projection and the game spectrum compile with them)."""

from __future__ import annotations

from typing import Any

import jax

__all__ = ["XLA_CPU_OPTIONS", "full_optimization_options", "step_compiler_options"]

# XLA:CPU compiler options for training steps (see :func:`step_compiler_options`).
XLA_CPU_OPTIONS: dict[str, Any] = {
    "xla_cpu_experimental_ynn_fusion_type": "",
    "xla_cpu_use_xnnpack": False,
    "xla_cpu_prefer_vector_width": 512,
}


def step_compiler_options() -> dict[str, Any] | None:
    """Compiler options for a jitted training step: :data:`XLA_CPU_OPTIONS` on the CPU
    backend, none elsewhere.

    They route XLA:CPU's convolutions and matrix products to its Eigen kernels instead of
    the YNNPACK library fusions that jax 0.10 uses by default, and let element-wise code use
    512-bit vectors.  Eigen's convolutions are faster on the CPUs we measured, its
    per-channel reductions much slower, which is why the DCGAN's BatchNorm and bias
    gradients are matrix products (:mod:`gan_jax.nets.layers`); the measurements, against
    PyTorch eager too, are on the benchmarks page (``benchmarks/dcgan_step.py``).  Options
    are per jit: the process's ``XLA_FLAGS`` and every other computation are left alone.
    """
    return dict(XLA_CPU_OPTIONS) if jax.default_backend() == "cpu" else None


def full_optimization_options() -> dict[str, Any]:
    """:func:`step_compiler_options` at XLA's full backend optimisation level (3, its
    default) whatever the process's ``XLA_FLAGS`` say, for the convolution-heavy programs
    that run over many images: the supervised steps of :func:`gan_jax.training.minimize`
    (the evaluation classifier, the feature networks, the encoder) and the classifier's
    forward passes.  A process-wide ``--xla_backend_optimization_level=0`` (the test
    suite's, which halves compile times) runs their convolutions several times slower
    (tests/README.md has the measurement)."""
    return dict(step_compiler_options() or {}, xla_backend_optimization_level=3)
