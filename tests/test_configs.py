"""Configs declared once (:mod:`gan_jax.configs`): every field of every training CLI's
config has exactly one flag with its default in ``--help``, no CLI maps flags to config
fields by hand, and ``--config <a run's config.json>`` gives back its settings field for
field."""

from __future__ import annotations

import dataclasses
import importlib
import json
import pathlib
import re

import pytest

from gan_jax import configs, training
from gan_jax.models.feature_gan import FeatureGANConfig
from gan_jax.models.image_gan import ImageGANConfig
from gan_jax.models.lag import LAGConfig
from gan_jax.models.progressive_gan import ProgressiveConfig
from gan_jax.models.stylegan import StyleGANConfig
from gan_jax.runner import image_runs

REPO = pathlib.Path(__file__).resolve().parents[1]
CONFIGS = (ImageGANConfig, ProgressiveConfig, StyleGANConfig, LAGConfig, FeatureGANConfig)
# each training CLI, its model config, and non-default values for a round trip
TRAINING_CLIS = {
    "train_dcgan": (
        ImageGANConfig,
        ["--no-d-batch-norm", "--r1-gamma", "1", "--width", "16", "--loss", "hinge",
         "--upsample", "transpose", "--writers", "tensorboard"],
    ),
    "train_pggan": (
        ProgressiveConfig,
        ["--batch-sizes", "32,16", "--images", "5000", "--ema-half-life", "0", "--steps", "9"],
    ),
    "train_stylegan": (
        StyleGANConfig,
        ["--mapping-lr", "0.1", "--noise-lr", "0.5", "--style", "adain", "--w-avg-beta", "0.9",
         "--analysis-samples", "10"],
    ),
    "opengan": (FeatureGANConfig, ["--unseen", "1", "2", "--condition-noise", "0.1", "--width", "16"]),
    "semantic_pyramid": (FeatureGANConfig, ["--validation", "100", "--diversity-weight", "0.1"]),
    "super_resolution": (LAGConfig, ["--filters", "8", "--scale", "2", "--eval-patches", "3"]),
}  # fmt: skip
# the fit fields a CLI that measures once, at the end, sets itself (no periodic evaluation)
SET_BY_THE_COMMAND = {"eval_every", "sample_every"}
INVOCATION_FLAGS = {"config", "workdir", "out", "resume", "resume_from", "data_dir",
                    "no_progress", "tpu", "devices"}  # fmt: skip


def parser_of(name: str) -> configs.ConfigParser:
    return importlib.import_module(f"experiments.{name}").build_parser()


@pytest.mark.parametrize("name", TRAINING_CLIS)
def test_every_config_field_has_exactly_one_flag_with_its_default_in_help(name):
    parser = parser_of(name)
    formatter = parser._get_formatter()
    by_dest = {}
    for action in parser._actions:
        if action.option_strings and action.dest != "help":
            assert action.dest not in by_dest, f"two flags set {action.dest}"
            assert len(action.option_strings) == 1, action.option_strings
            by_dest[action.dest] = action
    help_text = parser.format_help()
    classes = [section.cls for section in parser.sections]
    assert training.FitConfig in classes and TRAINING_CLIS[name][0] in classes
    for section in parser.sections:
        for field in dataclasses.fields(section.cls):
            if field.name not in section.dests:
                derived = field.metadata.get("gan_jax.configs", {}).get("derived")
                assert derived or (
                    section.cls is training.FitConfig and field.name in SET_BY_THE_COMMAND
                ), f"{section.cls.__name__}.{field.name} has no flag"
                continue
            action = by_dest[section.dests[field.name]]
            assert action.option_strings[0] in help_text
            if action.default is not None:
                shown = formatter._expand_help(action)
                assert f"(default: {action.default})" in shown, (field.name, shown)


def test_every_model_config_is_some_training_clis():
    covered = {s.cls for name in TRAINING_CLIS for s in parser_of(name).sections}
    assert set(CONFIGS) | {training.FitConfig} <= covered


def test_no_training_cli_builds_a_config_from_flags_by_hand():
    """A config built with ``args.<flag>`` arguments is a hand mapping: the CLIs build
    theirs with :func:`gan_jax.configs.from_flags`."""
    names = "|".join(cls.__name__ for cls in (*CONFIGS, training.FitConfig))
    sources = [*REPO.glob("experiments/*.py"), *REPO.glob("gan_jax/runner/*.py")]
    hand_mapped = []
    for path in sources:
        text = path.read_text()
        for match in re.finditer(rf"\b({names})\(", text):
            depth, end = 1, match.end()
            while depth:
                depth += {"(": 1, ")": -1}.get(text[end], 0)
                end += 1
            if "args." in text[match.end() : end]:
                hand_mapped.append(f"{path.name}: {text[match.start() : end][:60]}")
    assert hand_mapped == []


