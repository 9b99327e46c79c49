"""Natural photographs that ship inside scikit-learn and scikit-image, cut into patches: the
offline data of the super-resolution study (LAG, Berthelot et al. 2020, arXiv:2003.02365).

Nothing is downloaded: the photographs are the files bundled in the two wheels
(``sklearn.datasets.load_sample_images``: ``china``, ``flower``; ``skimage.data``:
``astronaut``, ``chelsea``, ``coffee``, ``rocket``).  Whole photographs are held out for
testing (:data:`TEST_PHOTOGRAPHS`: ``flower`` and ``chelsea``), so no test patch overlaps a
training one.  Patches are ``size × size`` crops on a grid of ``stride`` pixels, scaled to
``[−1, 1]``; the low-resolution inputs are their area down-sampling
(:func:`gan_jax.nets.progressive.area_downsample`, ×4: 32×32 → 8×8 by default).
"""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np

from gan_jax.data import ImageDataset, uint8_to_unit_range

TRAIN_PHOTOGRAPHS = ("china", "astronaut", "coffee", "rocket")
TEST_PHOTOGRAPHS = ("flower", "chelsea")


def load_photograph(name: str) -> np.ndarray:
    """One bundled photograph, ``(H, W, 3)`` uint8."""
    if name in ("china", "flower"):
        from sklearn.datasets import load_sample_image

        return np.asarray(load_sample_image(f"{name}.jpg"))
    import skimage.data

    if name not in ("astronaut", "chelsea", "coffee", "rocket"):
        raise ValueError(f"unknown photograph {name!r}")
    return np.asarray(getattr(skimage.data, name)())


def patches(image: np.ndarray, size: int = 32, stride: int = 16) -> np.ndarray:
    """Every ``size × size`` crop of ``image`` ``(H, W, C)`` whose corner lies on the
    ``stride`` grid, ``(N, size, size, C)`` (no crop leaves the image)."""
    h, w = image.shape[:2]
    return np.stack(
        [
            image[y : y + size, x : x + size]
            for y in range(0, h - size + 1, stride)
            for x in range(0, w - size + 1, stride)
        ]
    )


def load_photograph_patches(split: str = "train", size: int = 32, stride: int = 16) -> ImageDataset:
    """The patches of the ``split``'s photographs (module doc) in ``[−1, 1]``; the label of
    a patch is the index of its photograph in the split."""
    names = {"train": TRAIN_PHOTOGRAPHS, "test": TEST_PHOTOGRAPHS}.get(split)
    if names is None:
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    crops = [patches(load_photograph(name), size, stride) for name in names]
    labels = np.concatenate([np.full(len(c), i, np.int32) for i, c in enumerate(crops)])
    images = jnp.asarray(uint8_to_unit_range(np.concatenate(crops)))
    return ImageDataset(
        images=images, labels=jnp.asarray(labels), num_classes=len(names), name="photos"
    )
