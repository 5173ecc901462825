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

# fluoseg modules a chapter imports under their short name (`tables.with_thesis(`)
SHORT = (
    "baseline|charts|deviations|diagnostics|experiments|export|flops|inference|io|"
    "metrics|mpl|notes|objects|pairing|preprocess|rgb|sampling|slices|store|surfaces|"
    "tables|thesis|train|convolution|receptive_fields|activations|gan_losses|"
    "toy_data|toy_gans"
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
    bare = "Call `fluoseg.train.train` and `experiments.ensure_result(n, p)`."
    assert unlinked(bare) == ["fluoseg.train.train", "experiments.ensure_result"]
    linked = ("{py:func}`~fluoseg.train.train` or `train.train('unet', 2)`, and "
              "{py:func}`results <fluoseg.experiments.ensure_result>`")
    assert unlinked(linked + " `experiments.ensure_result(n, p)`") == []
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
def test_every_cell_has_a_unique_id(path: Path) -> None:
    # nbformat 4.5 requires cell ids (a missing one is a warning today, an error later)
    ids = [c.get("id") for c in json.loads(path.read_text())["cells"]]
    assert None not in ids and len(set(ids)) == len(ids)


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



EXERCISE_ITEM = re.compile(r"^(\d+)\.\s")
SOLUTION_TITLE = re.compile(r"^Solution to exercise (\d+)$")
OPTION = re.compile(r"^:[\w-]+:")
MIN_SOLUTION_CHARS = 40


def _admonition_end(lines: list[str], start: int, fence: str) -> int:
    """Index of the line that closes the admonition opened at ``start``."""
    for j in range(start + 1, len(lines)):
        text = lines[j].strip()
        if text.startswith(fence) and not text.lstrip(fence[0]):
            return j
    return len(lines)


def exercise_events(cells: list[str]) -> list[tuple[str, int | None, str]]:
    """The ``## Exercises`` section of a page (its markdown cells, in order) as
    ``("exercise", N, item)`` for each numbered list item outside an admonition and
    ``("solution", N, body)`` for each admonition titled ``Solution...``; N comes from
    the title ``Solution to exercise N`` (None when the title names no exercise) and
    the body leaves out the directive's ``:option:`` lines."""
    start = next((k for k, c in enumerate(cells)
                  if re.search(r"^## Exercises\s*$", c, re.M)), None)
    if start is None:
        return []
    section = "\n".join(cells[start:]).split("## Exercises", 1)[1]
    lines, events, n = section.splitlines(), [], 0
    while n < len(lines):
        m = FENCE_OPEN.match(lines[n])
        if m:
            end = _admonition_end(lines, n, m.group(1))
            title = lines[n][m.end():].strip()
            if title.startswith("Solution"):
                body = " ".join(t.strip() for t in lines[n + 1:end]
                                if not OPTION.match(t.strip()))
                named = SOLUTION_TITLE.match(title)
                events.append(("solution", int(named.group(1)) if named else None,
                               body.strip()))
            n = end + 1
            continue
        item = EXERCISE_ITEM.match(lines[n])
        if item:
            events.append(("exercise", int(item.group(1)), lines[n]))
        n += 1
    return events


def exercise_errors(cells: list[str]) -> list[str]:
    """What keeps a page's exercises from each having one real, named solution:
    exercises numbered 1, 2, ..., and for each, after it, exactly one admonition
    titled ``Solution to exercise N``, in the exercises' order, whose body has at
    least ``MIN_SOLUTION_CHARS`` characters."""
    events = exercise_events(cells)
    numbers = [n for kind, n, _ in events if kind == "exercise"]
    solutions = [n for kind, n, _ in events if kind == "solution"]
    errors = []
    if numbers != list(range(1, len(numbers) + 1)):
        errors.append(f"exercises numbered {numbers}")
    if solutions != numbers:
        errors.append(f"solutions for exercises {solutions}, exercises {numbers}")
    seen: set[int | None] = set()
    for kind, n, text in events:
        if kind == "exercise":
            seen.add(n)
        elif n not in seen:
            errors.append(f"solution {n} comes before its exercise")
        elif len(text) < MIN_SOLUTION_CHARS:
            errors.append(f"solution {n} is too short: {text!r}")
    return errors


def test_exercise_errors_finds_unnamed_missing_and_empty_solutions() -> None:
    def sol(title: str, body: str = "The answer, with its reason, in one sentence.",
            fence: str = "```") -> str:
        return f"{fence}{{admonition}} {title}\n:class: dropdown\n{body}\n{fence}"

    code = "1. a list inside a solution\n```python\nx = 1\n```\nand why, at length"
    good = ["## Exercises\n\n1. First?", sol("Solution to exercise 1"),
            "2. Second?", sol("Solution to exercise 2", code, "````")]
    assert exercise_errors(good) == []
    assert exercise_errors(["## Summary\n\n1. not an exercise"]) == []
    assert exercise_errors(["## Exercises\n1. A?\n2. B?", sol("Solution to exercise 1"),
                            sol("Solution to exercise 2", fence=":::")]) == []
    assert exercise_errors(["## Exercises\n1. A?", sol("Solution")])  # unnamed
    assert exercise_errors(["## Exercises\n1. A?\n2. B?",
                            sol("Solution to exercise 1")])  # one missing
    assert exercise_errors(["## Exercises\n1. A?", sol("Solution to exercise 1"),
                            sol("Solution to exercise 1")])  # two for one
    assert exercise_errors(["## Exercises\n1. A?",
                            sol("Solution to exercise 1", "Compare the tables.")])
    assert exercise_errors(["## Exercises\n1. A?\n2. B?", sol("Solution to exercise 2"),
                            sol("Solution to exercise 1")])  # out of order
    assert exercise_errors(["## Exercises", sol("Solution to exercise 1"), "1. A?"])


def _pages_with_exercises() -> list[Path]:
    return [p for p in sorted(BOOK.rglob("*.ipynb"))
            if any(re.search(r"^## Exercises\s*$", t, re.M) for t in markdown_cells(p))]


@pytest.mark.parametrize("path", _pages_with_exercises(),
                         ids=lambda p: p.relative_to(BOOK).as_posix())
def test_every_exercise_has_one_named_solution(path: Path) -> None:
    assert exercise_errors(markdown_cells(path)) == []