@pytest.mark.parametrize("name", TRAINING_CLIS)
def test_a_runs_saved_config_relaunches_it_setting_for_setting(name, tmp_path):
    """config.json, as a new run's plan writes it, holds every setting but the invocation
    ones; ``--config`` on it parses to the same settings and the same model config, and a
    flag after it overrides it."""
    model, overrides = TRAINING_CLIS[name]
    workdir = tmp_path / "run"
    parser = parser_of(name)
    args = parser.parse_args([*overrides, "--seed", "3", "--workdir", str(workdir)])
    image_runs.plan_run(args, str(workdir), None, parser, ("photos",)).start()
    saved = json.loads((workdir / image_runs.CONFIG_FILE).read_text())
    flags = {a.dest for a in parser._actions if a.option_strings} - {"help"}
    assert set(saved) == flags - INVOCATION_FLAGS

    again = parser_of(name)
    relaunched = again.parse_args(["--config", str(workdir / "config.json")])
    assert json.loads(json.dumps(again.saved_settings(relaunched))) == saved
    built = configs.from_flags(model, relaunched, channels=1)
    assert built == configs.from_flags(model, args, channels=1)
    assert built != configs.from_flags(model, parser_of(name).parse_args([]), channels=1)
    later = parser_of(name).parse_args(["--config", str(workdir / "config.json"), "--seed", "5"])
    assert later.seed == 5 and saved["seed"] == 3


def test_config_files_in_yaml_and_python_mean_what_their_flags_mean(tmp_path):
    (tmp_path / "run.yaml").write_text("unseen: [1, 2]\ncondition_noise: 0.25\nsteps: 12\n")
    args = parser_of("opengan").parse_args(["--config", str(tmp_path / "run.yaml")])
    assert (args.unseen, args.condition_noise, args.steps) == ([1, 2], 0.25, 12)
    (tmp_path / "run.py").write_text(
        "def get_config():\n    return {'batch_sizes': [32, 16], 'no_progress': True}\n"
    )
    args = parser_of("train_pggan").parse_args(["--config", str(tmp_path / "run.py")])
    assert args.batch_sizes == (32, 16) and args.no_progress is True
    config = configs.from_flags(ProgressiveConfig, args, channels=1)
    assert config.batch_sizes == (32, 16)
    # a dataclass instance is a config too (its negated booleans as their flags)
    (tmp_path / "model.py").write_text(
        "from gan_jax.models.image_gan import ImageGANConfig\n"
        "CONFIG = ImageGANConfig(d_batch_norm=False, r1_gamma=2.0, width=8)\n"
    )
    args = parser_of("train_dcgan").parse_args(["--config", str(tmp_path / "model.py")])
    assert configs.from_flags(ImageGANConfig, args, channels=1) == ImageGANConfig(
        d_batch_norm=False, r1_gamma=2.0, width=8
    )


@pytest.mark.parametrize(
    "content,needle",
    [
        ('{"widht": 8}', "unknown setting 'widht'; the settings are:"),
        ('{"width": 0}', "width 0: must be a positive integer"),
        ('{"loss": "foo"}', "unknown --loss 'foo'"),
        ('{"no_d_batch_norm": "yes"}', "no_d_batch_norm must be true or false"),
        ('{"width": null}', "width cannot be null"),
        ("{not json", "cannot be read"),
        ("[1, 2]", "holds list, not a mapping of settings"),
    ],
)
def test_a_bad_config_file_is_one_line_naming_the_file_and_setting(
    content, needle, tmp_path, capsys
):
    path = tmp_path / "bad.json"
    path.write_text(content)
    with pytest.raises(SystemExit) as stop:
        parser_of("train_dcgan").parse_args(["--config", str(path)])
    assert stop.value.code == 2
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert line.startswith("error: ") and needle in line
    assert str(path) in line


def test_a_missing_config_file_is_one_line(tmp_path, capsys):
    with pytest.raises(SystemExit):
        parser_of("train_dcgan").parse_args(["--config", str(tmp_path / "none.json")])
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert "does not exist: pass a config file" in line


def test_a_preset_is_a_config_file_under_config_and_the_command_line(tmp_path):
    """``--quick`` is the settings of its preset file (experiments/presets/), which
    ``--config`` and then the command line's own flags override."""
    from experiments import stacked_mnist

    workdir = ["--workdir", str(tmp_path / "study")]
    quick = stacked_mnist.parse_args(["--quick", *workdir])
    assert (quick.architectures, quick.methods, quick.seeds, quick.steps) == (
        ["quarter"], ["gan", "pacgan2"], 1, 600
    )  # fmt: skip
    full = stacked_mnist.parse_args(workdir)
    assert (full.seeds, full.steps) == (3, stacked_mnist.DEFAULT_STEPS)
    (tmp_path / "more.json").write_text('{"steps": 900, "seeds": 2}')
    both = stacked_mnist.parse_args(["--quick", "--config", str(tmp_path / "more.json"), *workdir])
    assert (both.steps, both.seeds, both.methods) == (900, 2, ["gan", "pacgan2"])
    flag = stacked_mnist.parse_args(["--quick", "--steps", "7", *workdir])
    assert flag.steps == 7
