"""The book's pages as a reader meets them: package names in prose link to the API
reference, every link resolves, and no notebook is longer than a page of code."""

from __future__ import annotations

import importlib
import json
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BOOK = ROOT / "book"
MAX_CODE_LINES = 80

# fluoseg modules a chapter imports under their short name (`results.run_experiment(`)
SHORT = (
    "baseline|deviations|diagnostics|export|flops|inference|io|metrics|objects|"
    "pairing|preprocess|results|sampling|thesis|toy|train|viz"
)
MENTION = re.compile(
    rf"\bfluoseg(?:\.\w+)+|\b(?:{SHORT})\.[A-Za-z_]\w*(?=\()"
)
ROLE = re.compile(r"\{py:(?:func|class|mod|data|meth|attr|obj|exc)\}`([^`]+)`")
SPAN = re.compile(r"(\{[\w:-]+\})?(`+)(.+?)\2", re.S)
FENCE = re.compile(r"^\s*(`{3,}|~{3,}|:{3,})(.*)$")

# Mentions that name no documented object on purpose (none today).
ALLOWED: set[str] = set()


def pages() -> list[Path]:
    found = sorted(BOOK.rglob("*.ipynb")) + sorted(BOOK.rglob("*.md"))
    return [p for p in found if "api" not in p.relative_to(BOOK).parts]


def markdown_cells(path: Path) -> list[str]:
    if path.suffix == ".md":
        return [path.read_text()]
    cells = json.loads(path.read_text())["cells"]
    return ["".join(c["source"]) for c in cells if c["cell_type"] == "markdown"]


def code_cells(path: Path) -> list[str]:
    cells = json.loads(path.read_text())["cells"]
    return ["".join(c["source"]) for c in cells if c["cell_type"] == "code"]


def prose(text: str) -> str:
    """``text`` without its code blocks; a directive's body (``{admonition}``) is
    prose and stays."""
    out, fence = [], None
    for line in text.splitlines():
        m = FENCE.match(line)
        if fence is None and m:
            if not m.group(2).strip().startswith("{"):
                fence = m.group(1)
            continue
        if fence is not None:
            if m and m.group(1)[0] == fence[0] and len(m.group(1)) >= len(fence) \
                    and not m.group(2).strip():
                fence = None
            continue
        out.append(line)
    return "\n".join(out)


def role_target(text: str) -> str:
    inner = text.split("<", 1)[1].rstrip(">") if "<" in text else text
    return inner.strip().lstrip("~").rstrip("()")


def unlinked(text: str) -> list[str]:
    """The package names in inline code of ``text`` (one markdown cell) that no
    ``{py:...}`` role of the same cell links: a call keeps its arguments in code
    when the cell also links the function once."""
    body = prose(text)
    linked = {role_target(t).rsplit(".", 1)[-1] for t in ROLE.findall(body)}
    missing = []
    for m in SPAN.finditer(body):
        if m.group(1):  # a role ({py:func}`...`, {doc}`...`)
            continue
        for name in MENTION.findall(m.group(3)):
            if name.rsplit(".", 1)[-1] not in linked and name not in ALLOWED:
                missing.append(name)
    return missing


def code_lines(source: str) -> int:
    """Non-blank lines of a code cell that are not comments or cell magics."""
    return sum(
        1 for line in source.splitlines()
        if line.strip() and not line.strip().startswith(("#", "%"))
    )


def test_unlinked_finds_bare_mentions_and_accepts_linked_ones() -> None:
    bare = "Call `fluoseg.train.train` and `results.ensure_result(n, p)`."
    assert unlinked(bare) == ["fluoseg.train.train", "results.ensure_result"]
    linked = ("{py:func}`~fluoseg.train.train` or `train.train('unet', 2)`, and "
              "{py:func}`results <fluoseg.results.ensure_result>`")
    assert unlinked(linked + " `results.ensure_result(n, p)`") == []
    assert unlinked("```python\nfluoseg.train.train('unet', 2)\n```") == []
    assert unlinked("```{admonition} Solution\nSee `fluoseg.toy.mixture_1d(3)`.\n```") \
        == ["fluoseg.toy.mixture_1d"]
    assert unlinked("`FLUOSEG_PROFILE=smoke`, `fluoseg train --model unet`") == []
    assert code_lines("x = 1\n\n# comment\n%matplotlib inline\ny = x  # note\n") == 2


