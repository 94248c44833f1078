"""Configuration: the file, POLYBACK_BACKEND, validation and the import message."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from polyback import config

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("POLYBACK_HOME", str(tmp_path))
    monkeypatch.delenv("POLYBACK_BACKEND", raising=False)
    saved = dict(config._state), dict(config._source)
    yield tmp_path
    config._state.clear(), config._state.update(saved[0])
    config._source.clear(), config._source.update(saved[1])


def test_first_load_writes_the_defaults(home):
    config.load()
    written = json.loads((home / "polyback.json").read_text())
    assert written == config.DEFAULTS
    assert config.backend() == "numpy"


def test_file_values_are_read(home):
    (home / "polyback.json").write_text(json.dumps({"floatx": "float64", "epsilon": 1e-4}))
    config.load()
    assert config.floatx() == "float64" and config.epsilon() == 1e-4
    assert str(home / "polyback.json") in config.backend_source()


def test_alias_pytensor_means_theano(home):
    (home / "polyback.json").write_text(json.dumps({"backend": "pytensor"}))
    config.load()
    assert config.backend() == "theano"


def test_environment_overrides_the_file(home, monkeypatch):
    (home / "polyback.json").write_text(json.dumps({"backend": "numpy"}))
    monkeypatch.setenv("POLYBACK_BACKEND", "jax")
    config.load()
    assert config.backend() == "jax"
    assert "POLYBACK_BACKEND" in config.backend_source()


def test_malformed_file_names_the_file(home):
    path = home / "polyback.json"
    path.write_text("{not json")
    with pytest.raises(config.ConfigError, match=str(path)):
        config.load()


def test_unknown_backend_in_file_lists_valid_names(home):
    path = home / "polyback.json"
    path.write_text(json.dumps({"backend": "cntk"}))
    with pytest.raises(config.ConfigError, match=rf"{path}.*'cntk'.*numpy, tensorflow, theano"):
        config.load()


def test_unknown_backend_in_environment_names_the_variable(home, monkeypatch):
    monkeypatch.setenv("POLYBACK_BACKEND", "mxnet")
    with pytest.raises(config.ConfigError, match="POLYBACK_BACKEND.*'mxnet'"):
        config.load()


@pytest.mark.parametrize(
    "content,message",
    [
        ({"floatx": "int32"}, "floatx"),
        ({"epsilon": -1}, "epsilon"),
        ({"image_data_format": "nchw"}, "image_data_format"),
        ({"colour": 1}, "unknown key"),
        ([1, 2], "JSON object"),
    ],
)
def test_bad_values_are_named(home, content, message):
    (home / "polyback.json").write_text(json.dumps(content))
    with pytest.raises(config.ConfigError, match=message):
        config.load()


def test_unwritable_home_is_fine(tmp_path, monkeypatch):
    blocker = tmp_path / "a_file"
    blocker.write_text("")  # a folder cannot be made under a file, whoever the user is
    monkeypatch.setenv("POLYBACK_HOME", str(blocker / "polyback"))
    monkeypatch.delenv("POLYBACK_BACKEND", raising=False)
    config.load()
    assert config.backend() == "numpy"
    assert not (blocker / "polyback").exists()


def _import_polyback(env_extra, tmp_path):
    env = {**os.environ, "POLYBACK_HOME": str(tmp_path), **env_extra}
    env.pop("POLYBACK_BACKEND", None) if "POLYBACK_BACKEND" not in env_extra else None
    return subprocess.run(
        [sys.executable, "-c", "import polyback"],
        env=env,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_import_prints_the_backend(tmp_path):
    result = _import_polyback({}, tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stderr.strip().endswith("Using NumPy backend.")


def test_import_with_unknown_backend_fails_clearly(tmp_path):
    result = _import_polyback({"POLYBACK_BACKEND": "caffe"}, tmp_path)
    assert result.returncode != 0
    assert "POLYBACK_BACKEND" in result.stderr and "'caffe'" in result.stderr


def test_unknown_name_at_run_time():
    import polyback

    with pytest.raises(ValueError, match="unknown backend 'cntk'"):
        polyback.set_backend("cntk")
