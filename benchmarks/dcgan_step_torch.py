"""PyTorch eager baseline for ``benchmarks/dcgan_step.py``: the DCGAN-32 reference training
step (see :mod:`gan_jax.nets.dcgan`) in plain PyTorch, timed the same way.

Not a dependency of gan_jax: run it in its own virtualenv, on the same machine::

    python -m venv /tmp/torch && /tmp/torch/bin/pip install torch==2.13.0 numpy
    /tmp/torch/bin/python benchmarks/dcgan_step_torch.py

The step is the PyTorch DCGAN example's (one D step on a real and a fake batch, then one
G step with the non-saturating loss, Adam(2e-4, β₁ = 0.5), batch 64, BatchNorm in
training mode), except that, like gan_jax's alternating scheme, the G step draws fresh
latents instead of reusing the D step's fakes.  Prints one JSON line.
"""

from __future__ import annotations

import argparse
import json
import sys
import time

try:
    import torch
    from torch import nn
except ModuleNotFoundError:  # --help works without it; main() names the fix
    torch = nn = None


def generator(z_dim: int, channels: int, width: int = 64) -> nn.Module:
    return nn.Sequential(
        nn.ConvTranspose2d(z_dim, 4 * width, 4, 1, 0, bias=False),
        nn.BatchNorm2d(4 * width),
        nn.ReLU(True),
        nn.ConvTranspose2d(4 * width, 2 * width, 4, 2, 1, bias=False),
        nn.BatchNorm2d(2 * width),
        nn.ReLU(True),
        nn.ConvTranspose2d(2 * width, width, 4, 2, 1, bias=False),
        nn.BatchNorm2d(width),
        nn.ReLU(True),
        nn.ConvTranspose2d(width, channels, 4, 2, 1),
        nn.Tanh(),
    )


def discriminator(channels: int, width: int = 64) -> nn.Module:
    return nn.Sequential(
        nn.Conv2d(channels, width, 4, 2, 1),
        nn.LeakyReLU(0.2, True),
        nn.Conv2d(width, 2 * width, 4, 2, 1, bias=False),
        nn.BatchNorm2d(2 * width),
        nn.LeakyReLU(0.2, True),
        nn.Conv2d(2 * width, 4 * width, 4, 2, 1, bias=False),
        nn.BatchNorm2d(4 * width),
        nn.LeakyReLU(0.2, True),
        nn.Conv2d(4 * width, 1, 4, 1, 0),
    )


def main() -> None:
    # plain argparse: this script runs in a virtualenv of its own, without gan_jax
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--batch-size", type=int, default=64, help="images per step")
    parser.add_argument("--channels", type=int, default=1, help="image channels")
    parser.add_argument("--steps", type=int, default=50, help="timed steps")
    parser.add_argument("--warmup", type=int, default=5, help="untimed steps first")
    parser.add_argument(
        "--reuse-fakes",
        action="store_true",
        help="the PyTorch example's shortcut: the G step reuses the D step's fakes (one G "
        "forward per step instead of two)",
    )
    args = parser.parse_args()
    if torch is None:
        print("error: this baseline needs PyTorch: pip install torch numpy", file=sys.stderr)
        raise SystemExit(2)
    torch.manual_seed(0)
    z_dim = 100
    net_g, net_d = generator(z_dim, args.channels), discriminator(args.channels)
    opt_g = torch.optim.Adam(net_g.parameters(), lr=2e-4, betas=(0.5, 0.999))
    opt_d = torch.optim.Adam(net_d.parameters(), lr=2e-4, betas=(0.5, 0.999))
    bce = nn.BCEWithLogitsLoss()
    real = torch.randn(args.batch_size, args.channels, 32, 32).clamp(-1, 1)
    ones, zeros = torch.ones(args.batch_size), torch.zeros(args.batch_size)

    def step() -> None:
        net_d.zero_grad(set_to_none=True)
        fake = net_g(torch.randn(args.batch_size, z_dim, 1, 1))
        loss_d = bce(net_d(real).view(-1), ones) + bce(net_d(fake.detach()).view(-1), zeros)
        loss_d.backward()
        opt_d.step()
        net_g.zero_grad(set_to_none=True)
        if not args.reuse_fakes:
            fake = net_g(torch.randn(args.batch_size, z_dim, 1, 1))
        loss_g = bce(net_d(fake).view(-1), ones)
        loss_g.backward()
        opt_g.step()

    start = time.perf_counter()
    step()
    first_step_s = time.perf_counter() - start
    for _ in range(args.warmup):
        step()
    start = time.perf_counter()
    for _ in range(args.steps):
        step()
    seconds = time.perf_counter() - start
    print(
        json.dumps(
            {
                "framework": f"torch {torch.__version__} eager",
                "threads": torch.get_num_threads(),
                "batch_size": args.batch_size,
                "reuse_fakes": args.reuse_fakes,
                "first_step_s": round(first_step_s, 3),
                "steps_per_s": round(args.steps / seconds, 3),
                "images_per_s": round(args.steps * args.batch_size / seconds, 1),
            }
        )
    )


if __name__ == "__main__":
    main()