@pytest.mark.parametrize("path", pages(), ids=lambda p: p.relative_to(BOOK).as_posix())
def test_package_names_in_prose_link_to_the_api_reference(path: Path) -> None:
    missing = [name for text in markdown_cells(path) for name in unlinked(text)]
    assert missing == []


def _documented_modules() -> set[str]:
    api = "\n".join(p.read_text() for p in (BOOK / "api").glob("*.md"))
    return set(re.findall(r"\.\. automodule:: ([\w.]+)", api))


def _resolve(target: str) -> tuple[str, object]:
    parts = target.split(".")
    for i in range(len(parts), 0, -1):
        try:
            obj: object = importlib.import_module(".".join(parts[:i]))
        except ImportError:
            continue
        module = ".".join(parts[:i])
        for attr in parts[i:]:
            obj = getattr(obj, attr)
        return module, obj
    raise ImportError(target)


def test_every_py_role_names_a_documented_object() -> None:
    documented = _documented_modules()
    bad = []
    for path in pages():
        for text in markdown_cells(path):
            for raw in ROLE.findall(prose(text)):
                target = role_target(raw)
                try:
                    module, _ = _resolve(target)
                except (ImportError, AttributeError):
                    bad.append(f"{path.name}: {target} (no such object)")
                    continue
                if module not in documented:
                    bad.append(f"{path.name}: {target} ({module} not in book/api)")
    assert bad == []


@pytest.mark.parametrize("path", sorted(BOOK.rglob("*.ipynb")),
                         ids=lambda p: p.relative_to(BOOK).as_posix())
def test_notebook_has_at_most_80_lines_of_code(path: Path) -> None:
    # the first cell is the bootstrap every chapter shares (tests/test_first_cell.py
    # keeps it identical everywhere): set-up, not the chapter's code
    n = sum(code_lines(c) for c in code_cells(path)[1:])
    assert n <= MAX_CODE_LINES, f"{n} lines of code"


FENCE_OPEN = re.compile(r"^(`{3,}|:{3,})\{admonition\}")


def solution_fence_errors(markdown: str) -> list[str]:
    """Admonitions that Markdown would close early: an inner code fence at least as
    long as the admonition's own fence (it closes the admonition, the rest of the
    solution shows, and an empty code block follows)."""
    lines, errors, i = markdown.splitlines(), [], 0
    while i < len(lines):
        m = FENCE_OPEN.match(lines[i])
        if not m:
            i += 1
            continue
        fence, j = m.group(1), i + 1
        while j < len(lines):
            text = lines[j].strip()
            run = len(text) - len(text.lstrip(fence[0]))
            if run >= len(fence):
                break
            j += 1
        closing = lines[j].strip() if j < len(lines) else ""
        rest = [t.strip() for t in lines[j + 1:] if t.strip()]
        if closing.lstrip(fence[0]):  # an info string: an inner block, not the end
            errors.append(f"line {j + 1}: {closing!r} closes {lines[i]!r}")
        stray = rest and rest[0].startswith(fence[0] * 3)
        if not closing.lstrip(fence[0]) and stray and not FENCE_OPEN.match(rest[0]):
            errors.append(f"line {j + 1}: stray fence {rest[0]!r} after {lines[i]!r}")
        i = j + 1
    return errors


def test_solution_fence_errors_finds_inner_fences_that_close_early() -> None:
    good = "````{admonition} Solution\n:class: dropdown\n```python\nx = 1\n```\n````"
    bad = "```{admonition} Solution\n:class: dropdown\n```python\nx = 1\n```\n```"
    assert solution_fence_errors(good) == []
    assert solution_fence_errors("```{admonition} S\ntext\n```") == []
    assert len(solution_fence_errors(bad)) == 1


@pytest.mark.parametrize("path", sorted(BOOK.rglob("*.ipynb")),
                         ids=lambda p: p.relative_to(BOOK).as_posix())
def test_solutions_stay_inside_their_dropdown(path: Path) -> None:
    cells = json.loads(path.read_text())["cells"]
    bad = [f"cell {i}: {e}" for i, c in enumerate(cells) if c["cell_type"] == "markdown"
           for e in solution_fence_errors("".join(c["source"]))]  # fmt: skip
    assert bad == []
