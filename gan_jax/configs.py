"""Configs declared once: a frozen dataclass is the single source of a command's flags, their
``--help`` text and defaults, their validation, what ``config.json`` saves, what
``--resume`` refuses to change, and what ``--config FILE`` may set.

Declare a field with :func:`option` (a plain field works too: its flag's type comes from
its annotation)::

    @dataclasses.dataclass(frozen=True)
    class MyConfig:
        width: int = option(64, "G's last and D's first width", type=cli.positive_int)
        d_batch_norm: bool = option(True, "BatchNorm in D", flag="no-d-batch-norm")
        channels: int = option(1, derived=True)  # from the data, not a flag

and a command adds one flag per field with :meth:`ConfigParser.add_config` and builds the
config from the parsed flags with :func:`from_flags`.  The rules:

* **flag names**: ``--`` plus the field's name with dashes (``d_width`` → ``--d-width``),
  or the ``flag`` an :func:`option` names (``total_images`` → ``--images``); the parsed
  value's name (``dest``) is the flag's with underscores, and it is the key ``config.json``
  and config files use.  A boolean that defaults to ``True`` is switched off by a flag
  named ``no-…`` (``--no-d-batch-norm``); one that defaults to ``False`` is switched on by
  its flag.  Two sections declaring one name is an error (argparse's conflict): each
  setting has exactly one flag.
* **roles**: a ``"defining"`` setting (the model, the data, the seed) is saved in
  ``config.json`` and ``--resume`` refuses to change it; a ``"setting"`` (steps, intervals,
  evaluation) is saved but may change on resume; an ``"invocation"`` one (``--workdir``,
  ``--resume``, ``--tpu``) belongs to one command and is not saved.
* **config files**: ``--config FILE`` (JSON, YAML, or a Python file whose ``get_config()``
  returns a dict) sets defaults that the command line overrides, so ``--config
  runs/x/config.json --steps 5000`` re-launches a run with more steps.  A file's key is a
  flag's ``dest``; its value means what the same text means on the command line (it goes
  through the flag's own type, ranges included); an unknown key is a one-line user error.

Why not a library: ``simple_parsing`` 0.1.9 (the version tensorflow-datasets pins) names
negated booleans ``--nod-batch-norm``, its config flag ``--config_path``, and prints a
usage dump on errors; ``tyro`` brings rich, typeguard and shtab and its own error format;
``ml_collections``' ``--config.x=…`` would rename every documented flag.  Each needs more
code to fit the CLI contract (one-line errors, the documented flag names, range-checked
types: :mod:`gan_jax.cli`) than this module, which is argparse underneath.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import runpy
import sys
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from gan_jax import cli
from gan_jax.errors import UserError

__all__ = [
    "DEFINING",
    "INVOCATION",
    "SETTING",
    "ConfigParser",
    "Section",
    "flag_dest",
    "from_flags",
    "option",
    "read_config_file",
]

DEFINING, SETTING, INVOCATION = "defining", "setting", "invocation"
ROLES = (DEFINING, SETTING, INVOCATION)
_KEY = "gan_jax.configs"  # the field metadata's key
CONFIG_FLAG = "config"
# a plain field's flag type from its annotation (``from __future__ import annotations``
# leaves annotations as text)
_TYPES = {"int": int, "float": float, "str": str}


def option(
    default: Any = dataclasses.MISSING,
    help: str = "",
    *,
    type: Any = None,
    flag: str | None = None,
    role: str = DEFINING,
    derived: bool = False,
    metavar: str | None = None,
) -> Any:
    """A dataclass field with its flag's declaration: ``help`` (``--help`` adds the
    default), ``type`` (an argparse type such as :data:`gan_jax.cli.positive_int`; default
    from the annotation), ``flag`` (the flag's name without ``--``, default the field's name
    with dashes), ``role`` (module doc) and ``derived`` (the command computes the value, e.g.
    ``channels`` from the data: no flag)."""
    if role not in ROLES:
        raise ValueError(f"role {role!r} is not one of {ROLES}")
    meta = {"help": help, "type": type, "flag": flag, "role": role, "derived": derived}
    meta["metavar"] = metavar
    return dataclasses.field(default=default, metadata={_KEY: meta})


def _meta(field: dataclasses.Field) -> dict[str, Any]:
    found = field.metadata.get(_KEY)
    if found is None:
        found = {"help": "", "type": None, "flag": None, "role": DEFINING, "derived": False}
        found["metavar"] = None
    return found


def _flag_name(field: dataclasses.Field) -> str:
    return _meta(field)["flag"] or field.name.replace("_", "-")


def flag_dest(field: dataclasses.Field) -> str:
    """The parsed value's name (and ``config.json``'s key) of ``field``'s flag."""
    return _flag_name(field).replace("-", "_")


