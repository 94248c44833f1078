"""Connectionist temporal classification (CTC): the loss and greedy decoding, as compositions.

Keras 2.3 wraps TensorFlow's CTC kernels, which take sparse labels; polyback has no sparse
tensors and no CTC primitive. Here the loss is the CTC forward algorithm in log space, unrolled
over the (statically known) time axis, so it runs on every engine and is differentiated like any
graph; decoding is greedy (best path) only. The blank class is the last one, as in TensorFlow.
"""

from __future__ import annotations

from polyback import config
from polyback._src import prims as P
from polyback._src.ir.tensor import Tensor
from polyback._src.keras.control import switch
from polyback._src.keras.math import cumsum, log, max, sum
from polyback._src.keras.nn import log_softmax
from polyback._src.keras.ops import (
    as_tensor,
    cast,
    greater,
    less,
    logical_and,
    maximum,
    not_equal,
)
from polyback._src.keras.shape import concatenate, stack
from polyback._src.keras.variables import zeros_like
from polyback._src.prims.shape import index_spec

#: The log-probability of an impossible state: finite, so that gradients stay finite.
IMPOSSIBLE = -1e30


def _steps(y_pred: Tensor, what: str) -> tuple[int, int]:
    """(time steps, classes) of ``y_pred``, which must be known: the loops are unrolled."""
    if y_pred.ndim != 3 or y_pred.shape[1] is None or y_pred.shape[2] is None:
        raise ValueError(
            f"K.{what} needs y_pred of shape (samples, time_steps, num_categories) with known "
            f"time_steps and num_categories (the loop over time is unrolled), got "
            f"'{y_pred.label}' {y_pred.type}"
        )
    return y_pred.shape[1], y_pred.shape[2]


def _lengths(x, what: str) -> Tensor:
    """Lengths given as (samples, 1) or (samples,), as an int32 vector."""
    x = as_tensor(x)
    if x.ndim == 2:
        x = P.reshape(x, shape=(-1,))
    if x.ndim != 1:
        raise ValueError(f"K.{what}: lengths should be (samples, 1) or (samples,), got {x.type}")
    return cast(x, "int32")


def _column(t: Tensor, k) -> Tensor:
    return P.getitem(t, index=index_spec((slice(None), k)))


def _one_hot(indices: Tensor, n: int, dtype: str) -> Tensor:
    """One-hot rows of ``dtype``; an index out of [0, n) gives a row of zeros."""
    return P.one_hot(cast(indices, "int32"), num_classes=n, dtype=dtype)


def _logsumexp(*terms: Tensor) -> Tensor:
    top = terms[0]
    for term in terms[1:]:
        top = maximum(top, term)
    top = P.stop_gradient(top)
    total = P.exp(terms[0] - top)
    for term in terms[1:]:
        total = total + P.exp(term - top)
    return log(total) + top


def _impossible_like(x: Tensor) -> Tensor:
    return zeros_like(x) + IMPOSSIBLE


def ctc_label_dense_to_sparse(labels, label_lengths):
    """polyback has no sparse tensors: returns ``(labels, label_lengths)`` as tensors, the dense
    form that ``ctc_batch_cost`` takes (labels past each length are ignored)."""
    return as_tensor(labels), as_tensor(label_lengths)


