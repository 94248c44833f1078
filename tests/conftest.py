"""Shared fixtures: paths of the Otto data files kept beside the repository.

The files live in ``../shared/data/kaggle_ottogroup/`` relative to the repository root.
When they are absent the tests that need them are skipped, except under CI (``CI=true``),
where a missing file is a failure.
"""

import os
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
OTTO_DIR = REPO_ROOT.parent / "shared" / "data" / "kaggle_ottogroup"


def _otto_file(name: str) -> Path:
    path = OTTO_DIR / name
    if not path.is_file():
        reason = f"Otto data file not found: {path}"
        if os.environ.get("CI") == "true":
            pytest.fail(f"{reason} (required when CI=true)")
        pytest.skip(reason)
    return path


@pytest.fixture(scope="session")
def otto_train_path() -> Path:
    """Path of the Otto training file (``train.csv.zip``)."""
    return _otto_file("train.csv.zip")


@pytest.fixture(scope="session")
def otto_test_path() -> Path:
    """Path of the Otto test file (``test.csv.zip``, no ``target`` column)."""
    return _otto_file("test.csv.zip")
