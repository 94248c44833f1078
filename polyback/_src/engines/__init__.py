"""The engine registry: names, lazy loading, and what each engine needs installed."""

from __future__ import annotations

import importlib
import importlib.util
from dataclasses import dataclass

import numpy as np

from polyback._src.engines.base import Engine, MissingLowering


@dataclass(frozen=True)
class EngineInfo:
    module: str  # polyback module holding the engine class
    package: str  # Python package the engine runs on
    extra: str  # pip extra that installs it
    label: str  # printed name ("Using TensorFlow backend.")


ENGINES: dict[str, EngineInfo] = {
    "numpy": EngineInfo("numpy_engine", "numpy", "", "NumPy"),
    "tensorflow": EngineInfo("tensorflow_engine", "tensorflow", "tensorflow", "TensorFlow"),
    "theano": EngineInfo("pytensor_engine", "pytensor", "theano", "Theano (PyTensor)"),
    "jax": EngineInfo("jax_engine", "jax", "jax", "JAX"),
    "torch": EngineInfo("torch_engine", "torch", "torch", "PyTorch"),
}
ALIASES = {"pytensor": "theano", "pytorch": "torch", "tf": "tensorflow"}
_loaded: dict[str, Engine] = {}


def canonical_name(name: str) -> str:
    """The engine name for ``name`` (aliases resolved); ValueError listing valid names."""
    key = str(name).strip().lower()
    key = ALIASES.get(key, key)
    if key not in ENGINES:
        valid = ", ".join([*ENGINES, *(f"{a} (= {t})" for a, t in ALIASES.items())])
        raise ValueError(f"unknown backend {name!r}; valid names: {valid}")
    return key


def is_installed(name: str) -> bool:
    """True when engine ``name`` and the package it runs on can be imported."""
    info = ENGINES[canonical_name(name)]
    return (
        importlib.util.find_spec(info.package) is not None
        and importlib.util.find_spec(f"polyback._src.engines.{info.module}") is not None
    )


def available_engines() -> list[str]:
    """Names of the engines whose packages are installed."""
    return [name for name in ENGINES if is_installed(name)]


def get_engine(name: str) -> Engine:
    """The engine called ``name``, importing its package on first use."""
    key = canonical_name(name)
    engine = _loaded.get(key)
    if engine is not None:
        return engine
    info = ENGINES[key]
    if importlib.util.find_spec(info.package) is None:
        hint = f'run: pip install "polyback[{info.extra}]"'
        if key == "torch":
            cpu_first = "a CPU build avoids a CUDA download of several GB"
            hint = f"install PyTorch itself first ({cpu_first}), then {hint}"
        raise ImportError(
            f"the {key} backend needs the '{info.package}' package, which is not installed; {hint}"
        )
    # Some engine packages draw from NumPy's global generator on import; keep the user's
    # random sequence (np.random.seed reproducibility) as if nothing had been imported.
    random_state = np.random.get_state()
    try:
        module = importlib.import_module(f"polyback._src.engines.{info.module}")
    except ModuleNotFoundError as exc:
        if exc.name != f"polyback._src.engines.{info.module}":
            raise
        message = f"the {key} backend is not available in this version of polyback"
        raise ImportError(message) from None
    finally:
        np.random.set_state(random_state)
    engine = module.ENGINE_CLASS()
    _loaded[key] = engine
    return engine


def lowering_table(name: str) -> dict:
    """The lowering table of engine ``name`` (imports the engine)."""
    return get_engine(name).lowerings


__all__ = [
    "ENGINES",
    "Engine",
    "MissingLowering",
    "available_engines",
    "canonical_name",
    "get_engine",
    "is_installed",
    "lowering_table",
]
