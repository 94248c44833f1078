"""polyback: the Keras 2.3 backend API (``from polyback import backend as K``) on NumPy,
TensorFlow, PyTensor (Theano), JAX and PyTorch."""

import sys

from polyback import config
from polyback._src.engines import available_engines as available_backends
from polyback.config import set_backend

__version__ = "0.1.0"

config.load()
config.require_engine(config.backend(), config.backend_source())
print(f"Using {config.engine_label()} backend.", file=sys.stderr)

from polyback import backend  # noqa: E402
from polyback.compare import compare_backends  # noqa: E402

__all__ = ["available_backends", "backend", "compare_backends", "config", "set_backend"]