def _negated(field: dataclasses.Field) -> bool:
    """Whether ``field``'s flag switches a ``True`` default off (``--no-…``)."""
    return _flag_name(field).startswith("no-") and field.default is True


def _flag_type(field: dataclasses.Field) -> Any:
    declared = _meta(field)["type"]
    if declared is not None:
        return declared
    annotation = str(field.type).replace(" ", "")
    base = annotation.removesuffix("|None")
    if base not in _TYPES:
        raise TypeError(
            f"field {field.name}: {field.type} has no default flag type; declare one with "
            "option(type=…)"
        )
    return _TYPES[base]


@dataclasses.dataclass(frozen=True)
class Section:
    """One config class's flags in a parser: ``dests`` maps each flagged field's name to its
    flag's ``dest`` (a field without one is derived or excluded)."""

    cls: type
    dests: Mapping[str, str]


def from_flags(cls: type, args: argparse.Namespace | Mapping[str, Any], **given: Any) -> Any:
    """``cls`` built from the parsed flags ``args`` (or a ``config.json``'s dict: the same
    keys), every field from its flag's ``dest`` (a negated flag inverted), ``given`` for the
    derived fields and anything the command decides itself; a field neither flagged nor
    given keeps its dataclass default."""
    values = args if isinstance(args, Mapping) else vars(args)
    kwargs = {}
    for field in dataclasses.fields(cls):
        if field.name in given:
            kwargs[field.name] = given[field.name]
            continue
        dest = flag_dest(field)
        if _meta(field)["derived"] or dest not in values:
            continue
        value = values[dest]
        kwargs[field.name] = (not value) if _negated(field) else value
    return cls(**kwargs)


