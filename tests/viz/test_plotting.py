"""Figure helpers: exact grid layout, and PNGs that decode and are not blank."""

from __future__ import annotations

import matplotlib.image
import numpy as np
import pytest

from gan_jax.viz import plotting


def test_image_grid_layout():
    images = np.stack([np.full((2, 3, 1), v) for v in (-1.0, 0.0, 0.5)])
    grid = plotting.image_grid(images, ncols=2, padding=1)
    assert grid.shape == (2 * 3 + 1, 2 * 4 + 1, 1)
    np.testing.assert_array_equal(grid[1:3, 1:4], 0.0)  # tile 0 at row 0, col 0
    np.testing.assert_array_equal(grid[1:3, 5:8], 0.5)  # tile 1 at row 0, col 1
    np.testing.assert_array_equal(grid[4:6, 1:4], 0.75)  # tile 2 at row 1, col 0
    np.testing.assert_array_equal(grid[0], 1.0)  # white padding
    np.testing.assert_array_equal(grid[4:6, 5:8], 1.0)  # empty last tile stays white


def test_image_grid_defaults_to_square_and_clips():
    grid = plotting.image_grid(np.full((10, 4, 4, 3), 5.0), padding=0)
    assert grid.shape == (3 * 4, 4 * 4, 3)  # ceil(sqrt(10)) = 4 columns, 3 rows
    assert grid.max() == 1.0


def _decoded(path):
    image = matplotlib.image.imread(path)
    assert image.ndim == 3 and image.shape[0] > 100 and image.shape[1] > 100
    return image


def test_save_image_grid_shows_the_images(tmp_path):
    rng = np.random.default_rng(0)
    images = rng.uniform(-1, 1, (16, 8, 8, 1))
    path = plotting.save_image_grid(images, tmp_path / "grid.png", title="samples")
    image = _decoded(path)
    assert image[..., :3].std() > 0.1  # random pixels, not a blank canvas


@pytest.mark.parametrize("kind", ["scatter", "density"])
def test_2d_plots_draw_samples_and_centres(tmp_path, kind):
    import matplotlib.pyplot as plt

    rng = np.random.default_rng(0)
    centers = np.array([[2.0, 0.0], [-2.0, 0.0]])
    samples = centers[rng.integers(0, 2, 500)] + 0.1 * rng.normal(size=(500, 2))
    fig, ax = plt.subplots()
    if kind == "scatter":
        plotting.scatter_with_modes(ax, samples, centers, title="t", limit=3)
        assert len(ax.collections) == 2  # samples + centres
    else:
        plotting.density_with_modes(ax, samples, centers, title="t", limit=3)
        assert len(ax.images) == 1 and len(ax.collections) == 1
    assert ax.get_xlim() == (-3, 3)
    image = _decoded(plotting.save_figure(fig, tmp_path / f"{kind}.png"))
    assert image[..., :3].std() > 0.05


def test_plot_curves(tmp_path):
    steps = np.arange(100)
    path = plotting.plot_curves(
        {"a": (steps, np.exp(-steps / 30))}, tmp_path / "c.png", logy=True, hlines={"ref": 0.5}
    )
    assert _decoded(path)[..., :3].std() > 0.05
