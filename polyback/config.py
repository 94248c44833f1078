"""polyback's configuration: engine, floatx, epsilon and image data format.

Read once at import from ``$POLYBACK_HOME/polyback.json`` (default ``~/.polyback/polyback.json``,
written with the defaults on first import when the folder is writable). The environment variable
``POLYBACK_BACKEND`` overrides the file's ``backend``. Everything can be changed at run time.
This is the only module that reads the environment.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from polyback._src.engines import ENGINES, canonical_name
from polyback._src.ir.dtypes import FLOAT_DTYPES

DEFAULTS = {
    "backend": "numpy",
    "floatx": "float32",
    "epsilon": 1e-7,
    "image_data_format": "channels_last",
}
IMAGE_DATA_FORMATS = ("channels_last", "channels_first")


class ConfigError(ValueError):
    """The configuration file or environment holds a value polyback cannot use."""


_state = dict(DEFAULTS)
_source = {"backend": "the defaults"}


def config_path() -> Path:
    """Where the configuration file is read from."""
    home = os.environ.get("POLYBACK_HOME")
    folder = Path(home).expanduser() if home else Path.home() / ".polyback"
    return folder / "polyback.json"


def _validated(key: str, value: object, where: str) -> object:
    try:
        if key == "backend":
            return canonical_name(str(value))
        if key == "floatx":
            if value not in FLOAT_DTYPES:
                raise ValueError(f"floatx must be one of {', '.join(FLOAT_DTYPES)}, not {value!r}")
            return value
        if key == "epsilon":
            if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
                raise ValueError(f"epsilon must be a positive number, not {value!r}")
            return float(value)
        if key == "image_data_format":
            if value not in IMAGE_DATA_FORMATS:
                raise ValueError(f"image_data_format must be one of {IMAGE_DATA_FORMATS}")
            return value
    except ValueError as exc:
        raise ConfigError(f"{where}: {exc}") from None
    raise ConfigError(f"{where}: unknown key {key!r}; valid keys: {', '.join(DEFAULTS)}")


def load() -> None:
    """(Re)read the configuration file and ``POLYBACK_BACKEND``; create the file if missing."""
    path = config_path()
    values = dict(DEFAULTS)
    source = {"backend": "the defaults"}
    if path.exists():
        try:
            data = json.loads(path.read_text())
        except (OSError, json.JSONDecodeError) as exc:
            raise ConfigError(f"cannot read polyback config file {path}: {exc}") from None
        if not isinstance(data, dict):
            raise ConfigError(f"polyback config file {path} must hold a JSON object")
        for key, value in data.items():
            values[key] = _validated(key, value, f"polyback config file {path}")
        source["backend"] = f"config file {path}"
    else:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(DEFAULTS, indent=4) + "\n")
        except OSError:
            pass  # a read-only home is fine: the defaults apply
    env = os.environ.get("POLYBACK_BACKEND")
    if env:
        values["backend"] = _validated("backend", env, "environment variable POLYBACK_BACKEND")
        source["backend"] = "environment variable POLYBACK_BACKEND"
    _state.update(values)
    _source.update(source)


def backend() -> str:
    """The engine that new functions use: numpy, tensorflow, theano, jax or torch."""
    return _state["backend"]


def backend_source() -> str:
    """Where the current backend choice came from (file, environment, defaults or run time)."""
    return _source["backend"]


def require_engine(name: str, source: str) -> None:
    """Import engine ``name`` now; its ImportError says which extra installs it and where the
    choice came from."""
    from polyback._src.engines import get_engine

    try:
        get_engine(name)
    except ImportError as exc:
        raise ImportError(f"{exc} (backend chosen by {source})") from None


def set_backend(name: str) -> None:
    """Use engine ``name`` for functions built from now on (no restart needed)."""
    name = canonical_name(name)
    require_engine(name, "set_backend()")
    _state["backend"] = name
    _source["backend"] = "set_backend()"


def floatx() -> str:
    """The default float dtype, as a string ('float32')."""
    return _state["floatx"]


def set_floatx(value: str) -> None:
    """Set the default float dtype."""
    _state["floatx"] = _validated("floatx", str(value), "set_floatx")


def epsilon() -> float:
    """The fuzz factor used in numeric expressions (1e-7)."""
    return _state["epsilon"]


def set_epsilon(value: float) -> None:
    """Set the fuzz factor."""
    _state["epsilon"] = _validated("epsilon", value, "set_epsilon")


def image_data_format() -> str:
    """'channels_last' or 'channels_first'."""
    return _state["image_data_format"]


def set_image_data_format(value: str) -> None:
    """Set the image data format."""
    _state["image_data_format"] = _validated("image_data_format", value, "set_image_data_format")


def engine_label(name: str | None = None) -> str:
    """Human name of an engine ('NumPy', 'TensorFlow', ...)."""
    return ENGINES[canonical_name(name or backend())].label
