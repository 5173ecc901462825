"""Figures for the book: 3D mask surfaces, projections, a slice viewer and bar charts.

Colours follow the thesis's masks: nuclei green, Golgi red, nucleus-Golgi pair blue.
Arrays follow the package convention: images (Z, Y, X, 2) ``[nuclei, golgi]`` in [0, 1],
masks (Z, Y, X, n) ``[nuclei, golgi(, pair)]`` in {0, 1}.

- :func:`mask_isosurface_figure`: interactive plotly surfaces (marching cubes meshes)
  of ground truth beside one or more predictions, as the thesis's Figs 5.4-5.10;
  big volumes are max-pooled first so a figure stays well under a few MB of HTML.
- :func:`show_plotly`: displays a plotly figure so that it appears both in JupyterLab
  and in the Jupyter Book HTML (which loads plotly.js from ``_static``).
- :func:`mask_projection_figure`: the static matplotlib fallback (max projections and
  z-slices) that always renders.
- :func:`slice_viewer`: an ipywidgets viewer (z slider, channel toggles, overlays);
  :func:`slice_figure` renders one static frame of it.
- :func:`overlay_rgb`, :func:`image_rgb`, :func:`mask_rgb`: slice compositing.
- :func:`grouped_bar_figure`, :func:`metrics_bar_figure`, :func:`history_figure`.

plotly, ipywidgets and matplotlib are imported inside the functions that need them.
"""

from __future__ import annotations

import io
import math
from collections.abc import Mapping, Sequence
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

import numpy as np

from fluoseg.errors import InputError

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd
    from matplotlib.figure import Figure

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

PLOTLY_MIME = "application/vnd.plotly.v1+json"


# --------------------------------------------------------------------------- checks
def _as_mask(mask: Any, name: str = "mask") -> np.ndarray:
    m = np.asarray(mask)
    if m.ndim == 3:
        m = m[..., None]
    if m.ndim != 4 or not 1 <= m.shape[-1] <= 3 or min(m.shape[:3]) < 1:
        raise InputError(
            f"{name}: expected a mask of shape (Z, Y, X, n) with n = 1..3, "
            f"got {m.shape}"
        )
    return m > 0


def _as_image(image: Any, name: str = "image") -> np.ndarray:
    x = np.asarray(image, dtype=np.float32)
    if x.ndim != 4 or x.shape[-1] != 2 or min(x.shape[:3]) < 1:
        raise InputError(
            f"{name}: expected an image of shape (Z, Y, X, 2) [nuclei, golgi], "
            f"got {x.shape}"
        )
    return x


def _class_names(n: int, class_names: Sequence[str] | None) -> list[str]:
    names = list(class_names) if class_names is not None else list(CLASS_ORDER[:n])
    if len(names) != n:
        raise InputError(f"got {len(names)} class names for a mask with {n} channels")
    return names


# --------------------------------------------------------------------------- 2D RGB
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


def _png(rgb: np.ndarray) -> bytes:
    from matplotlib import image as mpimg

    buf = io.BytesIO()
    mpimg.imsave(buf, np.clip(rgb, 0, 1), format="png")
    return buf.getvalue()


# --------------------------------------------------------------------------- 3D meshes
def downsample_mask(mask: np.ndarray, max_voxels: int) -> tuple[np.ndarray, tuple]:
    """Max-pool a (Z, Y, X, n) mask by integer factors until it has <= ``max_voxels``.

    Y and X shrink by the same factor ``f``; Z by at most ``f`` while keeping at least
    8 slices (microscopy crops are thin in z). Returns the mask and the factors.
    """
    m = _as_mask(mask)
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
    masks = [_as_mask(m, f"panel {i + 1}") for i, m in enumerate(masks)]
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
    names = _class_names(masks[0].shape[-1], class_names)
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
    import os
    import sys

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
    import json

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


