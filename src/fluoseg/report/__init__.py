"""Reporting: what the book's pages show about the trainings.

- ``fluoseg.report.store``: results saved by one chapter and read by the next.
- ``fluoseg.report.tables``: the thesis's tables recomputed from saved results.
- ``fluoseg.report.notes``: the notes at the top of the experiment chapters.
"""