class ConfigParser(cli.ArgumentParser):
    """:class:`gan_jax.cli.ArgumentParser` whose flags come from config dataclasses
    (:meth:`add_config`) and which reads ``--config FILE`` (module doc)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.sections: list[Section] = []
        self.roles: dict[str, str] = {}  # every flag's dest → its role
        self.declared: dict[str, Any] = {}  # every flag's declared default (not --config's)
        self.presets: dict[str, str] = {}  # a preset flag's dest → its config file
        self.add_argument(
            f"--{CONFIG_FLAG}",
            default=None,
            metavar="FILE",
            help="settings from a JSON, YAML or Python (get_config()) file, e.g. a run's "
            "config.json; flags on the command line override them",
            role=INVOCATION,
        )

    def add_preset(self, name: str, path: str | os.PathLike, summary: str) -> None:
        """``--name``: the settings of the config file ``path`` (a study's preset, e.g. a
        quick preview), under ``--config`` and the command line's own flags."""
        self.presets[name.replace("-", "_")] = os.fspath(path)
        self.add_argument(
            f"--{name}",
            action="store_true",
            help=f"{summary}: the settings of {os.path.relpath(path)} (flags override them)",
            role=INVOCATION,
        )

    def add_argument(self, *args: Any, role: str = SETTING, **kwargs: Any) -> argparse.Action:
        """argparse's, plus the flag's ``role`` (a command's own flags: settings unless
        told)."""
        return self._register(super().add_argument(*args, **kwargs), role)

    def _register(self, action: argparse.Action, role: str) -> argparse.Action:
        if action.option_strings and action.dest != "help":
            self.roles[action.dest] = role
            self.declared[action.dest] = action.default
        return action

    def add_config(
        self,
        cls: type,
        defaults: Mapping[str, Any] | Any = None,
        *,
        exclude: Iterable[str] = (),
        helps: Mapping[str, str] | None = None,
    ) -> Section:
        """One flag per field of ``cls`` but the derived ones and ``exclude`` (names of
        fields the command sets itself), with ``defaults`` (a mapping of field names, or a
        ``cls`` instance) replacing the dataclass defaults and ``helps`` replacing help
        texts; ``--help`` lists them under the class's name and the first line of its
        docstring."""
        if defaults is not None and not isinstance(defaults, Mapping):
            defaults = {f.name: getattr(defaults, f.name) for f in dataclasses.fields(cls)}
        defaults = dict(defaults or {})
        exclude = set(exclude)
        summary = (cls.__doc__ or "").strip().split("\n\n")[0]
        group = self.add_argument_group(cls.__name__, " ".join(summary.split()) or None)
        dests = {}
        for field in dataclasses.fields(cls):
            meta = _meta(field)
            if meta["derived"] or field.name in exclude:
                continue
            default = defaults.get(field.name, field.default)
            if default is dataclasses.MISSING:
                raise TypeError(f"{cls.__name__}.{field.name} has no default: pass one")
            help_text = (helps or {}).get(field.name, meta["help"]) or "(default: %(default)s)"
            name, role = _flag_name(field), meta["role"]
            if field.type in (bool, "bool"):
                if default is True and not _negated(field):
                    raise TypeError(f"field {field.name} defaults to True: name its flag no-…")
                action = group.add_argument(
                    f"--{name}",
                    action="store_true",
                    help=help_text,
                    default=(not default) if _negated(field) else default,
                )
            else:
                action = group.add_argument(
                    f"--{name}",
                    type=_flag_type(field),
                    default=default,
                    help=help_text,
                    metavar=meta["metavar"],
                )
            self._register(action, role)
            dests[field.name] = action.dest
        section = Section(cls, dests)
        self.sections.append(section)
        return section

    # ------------------------------------------------------------------ what runs save

    def saved_settings(self, args: argparse.Namespace) -> dict[str, Any]:
        """What ``config.json`` holds: every flag's value but the invocation ones."""
        return {
            dest: getattr(args, dest)
            for dest, role in self.roles.items()
            if role != INVOCATION and hasattr(args, dest)
        }

    def defining(self) -> tuple[str, ...]:
        """The ``dest`` of every run-defining flag (``--resume`` refuses to change them)."""
        return tuple(dest for dest, role in self.roles.items() if role == DEFINING)

    # ------------------------------------------------------------------ config files

    def parse_known_args(  # type: ignore[override]
        self, args: Sequence[str] | None = None, namespace: argparse.Namespace | None = None
    ) -> tuple[argparse.Namespace, list[str]]:
        argv = list(sys.argv[1:] if args is None else args)
        chosen = [
            path for dest, path in self.presets.items() if f"--{dest.replace('_', '-')}" in argv
        ]
        path = _config_path(argv)
        for source in [*chosen, *([path] if path is not None else [])]:  # later files win
            try:
                settings = read_config_file(source)
            except UserError as err:
                self.error(str(err))
            self.set_defaults(**self._checked(settings, source))
        return super().parse_known_args(argv, namespace)

    def _checked(self, settings: Mapping[str, Any], path: str) -> dict[str, Any]:
        """``settings`` of the file ``path``, each through its flag's own type."""
        actions = {a.dest: a for a in self._actions if a.option_strings}
        checked = {}
        for key, value in settings.items():
            action = actions.get(key)
            if action is None or key in (CONFIG_FLAG, "help"):
                known = ", ".join(sorted(d for d in actions if d not in (CONFIG_FLAG, "help")))
                self.error(f"{path}: unknown setting {key!r}; the settings are: {known}")
            checked[key] = _converted(action, key, value, path, self.error)
        return checked


