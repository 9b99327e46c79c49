"""Throughput of the DCGAN-32 reference training step (:mod:`gan_jax.nets.dcgan`): one
alternating D-then-G step, Adam(2e-4, β₁ = 0.5), batch 64, non-saturating loss, the real
batch sampled on device, run as :func:`gan_jax.training.make_chunk` runs it in training (jitted
donated steps, compiled with :func:`gan_jax.training.step_compiler_options`).  Prints one JSON
object: compile seconds, steps/s, images/s.

    python -m benchmarks.dcgan_step
    python -m benchmarks.dcgan_step --upsample transpose       # the direct transposed conv
    python -m benchmarks.dcgan_step --upsample subpixel        # phases also for G's output
    python -m benchmarks.dcgan_step --torch-python /tmp/torch/bin/python   # + PyTorch eager
    python -m benchmarks.dcgan_step --channels 3 --r1-gamma 0.1 --r2-gamma 0.1   # R3GAN's D penalty
    python -m benchmarks.dcgan_step --channels 3 --r1-gamma 0.1 --r2-gamma 0.1 --downsample conv
    python -m benchmarks.dcgan_step --channels 3 --g-steps 2   # DCGAN-TensorFlow's two G updates
    python -m benchmarks.dcgan_step --channels 3 --g-steps 2 --nets dcgan_tf --resolution 28

With ``--torch-python`` the PyTorch eager baseline (``benchmarks/dcgan_step_torch.py``, same
architecture and step, in its own virtualenv) is timed in the same run, alternating with
JAX over ``--rounds`` rounds, and the JSON gains its numbers and the ratio of medians.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys

import jax
import numpy as np

from benchmarks.timing import time_chunks
from gan_jax import cli
from gan_jax.models.image_gan import (
    NETS,
    ImageGANConfig,
    build_image_gan,
    discriminator_downsample,
    parameter_count,
)
from gan_jax.nets.dcgan import DOWNSAMPLE_METHODS, UPSAMPLE_METHODS
from gan_jax.training.steps import make_chunk


def time_jax(args: argparse.Namespace) -> dict:
    penalised = bool(args.r1_gamma or args.r2_gamma)
    config = ImageGANConfig(
        resolution=args.resolution, nets=args.nets, channels=args.channels,
        upsample=args.upsample, downsample=args.downsample,
        r1_gamma=args.r1_gamma, r2_gamma=args.r2_gamma, d_batch_norm=not penalised,
        d_steps=args.d_steps, g_steps=args.g_steps,
    )  # fmt: skip
    images = jax.random.uniform(
        jax.random.key(0), (1024, args.resolution, args.resolution, args.channels), minval=-1.0
    )
    model = build_image_gan(config, images, jax.random.key(1))
    chunk = make_chunk(model.step, args.chunk)
    state, timing = time_chunks(chunk, model.state, args.chunk, args.chunks)
    return {
        **timing,
        "images_per_s": round(timing["steps_per_s"] * config.batch_size, 1),
        "d_downsample": discriminator_downsample(config),
        "params_g": parameter_count(state.g),
        "params_d": parameter_count(state.d),
    }


def time_torch(python: str, args: argparse.Namespace) -> dict:
    script = os.path.join(os.path.dirname(os.path.abspath(__file__)), "dcgan_step_torch.py")
    command = [python, script, "--steps", str(args.chunk * args.chunks)]
    command += ["--channels", str(args.channels)]
    out = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def main() -> None:
    parser = cli.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--channels", type=int, default=1)
    parser.add_argument("--nets", choices=NETS, default="dcgan", help="ImageGANConfig.nets")
    parser.add_argument(
        "--resolution", type=cli.positive_int, default=32, help="dcgan: 4·2^k; dcgan_tf: any"
    )
    parser.add_argument("--upsample", choices=UPSAMPLE_METHODS, default="auto")
    parser.add_argument("--downsample", choices=DOWNSAMPLE_METHODS, default="auto")
    parser.add_argument(
        "--r1-gamma", type=float, default=0.0, help="γ of (γ/2)·R1 (D then without BatchNorm)"
    )
    parser.add_argument(
        "--r2-gamma", type=float, default=0.0, help="γ of (γ/2)·R2 (D then without BatchNorm)"
    )
    parser.add_argument(
        "--d-steps", type=cli.positive_int, default=1, help="D updates per alternating step"
    )
    parser.add_argument(
        "--g-steps", type=cli.positive_int, default=1, help="G updates per alternating step"
    )
    parser.add_argument("--chunk", type=int, default=10, help="steps per timed chunk")
    parser.add_argument("--chunks", type=int, default=8, help="timed chunks per round")
    parser.add_argument("--rounds", type=int, default=3, help="JAX/PyTorch rounds")
    parser.add_argument("--torch-python", help="python of a virtualenv with torch==2.13.0")
    args = parser.parse_args()
    if args.torch_python and (args.r1_gamma or args.r2_gamma):
        parser.error("the PyTorch baseline has no R1/R2: drop --torch-python or the penalties")
    if args.torch_python and (args.nets, args.resolution) != ("dcgan", 32):
        parser.error("the PyTorch baseline is DCGAN-32: drop --torch-python or --nets/--resolution")
    if args.torch_python and (args.d_steps, args.g_steps) != (1, 1):
        parser.error("the PyTorch baseline takes one update of each: drop --torch-python")
    result = {
        "benchmark": "dcgan32_train_step",
        "nets": args.nets,
        "resolution": args.resolution,
        "batch_size": 64,
        "upsample": args.upsample,
        "downsample": args.downsample,
        "r1_gamma": args.r1_gamma,
        "r2_gamma": args.r2_gamma,
        "d_steps": args.d_steps,
        "g_steps": args.g_steps,
        "backend": jax.default_backend(),
        "device": str(jax.devices()[0].device_kind),
        "cpu_count": os.cpu_count(),
        "jax": jax.__version__,
    }
    jax_runs, torch_runs = [], []
    for _ in range(args.rounds if args.torch_python else 1):
        jax_runs.append(time_jax(args))
        if args.torch_python:
            torch_runs.append(time_torch(args.torch_python, args))
    result.update(jax_runs[np.argsort([r["steps_per_s"] for r in jax_runs])[len(jax_runs) // 2]])
    result["steps_per_s_rounds"] = [r["steps_per_s"] for r in jax_runs]
    if torch_runs:
        torch_rates = [r["steps_per_s"] for r in torch_runs]
        result["torch"] = {
            "framework": torch_runs[0]["framework"],
            "steps_per_s": statistics.median(torch_rates),
            "steps_per_s_rounds": torch_rates,
            "images_per_s": round(statistics.median(torch_rates) * 64, 1),
        }
        result["speedup_vs_torch"] = round(
            result["steps_per_s"] / statistics.median(torch_rates), 3
        )
    print(json.dumps(result))


if __name__ == "__main__":
    sys.exit(main())
