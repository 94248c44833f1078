"""Random tensors (fresh numbers on each call, drawn by NumPy) and random variables."""

from __future__ import annotations

from polyback import config
from polyback._src import prims as P
from polyback._src.ir.tensor import Tensor
from polyback._src.keras.ops import as_tensor, broadcast_to_shape, cast
from polyback._src.keras.variables import variable
from polyback._src.prims.randomness import RandomSource


def _random(shape, distribution: str, dtype, seed, **params) -> Tensor:
    dtype = dtype or config.floatx()
    ref = broadcast_to_shape(as_tensor(0, "float32"), shape, f"random_{distribution}")
    return P.random(ref, source=RandomSource(distribution, dtype, seed, **params))


def random_normal(shape, mean=0.0, stddev=1.0, dtype=None, seed=None) -> Tensor:
    """Normal random numbers of ``shape``, new on each call."""
    return _random(shape, "normal", dtype, seed, mean=float(mean), stddev=float(stddev))


def random_uniform(shape, minval=0.0, maxval=1.0, dtype=None, seed=None) -> Tensor:
    """Uniform random numbers in [minval, maxval), new on each call."""
    return _random(shape, "uniform", dtype, seed, minval=float(minval), maxval=float(maxval))


def random_binomial(shape, p=0.0, dtype=None, seed=None) -> Tensor:
    """1 with probability ``p``, else 0, new on each call."""
    return _random(shape, "binomial", dtype, seed, p=float(p))


def truncated_normal(shape, mean=0.0, stddev=1.0, dtype=None, seed=None) -> Tensor:
    """Normal random numbers redrawn beyond two standard deviations, new on each call."""
    return _random(shape, "truncated_normal", dtype, seed, mean=float(mean), stddev=float(stddev))


def dropout(x, level: float, noise_shape=None, seed=None) -> Tensor:
    """Zero each element with probability ``level`` and scale the rest by 1 / (1 - level)."""
    x = as_tensor(x)
    if not 0 <= level < 1:
        raise ValueError(f"K.dropout: level must be in [0, 1), got {level}")
    ref = x
    if noise_shape is not None:
        shape = tuple(noise_shape)
        if x.ndim is None or len(shape) != x.ndim:
            raise ValueError(f"K.dropout: noise_shape {shape} does not fit '{x.label}' {x.type}")
        ones = tuple(k for k, d in enumerate(shape) if d == 1)
        ref = P.sum(x, axis=ones, keepdims=True) if ones else x
    keep = P.random(ref, source=RandomSource("binomial", "bool", seed, p=1.0 - level))
    return x * cast(keep, x.dtype) * (1.0 / (1.0 - level))


def random_uniform_variable(shape, low, high, dtype=None, name=None, seed=None):
    """A Variable initialised with uniform random numbers."""
    source = RandomSource("uniform", dtype or config.floatx(), seed, minval=low, maxval=high)
    return variable(source.draw(tuple(shape)), dtype, name)


def random_normal_variable(shape, mean, scale, dtype=None, name=None, seed=None):
    """A Variable initialised with normal random numbers."""
    source = RandomSource("normal", dtype or config.floatx(), seed, mean=mean, stddev=scale)
    return variable(source.draw(tuple(shape)), dtype, name)


__all__ = [
    "dropout",
    "random_binomial",
    "random_normal",
    "random_normal_variable",
    "random_uniform",
    "random_uniform_variable",
    "truncated_normal",
]
