"""Throughput of the progressive GAN's training step at every stage
(:mod:`gan_jax.models.progressive_gan`, the ``train_pggan`` defaults: widths ``min(64, 512/r)``,
z = 128, WGAN-GP + drift, alternating D-then-G, Adam(1e-3, 0, 0.99), batch 128 at 4×4 and
8×8 and 64 above).  Each stage is timed in its fade-in phase (both paths computed, α
traced), as :func:`gan_jax.training.fit` runs it: jitted donated steps compiled with
:func:`gan_jax.training.step_compiler_options`.  Prints one JSON object with, per stage,
compile seconds, steps/s and images/s, and the seconds the default schedule spends there.

    python -m benchmarks.pggan_step
    python -m benchmarks.pggan_step --loss ns-r1 --resolution 64
"""

from __future__ import annotations

import json
import os
import sys

import jax

from benchmarks.timing import time_chunks
from gan_jax import cli
from gan_jax.models.image_gan import parameter_count
from gan_jax.models.progressive_gan import ProgressiveConfig, ProgressiveGAN
from gan_jax.training.steps import make_chunk


def main() -> None:
    parser = cli.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--resolution", type=int, default=32)
    parser.add_argument("--channels", type=int, default=1)
    parser.add_argument("--loss", default="wgan-gp", choices=("wgan-gp", "ns-r1"))
    parser.add_argument("--chunk", type=int, default=5, help="steps per timed chunk")
    parser.add_argument("--chunks", type=int, default=4, help="timed chunks per stage")
    args = parser.parse_args()
    config = ProgressiveConfig(
        resolution=args.resolution,
        channels=args.channels,
        fmap_base=512,
        fmap_max=64,
        loss=args.loss,
    )
    images = jax.random.uniform(
        jax.random.key(0), (512, args.resolution, args.resolution, args.channels), minval=-1.0
    )
    model = ProgressiveGAN(config, images, jax.random.key(1))
    stages, state = [], None
    for phase in model.phases:
        if phase.stage and not phase.fade:
            continue  # the stable phase runs the same compiled step
        built = model.build(phase, state)
        chunk = make_chunk(built.step, args.chunk)
        state = jax.tree.map(lambda leaf: leaf.copy(), built.state)
        state, timing = time_chunks(chunk, state, args.chunk, args.chunks)
        steps_per_s = timing["steps_per_s"]
        stage_steps = sum(p.end - p.start for p in model.phases if p.stage == phase.stage)
        stages.append(
            {
                "resolution": phase.resolution,
                "batch_size": phase.batch_size,
                "compile_s": timing["compile_s"],
                "steps_per_s": steps_per_s,
                "images_per_s": round(steps_per_s * phase.batch_size, 1),
                "schedule_steps": stage_steps,
                "schedule_seconds": round(stage_steps / steps_per_s, 1),
                "params_g": parameter_count(state.g),
                "params_d": parameter_count(state.d),
            }
        )
    result = {
        "benchmark": f"pggan{args.resolution}_train_step",
        "loss": args.loss,
        "backend": jax.default_backend(),
        "device": str(jax.devices()[0].device_kind),
        "cpu_count": os.cpu_count(),
        "jax": jax.__version__,
        "stages": stages,
        "schedule_seconds": round(sum(s["schedule_seconds"] for s in stages), 1),
        "schedule_compile_s": round(sum(s["compile_s"] for s in stages), 1),
    }
    print(json.dumps(result))


if __name__ == "__main__":
    sys.exit(main())
