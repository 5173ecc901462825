"""The GAN generator losses and their gradients, and where a discriminator decides."""

from __future__ import annotations

import numpy as np

from fluoseg.errors import InputError
from fluoseg.teaching.activations import activation

GAN_LOSSES: tuple[str, ...] = ("saturating", "non_saturating", "least_squares")


def generator_loss(score: np.ndarray, kind: str) -> np.ndarray:
    """The generator's loss for one fake sample, as a function of the discriminator's
    last-layer output ``a`` for it (its *score*).

    For the two log losses the discriminator is a classifier, ``D = sigmoid(a)`` and
    ``a`` is its logit; LSGAN's discriminator has a linear output, ``D = a``, trained
    towards 0 on fakes and 1 on real samples. Using the score for all three puts them
    on one axis (a like-for-like comparison):

    - ``saturating``: ``log(1 - sigmoid(a))`` (minimised; Goodfellow et al.'s minimax);
    - ``non_saturating``: ``-log sigmoid(a)`` (the heuristic used in practice);
    - ``least_squares``: ``(a - 1)^2`` (LSGAN, used by CycleGAN).
    """
    a = np.asarray(score, dtype=np.float64)
    if kind == "saturating":
        return -np.logaddexp(0.0, a)  # log(1 - sigmoid(a)) = -softplus(a)
    if kind == "non_saturating":
        return np.logaddexp(0.0, -a)  # -log sigmoid(a) = softplus(-a)
    if kind == "least_squares":
        return (a - 1.0) ** 2
    raise InputError(f"unknown GAN loss {kind!r}: expected one of {GAN_LOSSES}")


def generator_loss_grad(score: np.ndarray, kind: str) -> np.ndarray:
    """Derivative of :func:`generator_loss` with respect to the score ``a``, for all
    three losses; its size is the learning signal the generator receives.

    ``-sigmoid(a)`` (saturating), ``-(1 - sigmoid(a))`` (non-saturating) and
    ``2 (a - 1)`` (least squares).
    """
    a = np.asarray(score, dtype=np.float64)
    if kind == "saturating":
        return -activation("sigmoid", a)
    if kind == "non_saturating":
        return -(1.0 - activation("sigmoid", a))
    if kind == "least_squares":
        return 2.0 * (a - 1.0)
    raise InputError(f"unknown GAN loss {kind!r}: expected one of {GAN_LOSSES}")


def decision_boundary(kind: str) -> float:
    """The score at which the discriminator of loss ``kind`` is undecided: 0 for the
    log losses (``sigmoid(0) = 1/2``), 0.5 for LSGAN (half-way between its targets)."""
    if kind not in GAN_LOSSES:
        raise InputError(f"unknown GAN loss {kind!r}: expected one of {GAN_LOSSES}")
    return 0.5 if kind == "least_squares" else 0.0
