"""The activation functions of the theory chapters, on NumPy arrays."""

from __future__ import annotations

import numpy as np

from fluoseg.errors import InputError

ACTIVATIONS: tuple[str, ...] = ("relu", "leaky_relu", "elu", "sigmoid", "tanh")


def activation(name: str, x: np.ndarray, alpha: float = 0.2) -> np.ndarray:
    """The activation ``name`` (one of :data:`ACTIVATIONS`) applied to ``x``.

    ``alpha`` is LeakyReLU's negative slope (0.2, as in GAN discriminators) and ELU's
    negative saturation value (ELU uses 1.0 whatever ``alpha`` is, as in Keras).
    """
    x = np.asarray(x, dtype=np.float64)
    if name == "relu":
        return np.maximum(x, 0.0)
    if name == "leaky_relu":
        return np.where(x > 0, x, alpha * x)
    if name == "elu":
        return np.where(x > 0, x, np.expm1(np.minimum(x, 0.0)))
    if name == "sigmoid":
        return 1.0 / (1.0 + np.exp(-x))
    if name == "tanh":
        return np.tanh(x)
    raise InputError(f"unknown activation {name!r}: expected one of {ACTIVATIONS}")
