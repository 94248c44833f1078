"""Debugging: ``identity_print`` passes its input through and prints it when the program runs.

Every engine lowers it to its own run-time printing, so the value is printed each time a compiled
function computes it (not when the graph is built): NumPy and PyTorch print from Python as they
run the node, JAX through an ordered ``io_callback``, TensorFlow through ``tf.numpy_function``
(programs holding one run without XLA), PyTensor through its ``Print`` op. All of them print
``message`` followed by the value as NumPy shows arrays, on ``sys.stdout``.
"""

from __future__ import annotations

import sys

import numpy as np

from polyback._src.ir.tensor import TensorType
from polyback._src.prims.base import Example, InferenceError, Primitive, sample

__all__ = ["identity_print", "print_value"]


def print_value(message: str, value) -> None:
    """What every engine's lowering prints: ``message`` and the value, as NumPy shows it."""
    print(f"{message}{np.asarray(value)}", file=sys.stdout, flush=True)


def _infer_identity_print(x: TensorType, message: str) -> TensorType:
    if not isinstance(message, str):
        raise InferenceError(f"message must be a string, got {type(message).__name__}")
    return x


identity_print = Primitive(
    "identity_print",
    _infer_identity_print,
    lambda node, g: (g,),  # the gradient passes through, unprinted
    effectful=True,
    examples=[Example([sample(2, 3)], lambda x, message: x, {"message": "x is: "})],
)
