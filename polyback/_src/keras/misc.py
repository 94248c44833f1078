"""Keras utilities: uids, sessions, type checks, identity, printing, moving averages, batch
norm."""

from __future__ import annotations

import contextlib
import itertools

import numpy as np

from polyback import config
from polyback._src import prims as P
from polyback._src.compile import Function, Update
from polyback._src.ir.tensor import Placeholder, Tensor, Variable
from polyback._src.keras.math import mean, sqrt, sum, var
from polyback._src.keras.ops import as_tensor, cast, operands

_uids: dict[str, itertools.count] = {}


def get_uid(prefix: str = "") -> int:
    """A counter per prefix: 1, 2, 3..."""
    return next(_uids.setdefault(prefix, itertools.count(1)))


def reset_uids() -> None:
    """Restart every ``get_uid`` counter."""
    _uids.clear()


def clear_session() -> None:
    """Reset uids and the learning phase set by ``set_learning_phase``. polyback keeps no
    global graph, so nothing else needs clearing."""
    from polyback._src.keras import control

    reset_uids()
    control._phase["value"] = None


class Session:
    """What ``K.get_session()`` returns. polyback has no sessions: Variables hold their value
    from creation (nothing needs initializing) and ``K.function`` compiles and runs graphs.

    For code written against TensorFlow's session, ``run`` evaluates polyback tensors:
    ``fetches`` is a tensor or a list or tuple of tensors (K.update results are applied and give
    None), ``feed_dict`` maps placeholders to arrays. Anything else (TensorFlow operations such
    as ``tf.global_variables_initializer()``) raises a TypeError.
    """

    graph = None

    def run(self, fetches, feed_dict=None):
        """The values of ``fetches``, in the same structure, computed with ``feed_dict``."""
        single = not isinstance(fetches, (list, tuple))
        items = [fetches] if single else list(fetches)
        for item in items:
            if not isinstance(item, (Tensor, Update)):
                raise TypeError(
                    f"polyback's session runs polyback tensors and updates only, got {item!r}; "
                    "polyback Variables need no initializer. Use K.function(inputs, outputs) "
                    "or K.eval(tensor) to compute values."
                )
        feeds = dict(feed_dict or {})
        for p in feeds:
            if not isinstance(p, Placeholder):
                raise TypeError(f"feed_dict keys must be polyback placeholders, got {p!r}")
        tensors = [t for t in items if isinstance(t, Tensor)]
        updates = [u for u in items if isinstance(u, Update)]
        values = iter(Function(list(feeds), tensors, updates=updates)(list(feeds.values())))
        results = [next(values) if isinstance(t, Tensor) else None for t in items]
        if single:
            return results[0]
        return tuple(results) if isinstance(fetches, tuple) else results

    def close(self) -> None:
        """Nothing to release."""

    def __enter__(self):
        return self

    def __exit__(self, *exc_info) -> None:
        return None


_SESSION = Session()


def get_session() -> Session:
    """A stand-in for Keras's TensorFlow session (polyback has none): see ``Session``.

    ``K.get_session().run(tensor_or_list, feed_dict)`` computes polyback tensors with the
    current backend; ``K.function`` is the way to compute them repeatedly.
    """
    return _SESSION


def manual_variable_initialization(value: bool) -> None:
    """Accepted for compatibility: polyback variables always hold their initial value."""


@contextlib.contextmanager
def name_scope(name: str):
    """Accepted for compatibility; tensor names are not scoped."""
    yield


def normalize_data_format(value: str | None) -> str:
    """``value`` checked, or the configured image data format when None."""
    value = (value or config.image_data_format()).lower()
    if value not in ("channels_first", "channels_last"):
        raise ValueError(f"data_format must be 'channels_first' or 'channels_last', not {value!r}")
    return value


def cast_to_floatx(x) -> np.ndarray:
    """A NumPy array cast to floatx."""
    return np.asarray(x, dtype=config.floatx())


def is_sparse(tensor) -> bool:
    """True for placeholders created with ``sparse=True``."""
    return bool(getattr(tensor, "sparse", False))


def to_dense(tensor) -> Tensor:
    """Sparse placeholders are fed as dense arrays: the tensor itself."""
    return as_tensor(tensor)


def is_tensor(x) -> bool:
    """True for polyback tensors."""
    return isinstance(x, Tensor)


def is_keras_tensor(x) -> bool:
    """Whether ``x`` is the output of a Keras layer: never, for polyback has no layers (Keras
    2.3 says False for placeholders, variables and backend results too)."""
    if not is_tensor(x):
        raise ValueError(f"expected a polyback tensor, got {type(x).__name__}")
    return False


def identity(x, name: str | None = None) -> Tensor:
    """The same value as a new tensor."""
    return as_tensor(x) * 1


def print_tensor(x, message: str = "") -> Tensor:
    """``x`` unchanged, printed with ``message`` each time a function computes it.

    As in Keras, use the returned tensor: printing happens only when something needs it. The
    value is printed as ``message`` followed by the array as NumPy shows it, on stdout, by every
    engine while the function runs. Its gradient passes through (and is not printed).
    """
    return P.identity_print(as_tensor(x), message=str(message))


def moving_average_update(x: Variable, value, momentum: float) -> Update:
    """An update ``x := momentum * x + (1 - momentum) * value`` (no zero-debiasing)."""
    return Update(x, x * momentum + as_tensor(value) * (1.0 - momentum))


def batch_normalization(x, mean, var, beta, gamma, axis=-1, epsilon: float = 1e-3) -> Tensor:
    """``(x - mean) / sqrt(var + epsilon) * gamma + beta``."""
    x, mean = operands(x, mean)
    out = (x - mean) / sqrt(var + epsilon)
    if gamma is not None:
        out = out * gamma
    return out if beta is None else out + beta


def normalize_batch_in_training(x, gamma, beta, reduction_axes, epsilon: float = 1e-3):
    """Normalise ``x`` by its mean and variance over ``reduction_axes``.

    Returns ``(normalized, mean, variance)``; mean and variance without the reduced axes.
    """
    x = as_tensor(x)
    axes = tuple(reduction_axes)
    m, v = mean(x, axes, keepdims=True), var(x, axes, keepdims=True)
    normed = batch_normalization(x, m, v, beta, gamma, epsilon=epsilon)
    return normed, sum(m, axes), sum(v, axes)


def in_top_k(predictions, targets, k: int) -> Tensor:
    """Whether each target class is among the ``k`` largest predictions of its row (ties
    at the boundary count as in, as in TensorFlow)."""
    predictions = as_tensor(predictions)
    classes = predictions.shape[-1] if predictions.ndim else None
    if classes is None:
        raise ValueError("K.in_top_k needs predictions with a known number of classes")
    hot = P.one_hot(cast(targets, "int32"), num_classes=classes, dtype=predictions.dtype)
    target_score = sum(predictions * hot, axis=-1, keepdims=True)
    better = sum(cast(predictions > target_score, "int32"), axis=-1)
    return better < k


__all__ = [
    "batch_normalization",
    "cast_to_floatx",
    "clear_session",
    "get_session",
    "get_uid",
    "identity",
    "in_top_k",
    "is_keras_tensor",
    "is_sparse",
    "is_tensor",
    "manual_variable_initialization",
    "moving_average_update",
    "name_scope",
    "normalize_batch_in_training",
    "normalize_data_format",
    "print_tensor",
    "reset_uids",
    "to_dense",
]
