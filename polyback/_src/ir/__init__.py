"""The symbolic IR: tensor types, tensors, nodes and graphs. No engine is imported here."""

from polyback._src.ir.dtypes import normalize_dtype, result_dtype
from polyback._src.ir.graph import Graph, toposort
from polyback._src.ir.tensor import (
    Constant,
    Node,
    Placeholder,
    RandomInput,
    Tensor,
    TensorType,
    Variable,
)

__all__ = [
    "Constant",
    "Graph",
    "Node",
    "Placeholder",
    "RandomInput",
    "Tensor",
    "TensorType",
    "Variable",
    "normalize_dtype",
    "result_dtype",
    "toposort",
]
