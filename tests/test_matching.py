"""fluoseg.evaluation.matching: the one Hungarian matcher behind objects and pairs."""

from __future__ import annotations

import numpy as np
from scipy import ndimage as ndi

from fluoseg.evaluation.matching import assign
from fluoseg.evaluation.objects import match, object_table


def test_match_maximises_count_then_summed_iou() -> None:
    # Greedy takes (0, 0) = 0.9 and leaves row 1 unmatched; the optimum matches both.
    iou = np.array([[0.9, 0.6], [0.7, 0.0]])
    rows, cols = match(iou, 0.5)
    assert list(zip(rows.tolist(), cols.tolist(), strict=True)) == [(0, 1), (1, 0)]
    assert list(map(list, match(np.zeros((0, 3)), 0.5))) == [[], []]


def test_match_is_assign_on_negated_iou() -> None:
    rng = np.random.default_rng(1)
    for _ in range(200):
        n, m = rng.integers(1, 7, 2)
        iou = rng.random((n, m)) * (rng.random((n, m)) < 0.5)
        for thr in (0.1, 0.5):
            r, c = match(iou, thr)
            r2, c2 = assign(-iou, iou >= thr)
            assert np.array_equal(r, r2) and np.array_equal(c, c2)
            assert (iou[r, c] >= thr).all()


def test_object_table_agrees_with_ndimage() -> None:
    """regionprops_table gives the centroids, sizes and boxes scipy.ndimage gives."""
    rng = np.random.default_rng(2)
    lab, _ = ndi.label(ndi.gaussian_filter(rng.random((20, 30, 25)), 1.5) > 0.52)
    lab[lab == 2] = 0  # a missing label number
    t = object_table(lab, voxel_size=(1.0, 0.5, 0.25))
    ids = np.unique(lab)[1:]
    cent = np.array(ndi.center_of_mass(np.ones(lab.shape), lab, ids))
    assert t["label"].tolist() == ids.tolist()
    assert t["volume_voxels"].tolist() == np.bincount(lab.ravel())[ids].tolist()
    np.testing.assert_allclose(t[["centroid_z", "centroid_y", "centroid_x"]], cent)
    np.testing.assert_allclose(t["centroid_x_um"], cent[:, 2] * 0.25)
    boxes = ndi.find_objects(lab)
    assert t["bbox_y1"].tolist() == [boxes[i - 1][1].stop for i in ids]
    assert str(t["label"].dtype) == "int64" and str(t["bbox_z0"].dtype) == "int64"
