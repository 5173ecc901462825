"""fluoseg.notebook.glue: myst-nb's glue in the book, a visible value elsewhere."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from fluoseg import notebook

ROOT = Path(__file__).resolve().parents[1]


def test_glue_is_myst_nb_glue_when_installed(monkeypatch, capsys) -> None:
    calls = []
    monkeypatch.setattr(
        notebook, "_myst_nb_glue", lambda: lambda *a, **k: calls.append((a, k))
    )
    monkeypatch.setenv(notebook.NOTEBOOK_ENV, "book/x")  # during the book build
    notebook.glue("dice", 0.5, display=False)
    notebook.glue("n", 3)
    assert calls == [(("dice", 0.5), {"display": False}), (("n", 3), {"display": True})]
    assert capsys.readouterr().out == ""  # the build's text shows the values


def test_glue_also_prints_outside_the_book_build(monkeypatch, capsys) -> None:
    """In JupyterLab {glue:text} stays unresolved: the cell prints the value."""
    calls = []
    monkeypatch.setattr(
        notebook, "_myst_nb_glue", lambda: lambda *a, **k: calls.append((a, k))
    )
    monkeypatch.delenv(notebook.NOTEBOOK_ENV, raising=False)
    notebook.glue("dice", 0.123456, display=False)
    notebook.glue("n", 3)  # displayed by myst-nb itself
    assert [a for a, _ in calls] == [("dice", 0.123456), ("n", 3)]
    assert capsys.readouterr().out == "dice = 0.1235\n"


def test_glue_prints_without_myst_nb(monkeypatch, capsys) -> None:
    monkeypatch.setattr(notebook, "_myst_nb_glue", lambda: None)
    notebook.glue("dice", 0.25, display=False)
    notebook.glue("count", 7)  # display=True outside IPython: printed too
    assert capsys.readouterr().out == "dice = 0.25\ncount = 7\n"


def test_without_myst_nb_installed_the_fallback_is_taken(monkeypatch, capsys) -> None:
    monkeypatch.setitem(sys.modules, "myst_nb", None)  # import myst_nb -> ImportError
    assert notebook._myst_nb_glue() is None
    notebook.glue("x", 1.5, display=False)
    assert capsys.readouterr().out == "x = 1.5\n"


def test_real_myst_nb_glue_is_found() -> None:
    myst_nb = pytest.importorskip("myst_nb")
    assert notebook._myst_nb_glue() is myst_nb.glue


def test_no_chapter_imports_myst_nb() -> None:
    """Chapters glue through fluoseg.notebook, so they run without the [book] extra."""
    offenders = []
    for path in sorted((ROOT / "book").rglob("*.ipynb")):
        cells = json.loads(path.read_text())["cells"]
        code = "".join("".join(c["source"]) for c in cells if c["cell_type"] == "code")
        if "myst_nb" in code:
            offenders.append(path.relative_to(ROOT).as_posix())
    assert offenders == []
