"""StyleGAN: mixing, truncation, demodulation, noise, the mapping network's learning-rate
multiplier, the generator EMA and lazy R1, each pinned to its definition; PPL to a closed
form; the CLI's measurements to the numbers they summarise."""

from __future__ import annotations

import functools
import json
import math

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from cli_checks import assert_refused_without_a_trace, bad_commands
from random_inputs import normal, uniform
from scipy import stats

from gan_jax import gan, losses, training
from gan_jax.metrics import feature_diversity, normalized_feature_distance, perceptual_path_length
from gan_jax.models.stylegan import StyleGANConfig, build_stylegan, style_groups, swap_styles
from gan_jax.nets.layers import EqualizedDense
from gan_jax.nets.mlp import MLPDiscriminator
from gan_jax.nets.stylegan import (
    MappingNetwork,
    StyledConv,
    StyleGenerator,
    broadcast_ws,
    mix_styles,
    modulated_conv,
    num_ws,
    style_resolutions,
    truncate,
)
from gan_jax.nets.variables import init_variables

TINY = {
    "resolution": 8,
    "channels": 1,
    "w_dim": 8,
    "mapping_layers": 2,
    "fmap_base": 32,
    "fmap_max": 8,
}


@functools.cache
def tiny_generator() -> tuple[StyleGenerator, dict]:
    generator = StyleGenerator(**TINY)
    variables = init_variables(generator, jax.random.key(0), jnp.zeros((4, 8)))
    return generator, variables


def test_style_layout_at_32():
    assert num_ws(32) == 8
    assert style_resolutions(32) == [4, 8, 8, 16, 16, 32, 32, 32]
    assert style_groups(32) == {"coarse": (0, 3), "middle": (3, 5), "fine": (5, 8)}


def test_mixing_at_num_ws_is_no_mixing_and_crossover_splits_the_layers():
    ws = normal(0, (3, 8, 5))
    other = normal(1, (3, 8, 5))
    np.testing.assert_array_equal(mix_styles(ws, other, 8), ws)
    mixed = mix_styles(ws, other, 3)
    np.testing.assert_array_equal(mixed[:, :3], ws[:, :3])
    np.testing.assert_array_equal(mixed[:, 3:], other[:, 3:])
    np.testing.assert_array_equal(swap_styles(ws, other, (3, 5))[:, 3:5], other[:, 3:5])
    np.testing.assert_array_equal(swap_styles(ws, other, (3, 5))[:, 5:], ws[:, 5:])


def test_truncation_endpoints_and_cutoff():
    ws = normal(0, (4, 6, 5))
    w_avg = normal(1, (5,))
    np.testing.assert_array_equal(truncate(ws, w_avg, 1.0), ws)
    np.testing.assert_array_equal(truncate(ws, w_avg, 0.0), jnp.broadcast_to(w_avg, ws.shape))
    half = truncate(ws, w_avg, 0.5, cutoff=2)
    np.testing.assert_allclose(half[:, :2], (ws[:, :2] + w_avg) / 2, rtol=1e-6, atol=1e-7)
    np.testing.assert_array_equal(half[:, 2:], ws[:, 2:])


def test_psi_zero_generates_g_of_w_avg_for_every_z():
    generator, variables = tiny_generator()
    w_avg = normal(3, (TINY["w_dim"],))
    variables = {**variables, "w_avg": {"w_avg": w_avg}}
    z = normal(4, (5, 8))
    noise = jax.random.key(5)
    truncated = jax.jit(lambda v, z: generator.apply(v, z, psi=0.0, rngs={"noise": noise}))
    synthesize = jax.jit(lambda v, ws: generator.apply(v, ws, noise, method="synthesize"))
    centre = synthesize(variables, broadcast_ws(jnp.tile(w_avg, (5, 1)), num_ws(8)))
    np.testing.assert_array_equal(truncated(variables, z), centre)
    plain = jax.jit(lambda v, z: generator.apply(v, z, rngs={"noise": noise}))(variables, z)
    assert float(jnp.abs(plain - centre).max()) > 1e-3  # ψ = 1 does depend on z


