"""Data helpers for the examples: Otto-format CSV files and an embedded fallback data set.

These helpers need the ``examples`` extra (pandas and scikit-learn)::

    pip install "polyback[examples]"
"""

from polyback.datasets.otto import (
    default_otto_path,
    load_data,
    load_digits_as_otto,
    preprocess_data,
    preprocess_labels,
)

__all__ = [
    "default_otto_path",
    "load_data",
    "load_digits_as_otto",
    "preprocess_data",
    "preprocess_labels",
]
