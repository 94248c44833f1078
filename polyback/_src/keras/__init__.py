"""The Keras 2.3 backend functions, as compositions of polyback primitives."""