def test_demodulation_gives_unit_variance_outputs():
    key_x, key_w, key_s = jax.random.split(jax.random.key(0), 3)
    x = jax.random.normal(key_x, (8, 32, 32, 64))
    weight = jax.random.normal(key_w, (3, 3, 64, 16)) * 0.3
    styles = jnp.exp(jax.random.normal(key_s, (8, 64)))  # very unequal channel scales
    interior = (slice(None), slice(1, -1), slice(1, -1))  # no zero padding in the sums
    y = modulated_conv(x, weight, styles, demodulate=True)[interior]
    np.testing.assert_allclose(np.std(np.asarray(y), axis=(0, 1, 2)), 1.0, atol=0.03)
    raw = modulated_conv(x, weight, styles, demodulate=False)[interior]
    assert np.all(np.std(np.asarray(raw), axis=(0, 1, 2)) > 2.0)  # what demodulation undoes


def test_adain_sets_each_channels_mean_and_std_to_the_style():
    """AdaIN(x, y) = y_s·(x − μ(x))/σ(x) + y_b: per sample and channel the output's spatial
    mean is y_b and its standard deviation |y_s| (eq. 1 of arXiv:1812.04948)."""
    layer = StyledConv(6, style="adain")
    x = normal(0, (3, 8, 8, 4))
    w = normal(1, (3, 5))
    variables = init_variables(layer, jax.random.key(2), x, w, None)
    y = layer.apply(variables, x, w, None)
    params = variables["params"]

    def affine(name):
        dense = EqualizedDense(6, gain=1.0, bias_init=1.0 if name == "style_scale" else 0.0)
        return dense.apply({"params": params[name]}, w)

    np.testing.assert_allclose(jnp.mean(y, axis=(1, 2)), affine("style_bias"), atol=1e-5)
    np.testing.assert_allclose(
        jnp.std(y, axis=(1, 2)), jnp.abs(affine("style_scale")), rtol=1e-4, atol=1e-5
    )


def test_noise_scales_at_zero_make_the_generator_deterministic_in_w():
    generator, variables = tiny_generator()
    ws = generator.apply(variables, normal(1, (3, 8)), method="map")

    synth = jax.jit(
        lambda v, seed: generator.apply(v, ws, jax.random.key(seed), method="synthesize")
    )

    def set_strength(path, leaf, value):
        name = path[-1].key
        return jnp.full_like(leaf, value) if name == "noise_strength" else leaf

    noisy = {
        **variables,
        "params": jax.tree_util.tree_map_with_path(
            lambda p, x: set_strength(p, x, 0.5), variables["params"]
        ),
    }
    assert float(jnp.abs(synth(noisy, 1) - synth(noisy, 2)).max()) > 1e-3
    quiet = {
        **variables,
        "params": jax.tree_util.tree_map_with_path(
            lambda p, x: set_strength(p, x, 0.0), variables["params"]
        ),
    }
    np.testing.assert_array_equal(synth(quiet, 1), synth(quiet, 2))


