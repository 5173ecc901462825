"""Slices of 3D volumes: projections, static slice figures and a slice viewer.

- :func:`mask_projection_figure`: the static matplotlib fallback of the 3D view (max
  projections and z-slices) that always renders.
- :func:`slice_viewer`: an ipywidgets viewer (z slider, channel toggles, overlays);
  :func:`slice_figure` renders one static frame of it.
- :func:`middle_slices_figure`: one row of middle z-slices of patches.

ipywidgets is imported inside the function that needs it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from fluoseg.errors import InputError
from fluoseg.viz.mpl import new_figure
from fluoseg.viz.rgb import as_image, as_mask, image_rgb, mask_rgb, overlay_rgb, png

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.figure import Figure


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
    masks = [as_mask(m, f"panel {i + 1}") for i, m in enumerate(masks)]
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
        img = as_image(image)
        views = [image_rgb(img.max(axis=0))] + [image_rgb(img[z]) for z in z_slices]
        rows.append(("Image", views))
    for title, m in zip(titles, masks, strict=True):
        rows.append(
            (title, [mask_rgb(m.max(axis=0))] + [mask_rgb(m[z]) for z in z_slices])
        )
    ncols = 1 + len(z_slices)
    aspect = rows[0][1][0].shape[0] / rows[0][1][0].shape[1]
    fig = new_figure(2.6 * ncols, 2.6 * aspect * len(rows) + 0.3)
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
    img = as_image(image)
    z = img.shape[0] // 2 if z is None else z
    if not 0 <= z < img.shape[0]:
        raise InputError(f"z = {z} outside the volume's 0..{img.shape[0] - 1}")
    panels = [("image", image_rgb(img[z], channels))]
    for title, m in (("ground truth", truth), ("prediction", pred)):
        if m is not None:
            mm = as_mask(m, title)
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
    fig = new_figure(3.0 * len(panels), 3.0 * aspect + 0.4)
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

    img = as_image(image)
    masks: list[tuple[str, np.ndarray | None]] = [("image", None)]
    for title, m in (("ground truth", truth), ("prediction", pred)):
        if m is not None:
            mm = as_mask(m, title)
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
            widget.value = png(rgb)

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


def middle_slices_figure(panels: Sequence[tuple[str, np.ndarray]]) -> Figure:
    """One row of middle z-slices of 3D patches: ``(title, patch)`` pairs, each patch
    (Z, Y, X, 2) an image in [0, 1] or, with ``"mask"`` in its title, a mask."""
    if not panels:
        raise InputError("no panels to show: expected (title, patch) pairs")
    fig = new_figure(2.4 * len(panels), 2.6)
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
