"""Make the package's docstrings valid reStructuredText for the API reference.

The docstrings are written for readers of the source, in a light reST: two habits
break Sphinx's parser (and so ``jupyter-book build -W``) without being wrong there:

- a literal glued to the next character, as in ````kernel``^3``: reST needs an escaped
  space (``\\ ``) after the closing backquotes;
- a Python star in a shape, as in ``(B, *patch, 2)``: reST reads an emphasis start.

This hook rewrites both in the text autodoc passes to Sphinx; the sources are unchanged.
"""

from __future__ import annotations

import re
from typing import Any

_LITERAL_GLUED = re.compile(r"(``[^`\s](?:[^`]*[^`\s])?``)(?=[^\s`.,;:!?)\]}'\"/-])")
_STAR_ARG = re.compile(r"(?:(?<=[(\[])|(?<=, ))\*(?=[A-Za-z_]\w*(?![\w*]))")


def fix_lines(lines: list[str]) -> None:
    """Rewrite ``lines`` in place (see the module docstring)."""
    for i, line in enumerate(lines):
        line = _LITERAL_GLUED.sub(r"\1\\ ", line)
        lines[i] = _STAR_ARG.sub(r"\\*", line)


def _process(app: Any, what: str, name: str, obj: Any, options: Any, lines: list[str]):
    fix_lines(lines)


def setup(app: Any) -> dict[str, Any]:
    app.connect("autodoc-process-docstring", _process)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
