"""Tests of fluoseg.viz (rgb, mpl, slices, surfaces, charts): compositing values,
mesh geometry, sizes, widgets, charts."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from fluoseg.errors import InputError
from fluoseg.viz.charts import grouped_bar_figure, history_figure, metrics_bar_figure
from fluoseg.viz.rgb import image_rgb, mask_rgb, overlay_rgb
from fluoseg.viz.slices import mask_projection_figure, slice_figure, slice_viewer
from fluoseg.viz.surfaces import (
    PLOTLY_MIME,
    PLOTLYJS_ENV,
    downsample_mask,
    html_size,
    mask_isosurface_figure,
    mask_mesh,
    plotly_bundle,
    plotlyjs_mode,
    show_plotly,
)


def _ball(shape: tuple[int, int, int], centre, radius: float) -> np.ndarray:
    zz, yy, xx = np.indices(shape)
    d2 = (zz - centre[0]) ** 2 + (yy - centre[1]) ** 2 + (xx - centre[2]) ** 2
    return d2 <= radius**2


def _mask(shape=(12, 20, 24)) -> np.ndarray:
    m = np.zeros((*shape, 2), np.uint8)
    m[..., 0] = _ball(shape, (6, 8, 8), 4)
    m[..., 1] = _ball(shape, (6, 12, 17), 2)
    return m


def test_image_rgb_puts_golgi_in_red_and_nuclei_in_green() -> None:
    s = np.zeros((2, 3, 2), np.float32)
    s[0, 0] = (0.25, 0.75)  # nuclei, golgi
    s[1, 2] = (2.0, -1.0)
    rgb = image_rgb(s)
    assert rgb[0, 0].tolist() == [0.75, 0.25, 0.0]
    assert rgb[1, 2].tolist() == [0.0, 1.0, 0.0]  # clipped
    assert image_rgb(s, channels=(False, True))[0, 0].tolist() == [0.75, 0.0, 0.0]


def test_mask_rgb_colours_and_overlap() -> None:
    m = np.zeros((2, 4, 3), np.uint8)  # (Y, X, classes)
    m[0, 0, 0] = 1
    m[0, 1, 1] = 1
    m[0, 2, 2] = 1
    m[0, 3, :2] = 1
    rgb = mask_rgb(m)
    assert rgb[0, 0].tolist() == [0, 1, 0]  # nuclei only
    assert rgb[0, 1].tolist() == [1, 0, 0]  # golgi only
    np.testing.assert_allclose(rgb[0, 2], [0, 0.35, 1])  # pair only
    assert rgb[0, 3].tolist() == [1, 1, 0]  # nuclei + golgi overlap -> yellow
    assert rgb[1].max() == 0


def test_overlay_rgb_blends_exactly_where_the_mask_is_on() -> None:
    img = np.full((2, 2, 2), 0.5, np.float32)
    mask = np.zeros((2, 2, 2), np.uint8)
    mask[0, 0, 0] = 1  # nucleus at (0, 0)
    out = overlay_rgb(img, mask, alpha=0.5)
    np.testing.assert_allclose(out[0, 0], [0.25, 0.75, 0.0])
    np.testing.assert_allclose(out[1, 1], [0.5, 0.5, 0.0])
    assert out.dtype == np.float32
    np.testing.assert_array_equal(overlay_rgb(img, None), image_rgb(img))
    with pytest.raises(InputError, match="differ in size"):
        overlay_rgb(img, np.zeros((3, 3, 2)))


def test_overlay_outline_draws_only_the_border() -> None:
    img = np.zeros((7, 7, 2), np.float32)
    mask = np.zeros((7, 7, 2), np.uint8)
    mask[1:6, 1:6, 0] = 1  # a nucleus
    mask[2:5, 2:5, 1] = 1  # a Golgi inside it
    out = overlay_rgb(img, mask, outline=True)
    assert out[1, 1].tolist() == [1, 0, 1]  # nucleus border: magenta
    assert out[2, 2].tolist() == [0, 1, 1]  # Golgi border: cyan
    assert out[3, 3].tolist() == [0, 0, 0]  # interior left alone


def test_downsample_mask_max_pools_and_keeps_small_objects() -> None:
    m = np.zeros((16, 40, 40, 1), np.uint8)
    m[5, 33, 7, 0] = 1  # one voxel must survive max pooling
    small, factors = downsample_mask(m, max_voxels=16 * 10 * 10)
    assert factors == (2, 3, 3)  # z keeps >= 8 slices
    assert small.shape == (8, 14, 14, 1)
    assert small.sum() == 1 and small[2, 11, 2, 0]
    same, f1 = downsample_mask(m, max_voxels=10**6)
    assert f1 == (1, 1, 1) and same.shape == m.shape


def test_mask_mesh_of_a_ball_has_the_ball_extent_and_spacing() -> None:
    ball = _ball((21, 21, 21), (10, 10, 10), 6)
    verts, faces = mask_mesh(ball, spacing=(2.0, 1.0, 1.0))
    assert faces.shape[1] == 3 and faces.max() < len(verts)
    extent = verts.max(axis=0) - verts.min(axis=0)
    np.testing.assert_allclose(extent, [2 * 12, 12, 12], atol=2.1)
    np.testing.assert_allclose(verts.mean(axis=0), [20, 10, 10], atol=0.5)
    assert mask_mesh(np.zeros((4, 4, 4))) is None


def test_isosurface_figure_has_one_scene_per_panel_and_class_traces() -> None:
    truth = _mask()
    pred = truth.copy()
    pred[..., 1] = 0  # the prediction misses the Golgi
    fig = mask_isosurface_figure(truth, pred)
    names = [(t.name, t.scene) for t in fig.data]
    assert names == [("nuclei", "scene"), ("golgi", "scene"), ("nuclei", "scene2")]
    assert [a.text for a in fig.layout.annotations] == ["Ground truth", "Prediction"]
    assert fig.layout.scene2 is not None
    three = mask_isosurface_figure(truth, [pred, truth], titles=["a", "b", "c"])
    assert {t.scene for t in three.data} == {"scene", "scene2", "scene3"}
    with pytest.raises(InputError, match="same shape"):
        mask_isosurface_figure(truth, truth[:5])


def test_big_volume_figure_stays_small() -> None:
    shape = (60, 256, 256)
    m = np.zeros((*shape, 2), np.uint8)
    rng = np.random.default_rng(0)
    zz, yy, xx = np.indices(shape, sparse=True)
    for cz, cy, cx in rng.integers((5, 10, 10), (55, 246, 246), size=(60, 3)):
        m[..., 0] |= ((zz - cz) ** 2 + (yy - cy) ** 2 / 4 + (xx - cx) ** 2 / 4) <= 16
    m[..., 1] = np.roll(m[..., 0], 9, axis=2) & ~m[..., 0]
    fig = mask_isosurface_figure(m, m)
    assert html_size(fig) < 3_000_000


def test_plotly_bundle_holds_html_without_plotlyjs_and_json() -> None:
    fig = mask_isosurface_figure(_mask(), None)
    bundle = plotly_bundle(fig)
    assert "Plotly.newPlot" in bundle["text/html"]
    assert len(bundle["text/html"]) < 1_000_000  # plotly.js itself is ~4 MB
    assert bundle[PLOTLY_MIME]["data"][0]["type"] == "mesh3d"


def test_plotlyjs_is_included_only_outside_the_book(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import sys

    fig = mask_isosurface_figure(_mask(), None)
    monkeypatch.delenv(PLOTLYJS_ENV, raising=False)
    monkeypatch.delitem(sys.modules, "google.colab", raising=False)
    assert plotlyjs_mode() is False
    book = plotly_bundle(fig)["text/html"]
    assert "cdn.plot.ly" not in book
    monkeypatch.setitem(sys.modules, "google.colab", object())  # as in Colab
    assert plotlyjs_mode() == "cdn"
    colab = plotly_bundle(fig)["text/html"]
    assert '<script charset="utf-8" src="https://cdn.plot.ly/' in colab
    monkeypatch.setenv(PLOTLYJS_ENV, "inline")
    inline = plotly_bundle(fig)["text/html"]
    assert len(inline) > len(book) + 1_000_000  # plotly.js itself, offline
    monkeypatch.setenv(PLOTLYJS_ENV, "none")
    none = plotly_bundle(fig)["text/html"]  # (each figure's div id is random)
    assert "cdn.plot.ly" not in none and len(none) == len(book)
    monkeypatch.setenv(PLOTLYJS_ENV, "yes")
    with pytest.raises(InputError, match="FLUOSEG_PLOTLYJS must be one of"):
        plotlyjs_mode()


def test_show_plotly_displays_the_raw_bundle(monkeypatch: pytest.MonkeyPatch) -> None:
    import IPython.display

    seen = []
    monkeypatch.setattr(
        IPython.display, "display", lambda obj, raw=False: seen.append((obj, raw))
    )
    show_plotly(mask_isosurface_figure(_mask(), None))
    assert len(seen) == 1 and seen[0][1] is True
    assert set(seen[0][0]) >= {"text/html", PLOTLY_MIME}


def test_projection_figure_grid() -> None:
    m = _mask()
    img = np.random.default_rng(0).random((*m.shape[:3], 2)).astype(np.float32)
    fig = mask_projection_figure(m, [m, m], image=img, z_slices=[2, 6, 9])
    assert len(fig.axes) == 4 * 4
    assert fig.axes[0].get_title() == "max projection (z)"
    shown = fig.axes[4].images[0].get_array()  # ground-truth projection
    np.testing.assert_array_equal(shown, mask_rgb(m.max(axis=0)))
    with pytest.raises(InputError, match="outside"):
        mask_projection_figure(m, z_slices=[99])


def test_slice_figure_and_viewer_follow_the_controls() -> None:
    m = _mask()
    img = np.zeros((*m.shape[:3], 2), np.float32)
    img[3] = 0.8
    fig = slice_figure(img, m, m, z=6)
    assert len(fig.axes) == 3
    viewer = slice_viewer(img, truth=m, pred=None, z=6)
    assert len(viewer.panels) == 2
    with_overlay = viewer.panels[1].value
    viewer.controls["overlay"].value = "fill"
    assert viewer.panels[1].value != with_overlay
    viewer.controls["overlay"].value = "off"
    assert viewer.panels[1].value == viewer.panels[0].value
    before = viewer.panels[0].value
    viewer.controls["z"].value = 3
    assert viewer.panels[0].value != before
    with pytest.raises(InputError, match="differs"):
        slice_viewer(img, truth=m[:4])


def _table() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "DC Nuclei": [0.8, 0.7],
            "DC Golgi": [0.6, np.nan],
            "Precision Nuclei": [0.9, 0.8],
            "Precision Golgi": [0.5, 0.4],
            "Recall Nuclei": [0.7, 0.6],
            "Recall Golgi": [0.4, 0.3],
        },
        index=["ours", "thesis"],
    )


def test_grouped_bars_heights_and_error_bars() -> None:
    errors = _table() * 0 + 0.05
    fig = grouped_bar_figure(_table(), "DC", errors=errors)
    ax = fig.axes[0]
    heights = sorted(round(p.get_height(), 6) for p in ax.patches)
    assert heights == [0.6, 0.7, 0.8]  # the NaN bar is left out
    assert [t.get_text() for t in ax.get_xticklabels()] == ["Nuclei", "Golgi"]
    with pytest.raises(InputError, match="no 'F1' columns"):
        grouped_bar_figure(_table(), "F1")
    assert len(metrics_bar_figure(_table()).axes) == 3


def test_history_figure_plots_loss_columns() -> None:
    h = pd.DataFrame({"epoch": [0, 1, 2], "loss": [1, 0.5, 0.3], "val_loss": [1, 1, 1]})
    ax = history_figure(h).axes[0]
    assert [line.get_label() for line in ax.lines] == ["loss", "val_loss"]
    assert ax.lines[0].get_xdata().tolist() == [1, 2, 3]
    with pytest.raises(InputError):
        history_figure(h, ["dice"])


def test_history_figure_keeps_epochs_counted_from_one() -> None:
    h = pd.DataFrame({"epoch": [1, 2], "loss": [1.0, 0.5]})
    assert history_figure(h).axes[0].lines[0].get_xdata().tolist() == [1, 2]


def test_figures_become_png_bytes() -> None:
    from fluoseg.viz.mpl import figure_png, register_figure_display

    png = figure_png(grouped_bar_figure(_table(), "DC"))
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    assert register_figure_display() is False  # no IPython shell under pytest


def test_middle_slices_and_dice_compute_figures() -> None:
    from fluoseg.viz.charts import dice_compute_figure
    from fluoseg.viz.slices import middle_slices_figure

    img = np.random.default_rng(0).random((4, 6, 6, 2)).astype(np.float32)
    mask = (img > 0.5).astype(np.uint8)
    fig = middle_slices_figure([("image", img), ("synthetic mask", mask)])
    assert len(fig.axes) == 2 and fig.axes[1].get_title() == "synthetic mask"
    with pytest.raises(InputError, match="expected \\(Z, Y, X, C\\)"):
        middle_slices_figure([("image", img[0])])
    dice = np.array([[0.1, 0.0], [0.3, 0.1], [0.5, 0.2]])
    fig = dice_compute_figure([1, 3, 10], dice, reference=[0.77, 0.64], title="t")
    ax = fig.axes[0]
    assert ax.get_xscale() == "log" and len(ax.lines) == 4
    with pytest.raises(InputError, match="expected \\(2, 2\\)"):
        dice_compute_figure([1, 3], np.zeros((3, 2)))


def test_cyclegan_diagram_names_both_cycles() -> None:
    from fluoseg.viz.charts import cyclegan_diagram

    texts = [t.get_text() for t in cyclegan_diagram().axes[0].texts]
    for name in ("G_S(G_I(s))", "G_I(G_S(i))", "D_S", "D_I"):
        assert any(name in t for t in texts), name


def test_figure_display_is_registered_once_per_shell(monkeypatch) -> None:
    from matplotlib.figure import Figure

    from fluoseg.viz import mpl
    from fluoseg.viz.charts import history_figure as chart

    calls = []

    class Formatter:
        def for_type(self, cls, func) -> None:
            calls.append((cls, func))

    class Shell:
        display_formatter = type("F", (), {"formatters": {"image/png": Formatter()}})

    monkeypatch.setattr(mpl, "_REGISTERED", set())
    shell = Shell()
    assert mpl.register_figure_display(shell) is True
    assert mpl.register_figure_display(shell) is True
    assert calls == [(Figure, mpl.figure_png)]  # registered once
    # making a figure registers nothing (no hidden side effect)
    chart(pd.DataFrame({"epoch": [1, 2], "loss": [1.0, 0.5]}))
    assert len(calls) == 1
    assert mpl.register_figure_display(Shell()) is True  # another shell: its own
    assert len(calls) == 2


def test_notebook_start_registers_the_figure_display(monkeypatch) -> None:
    from fluoseg import notebook

    seen = []
    monkeypatch.setattr(notebook, "register_figure_display", lambda: seen.append(1))
    monkeypatch.setattr(notebook, "track_peak_rss", lambda: None)
    notebook.start("smoke")
    assert seen == [1]