def ctc_batch_cost(y_true, y_pred, input_length, label_length) -> Tensor:
    """The CTC loss of each sample, shape (samples, 1).

    ``y_true`` (samples, max_string_length): labels in ``[0, num_categories - 1)``, those past
    ``label_length`` ignored. ``y_pred`` (samples, time_steps, num_categories): softmax outputs;
    the last category is the blank. ``input_length`` and ``label_length`` (samples, 1): the
    lengths used of each. As Keras 2.3 with TensorFlow: the log-probabilities are
    ``log_softmax(log(y_pred + epsilon))`` and repeated labels are not collapsed. A label too
    long for its input has no path: its loss is huge (about 1e30) where TensorFlow raises.
    """
    y_pred = as_tensor(y_pred)
    steps, classes = _steps(y_pred, "ctc_batch_cost")
    blank = classes - 1
    labels = cast(y_true, "int32")
    if labels.ndim != 2 or labels.shape[1] is None:
        raise ValueError(
            f"K.ctc_batch_cost: y_true should be (samples, max_string_length), got {labels.type}"
        )
    n_labels = labels.shape[1]
    input_length = _lengths(input_length, "ctc_batch_cost")
    label_length = _lengths(label_length, "ctc_batch_cost")
    log_probs = log_softmax(log(y_pred + config.epsilon()), axis=-1)

    # The extended labels: blank, l1, blank, l2, ..., blank (2L + 1 states).
    blanks = zeros_like(labels) + blank
    pairs = P.reshape(stack([blanks, labels], axis=-1), shape=(-1, 2 * n_labels))
    extended = concatenate([pairs, _column(blanks, slice(0, 1))], axis=1)
    states = 2 * n_labels + 1
    # Emissions (samples, time, states): the log-probability of each state's class at each step.
    dtype = log_probs.dtype
    emissions = P.einsum(log_probs, _one_hot(extended, classes, dtype), spec="btc,bsc->bts")
    # A state may follow the one two back when it is a label other than that one.
    two_before = concatenate([_column(extended, slice(0, 2)), _column(extended, slice(-2))], 1)
    skip = logical_and(not_equal(extended, two_before), not_equal(extended, blank))

    impossible = _impossible_like(_column(emissions, 0)[:, :1])  # (samples, 1)
    first = _column(emissions, 0)
    alpha = P.where(less(list(range(states)), 2), first, _impossible_like(first))  # s < 2
    for t in range(1, steps):
        one_back = concatenate([impossible, _column(alpha, slice(None, -1))], axis=1)
        two_back = concatenate([impossible, impossible, _column(alpha, slice(None, -2))], axis=1)
        two_back = switch(skip, two_back, _impossible_like(two_back))
        advanced = _logsumexp(alpha, one_back, two_back) + _column(emissions, t)
        alpha = switch(less(t, input_length), advanced, alpha)

    # A path ends on the last label or on the blank after it.
    end = label_length * 2
    on_blank = sum(alpha * _one_hot(end, states, dtype), axis=1)
    on_label = sum(alpha * _one_hot(end - 1, states, dtype), axis=1)
    on_label = switch(greater(label_length, 0), on_label, _impossible_like(on_label))
    return P.expand_dims(-_logsumexp(on_blank, on_label), axis=1)


def ctc_decode(
    y_pred,
    input_length,
    greedy: bool = True,
    beam_width: int = 100,
    top_paths: int = 1,
    merge_repeated: bool = False,
):
    """Greedy (best path) decoding of softmax outputs ``y_pred`` (samples, time_steps,
    num_categories) over the first ``input_length`` (samples,) steps of each sample.

    Returns ``([decoded], log_prob)``: ``decoded`` (samples, time_steps) int64 holds each
    sample's labels (repeats merged, blanks dropped), padded with -1 — to ``time_steps``
    columns, where TensorFlow pads to the longest decoded sequence of the batch (graphs here are
    static); ``log_prob`` (samples, 1) is TensorFlow's: minus the sum over the steps of the
    largest ``log(y_pred + epsilon)``. Beam search (``greedy=False``) is not implemented.
    """
    if not greedy:
        raise NotImplementedError(
            "K.ctc_decode: polyback implements greedy decoding only (greedy=True); beam search "
            "is not available"
        )
    y_pred = as_tensor(y_pred)
    steps, classes = _steps(y_pred, "ctc_decode")
    logits = log(y_pred + config.epsilon())
    input_length = _lengths(input_length, "ctc_decode")
    best = cast(P.argmax(logits, axis=-1), "int32")  # (samples, time)
    valid = less(list(range(steps)), P.expand_dims(input_length, axis=1))
    best_logits = switch(valid, max(logits, axis=-1), zeros_like(best, logits.dtype))
    log_prob = P.expand_dims(-sum(best_logits, axis=1), axis=1)
    before = concatenate([zeros_like(_column(best, slice(0, 1))) - 1, _column(best, slice(-1))], 1)
    keep = logical_and(valid, logical_and(not_equal(best, classes - 1), not_equal(best, before)))
    # The j-th kept step goes to column j: its rank among the kept ones.
    kept = cast(keep, "int32")
    position = cumsum(kept, axis=1) - 1
    placed = _one_hot(position, steps, "int32") * P.expand_dims(kept * (best + 1), axis=-1)
    decoded = cast(sum(placed, axis=1) - 1, "int64")
    return [decoded], log_prob


__all__ = ["ctc_batch_cost", "ctc_decode", "ctc_label_dense_to_sparse"]
