"""Learning phase and conditionals: switch, in_train_phase, in_test_phase."""

from __future__ import annotations

from polyback._src import prims as P
from polyback._src.compile import DEFAULT_FEEDS
from polyback._src.ir.tensor import Placeholder, Tensor, TensorType
from polyback._src.keras.ops import as_tensor, cast, operands

_phase: dict[str, int | None] = {"value": None}
_LEARNING_PHASE = Placeholder(TensorType((), "bool"), "keras_learning_phase")
DEFAULT_FEEDS[_LEARNING_PHASE] = lambda: False


def learning_phase() -> Placeholder | int:
    """The learning phase: the value given to ``set_learning_phase`` (0 or 1) if any, else a
    bool placeholder that functions feed with False (test) unless it is among their inputs."""
    value = _phase["value"]
    return _LEARNING_PHASE if value is None else value


def set_learning_phase(value: int) -> None:
    """Fix the learning phase, 0 (test) or 1 (train), for graphs built from now on (as in
    Keras 2.3, functions built earlier keep theirs)."""
    if value not in (0, 1):
        raise ValueError(f"the learning phase must be 0 or 1, got {value!r}")
    _phase["value"] = int(value)


def switch(condition, then_expression, else_expression) -> Tensor:
    """Elementwise choice: ``then_expression`` where ``condition``, else ``else_expression``.

    Both expressions may be callables. A condition of lower rank applies along the leading
    axes. Both branches are computed.
    """
    then_expression = then_expression() if callable(then_expression) else then_expression
    else_expression = else_expression() if callable(else_expression) else else_expression
    condition = cast(condition, "bool")
    then_expression, else_expression = operands(then_expression, else_expression)
    rank = then_expression.ndim
    if condition.ndim and rank is not None:
        if condition.ndim > rank:
            raise ValueError(
                f"K.switch: the condition has rank {condition.ndim}, more than the "
                f"expressions' rank {rank}"
            )
        for _ in range(rank - condition.ndim):
            condition = P.expand_dims(condition, axis=-1)
    return P.where(condition, then_expression, else_expression)


def in_train_phase(x, alt, training=None):
    """``x`` in the training phase, ``alt`` otherwise."""
    if training is None:
        training = learning_phase()
    if isinstance(training, (bool, int)) and not isinstance(training, Tensor):
        chosen = x if training else alt
        return chosen() if callable(chosen) else chosen
    return switch(as_tensor(training), x, alt)


def in_test_phase(x, alt, training=None):
    """``x`` in the test phase, ``alt`` otherwise."""
    return in_train_phase(alt, x, training=training)


__all__ = ["in_test_phase", "in_train_phase", "learning_phase", "set_learning_phase", "switch"]
