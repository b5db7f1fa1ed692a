"""Resolve a BrokerConfig from defaults < config file < environment < flags.

Any problem (unknown key, wrong type, value out of range, unusable data dir) raises ConfigError
with one line naming the key, where it came from, and what is wrong.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from rafka.config.schema import KEYS, KEYS_BY_ENV, KEYS_BY_PATH, BrokerConfig, Key

# Variables that steer loading itself rather than naming a key.
META_ENV = {"RAFKA_CONFIG"}

_TRUE = {"true", "yes", "on", "1"}
_FALSE = {"false", "no", "off", "0"}


class ConfigError(ValueError):
    """A configuration value that stops start-up."""


def _flatten(tree: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for name, value in tree.items():
        path = f"{prefix}{name}"
        if isinstance(value, Mapping):
            flat.update(_flatten(value, path + "."))
        else:
            flat[path] = value
    return flat


def _coerce(key: Key, raw: Any, source: str) -> Any:
    """Turn a YAML value or a string into the key's type, or raise ConfigError."""
    where = f"{key.path} (from {source})"
    value: Any
    if key.type is bool:
        if isinstance(raw, bool):
            value = raw
        elif isinstance(raw, str) and raw.lower() in _TRUE | _FALSE:
            value = raw.lower() in _TRUE
        else:
            raise ConfigError(f"{where}: expected true or false, got {raw!r}")
    elif key.type is int:
        if isinstance(raw, bool):
            raise ConfigError(f"{where}: expected an integer, got {raw!r}")
        try:
            value = int(raw) if isinstance(raw, int | str) else None
        except ValueError:
            value = None
        if value is None:
            raise ConfigError(f"{where}: expected an integer, got {raw!r}")
    else:
        if not isinstance(raw, str | int | float) or isinstance(raw, bool):
            raise ConfigError(f"{where}: expected a string, got {raw!r}")
        value = str(raw)
    if key.choices and value not in key.choices:
        raise ConfigError(f"{where}: must be one of {', '.join(key.choices)}, got {value!r}")
    if key.check is not None and (problem := key.check(value)) is not None:
        raise ConfigError(f"{where}: {problem}")
    return value


def _read_file(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"config file {path}: cannot read it ({exc.strerror})") from exc
    try:
        tree = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"config file {path}: not valid YAML ({exc})") from exc
    if tree is None:
        return {}
    if not isinstance(tree, Mapping):
        raise ConfigError(f"config file {path}: the top level must be a mapping of sections")
    return _flatten(tree)


def load_config(
    config_file: Path | None = None,
    env: Mapping[str, str] | None = None,
    overrides: Mapping[str, Any] | None = None,
    check_data_dir: bool = True,
) -> BrokerConfig:
    """Resolve the configuration. `overrides` maps dotted keys to flag values (strings or typed)."""
    env = os.environ if env is None else env
    values = {key.path: key.default for key in KEYS}

    if config_file is None and env.get("RAFKA_CONFIG"):
        config_file = Path(env["RAFKA_CONFIG"])
    if config_file is not None:
        for path, raw in _read_file(config_file).items():
            key = KEYS_BY_PATH.get(path)
            if key is None:
                raise ConfigError(f"{path} (from {config_file}): unknown configuration key")
            values[path] = _coerce(key, raw, str(config_file))

    for name, raw in env.items():
        if not name.startswith("RAFKA_") or name in META_ENV:
            continue
        key = KEYS_BY_ENV.get(name)
        if key is None:
            raise ConfigError(f"{name} (from the environment): unknown configuration variable")
        values[key.path] = _coerce(key, raw, f"environment {name}")

    for path, raw in (overrides or {}).items():
        key = KEYS_BY_PATH.get(path)
        if key is None:
            raise ConfigError(f"{path} (from the command line): unknown configuration key")
        values[path] = _coerce(key, raw, "the command line")

    config = BrokerConfig(values)
    if check_data_dir and config["storage.type"] == "disk":
        _check_data_dir(config.data_dir)
    return config


def _check_data_dir(path: Path) -> None:
    """Create the data dir if needed and prove we can write to it, before anything listens."""
    where = f"broker.data_dir ({path})"
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"{where}: cannot create it ({exc.strerror})") from exc
    if not path.is_dir():
        raise ConfigError(f"{where}: exists and is not a directory")
    if not os.access(path, os.R_OK | os.W_OK | os.X_OK):
        raise ConfigError(f"{where}: not readable and writable by this user")