# --------------------------------------------------------------------------- static
def figure_png(fig: Figure, dpi: int = 100) -> bytes:
    """PNG bytes of a matplotlib figure (no pyplot needed)."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, bbox_inches="tight")
    return buf.getvalue()


def register_figure_display() -> bool:
    """Let IPython show matplotlib ``Figure`` objects (made without pyplot) as PNG.

    The figures of this module are plain ``matplotlib.figure.Figure`` objects, so that
    a notebook cell shows each exactly once when it returns one. Returns whether an
    IPython shell was found.
    """
    try:
        from IPython import get_ipython
    except ImportError:  # pragma: no cover - IPython is a dependency of the book
        return False
    shell = get_ipython()
    if shell is None:
        return False
    from matplotlib.figure import Figure

    png = shell.display_formatter.formatters["image/png"]
    png.for_type(Figure, figure_png)
    return True


def new_figure(width: float, height: float) -> Figure:
    """An empty matplotlib figure (inches) that a notebook cell displays as PNG."""
    from matplotlib.figure import Figure

    register_figure_display()
    return Figure(figsize=(width, height), layout="constrained")


_mpl_figure = new_figure


def mask_projection_figure(
    truth: np.ndarray | None,
    pred: np.ndarray | Sequence[np.ndarray] | None = None,
    *,
    titles: Sequence[str] | None = None,
    z_slices: Sequence[int] | None = None,
    image: np.ndarray | None = None,
) -> Figure:
    """Static fallback of the 3D view: per mask, a max projection along z and z-slices.

    Rows are the panels (ground truth, then each prediction), columns the maximum
    intensity projection and the z-slices (default: at 1/3 and 2/3 of the depth). With
    ``image`` a first row shows the image's projection and slices.
    """
    preds = [] if pred is None else [pred] if isinstance(pred, np.ndarray) else pred
    masks = ([] if truth is None else [truth]) + list(preds)
    if not masks and image is None:
        raise InputError("nothing to draw: give a mask or an image")
    masks = [_as_mask(m, f"panel {i + 1}") for i, m in enumerate(masks)]
    if titles is None:
        names = (
            ["Prediction"]
            if len(preds) == 1
            else [f"Prediction {k + 1}" for k in range(len(preds))]
        )
        titles = (["Ground truth"] if truth is not None else []) + names
    if len(titles) != len(masks):
        raise InputError(f"got {len(titles)} titles for {len(masks)} mask panels")
    depth = (masks[0] if masks else np.asarray(image)).shape[0]
    if z_slices is None:
        z_slices = sorted({depth // 3, (2 * depth) // 3})
    for z in z_slices:
        if not 0 <= z < depth:
            raise InputError(f"z-slice {z} outside the volume's 0..{depth - 1}")
    rows: list[tuple[str, list[np.ndarray]]] = []
    if image is not None:
        img = _as_image(image)
        views = [image_rgb(img.max(axis=0))] + [image_rgb(img[z]) for z in z_slices]
        rows.append(("Image", views))
    for title, m in zip(titles, masks, strict=True):
        rows.append(
            (title, [mask_rgb(m.max(axis=0))] + [mask_rgb(m[z]) for z in z_slices])
        )
    ncols = 1 + len(z_slices)
    aspect = rows[0][1][0].shape[0] / rows[0][1][0].shape[1]
    fig = _mpl_figure(2.6 * ncols, 2.6 * aspect * len(rows) + 0.3)
    axes = fig.subplots(len(rows), ncols, squeeze=False)
    heads = ["max projection (z)"] + [f"z = {z}" for z in z_slices]
    for r, (title, views) in enumerate(rows):
        for c, view in enumerate(views):
            ax = axes[r, c]
            ax.imshow(view, interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
            if r == 0:
                ax.set_title(heads[c], fontsize=9)
            if c == 0:
                ax.set_ylabel(title, fontsize=9)
    return fig


def slice_figure(
    image: np.ndarray,
    truth: np.ndarray | None = None,
    pred: np.ndarray | None = None,
    z: int | None = None,
    *,
    alpha: float = 0.45,
    outline: bool = True,
    channels: Sequence[bool] = (True, True),
) -> Figure:
    """One static frame of :func:`slice_viewer`: image, image + truth, image + pred.

    Masks are drawn as outlines (default) or filled with opacity ``alpha``.
    """
    img = _as_image(image)
    z = img.shape[0] // 2 if z is None else z
    if not 0 <= z < img.shape[0]:
        raise InputError(f"z = {z} outside the volume's 0..{img.shape[0] - 1}")
    panels = [("image", image_rgb(img[z], channels))]
    for title, m in (("ground truth", truth), ("prediction", pred)):
        if m is not None:
            mm = _as_mask(m, title)
            if mm.shape[:3] != img.shape[:3]:
                raise InputError(
                    f"{title} shape {mm.shape[:3]} differs from the image's "
                    f"{img.shape[:3]}"
                )
            panels.append(
                (
                    title,
                    overlay_rgb(
                        img[z], mm[z], alpha=alpha, outline=outline, channels=channels
                    ),
                )
            )
    aspect = img.shape[1] / img.shape[2]
    fig = _mpl_figure(3.0 * len(panels), 3.0 * aspect + 0.4)
    axes = fig.subplots(1, len(panels), squeeze=False)[0]
    for ax, (title, view) in zip(axes, panels, strict=True):
        ax.imshow(view, interpolation="nearest")
        ax.set_title(f"{title}, z = {z}", fontsize=9)
        ax.set_xticks([])
        ax.set_yticks([])
    return fig


def slice_viewer(
    image: np.ndarray,
    truth: np.ndarray | None = None,
    pred: np.ndarray | None = None,
    *,
    z: int | None = None,
    alpha: float = 0.45,
    panel_px: int = 280,
) -> Any:
    """An interactive slice viewer (ipywidgets): z slider, channel toggles, overlays.

    Panels: the image, the image with the ground truth drawn over it, the image with
    the prediction drawn over it (those given). Controls: the z-slice, nuclei and Golgi
    channels on/off, the overlay (outline, fill or off) and the fill's opacity. In a
    static page it shows the initial state; use :func:`slice_figure` for a printable
    frame.

    Returns:
        The widget (an ``ipywidgets.VBox``); ``widget.panels`` are its image widgets
        and ``widget.controls`` its controls by name.
    """
    import ipywidgets as w

    img = _as_image(image)
    masks: list[tuple[str, np.ndarray | None]] = [("image", None)]
    for title, m in (("ground truth", truth), ("prediction", pred)):
        if m is not None:
            mm = _as_mask(m, title)
            if mm.shape[:3] != img.shape[:3]:
                raise InputError(
                    f"{title} shape {mm.shape[:3]} differs from the image's "
                    f"{img.shape[:3]}"
                )
            masks.append((title, mm))
    depth = img.shape[0]
    z0 = depth // 2 if z is None else int(z)
    if not 0 <= z0 < depth:
        raise InputError(f"z = {z0} outside the volume's 0..{depth - 1}")
    controls = {
        "z": w.IntSlider(value=z0, min=0, max=depth - 1, description="z-slice"),
        "nuclei": w.Checkbox(value=True, description="nuclei (green)", indent=False),
        "golgi": w.Checkbox(value=True, description="Golgi (red)", indent=False),
        "overlay": w.ToggleButtons(
            options=["outline", "fill", "off"], value="outline", description="masks"
        ),
        "alpha": w.FloatSlider(
            value=alpha, min=0.0, max=1.0, step=0.05, description="opacity"
        ),
    }
    width = f"{panel_px}px"
    images = [
        w.Image(format="png", layout=w.Layout(width=width, height="auto"))
        for _ in masks
    ]
    titles = [w.HTML(f"<b>{t}</b>") for t, _ in masks]

    def render(*_: Any) -> None:
        zz = controls["z"].value
        ch = (controls["nuclei"].value, controls["golgi"].value)
        for widget, (_, m) in zip(images, masks, strict=True):
            mode = controls["overlay"].value
            show = m is not None and mode != "off"
            rgb = overlay_rgb(
                img[zz],
                m[zz] if show else None,
                alpha=controls["alpha"].value,
                outline=mode == "outline",
                channels=ch,
            )
            widget.value = _png(rgb)

    for c in controls.values():
        c.observe(render, names="value")
    render()
    cols = [w.VBox([t, i]) for t, i in zip(titles, images, strict=True)]
    box = w.VBox(
        [
            w.HBox([controls["z"], controls["alpha"]]),
            w.HBox([controls["nuclei"], controls["golgi"]]),
            controls["overlay"],
            w.HBox(cols),
        ]
    )
    box.panels = images
    box.controls = controls
    return box


# --------------------------------------------------------------------------- charts
def grouped_bar_figure(
    table: pd.DataFrame,
    metric: str = "DC",
    *,
    errors: pd.DataFrame | None = None,
    ax: Any = None,
    title: str | None = None,
) -> Figure:
    """Grouped bars of a thesis-layout table: one group per class, one bar per row.

    Args:
        table: rows = models, columns like ``"DC Nuclei"`` (see ``fluoseg.thesis``).
        metric: column prefix: ``"DC"``, ``"Precision"`` or ``"Recall"``.
        errors: same layout, bar half-heights (e.g. standard deviations); NaN = none.
        ax: draw into this matplotlib axes instead of a new figure (then no legend
            is drawn: the caller places one).
        title: axes title (default: the metric).
    """
    cols = [c for c in table.columns if str(c).startswith(f"{metric} ")]
    if not cols:
        raise InputError(
            f"no {metric!r} columns in the table: expected columns like "
            f"'{metric} Nuclei', got {list(table.columns)}"
        )
    classes = [c[len(metric) + 1 :] for c in cols]
    own = ax is None
    if ax is None:
        fig = _mpl_figure(max(5.0, 1.6 * len(classes) + 0.4 * len(table)), 3.6)
        ax = fig.subplots()
    else:
        fig = ax.figure
    n = len(table)
    width = 0.8 / max(n, 1)
    xs = np.arange(len(classes))
    for k, (label, row) in enumerate(table[cols].iterrows()):
        vals = row.to_numpy(dtype=float)
        err = None
        if errors is not None and label in errors.index:
            err = errors.loc[label].reindex(cols).to_numpy(dtype=float)
            err = np.where(np.isfinite(err), err, 0.0)
        ok = np.isfinite(vals)
        ax.bar(
            xs[ok] + (k - (n - 1) / 2) * width,
            vals[ok],
            width,
            yerr=None if err is None else err[ok],
            capsize=3,
            label=str(label),
        )
    ax.set_xticks(xs, classes)
    if own:
        ax.legend(fontsize=8, loc="upper right")
    ax.set_ylim(0, 1.05)
    ax.set_ylabel(metric)
    ax.set_title(title or metric, fontsize=10)
    ax.grid(axis="y", alpha=0.3)
    return fig


def metrics_bar_figure(
    table: pd.DataFrame,
    metrics: Sequence[str] = ("DC", "Precision", "Recall"),
    *,
    errors: pd.DataFrame | None = None,
) -> Figure:
    """One grouped bar chart per metric, side by side, with a shared legend below."""
    fig = _mpl_figure(4.2 * len(metrics), 3.2 + 0.22 * len(table))
    axes = fig.subplots(1, len(metrics), squeeze=False)[0]
    for ax, metric in zip(axes, metrics, strict=True):
        grouped_bar_figure(table, metric, errors=errors, ax=ax)
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside lower center", ncols=2, fontsize=8)
    return fig


def history_figure(
    history: pd.DataFrame, columns: Sequence[str] | None = None, *, title: str = ""
) -> Figure:
    """Training curves: the history's loss-like columns against the epoch."""
    if columns is None:
        columns = [c for c in history.columns if "loss" in str(c).lower()]
    missing = [c for c in columns if c not in history.columns]
    if missing or not columns:
        raise InputError(
            f"history has no columns {missing or 'with loss in the name'}: "
            f"its columns are {list(history.columns)}"
        )
    if "epoch" in history.columns:
        x = np.asarray(history["epoch"])
        x = x + 1 if len(x) and x.min() == 0 else x  # keras's CSV counts from 0
    else:
        x = np.arange(1, len(history) + 1)
    fig = _mpl_figure(5.5, 3.2)
    ax = fig.subplots()
    for c in columns:
        ax.plot(x, history[c], marker="o", ms=3, label=str(c))
    ax.set_xlabel("epoch")
    ax.set_ylabel("value")
    if title:
        ax.set_title(title, fontsize=10)
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    return fig