def test_noise_min_resolution_and_noise_lr_multiplier():
    """Noise below ``noise_min_resolution`` is left out (the coarse layers are deterministic
    in w, the fine ones are not); the stored strength is scaled by its multiplier."""
    generator = StyleGenerator(**TINY, noise_min_resolution=8)
    variables = init_variables(generator, jax.random.key(0), jnp.zeros((4, 8)))
    ws = generator.apply(variables, normal(1, (3, 8)), method="map")

    def strengths(value_4, value_8):
        def set_leaf(path, leaf):
            if path[-1].key != "noise_strength":
                return leaf
            return jnp.full_like(leaf, value_4 if path[-2].key == "conv_4" else value_8)

        return {
            **variables,
            "params": jax.tree_util.tree_map_with_path(set_leaf, variables["params"]),
        }

    synth = jax.jit(
        lambda v, seed: generator.apply(v, ws, jax.random.key(seed), method="synthesize")
    )
    coarse_only = strengths(0.5, 0.0)
    np.testing.assert_array_equal(synth(coarse_only, 1), synth(coarse_only, 2))
    fine_only = strengths(0.0, 0.5)
    assert float(jnp.abs(synth(fine_only, 1) - synth(fine_only, 2)).max()) > 1e-3

    layer = StyledConv(4, noise_lr_multiplier=0.01)
    x, w, noise = normal(2, (2, 4, 4, 3)), normal(3, (2, 5)), normal(4, (2, 4, 4, 1))
    params = init_variables(layer, jax.random.key(0), x, w, noise)
    stored = jax.tree_util.tree_map_with_path(
        lambda p, leaf: jnp.full_like(leaf, 3.0) if p[-1].key == "noise_strength" else leaf,
        params,
    )
    reference = StyledConv(4)
    effective = jax.tree_util.tree_map_with_path(
        lambda p, leaf: jnp.full_like(leaf, 0.03) if p[-1].key == "noise_strength" else leaf,
        params,
    )
    np.testing.assert_allclose(
        layer.apply(stored, x, w, noise), reference.apply(effective, x, w, noise), rtol=1e-6
    )


def test_mapping_lr_multiplier_scales_the_effective_gradient():
    """Same function (stored weights divided by m), stored gradients m× as large, and one
    Adam step moves the effective weights m× as far."""
    m = 0.01
    z = normal(0, (16, 8))
    slow, fast = MappingNetwork(8, 3, lr_multiplier=m), MappingNetwork(8, 3, lr_multiplier=1.0)
    p_fast = init_variables(fast, jax.random.key(1), z)
    p_slow = jax.tree.map(lambda x: jax.device_put(np.asarray(x) / m), p_fast)

    def loss(module, params):
        return jnp.sum(jnp.sin(module.apply(params, z)))

    @jax.jit  # one program, not one per op
    def outputs_and_gradients(p_slow, p_fast):
        outputs = slow.apply(p_slow, z), fast.apply(p_fast, z)
        grads = jax.grad(lambda p: loss(slow, p))(p_slow), jax.grad(lambda p: loss(fast, p))(p_fast)
        return outputs, grads

    (out_slow, out_fast), (g_slow, g_fast) = outputs_and_gradients(p_slow, p_fast)
    np.testing.assert_allclose(out_slow, out_fast, rtol=1e-5, atol=1e-6)
    for a, b in zip(jax.tree.leaves(g_slow), jax.tree.leaves(g_fast)):
        np.testing.assert_allclose(a, m * b, rtol=1e-4, atol=1e-9)
    adam = optax.adam(1e-3, eps=1e-20)

    def effective_step(params, grads, multiplier):
        """The change of dense_0's effective kernel ``c·m·W``: ``c·m·ΔW`` (linear in the
        stored weights; taken from the update itself, free of the rounding of ``W + ΔW``)."""
        updates, _ = adam.update(grads, adam.init(params), params)
        return updates["params"]["dense_0"]["kernel"] * multiplier

    step = jax.jit(effective_step, static_argnums=2)
    ratio = np.asarray(step(p_slow, g_slow, m)) / np.asarray(step(p_fast, g_fast, 1.0))
    np.testing.assert_allclose(ratio, m, rtol=1e-5)


def _config(**overrides) -> StyleGANConfig:
    base = {"latent_dim": 8, "batch_size": 8, "r1_gamma": 0.0, "ema_beta": 0.9, "ema_rampup": 0.0}
    return StyleGANConfig(**{**TINY, **base, **overrides})


