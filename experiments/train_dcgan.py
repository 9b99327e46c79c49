"""Train a DCGAN (Radford et al. 2016, arXiv:1511.06434) on real images: the project's main job.

    python -m experiments.train_dcgan                        # the embedded MNIST, 32×32
    python -m experiments.train_dcgan --dataset digits       # scikit-learn's 8×8 digits
    python -m experiments.train_dcgan --resume               # continue the run in --workdir
    python -m experiments.train_dcgan --resume-from 1500     # or from an earlier checkpoint
    python -m experiments.train_dcgan --tpu --dataset cifar10   # every TPU core, data-parallel

Defaults are the DCGAN-32 reference (:mod:`gan_jax.nets.dcgan`): z = 100, Adam(2e-4,
β₁ = 0.5), batch 64, non-saturating loss, alternating updates with one D step first, on
the embedded ``mnist`` (4,000 real training digits padded to 32×32; :mod:`gan_jax.data`).
D's options: ``--d-width``, ``--pack`` (PacGAN), ``--r1-gamma`` / ``--r2-gamma`` with
``--no-d-batch-norm`` (``--loss rpgan`` with both: R3GAN's objective).  The command is
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
