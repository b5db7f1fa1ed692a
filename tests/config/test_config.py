"""Configuration precedence and the one-line errors that stop start-up."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from rafka.config import ConfigError, load_config

REPO = Path(__file__).resolve().parents[2]


def test_shipped_config_file_holds_the_defaults(tmp_path: Path) -> None:
    shipped = load_config(REPO / "config" / "config.yml", env={}, check_data_dir=False)
    defaults = load_config(env={}, check_data_dir=False)
    assert shipped.values == defaults.values
    assert shipped.listener("kafka").port == 9092
    assert shipped.listener("grpc").port == 50051
    assert shipped.listener("http").port == 8080


def test_env_overrides_file_and_flags_override_env(tmp_path: Path) -> None:
    config_file = tmp_path / "c.yml"
    config_file.write_text("listeners:\n  kafka:\n    port: 1111\nstorage:\n  type: in_memory\n")
    env = {"RAFKA_LISTENERS_KAFKA_PORT": "2222"}
    config = load_config(config_file, env=env, check_data_dir=False)
    assert config.listener("kafka").port == 2222
    assert config["storage.type"] == "in_memory"
    config = load_config(
        config_file, env=env, overrides={"listeners.kafka.port": "3333"}, check_data_dir=False
    )
    assert config.listener("kafka").port == 3333


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("storage:\n  segmnt_bytes: 5\n", "storage.segmnt_bytes"),
        ("storage:\n  segment_bytes: lots\n", "expected an integer"),
        ("storage:\n  segment_bytes: -5\n", "must be >= 1024"),
        ("storage:\n  type: tape\n", "must be one of disk, in_memory"),
        ("broker:\n  auto_create_topics: maybe\n", "expected true or false"),
        ("server:\n  scheduler_slice_us: 50\n", "0 .* or 100-100000 microseconds, got 50"),
        ("- just\n- a list\n", "mapping of sections"),
        ("server: [unclosed\n", "not valid YAML"),
    ],
)
def test_bad_file_values_name_the_key(tmp_path: Path, text: str, message: str) -> None:
    config_file = tmp_path / "bad.yml"
    config_file.write_text(text)
    with pytest.raises(ConfigError, match=message):
        load_config(config_file, env={}, check_data_dir=False)


def test_unknown_environment_variable_is_an_error() -> None:
    with pytest.raises(ConfigError, match="RAFKA_BROKER_DATADIR"):
        load_config(env={"RAFKA_BROKER_DATADIR": "/x"}, check_data_dir=False)


def test_unusable_data_dir_is_an_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    with pytest.raises(ConfigError, match="broker.data_dir"):
        load_config(env={}, overrides={"broker.data_dir": str(blocker / "sub")})


@pytest.mark.skipif(os.geteuid() == 0, reason="root can write anywhere")
def test_read_only_data_dir_is_an_error(tmp_path: Path) -> None:
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o500)
    with pytest.raises(ConfigError, match="not readable and writable"):
        load_config(env={}, overrides={"broker.data_dir": str(locked)})


def test_broker_refuses_to_start_with_one_clear_line(tmp_path: Path) -> None:
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "rafka",
            "broker",
            "--data-dir",
            str(tmp_path),
            "--set",
            "storage.retention_bytes=-7",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert "storage.retention_bytes" in lines[0] and "-7" in lines[0]