@pytest.mark.integration  # a training run (tests/README.md, tiers)
def test_generator_ema_equals_a_hand_written_ema_over_three_steps():
    images = uniform(0, (32, 8, 8, 1), minval=-1, maxval=1)
    model = build_stylegan(_config(), images, jax.random.key(1))
    run = training.step_runner(model.step)
    state = jax.tree.map(jnp.copy, model.state)
    average = jax.tree.map(np.asarray, state.g)
    for t in range(3):
        state, _ = run(state, 1, t)
        g = jax.tree.map(np.asarray, state.g)
        average = {
            "params": jax.tree.map(lambda a, c: 0.9 * a + 0.1 * c, average["params"], g["params"]),
            "w_avg": g["w_avg"],
        }
    ema = state.extra["g_ema"]
    for a, b in zip(jax.tree.leaves(ema["params"]), jax.tree.leaves(average["params"])):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-7)
    np.testing.assert_array_equal(ema["w_avg"]["w_avg"], average["w_avg"]["w_avg"])
    assert float(jnp.abs(average["w_avg"]["w_avg"]).max()) > 0  # w_avg moved off zero


def test_lazy_r1_adds_every_times_the_penalty_on_regularisation_steps_only():
    d = MLPDiscriminator(width=16, depth=2)
    real = normal(0, (8, 2))
    d_vars = init_variables(d, jax.random.key(1), real)
    g_vars = {"params": {}}

    def generator_apply(x):  # a fixed "generator": fakes are the latents
        return x

    class Identity:
        def apply(self, variables, z, rngs=None):
            return generator_apply(z)

    plain = gan.gan_game(Identity(), d, latent_dim=2)
    lazy = gan.gan_game(Identity(), d, penalties=[gan.lazy(gan.r1(3.0), 4)], latent_dim=2)
    batch = {"real": real, "key": jax.random.key(2)}
    base = float(plain.loss_d(g_vars, d_vars, batch)[0])
    r1 = float(losses.r1_penalty(lambda x: d.apply(d_vars, x), real))
    for flag, expected in ((True, base + 4 * 1.5 * r1), (False, base)):
        value = lazy.loss_d(g_vars, d_vars, {**batch, "regularize": flag})[0]
        np.testing.assert_allclose(float(value), expected, rtol=1e-6)
    for step, expected in ((8, base + 4 * 1.5 * r1), (5, base)):  # traced: lax.cond
        value = jax.jit(lazy.loss_d)(g_vars, d_vars, {**batch, "step": jnp.int32(step)})[0]
        np.testing.assert_allclose(float(value), expected, rtol=1e-5)


def test_periodic_step_regularises_on_global_steps_divisible_by_every():
    from gan_jax.dynamics import bilinear, simultaneous

    game, scheme = bilinear(), simultaneous(optax.sgd(0.1))
    state = training.init_state(scheme, game, jnp.float32(1.0), jnp.float32(0.0), jax.random.key(0))

    def fn(state, regularize):
        return state.replace(step=state.step + 1), {"reg": jnp.float32(regularize)}

    step = training.PeriodicStep(fn, 4)
    state = state.replace(step=jnp.int32(3))
    _, host = training.step_runner(step)(jax.tree.map(jnp.copy, state), 6, 3)
    _, scanned = training.make_chunk(step, 6, scan=True)(jax.tree.map(jnp.copy, state))
    np.testing.assert_array_equal(host["reg"], [0, 1, 0, 0, 0, 1])  # steps 3 … 8
    np.testing.assert_array_equal(scanned["reg"], host["reg"])


