"""Natural photographs that ship inside scikit-learn and scikit-image, cut into patches: the
offline data of the super-resolution study (LAG, Berthelot et al. 2020, arXiv:2003.02365).

Nothing is downloaded: the photographs are the files bundled in the two wheels
(``sklearn.datasets.load_sample_images``: ``china``, ``flower``; ``skimage.data``:
``astronaut``, ``chelsea``, ``coffee``, ``rocket``).  Whole photographs are held out for
testing (:data:`TEST_PHOTOGRAPHS`: ``flower`` and ``chelsea``), so no test patch overlaps a
training one.  Each photograph is first area down-sampled ×2 (so that a patch holds edges
and texture, not a flat piece of sky); patches are ``size × size`` crops on a grid of
``stride`` pixels, scaled to ``[−1, 1]``; the low-resolution inputs are their area down-sampling
(:func:`gan_jax.nets.progressive.area_downsample`, ×4: 32×32 → 8×8 by default).
"""

from __future__ import annotations

import jax
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


def load_photograph_patches(
    split: str = "train", size: int = 32, stride: int = 8, downscale: int = 2
) -> ImageDataset:
    """The patches of the ``split``'s photographs (module doc) in ``[−1, 1]``, cut after an
    area down-sampling of each photograph by ``downscale`` (at full size a 32×32 patch of a
    640×427 photograph is nearly flat, and bicubic interpolation already scores 37 dB); the
    label of a patch is the index of its photograph in the split."""
    names = {"train": TRAIN_PHOTOGRAPHS, "test": TEST_PHOTOGRAPHS}.get(split)
    if names is None:
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    crops = []
    for name in names:
        photo = load_photograph(name).astype(np.float32)
        h = photo.shape[0] // downscale * downscale
        w = photo.shape[1] // downscale * downscale
        blocks = photo[:h, :w].reshape(h // downscale, downscale, w // downscale, downscale, -1)
        crops.append(patches(np.round(blocks.mean(axis=(1, 3))).astype(np.uint8), size, stride))
    labels = np.concatenate([np.full(len(c), i, np.int32) for i, c in enumerate(crops)])
    images = jax.device_put(uint8_to_unit_range(np.concatenate(crops)))
    return ImageDataset(
        images=images,
        labels=jax.device_put(np.asarray(labels)),
        num_classes=len(names),
        name="photos",
    )
