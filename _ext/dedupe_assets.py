"""Sphinx extension: drop duplicate <script> entries from every page.

With jupyter-book 1.0.4 and Sphinx 7.4, the inline scripts of sphinx-thebe and
sphinx-togglebutton are emitted twice per page, and the second ``const THEBE_JS_URL``
raises a console error in the browser. This keeps the first of each identical script.
"""

from __future__ import annotations

from typing import Any


def _key(js: Any) -> tuple:
    attrs = getattr(js, "attributes", None) or getattr(js, "_attributes", None) or {}
    name = getattr(js, "filename", js) or ""  # inline scripts: None or ""
    return (str(name), tuple(sorted(dict(attrs).items())))


def _dedupe(app: Any, pagename: str, templatename: str, context: dict, doctree: Any):
    scripts = context.get("script_files")
    if not scripts:
        return
    seen: set[tuple] = set()
    unique = []
    for js in scripts:
        k = _key(js)
        if k not in seen:
            seen.add(k)
            unique.append(js)
    scripts[:] = unique  # in place: later handlers may still append to this list


def setup(app: Any) -> dict:
    # early: html-page-context stops at the first handler that returns a template name
    app.connect("html-page-context", _dedupe, priority=100)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
