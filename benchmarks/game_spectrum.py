"""Seconds to the top-k eigenvalues (largest modulus) of the DCGAN-32 game Jacobian, matrix
free (:func:`gan_jax.dynamics.spectrum.game_eigenvalues`: ARPACK over jitted
vector-Jacobian products), at the reference DCGAN's initial parameters on one batch of
64, its layers computed for second derivatives
(:data:`gan_jax.nets.dcgan.SECOND_ORDER_METHODS`, as ``experiments.game_spectrum`` uses).  Prints one JSON object: parameters, the compile seconds of one product, seconds per
product, the products ARPACK asked for, total seconds and the eigenvalues.

    python -m benchmarks.game_spectrum                    # k = 20, RGB (1.73 M parameters)
    python -m benchmarks.game_spectrum --channels 1 --k 10
"""

from __future__ import annotations

import json
import os
import sys
import time

import jax
import numpy as np

from gan_jax import cli
from gan_jax.dynamics.spectrum import FlatGame, game_eigenvalues
from gan_jax.models.image_gan import ImageGANConfig, build_image_gan
from gan_jax.nets.dcgan import SECOND_ORDER_METHODS


def main() -> None:
    parser = cli.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--channels", type=int, default=3)
    parser.add_argument("--k", type=int, default=20)
    parser.add_argument("--tol", type=float, default=1e-3, help="ARPACK's relative accuracy")
    parser.add_argument("--ncv", type=int, default=None, help="Arnoldi basis size (2k + 1)")
    args = parser.parse_args()
    config = ImageGANConfig(channels=args.channels, **SECOND_ORDER_METHODS)
    images = jax.random.uniform(jax.random.key(0), (256, 32, 32, args.channels), minval=-1.0)
    model = build_image_gan(config, images, jax.random.key(1))
    batch = {"real": images[: config.batch_size], "key": jax.random.key(2)}
    g, d = model.state.g, model.state.d

    flat = FlatGame(model.game, g, d, batch)
    probe = jax.random.normal(jax.random.key(3), flat.theta.shape)
    start = time.perf_counter()
    jax.block_until_ready(flat.transposed_product(probe))
    first = time.perf_counter() - start
    start = time.perf_counter()
    for _ in range(3):
        jax.block_until_ready(flat.transposed_product(probe))
    per_product = (time.perf_counter() - start) / 3

    info: dict = {}
    start = time.perf_counter()
    values = game_eigenvalues(
        model.game, g, d, batch, k=args.k, tol=args.tol, ncv=args.ncv, info=info
    )
    seconds = time.perf_counter() - start
    print(
        json.dumps(
            {
                "benchmark": "dcgan32_game_spectrum",
                "channels": args.channels,
                "k": args.k,
                "tol": args.tol,
                "ncv": args.ncv,
                "parameters": info["parameters"],
                "backend": jax.default_backend(),
                "cpu_count": os.cpu_count(),
                "jax": jax.__version__,
                "product_compile_s": round(first - per_product, 2),
                "seconds_per_product": round(per_product, 3),
                "products": info.get("products"),
                "seconds": round(seconds, 1),
                "eigenvalues": [[float(np.real(v)), float(np.imag(v))] for v in values],
            }
        )
    )


if __name__ == "__main__":
    sys.exit(main())
