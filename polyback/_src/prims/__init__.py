"""The primitives, by family. ``PRIMITIVES`` maps each name to its Primitive."""

from polyback._src.prims import (
    convolution,
    debug,
    elementwise,
    linalg,
    randomness,
    reduce,
    scan,
    shape,
)
from polyback._src.prims.base import PRIMITIVES, Example, InferenceError, Primitive, describe
from polyback._src.prims.convolution import *  # noqa: F403
from polyback._src.prims.debug import *  # noqa: F403
from polyback._src.prims.elementwise import *  # noqa: F403
from polyback._src.prims.linalg import *  # noqa: F403
from polyback._src.prims.randomness import *  # noqa: F403
from polyback._src.prims.reduce import *  # noqa: F403
from polyback._src.prims.scan import *  # noqa: F403
from polyback._src.prims.shape import *  # noqa: F403

__all__ = [
    "PRIMITIVES",
    "Example",
    "InferenceError",
    "Primitive",
    "describe",
    *convolution.__all__,
    *debug.__all__,
    *elementwise.__all__,
    *linalg.__all__,
    *randomness.__all__,
    *reduce.__all__,
    *scan.__all__,
    *shape.__all__,
]
