"""Load and prepare data in the format of the Otto Group product classification data.

An Otto-format CSV file has an ``id`` column, feature columns ``feat_1`` ... ``feat_93`` and,
for training data, a ``target`` column holding class names such as ``Class_1``.

Typical use::

    X, labels = load_data("train.csv.zip")        # rows shuffled with np.random
    X, scaler = preprocess_data(X)                # standardised, float32
    y, encoder = preprocess_labels(labels)        # one-hot, float32
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import pandas as pd
    from sklearn.preprocessing import LabelEncoder, StandardScaler

PathLike = str | os.PathLike

_INSTALL_HINT = 'pip install "polyback[examples]"'
_OTTO_DIR = Path("shared") / "data" / "kaggle_ottogroup"


def _import_pandas():
    try:
        import pandas
    except ImportError as err:
        raise ImportError(f"polyback.datasets needs pandas: {_INSTALL_HINT}") from err
    return pandas


def _import_sklearn_preprocessing():
    try:
        from sklearn import preprocessing
    except ImportError as err:
        raise ImportError(f"polyback.datasets needs scikit-learn: {_INSTALL_HINT}") from err
    return preprocessing


def default_otto_path(filename: str = "train.csv.zip") -> Path | None:
    """Return the path of the shared Otto data file, or None when it cannot be found.

    Looks for ``../shared/data/kaggle_ottogroup/<filename>`` beside the repository, first
    from the current working directory, then from the repository that holds this source tree.
    """
    repo_root = Path(__file__).resolve().parents[2]
    for base in (Path.cwd(), repo_root):
        candidate = base.parent / _OTTO_DIR / filename
        if candidate.is_file():
            return candidate
    return None


def _read_csv(path: PathLike) -> pd.DataFrame:
    pandas = _import_pandas()
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"Otto-format CSV file not found: {path}")
    try:
        # Compression (.gz, .zip) is inferred from the file name.
        return pandas.read_csv(path)
    except pandas.errors.EmptyDataError as err:
        raise ValueError(f"{path}: the file is empty") from err


def _feature_columns(frame: pd.DataFrame, path: PathLike) -> list[str]:
    columns = [str(c) for c in frame.columns if str(c).startswith("feat_")]
    if not columns:
        raise ValueError(f"{path}: no 'feat_*' columns found (columns: {list(frame.columns)})")
    return columns


def _require_column(frame: pd.DataFrame, column: str, path: PathLike, why: str) -> None:
    if column not in frame.columns:
        raise ValueError(f"{path}: missing column '{column}' ({why})")


def load_data(path: PathLike, train: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """Read an Otto-format CSV file (``.csv``, ``.csv.gz`` or ``.csv.zip``).

    For training data (``train=True``) returns ``(X, labels)``: ``X`` float32 of shape
    ``(n, n_features)`` and ``labels`` a str array, with the rows shuffled by
    ``np.random.shuffle`` (seed it with ``np.random.seed`` for a reproducible order).
    For test data returns ``(X, ids)`` in file order, ``ids`` a str array.
    """
    frame = _read_csv(path)
    features = _feature_columns(frame, path)
    X = frame[features].to_numpy(dtype=np.float32)
    if not train:
        _require_column(frame, "id", path, "needed for test data")
        return X, frame["id"].to_numpy(dtype=str)

    _require_column(frame, "target", path, "needed when train=True")
    labels = frame["target"].to_numpy(dtype=str)
    order = np.arange(len(X))
    np.random.shuffle(order)  # same permutation as np.random.shuffle applied to the rows
    return X[order], labels[order]


def load_digits_as_otto() -> tuple[np.ndarray, np.ndarray]:
    """Return scikit-learn's embedded digits data in the shape of :func:`load_data`'s output.

    ``X`` is float32 of shape ``(1797, 64)``; labels are strings ``"digit_0"`` ... ``"digit_9"``.
    Rows are shuffled with ``np.random.shuffle``, as for Otto training data. Needs no download.
    """
    _import_sklearn_preprocessing()
    from sklearn.datasets import load_digits

    digits = load_digits()
    X = np.asarray(digits.data, dtype=np.float32)
    labels = np.array([f"digit_{d}" for d in digits.target], dtype=str)
    order = np.arange(len(X))
    np.random.shuffle(order)
    return X[order], labels[order]


def preprocess_data(
    X: np.ndarray, scaler: StandardScaler | None = None
) -> tuple[np.ndarray, StandardScaler]:
    """Standardise the columns of ``X`` to mean 0 and standard deviation 1.

    Fits a new ``StandardScaler`` when ``scaler`` is None; otherwise reuses the given one
    (e.g. the scaler fitted on the training data, applied to the test data).
    Returns ``(X_scaled as float32, scaler)``.
    """
    preprocessing = _import_sklearn_preprocessing()
    if scaler is None:
        scaler = preprocessing.StandardScaler()
        scaler.fit(X)
    return scaler.transform(X).astype(np.float32), scaler


def preprocess_labels(
    labels: np.ndarray, encoder: LabelEncoder | None = None, categorical: bool = True
) -> tuple[np.ndarray, LabelEncoder]:
    """Turn class names into numbers with a ``LabelEncoder`` (fitted when ``encoder`` is None).

    Returns ``(y, encoder)``: ``y`` is one-hot float32 of shape ``(n, n_classes)`` when
    ``categorical`` is true, else int32 class indices of shape ``(n,)``.
    """
    preprocessing = _import_sklearn_preprocessing()
    labels = np.asarray(labels)
    if encoder is None:
        encoder = preprocessing.LabelEncoder()
        encoder.fit(labels)
    else:
        # Checked here: some scikit-learn versions truncate unseen strings to the length of the
        # known class names and match them ("Class_42" -> "Class_4") instead of raising.
        unseen = np.unique(labels[~np.isin(labels, encoder.classes_)])
        if unseen.size:
            raise ValueError(f"labels unknown to the encoder: {unseen[:10].tolist()}")
    y = encoder.transform(labels).astype(np.int32)
    if categorical:
        y = np.eye(len(encoder.classes_), dtype=np.float32)[y]
    return y, encoder
