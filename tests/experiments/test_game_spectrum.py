"""``python -m experiments.game_spectrum`` end to end on a tiny DCGAN run: what it measures
obeys the invariants that tie its numbers together, whatever a 4-step DCGAN does."""

from __future__ import annotations

import json

import jax
import numpy as np

from gan_jax.dynamics import spectrum


def test_game_spectrum_cli_on_a_tiny_dcgan(tmp_path):
    """The run's own dataset is analysed (not a fixed one); the path's field norm at its two
    ends is the field norm measured at the first and last point (BatchNorm in training
    mode: the running statistics taken from the end point do not enter the field); the end
    point's dip is recomputed from the stored path and decides "near-stationary"; the
    Dirac-GAN calibration equals its closed forms and dips to 0 at its equilibrium."""
    from experiments import game_spectrum, train_dcgan

    run, out = tmp_path / "run", tmp_path / "spectrum"
    with jax.enable_x64(False):
        train_dcgan.main([
            "--dataset", "digits", "--steps", "4", "--resolution", "8", "--width", "8",
            "--batch-size", "16", "--log-every", "2", "--eval-every", "0", "--sample-every",
            "0", "--checkpoint-every", "4", "--no-eval", "--workdir", str(run),
            "--out", str(tmp_path / "dcgan"), "--no-progress",
        ])  # fmt: skip
        game_spectrum.main([
            "--workdirs", str(run), "--k", "2", "--lanczos-steps", "4", "--path-points", "5",
            "--out", str(out), "--no-progress",
        ])  # fmt: skip
    metrics = json.loads((out / "metrics.json").read_text())
    result = metrics["runs"]["run"]
    assert result["dataset"] == "digits"
    assert list(result["steps"]) == ["0", "4"] and result["path_from_to"] == [0, 4]
    angle = {k: np.asarray(v) for k, v in result["path_angle"].items()}
    assert {0.0, 1.0} <= set(angle["alpha"].tolist()) and len(angle["alpha"]) == 5
    for step, alpha in (("0", 0.0), ("4", 1.0)):
        row = result["steps"][step]
        assert len(row["eigenvalues"]) == 2 and 0 <= row["rotation_share"] <= 1
        norm = row["field_norm"]
        assert np.hypot(norm["g"], norm["d"]) == np.float64(norm["total"])
        np.testing.assert_allclose(angle["norm"][angle["alpha"] == alpha], norm["total"], rtol=1e-3)
        for player in ("g", "d"):
            hessian = row[f"hessian_{player}"]
            assert hessian["smallest"] <= hessian["largest"]
    assert result["end_dip"] == spectrum.end_dip(angle)
    assert result["near_stationary"] == (result["end_dip"] <= spectrum.NEAR_STATIONARY_DIP)
    for calibration in metrics["dirac"].values():
        assert calibration["max_error"] < 1e-9 and calibration["end_dip"] < 1e-9
    for name in ("eigenvalues", "path_angle", "hessians"):
        assert (out / f"{name}.png").stat().st_size > 5000