def _converted(action: argparse.Action, key: str, value: Any, path: str, error: Any) -> Any:
    """A config file's ``value`` for ``action``'s flag: what its text would mean there."""
    if action.nargs == 0:  # store_true
        if not isinstance(value, bool):
            error(f"{path}: {key} must be true or false, got {value!r}")
        return value
    if value is None:
        if action.default is not None:
            error(f"{path}: {key} cannot be null (its flag takes a value)")
        return None
    convert = action.type or str
    try:
        if action.nargs in ("+", "*") or isinstance(action.nargs, int):  # a list flag
            items = value if isinstance(value, (list, tuple)) else [value]
            converted = [convert(str(item)) for item in items]
            if action.choices is not None and any(c not in action.choices for c in converted):
                raise ValueError(f"choose from {', '.join(map(str, action.choices))}")
            return converted
        # a list for a one-value flag is its comma-separated text (--batch-sizes 128,64)
        text = ",".join(map(str, value)) if isinstance(value, (list, tuple)) else str(value)
        converted = convert(text)
        if action.choices is not None and converted not in action.choices:
            raise ValueError(f"choose from {', '.join(map(str, action.choices))}")
        return converted
    except (argparse.ArgumentTypeError, TypeError, ValueError) as err:
        error(f"{path}: {key} {value!r}: {err}")


def _config_path(argv: Sequence[str]) -> str | None:
    """The value of ``--config`` in ``argv`` (``--config F`` or ``--config=F``), if any."""
    found = None
    for i, arg in enumerate(argv):
        if arg == f"--{CONFIG_FLAG}" and i + 1 < len(argv):
            found = argv[i + 1]
        elif arg.startswith(f"--{CONFIG_FLAG}="):
            found = arg.split("=", 1)[1]
    return found


def read_config_file(path: str | os.PathLike) -> dict[str, Any]:
    """The settings of a JSON (``.json``), YAML (``.yaml``, ``.yml``) or Python (``.py``:
    its ``get_config()``, ml_collections' convention, or its ``CONFIG`` dict) file, as a
    dict of flag ``dest`` → value; a :class:`~gan_jax.errors.UserError` when it cannot be
    read."""
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise UserError(
            f"--config {path} does not exist: pass a config file (e.g. a run's config.json)"
        )
    suffix = os.path.splitext(path)[1].lower()
    try:
        if suffix == ".json":
            with open(path) as f:
                settings = json.load(f)
        elif suffix in (".yaml", ".yml"):
            import yaml

            with open(path) as f:
                settings = yaml.safe_load(f) or {}
        elif suffix == ".py":
            namespace = runpy.run_path(path)
            if "get_config" in namespace:
                settings = namespace["get_config"]()
            elif "CONFIG" in namespace:
                settings = namespace["CONFIG"]
            else:
                raise UserError(f"--config {path} defines neither get_config() nor CONFIG")
        else:
            raise UserError(f"--config {path}: use a .json, .yaml, .yml or .py file")
    except UserError:
        raise
    except Exception as err:  # noqa: BLE001 — a file's syntax (JSON, YAML) or its code failing
        first = " ".join(str(err).split())[:200]
        raise UserError(f"--config {path} cannot be read ({first}): fix the file") from None
    if dataclasses.is_dataclass(settings) and not isinstance(settings, type):
        settings = {
            flag_dest(f): (not getattr(settings, f.name))
            if _negated(f)
            else getattr(settings, f.name)
            for f in dataclasses.fields(settings)
            if not _meta(f)["derived"]
        }
    if not isinstance(settings, Mapping):
        raise UserError(
            f"--config {path} holds {type(settings).__name__}, not a mapping of settings"
        )
    return dict(settings)
