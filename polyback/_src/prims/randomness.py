"""Randomness: ``random(ref)`` becomes a ``RandomInput`` of ref's shape when specialised.

The numbers are drawn by NumPy for each call and fed to the engine like an input, so every
engine computes with the same numbers for a given seed.
"""

from __future__ import annotations

import numpy as np

from polyback._src.ir.tensor import RandomInput, TensorType
from polyback._src.prims.base import InferenceError, Primitive

__all__ = ["RandomSource", "random"]


class RandomSource:
    """A distribution and the NumPy generator that draws from it (one per random tensor)."""

    DISTRIBUTIONS = ("normal", "uniform", "binomial", "truncated_normal")

    def __init__(self, distribution: str, dtype: str, seed: int | None, **params: float):
        if distribution not in self.DISTRIBUTIONS:
            raise ValueError(f"unknown distribution {distribution!r}")
        self.distribution = distribution
        self.dtype = dtype
        self.params = params
        # Without a seed, draw one from NumPy's global generator: np.random.seed reproduces runs.
        self.generator = np.random.default_rng(np.random.randint(2**31) if seed is None else seed)

    def draw(self, shape: tuple[int, ...]) -> np.ndarray:
        g, p = self.generator, self.params
        if self.distribution == "normal":
            values = g.normal(p["mean"], p["stddev"], size=shape)
        elif self.distribution == "uniform":
            values = g.uniform(p["minval"], p["maxval"], size=shape)
        elif self.distribution == "binomial":
            values = g.uniform(size=shape) < p["p"]
        else:  # truncated normal: redraw values beyond two standard deviations
            values = g.standard_normal(size=shape)
            outside = np.abs(values) > 2
            while outside.any():
                values[outside] = g.standard_normal(size=int(outside.sum()))
                outside = np.abs(values) > 2
            values = values * p["stddev"] + p["mean"]
        return values.astype(self.dtype)

    def __repr__(self) -> str:
        return f"<random {self.distribution} {self.params}>"


def _infer_random(ref: TensorType, source: RandomSource) -> TensorType:
    if not isinstance(source, RandomSource):
        raise InferenceError("random needs a RandomSource")
    return TensorType(ref.shape, source.dtype)


def _fold_random(inputs, params, out_type):
    return RandomInput(out_type, params["source"])


random = Primitive("random", _infer_random, fold=_fold_random, symbolic_only=True)
