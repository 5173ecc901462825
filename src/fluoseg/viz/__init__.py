"""Figures for the book, by kind.

- ``fluoseg.viz.rgb``: the class colours; image and mask slices as RGB.
- ``fluoseg.viz.mpl``: matplotlib figures without pyplot, shown by IPython as PNG.
- ``fluoseg.viz.slices``: projections, slice figures and the slice viewer.
- ``fluoseg.viz.surfaces``: interactive 3D mask surfaces (plotly).
- ``fluoseg.viz.charts``: bar charts of the thesis's tables, training curves.
"""
