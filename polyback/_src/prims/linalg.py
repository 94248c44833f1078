"""Linear algebra: matmul (NumPy semantics), matrix_transpose, and two-operand einsum."""

from __future__ import annotations

import numpy as np

from polyback._src import prims as P
from polyback._src.ir.tensor import TensorType
from polyback._src.prims.base import Example, InferenceError, Primitive, sample
from polyback._src.prims.infer import broadcast_shapes, same_dtype

__all__ = ["einsum", "matmul", "matrix_transpose"]


def infer_matmul(x: TensorType, y: TensorType) -> TensorType:
    dtype = same_dtype(x, y)
    if x.dtype == "bool":
        raise InferenceError("matmul of bool tensors; cast them first")
    if x.shape is None or y.shape is None:
        return TensorType(None, dtype)
    if len(x.shape) < 2 or len(y.shape) < 2:
        raise InferenceError("matmul needs operands of rank >= 2")
    k1, k2 = x.shape[-1], y.shape[-2]
    if k1 is not None and k2 is not None and k1 != k2:
        raise InferenceError(f"inner dimensions differ: {k1} vs {k2}")
    batch = broadcast_shapes(x.shape[:-2], y.shape[:-2])
    return TensorType((*batch, x.shape[-2], y.shape[-1]), dtype)


def infer_matrix_transpose(x: TensorType) -> TensorType:
    if x.shape is None:
        return x
    if len(x.shape) < 2:
        raise InferenceError("matrix_transpose needs rank >= 2")
    return TensorType((*x.shape[:-2], x.shape[-1], x.shape[-2]), x.dtype)


def _vjp_matmul(node, g):
    x, y = node.inputs
    gx = P.sum_like(matmul(g, matrix_transpose(y)), x)
    gy = P.sum_like(matmul(matrix_transpose(x), g), y)
    return (gx, gy)


matmul = Primitive(
    "matmul",
    infer_matmul,
    _vjp_matmul,
    examples=[
        Example([sample(3, 4), sample(4, 5)], np.matmul),
        Example([sample(2, 3, 4), sample(4, 2)], np.matmul),
    ],
)
matrix_transpose = Primitive(
    "matrix_transpose",
    infer_matrix_transpose,
    lambda node, g: (matrix_transpose(g),),
    examples=[Example([sample(2, 3, 4)], lambda x: np.swapaxes(x, -1, -2))],
)

# -- einsum over two operands, each index at most once per operand --------------------------


def parse_spec(spec: str) -> tuple[str, str, str]:
    """Split ``'ab,bc->ac'`` into its three index strings."""
    try:
        lhs, out = spec.replace(" ", "").split("->")
        a, b = lhs.split(",")
    except ValueError:
        raise InferenceError(f"einsum spec {spec!r} must look like 'ab,bc->ac'") from None
    for term in (a, b, out):
        if len(set(term)) != len(term) or not term.isalpha() and term:
            raise InferenceError(f"einsum spec {spec!r}: letters only, each once per term")
    if not set(out) <= set(a) | set(b):
        raise InferenceError(f"einsum spec {spec!r}: output index not found in the inputs")
    return a, b, out


def infer_einsum(x: TensorType, y: TensorType, spec: str) -> TensorType:
    dtype = same_dtype(x, y)
    a, b, out = parse_spec(spec)
    sizes: dict[str, int | None] = {}
    for term, t in ((a, x), (b, y)):
        if t.shape is None or len(t.shape) != len(term):
            raise InferenceError(f"einsum term {term!r} needs an operand of rank {len(term)}")
        for letter, d in zip(term, t.shape):
            known = sizes.get(letter)
            if known is not None and d is not None and known != d:
                raise InferenceError(f"index {letter!r} has sizes {known} and {d}")
            sizes[letter] = d if known is None else known
    return TensorType(tuple(sizes[c] for c in out), dtype)


def _vjp_einsum(node, g):
    x, y = node.inputs
    a, b, out = parse_spec(node.params["spec"])
    grads = []
    for own, other, t in ((a, b, x), (b, a, y)):
        if set(own) - set(out) - set(other):
            raise NotImplementedError(
                f"gradient of einsum {node.params['spec']!r}: an index summed within one operand"
            )
        operand = y if t is x else x
        grads.append(einsum(g, operand, spec=f"{out},{other}->{own}"))
    return tuple(grads)


einsum = Primitive(
    "einsum",
    infer_einsum,
    _vjp_einsum,
    examples=[
        Example([sample(2, 3, 4), sample(4, 5)], np.einsum, {"spec": "abk,kn->abn"}),
        Example([sample(2, 3, 4), sample(2, 4, 5)], np.einsum, {"spec": "bik,bkj->bij"}),
    ],
)
for _example in einsum.examples:
    _example.reference = lambda x, y, spec: np.einsum(spec, x, y)
