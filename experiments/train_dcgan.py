"""Train a DCGAN (Radford et al. 2016, arXiv:1511.06434) on real images: the project's main job.

    python -m experiments.train_dcgan                        # digits, 32×32, ≈ 10 min on 2 cores
    python -m experiments.train_dcgan --resume               # continue the run in --workdir
    python -m experiments.train_dcgan --resume-from 1500     # or from an earlier checkpoint
    python -m experiments.train_dcgan --tpu --dataset cifar10   # every TPU core, data-parallel

Defaults are the DCGAN-32 reference (:mod:`gan_jax.nets.dcgan`): z = 100, Adam(2e-4,
β₁ = 0.5), batch 64, non-saturating loss, alternating updates with one D step first, on
the embedded ``digits`` (1,437 training images upsampled to 32×32).  The command is
:mod:`gan_jax.runner.dcgan` (flags, evaluation every ``--eval-every`` steps with FCD and
class coverage, outputs: the shared runner's); checkpoints go to ``runs/dcgan_<dataset>``
and the figures and ``metrics.json`` to its ``figures/`` by default (the committed
``figures/train_dcgan`` is regenerated with ``--out figures/train_dcgan``).
"""

from __future__ import annotations

from collections.abc import Sequence

from gan_jax import cli
from gan_jax.runner import dcgan

DESCRIPTION = __doc__.split("\n\n")[0]


def build_parser() -> cli.ArgumentParser:
    return dcgan.build_parser(DESCRIPTION)


def main(argv: Sequence[str] | None = None) -> dict:
    return dcgan.train(argv, DESCRIPTION)


if __name__ == "__main__":
    cli.run_main(main)
