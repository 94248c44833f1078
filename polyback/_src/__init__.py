"""polyback internals: the IR, the primitives, autodiff, compilation and the engines."""
