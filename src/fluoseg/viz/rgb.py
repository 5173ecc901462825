"""Slices as RGB: the class colours, image and mask compositing.

Colours follow the thesis's masks: nuclei green, Golgi red, nucleus-Golgi pair blue.
Arrays follow the package convention: images (Z, Y, X, 2) ``[nuclei, golgi]`` in [0, 1],
masks (Z, Y, X, n) ``[nuclei, golgi(, pair)]`` in {0, 1}. :func:`as_mask` and
:func:`as_image` check a volume's layout for the figures of ``fluoseg.viz``.
"""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from types import MappingProxyType
from typing import Any

import numpy as np

from fluoseg.errors import InputError

CLASS_ORDER: tuple[str, str, str] = ("nuclei", "golgi", "pair")
CLASS_RGB: Mapping[str, tuple[float, float, float]] = MappingProxyType(
    {"nuclei": (0.0, 1.0, 0.0), "golgi": (1.0, 0.0, 0.0), "pair": (0.0, 0.35, 1.0)}
)
"""Display colour of each class (RGB in [0, 1])."""

OUTLINE_RGB: Mapping[str, tuple[float, float, float]] = MappingProxyType(
    {"nuclei": (1.0, 0.0, 1.0), "golgi": (0.0, 1.0, 1.0), "pair": (1.0, 1.0, 1.0)}
)
"""Outline colour of each class over an image: the complement of its channel's colour
(magenta around green nuclei, cyan around red Golgi), white for pairs."""


def as_mask(mask: Any, name: str = "mask") -> np.ndarray:
    """``mask`` as a boolean (Z, Y, X, n) array, n = 1..3 (a (Z, Y, X) mask: n = 1)."""
    m = np.asarray(mask)
    if m.ndim == 3:
        m = m[..., None]
    if m.ndim != 4 or not 1 <= m.shape[-1] <= 3 or min(m.shape[:3]) < 1:
        raise InputError(
            f"{name}: expected a mask of shape (Z, Y, X, n) with n = 1..3, "
            f"got {m.shape}"
        )
    return m > 0


def as_image(image: Any, name: str = "image") -> np.ndarray:
    """``image`` as a float32 (Z, Y, X, 2) ``[nuclei, golgi]`` array."""
    x = np.asarray(image, dtype=np.float32)
    if x.ndim != 4 or x.shape[-1] != 2 or min(x.shape[:3]) < 1:
        raise InputError(
            f"{name}: expected an image of shape (Z, Y, X, 2) [nuclei, golgi], "
            f"got {x.shape}"
        )
    return x


def channel_names(n: int, class_names: Sequence[str] | None) -> list[str]:
    """The names of a mask's ``n`` channels (default: the first ``n`` classes)."""
    names = list(class_names) if class_names is not None else list(CLASS_ORDER[:n])
    if len(names) != n:
        raise InputError(f"got {len(names)} class names for a mask with {n} channels")
    return names


def image_rgb(
    image_slice: np.ndarray, channels: Sequence[bool] = (True, True)
) -> np.ndarray:
    """A (Y, X, 2) ``[nuclei, golgi]`` slice as RGB: R = Golgi, G = nuclei, B = 0.

    ``channels`` switches nuclei and Golgi on or off. Values are clipped to [0, 1].
    """
    s = np.asarray(image_slice, dtype=np.float32)
    if s.ndim != 3 or s.shape[-1] != 2:
        raise InputError(
            f"expected an image slice of shape (Y, X, 2) [nuclei, golgi], got {s.shape}"
        )
    rgb = np.zeros((*s.shape[:2], 3), np.float32)
    if channels[1]:
        rgb[..., 0] = s[..., 1]
    if channels[0]:
        rgb[..., 1] = s[..., 0]
    return np.clip(rgb, 0.0, 1.0)


def mask_rgb(mask_slice: np.ndarray) -> np.ndarray:
    """A (Y, X, n) mask slice as RGB in the class colours (overlaps add, clipped)."""
    m = np.asarray(mask_slice)
    if m.ndim == 2:
        m = m[..., None]
    if m.ndim != 3 or not 1 <= m.shape[-1] <= 3:
        raise InputError(f"expected a mask slice of shape (Y, X, n), got {m.shape}")
    rgb = np.zeros((*m.shape[:2], 3), np.float32)
    for c in range(m.shape[-1]):
        rgb += (m[..., c] > 0)[..., None] * np.asarray(CLASS_RGB[CLASS_ORDER[c]])
    return np.clip(rgb, 0.0, 1.0)


def overlay_rgb(
    image_slice: np.ndarray,
    mask_slice: np.ndarray | None,
    *,
    alpha: float = 0.45,
    outline: bool = False,
    channels: Sequence[bool] = (True, True),
) -> np.ndarray:
    """An image slice with a mask drawn over it, as (Y, X, 3) float32 RGB in [0, 1].

    Where any class is on, the result is ``(1 - alpha) * image + alpha * colour``
    (colour = :func:`mask_rgb`); elsewhere it is the image. With ``outline`` only the
    border voxels of each class are drawn, opaque, in :data:`OUTLINE_RGB` (colours
    that stand out against the image's own green and red).
    """
    base = image_rgb(image_slice, channels)
    if mask_slice is None:
        return base
    m = np.asarray(mask_slice) > 0
    if m.ndim == 2:
        m = m[..., None]
    if m.shape[:2] != base.shape[:2]:
        raise InputError(
            f"mask slice {m.shape[:2]} and image slice {base.shape[:2]} differ in size"
        )
    if not 0.0 <= alpha <= 1.0:
        raise InputError(f"alpha must be in [0, 1], got {alpha}")
    if outline:
        from scipy import ndimage

        out = base.copy()
        order = [c for c in (2, 0, 1) if c < m.shape[-1]]  # pairs under the others
        for c in order:
            border = m[..., c] & ~ndimage.binary_erosion(m[..., c], border_value=0)
            out[border] = OUTLINE_RGB[CLASS_ORDER[c]]
        return out.astype(np.float32)
    colour = mask_rgb(m)
    on = m.any(axis=-1)[..., None]
    out = np.where(on, (1.0 - alpha) * base + alpha * colour, base)
    return out.astype(np.float32)


def png(rgb: np.ndarray) -> bytes:
    """PNG bytes of an RGB array in [0, 1]."""
    from matplotlib import image as mpimg

    buf = io.BytesIO()
    mpimg.imsave(buf, np.clip(rgb, 0, 1), format="png")
    return buf.getvalue()
