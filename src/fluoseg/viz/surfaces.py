"""Interactive 3D views: marching-cubes surfaces of masks, shown with plotly.

- :func:`mask_isosurface_figure`: interactive plotly surfaces (marching cubes meshes)
  of ground truth beside one or more predictions, as the thesis's Figs 5.4-5.10;
  big volumes are max-pooled first so a figure stays well under a few MB of HTML.
- :func:`show_plotly`: displays a plotly figure so that it appears both in JupyterLab
  and in the Jupyter Book HTML (which loads plotly.js from ``_static``).

plotly is imported inside the functions that need it.
"""

from __future__ import annotations

import json
import math
import os
import sys
from collections.abc import Sequence
from typing import Any

import numpy as np

from fluoseg.errors import InputError
from fluoseg.viz.rgb import CLASS_RGB, as_mask, channel_names

PLOTLY_MIME = "application/vnd.plotly.v1+json"


def downsample_mask(mask: np.ndarray, max_voxels: int) -> tuple[np.ndarray, tuple]:
    """Max-pool a (Z, Y, X, n) mask by integer factors until it has <= ``max_voxels``.

    Y and X shrink by the same factor ``f``; Z by at most ``f`` while keeping at least
    8 slices (microscopy crops are thin in z). Returns the mask and the factors.
    """
    m = as_mask(mask)
    if max_voxels < 1:
        raise InputError(f"max_voxels must be >= 1, got {max_voxels}")
    z, y, x = m.shape[:3]
    f = 1
    while True:
        fz = min(f, max(1, z // 8))
        shape = (math.ceil(z / fz), math.ceil(y / f), math.ceil(x / f))
        if shape[0] * shape[1] * shape[2] <= max_voxels or f >= max(y, x):
            break
        f += 1
    factors = (fz, f, f)
    if factors == (1, 1, 1):
        return m, factors
    pad = [(0, s * k - n) for n, s, k in zip(m.shape[:3], shape, factors, strict=True)]
    p = np.pad(m, [*pad, (0, 0)])
    p = p.reshape(shape[0], fz, shape[1], f, shape[2], f, m.shape[-1])
    return p.max(axis=(1, 3, 5)), factors


def mask_mesh(
    mask3d: np.ndarray,
    spacing: Sequence[float] = (1.0, 1.0, 1.0),
    step: int = 1,
) -> tuple[np.ndarray, np.ndarray] | None:
    """Marching-cubes surface of a binary (Z, Y, X) mask: (vertices zyx, faces).

    The mask is zero-padded by one voxel so objects touching the border are closed.
    Returns ``None`` for an empty mask.
    """
    from skimage import measure

    m = np.asarray(mask3d) > 0
    if m.ndim != 3:
        raise InputError(f"expected a (Z, Y, X) mask, got shape {m.shape}")
    if not m.any():
        return None
    padded = np.pad(m, 1).astype(np.float32)
    verts, faces, _, _ = measure.marching_cubes(
        padded, level=0.5, spacing=tuple(float(s) for s in spacing), step_size=step
    )
    verts -= np.asarray(spacing, dtype=verts.dtype)  # undo the padding offset
    return verts.astype(np.float32), faces.astype(np.int32)


def mask_isosurface_figure(
    truth: np.ndarray | None,
    pred: np.ndarray | Sequence[np.ndarray] | None = None,
    *,
    titles: Sequence[str] | None = None,
    class_names: Sequence[str] | None = None,
    spacing: Sequence[float] = (1.0, 1.0, 1.0),
    max_voxels: int = 250_000,
    max_faces: int | None = None,
    height: int = 420,
) -> Any:
    """Interactive 3D surfaces of ground truth and predicted masks, side by side.

    Args:
        truth: (Z, Y, X, n) mask or ``None``.
        pred: one (Z, Y, X, n) mask, a list of them (e.g. several models), or ``None``.
        titles: one per panel (default "Ground truth", "Prediction" / "Prediction k").
        class_names: names of the n channels (default nuclei, golgi, pair).
        spacing: voxel size (z, y, x), so anisotropic crops keep their shape.
        max_voxels: volumes are max-pooled to at most this many voxels first.
        max_faces: per class and panel; the marching-cubes step grows to stay below
            (default: 120 000 faces shared by all panels and classes, at most 40 000
            each; this keeps the figure near 2 MB of HTML).
        height: figure height in pixels.

    Returns:
        A ``plotly.graph_objects.Figure`` with one 3D scene per panel (show it with
        :func:`show_plotly`).
    """
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    preds = [] if pred is None else [pred] if isinstance(pred, np.ndarray) else pred
    masks = ([] if truth is None else [truth]) + list(preds)
    if not masks:
        raise InputError("nothing to draw: give a ground truth and/or a prediction")
    masks = [as_mask(m, f"panel {i + 1}") for i, m in enumerate(masks)]
    if any(m.shape != masks[0].shape for m in masks):
        raise InputError(
            f"all masks must have the same shape, got {[m.shape for m in masks]}"
        )
    if titles is None:
        names = (
            ["Prediction"]
            if len(preds) == 1
            else [f"Prediction {k + 1}" for k in range(len(preds))]
        )
        titles = (["Ground truth"] if truth is not None else []) + names
    if len(titles) != len(masks):
        raise InputError(f"got {len(titles)} titles for {len(masks)} panels")
    names = channel_names(masks[0].shape[-1], class_names)
    n = len(masks)
    if max_faces is None:
        max_faces = min(40_000, 120_000 // (n * len(names)))
    fig = make_subplots(
        rows=1,
        cols=n,
        specs=[[{"type": "scene"}] * n],
        subplot_titles=list(titles),
        horizontal_spacing=0.01,
    )
    opacity = {"nuclei": 0.55, "golgi": 0.9, "pair": 0.25}
    for col, m in enumerate(masks, start=1):
        small, factors = downsample_mask(m, max_voxels)
        sp = [s * k for s, k in zip(spacing, factors, strict=True)]
        for c, name in enumerate(names):
            mesh = None
            step = 1
            while True:
                mesh = mask_mesh(small[..., c], sp, step)
                if mesh is None or len(mesh[1]) <= max_faces or step >= 8:
                    break
                step += 1
            if mesh is None:
                continue
            verts, faces = mesh
            if len(verts) < 2**16:
                faces = faces.astype(np.uint16)  # halves the embedded bytes
            r, g, b = (int(255 * v) for v in CLASS_RGB.get(name, (0.5, 0.5, 0.5)))
            fig.add_trace(
                go.Mesh3d(
                    x=verts[:, 2],
                    y=verts[:, 1],
                    z=verts[:, 0],
                    i=faces[:, 0],
                    j=faces[:, 1],
                    k=faces[:, 2],
                    color=f"rgb({r},{g},{b})",
                    opacity=opacity.get(name, 0.6),
                    name=name,
                    legendgroup=name,
                    showlegend=col == 1,
                    flatshading=False,
                    hoverinfo="name",
                ),
                row=1,
                col=col,
            )
    z, y, x = (s * k for s, k in zip(m.shape[:3], spacing, strict=True))
    top = max(z, y, x)
    scene = {
        "aspectmode": "manual",
        "aspectratio": {"x": x / top, "y": y / top, "z": z / top},
        "xaxis": {"title": "x", "showticklabels": False},
        "yaxis": {"title": "y", "showticklabels": False},
        "zaxis": {"title": "z", "showticklabels": False},
        "camera": {"eye": {"x": 1.6, "y": -1.6, "z": 1.1}},
    }
    fig.update_layout(
        height=height,
        margin={"l": 0, "r": 0, "t": 30, "b": 0},
        legend={"orientation": "h", "y": -0.02},
        **{f"scene{'' if k == 1 else k}": scene for k in range(1, n + 1)},
    )
    return fig


PLOTLYJS_ENV = "FLUOSEG_PLOTLYJS"
"""Environment variable choosing how figure HTML gets plotly.js: ``none`` (the book,
which loads ``_static/plotly.min.js`` once per page), ``cdn`` (a ``<script>`` from
plotly's CDN, ~0 bytes in the notebook) or ``inline`` (~4 MB per figure, offline)."""


def plotlyjs_mode() -> str | bool:
    """The ``include_plotlyjs`` argument of figure HTML: ``FLUOSEG_PLOTLYJS`` when set;
    otherwise ``"cdn"`` in Colab (which shows each output's HTML in its own frame, and
    neither loads the book's plotly.js nor renders plotly's JSON mime type), else
    ``False`` (the book, JupyterLab).

    Raises:
        InputError: ``FLUOSEG_PLOTLYJS`` not one of ``none``, ``cdn``, ``inline``.
    """
    value = os.environ.get(PLOTLYJS_ENV, "").strip().lower()
    modes: dict[str, str | bool] = {"none": False, "cdn": "cdn", "inline": True}
    if value:
        if value not in modes:
            raise InputError(
                f"{PLOTLYJS_ENV} must be one of {sorted(modes)}, got {value!r}"
            )
        return modes[value]
    return "cdn" if "google.colab" in sys.modules else False


def plotly_bundle(
    fig: Any, include_plotlyjs: str | bool | None = None
) -> dict[str, Any]:
    """The display bundle of :func:`show_plotly`: HTML + plotly's JSON.

    The HTML holds plotly.js as ``include_plotlyjs`` says (default
    :func:`plotlyjs_mode`: none in the book and JupyterLab, the CDN in Colab).
    """
    if include_plotlyjs is None:
        include_plotlyjs = plotlyjs_mode()
    return {
        "text/html": fig.to_html(include_plotlyjs=include_plotlyjs, full_html=False),
        PLOTLY_MIME: json.loads(fig.to_json()),
        "text/plain": f"<plotly figure: {len(fig.data)} traces>",
    }


def show_plotly(fig: Any) -> None:
    """Display a plotly figure so that it appears in JupyterLab and in the book's HTML.

    The ``text/html`` part uses the plotly.js that the book loads from
    ``_static/plotly.min.js`` (in Colab, plotly's CDN: see :func:`plotlyjs_mode`);
    JupyterLab uses the plotly JSON mime type.
    """
    from IPython.display import display

    display(plotly_bundle(fig), raw=True)


def html_size(fig: Any) -> int:
    """Bytes of the HTML the book embeds for ``fig`` (plotly.js excluded)."""
    return len(fig.to_html(include_plotlyjs=False, full_html=False).encode())