def middle_slices_figure(panels: Sequence[tuple[str, np.ndarray]]) -> Figure:
    """One row of middle z-slices of 3D patches: ``(title, patch)`` pairs, each patch
    (Z, Y, X, 2) an image in [0, 1] or, with ``"mask"`` in its title, a mask."""
    if not panels:
        raise InputError("no panels to show: expected (title, patch) pairs")
    fig = _mpl_figure(2.4 * len(panels), 2.6)
    for ax, (title, vol) in zip(fig.subplots(1, len(panels), squeeze=False)[0], panels,
                                strict=True):  # fmt: skip
        arr = np.asarray(vol)
        if arr.ndim != 4:
            raise InputError(
                f"panel {title!r} of shape {arr.shape}: expected (Z, Y, X, C)"
            )
        mid = arr[arr.shape[0] // 2]
        rgb = mask_rgb(mid) if "mask" in title else image_rgb(mid)
        ax.imshow(rgb, interpolation="nearest")
        ax.set_title(title, fontsize=9)
        ax.axis("off")
    return fig


def dice_compute_figure(
    minutes: Sequence[float],
    dice: np.ndarray,
    reference: Sequence[float] | None = None,
    title: str = "",
    class_names: Sequence[str] = ("nuclei", "golgi"),
) -> Figure:
    """Test Dice per class against training minutes (log scale), with an optional
    dashed reference per class (e.g. the thesis's, after 28.6 GPU-hours)."""
    d = np.asarray(dice, dtype=float)
    if d.ndim != 2 or d.shape[0] != len(minutes) or d.shape[1] != len(class_names):
        raise InputError(
            f"dice of shape {d.shape}: expected ({len(minutes)}, {len(class_names)})"
        )
    fig = _mpl_figure(6, 3)
    ax = fig.subplots()
    for i, name in enumerate(class_names):
        ax.plot(minutes, d[:, i], "o-", color=f"C{i}", label=f"{name}, this machine")
        if reference is not None:
            ax.axhline(reference[i], color=f"C{i}", ls="--", label=f"{name}, thesis")
    ax.set(xscale="log", xlabel="training minutes", ylabel="test Dice", title=title)
    ax.legend(fontsize=7)
    return fig


def cyclegan_diagram() -> Figure:
    """The CycleGAN's two cycles: image -> G_S -> mask -> G_I -> image (judged by
    D_S) and mask -> G_I -> image -> G_S -> mask (judged by D_I), cycle L1 dashed."""
    fig = _mpl_figure(9, 3.2)
    ax = fig.subplots()
    rows = [("image i", "G_S", "mask G_S(i)", "G_I", "G_I(G_S(i))", "D_S"),
            ("mask s", "G_I", "image G_I(s)", "G_S", "G_S(G_I(s))", "D_I")]  # fmt: skip
    for r, (a, g1, b, g2, c, d) in enumerate(rows):
        yy = 1 - r
        for xx, text in zip((0, 2, 4), (a, b, c), strict=True):
            ax.text(xx, yy, text, ha="center", va="center", bbox={"fc": "#dde8f5"})
        for xx, g in ((1, g1), (3, g2)):
            ax.annotate("", (xx + 0.55, yy), (xx - 0.55, yy),
                        arrowprops={"arrowstyle": "->"})  # fmt: skip
            ax.text(xx, yy + 0.12, g, ha="center")
        ax.annotate(d, (2, yy - 0.15), (2, yy - 0.42), ha="center", color="C3",
                    arrowprops={"arrowstyle": "->", "color": "C3"})  # fmt: skip
        ax.annotate("", (0, yy - 0.12), (4, yy - 0.12), arrowprops={
            "arrowstyle": "<->", "ls": "--", "color": "0.5",
            "connectionstyle": "arc3,rad=-0.25"})  # fmt: skip
    ax.text(4.75, 0.5, "cycle L1\n(dashed)", color="0.4", va="center")
    ax.set_xlim(-0.8, 5.4)
    ax.set_ylim(-0.7, 1.3)
    ax.axis("off")
    return fig