def test_perceptual_path_length_matches_its_closed_form():
    """1-D latents, W = Z, features (cos kw, sin kw) on the unit circle: each pair gives
    ``(2 sin(εk(b−a)/2)/ε)² ≈ k²(b − a)²``, ``b − a ~ N(0, 2)``: PPL is ``2k²`` times the
    1 %–99 % trimmed mean of χ²₁."""
    k = 3.0

    def embed(images):
        return np.stack([np.cos(k * images[:, 0]), np.sin(k * images[:, 0])], axis=1)

    result = perceptual_path_length(
        jax.random.key(0), lambda z: z, lambda w, key: w, embed, 1, "w", num_samples=20000,
        batch_size=5000, epsilon=1e-3,
    )  # fmt: skip
    low, high = stats.chi2.ppf([0.01, 0.99], 1)
    trimmed = stats.chi2.expect(lambda x: x, args=(1,), lb=low, ub=high) / 0.98
    np.testing.assert_allclose(result["ppl"], 2 * k**2 * trimmed, rtol=0.04)
    np.testing.assert_allclose(result["median"], 2 * k**2 * stats.chi2.median(1), rtol=0.06)


def test_feature_diversity_and_distance_closed_forms():
    assert feature_diversity(np.ones((10, 3))) == 0.0
    assert feature_diversity(np.array([[0.0, 0.0], [3.0, 4.0]])) == pytest.approx(5.0)
    a, b = np.array([[1.0, 0.0]]), np.array([[0.0, 2.0]])
    assert normalized_feature_distance(a, b)[0] == pytest.approx(2.0)
    assert normalized_feature_distance(a, 5 * a)[0] == pytest.approx(0.0)
    assert math.isfinite(float(normalized_feature_distance(np.zeros((1, 2)), a)[0]))


@pytest.mark.expensive
def test_train_stylegan_cli_measures_its_claims(tmp_path, classifier8):
    """A tiny 8×8 run: the figures exist and metrics.json's claims are the comparisons of
    the numbers it reports."""
    from experiments import train_stylegan

    out, workdir = tmp_path / "out", tmp_path / "run"
    command = [
        "--resolution", "8", "--latent-dim", "8", "--w-dim", "8", "--mapping-layers", "2",
        "--fmap-base", "32", "--fmap-max", "8", "--batch-size", "8", "--steps", "4",
        "--log-every", "2", "--eval-every", "4", "--sample-every", "4", "--checkpoint-every", "4",
        "--r1-gamma", "0", "--eval-samples", "32", "--analysis-samples", "32",
        "--classifier", classifier8, "--workdir", str(workdir), "--dataset", "digits",
        "--out", str(out), "--no-progress",
    ]  # fmt: skip
    returned = train_stylegan.main(command)
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["fcd"] == returned["fcd"] and metrics["steps"] == 4 and metrics["images"] == 32
    assert "fcd_raw" in metrics  # the EMA generator is evaluated, the raw one too
    ppl, locality, trunc = metrics["ppl"], metrics["mixing_locality"], metrics["truncation"]
    claims = metrics["claims"]
    assert claims["ppl_w_below_ppl_z"] == (ppl["w"]["ppl"] < ppl["z"]["ppl"])
    assert set(locality) == {"coarse", "fine"}  # 8×8: coarse 4–8, fine 8
    assert next(row["psi"] for row in trunc) == 1.0 and trunc[-1]["psi"] == 0.0
    diversity = [row["diversity"] for row in trunc]
    assert claims["diversity_falls_monotonically"] == bool(np.all(np.diff(diversity) < 0))
    for row in trunc:
        assert 0 <= row["classes"] <= 10 and row["diversity"] >= 0
    for name in (
        "samples.png", "style_mixing.png", "truncation.png", "noise.png",
        "truncation_tradeoff.png", "eval_curves.png",
    ):  # fmt: skip
        assert (out / name).stat().st_size > 1000

    scratch = tmp_path / "scratch"
    bad = bad_commands(workdir, scratch, "--lr-g") + [
        (["--style", "foo"], "unknown --style 'foo'; choose one of"),
        (["--mixing-prob", "2"], "must be in [0, 1]"),
        (["--ema-beta", "1"], "must be in [0, 1)"),
        (["--resume", "--w-dim", "16"], "--resume with different settings (--w-dim 8 → 16)"),
    ]
    assert_refused_without_a_trace("experiments.train_stylegan", command, workdir, bad)
