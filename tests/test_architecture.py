"""The package's shape (issue 15): small modules, no import circle, no upward import
(the layers of CONTRIBUTING.md), imports at the top, no dispatch on model or profile
names outside the registry and the profile files.

These read the source (``ast``), so they run in a second and need no TensorFlow.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "fluoseg"
MAX_LINES = 450
#: where model names may be compared: the registry registers the models
DISPATCH_ALLOWED = {"models/registry.py"}
#: model and profile names whose comparison is dispatch
NAMES = ("unet", "vox2vox", "cyclegan", "smoke", "cpu", "gpu", "paper")
#: The pipeline's layers, in CONTRIBUTING.md's order: a module imports only from its
#: own layer or the ones above it (the longest matching prefix names a module's layer).
LAYERS: tuple[tuple[str, ...], ...] = (
    ("fluoseg", "fluoseg.errors", "fluoseg.config", "fluoseg.thesis"),
    ("fluoseg.io", "fluoseg.tiff_format", "fluoseg.transforms", "fluoseg.patches",
     "fluoseg.coded", "fluoseg.hardware"),
    ("fluoseg.viz", "fluoseg.notebook", "fluoseg.report.store"),
    ("fluoseg.data",),
    ("fluoseg.models",),
    ("fluoseg.inference", "fluoseg.run"),
    ("fluoseg.training",),
    ("fluoseg.evaluation", "fluoseg.chunked", "fluoseg.ome"),
    ("fluoseg.report", "fluoseg.experiments"),
    ("fluoseg.baseline", "fluoseg.deepsynth", "fluoseg.diagnostics",
     "fluoseg.deviations", "fluoseg.findings", "fluoseg.flops", "fluoseg.export",
     "fluoseg.export_docs", "fluoseg.teaching"),
    ("fluoseg.cli", "fluoseg.commands", "fluoseg.__main__"),
)  # fmt: skip
_ALT = "|".join(NAMES)
DISPATCH = re.compile(
    rf"""(==|!=)\s*["']({_ALT})["']|["']({_ALT})["']\s*(==|!=)|\.name\s+in\s+\("""
)


def modules() -> dict[str, Path]:
    """Every module of the package by dotted name."""
    out = {}
    for path in sorted(SRC.rglob("*.py")):
        parts = path.relative_to(SRC.parent).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = path
    return out


def _resolve(name: str, level: int, here: str, is_pkg: bool) -> str:
    if level == 0:
        return name
    base = here.split(".")
    base = base if is_pkg else base[:-1]
    base = base[: len(base) - (level - 1)]
    return ".".join([*base, name] if name else base)


def imports(path: Path, dotted: str, top_level: bool) -> list[tuple[str, int]]:
    """fluoseg modules imported by ``path``: at module level (``top_level``) or inside
    functions, with line numbers. ``if TYPE_CHECKING:`` blocks are not imports."""
    tree = ast.parse(path.read_text())
    is_pkg = path.name == "__init__.py"
    found: list[tuple[str, int]] = []
    known = modules()

    def visit(node: ast.AST, in_function: bool) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and "TYPE_CHECKING" in ast.unparse(child.test):
                continue
            fn = in_function or isinstance(
                child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)
            )
            if isinstance(child, (ast.Import, ast.ImportFrom)) and fn != top_level:
                names: list[str] = []
                if isinstance(child, ast.Import):
                    names = [a.name for a in child.names]
                else:
                    mod = _resolve(child.module or "", child.level, dotted, is_pkg)
                    names = [mod] + [f"{mod}.{a.name}" for a in child.names]
                for n in names:
                    if n in known and n != dotted:
                        found.append((n, child.lineno))
            visit(child, fn)

    visit(tree, False)
    return found


def layer(module: str) -> int | None:
    """The index in :data:`LAYERS` of ``module`` (``None``: in no layer)."""
    best: tuple[int, int] | None = None
    for i, prefixes in enumerate(LAYERS):
        for p in prefixes:
            if (module == p or module.startswith(p + ".")) and (
                best is None or len(p) > best[1]
            ):
                best = (i, len(p))
    return None if best is None else best[0]


def test_every_module_has_a_layer_and_imports_only_from_above() -> None:
    mods = modules()
    assert not [m for m in mods if layer(m) is None], "modules in no layer"
    upward = [
        f"{m} -> {dep}"
        for m, path in mods.items()
        for dep, _ in imports(path, m, top_level=True)
        if dep != "fluoseg" and layer(dep) > layer(m)  # type: ignore[operator]
    ]
    assert not upward, "upward imports:\n" + "\n".join(sorted(set(upward)))


def test_no_module_is_over_the_size_limit() -> None:
    big = {
        name: n
        for name, path in modules().items()
        if (n := len(path.read_text().splitlines())) > MAX_LINES
    }
    assert not big, f"modules over {MAX_LINES} lines: {big}"


def test_the_import_graph_has_no_circle() -> None:
    mods = modules()
    graph = {
        m: {dep for dep, _ in imports(p, m, top_level=True)} for m, p in mods.items()
    }
    state: dict[str, int] = {}
    stack: list[str] = []

    def walk(m: str) -> None:
        state[m] = 1
        stack.append(m)
        for d in sorted(graph.get(m, ())):
            if state.get(d) == 1:
                cycle = stack[stack.index(d):] + [d]
                pytest.fail("import circle: " + " -> ".join(cycle))
            if d not in state:
                walk(d)
        stack.pop()
        state[m] = 2

    for m in sorted(graph):
        if m not in state:
            walk(m)


def test_fluoseg_modules_are_imported_at_the_top() -> None:
    """Only the CLI's start-up path may import lazily (to keep TensorFlow and the
    trainer out of ``fluoseg --help``), and says why in a comment just above."""
    lazy = []
    for m, path in modules().items():
        lines = path.read_text().splitlines()
        for dep, lineno in imports(path, m, top_level=False):
            above = lines[max(0, lineno - 4) : lineno - 1]
            commented = any(line.strip().startswith("#") for line in above)
            if m.startswith(("fluoseg.cli", "fluoseg.commands")) and commented:
                continue
            lazy.append(f"{path.relative_to(SRC)}:{lineno} imports {dep}")
    assert not lazy, "function-local fluoseg imports:\n" + "\n".join(sorted(set(lazy)))


def test_no_dispatch_on_model_or_profile_names() -> None:
    hits = []
    for path in sorted(SRC.rglob("*.py")):
        rel = path.relative_to(SRC).as_posix()
        if rel in DISPATCH_ALLOWED:
            continue
        for i, line in enumerate(path.read_text().splitlines(), 1):
            code = line.split("#", 1)[0]
            if DISPATCH.search(code):
                hits.append(f"{rel}:{i}: {line.strip()}")
    assert not hits, "name dispatch outside the registry:\n" + "\n".join(hits)
