"""The primitives, by family. ``PRIMITIVES`` maps each name to its Primitive."""

from polyback._src.prims.base import PRIMITIVES, Example, InferenceError, Primitive, describe
from polyback._src.prims.elementwise import *  # noqa: F403
from polyback._src.prims.linalg import einsum, matmul, matrix_transpose
from polyback._src.prims.reduce import all, any, argmax, argmin, max, min, prod, sum  # noqa: A004
from polyback._src.prims.shape import *  # noqa: F403

__all__ = ["PRIMITIVES", "Example", "InferenceError", "Primitive", "describe"]
