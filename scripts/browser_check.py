"""Open the built book in headless Chromium and check that the key pages render.

Serves ``_build/html`` on a free localhost port, visits each key page, fails on any
console error or uncaught page error, checks that every plotly figure on a page that
should have one rendered (has an SVG drawing surface), checks that every dropdown
solution starts hidden and is not followed by an empty code block (an inner code fence
that closed the admonition early), and saves a full-page screenshot per page under
``screenshots/``. Run with ``make browser-check`` after ``make book``.
"""

from __future__ import annotations

import argparse
import functools
import http.server
import socketserver
import sys
import threading
from pathlib import Path

# page (relative to _build/html) -> minimum number of plotly figures expected on it
KEY_PAGES: dict[str, int] = {
    "book/intro.html": 0,
    "book/01_theory/cnn_building_blocks.html": 0,
    "book/01_theory/gans.html": 0,
    "book/03_methods/dataset_simulator.html": 0,
    "book/03_methods/synthetic_masks.html": 0,
    "book/03_methods/unet3d.html": 0,
    "book/05_beyond/performance.html": 0,
    "book/04_experiments/unet.html": 1,
    "book/04_experiments/cyclegan.html": 1,
    "book/04_experiments/comparison.html": 0,
    "book/04_experiments/timing.html": 0,
    "book/05_beyond/pairing_polarity.html": 0,
    "book/06_conclusions/conclusions.html": 0,
}
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


# Per dropdown admonition: its title, whether any of its body shows before a click, and
# whether the element after it is an empty code block.
DROPDOWNS_JS = """() => [...document.querySelectorAll('.admonition.dropdown')]
.map(d => {
  const title = d.querySelector('.admonition-title');
  const body = [...d.children].filter(c => c !== title && c.tagName !== 'BUTTON');
  const shown = body.some(c => c.getClientRects().length > 0
                            && getComputedStyle(c).visibility !== 'hidden');
  const next = d.nextElementSibling;
  const emptyCode = !!next && /highlight/.test(next.className)
                    && next.innerText.trim() === '';
  return {title: title ? title.innerText.trim() : '?', shown, emptyCode};
})"""


def dropdown_problems(rel: str, dropdowns: list[dict]) -> list[str]:
    """Problems with a page's dropdowns as ``DROPDOWNS_JS`` reports them."""
    out = []
    for d in dropdowns:
        if d["shown"]:
            out.append(f"{rel}: '{d['title']}' shows its text before a click")
        if d["emptyCode"]:
            out.append(f"{rel}: an empty code block follows '{d['title']}'")
    return out


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args: object) -> None:  # noqa: D102 - silence access logs
        pass


def serve(root: Path) -> tuple[socketserver.TCPServer, int]:
    """Serve ``root`` on 127.0.0.1 at a free port, in a daemon thread."""
    handler = functools.partial(_QuietHandler, directory=str(root))
    server = socketserver.TCPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, server.server_address[1]


def check(html: Path, shots: Path, chromium: str) -> list[str]:
    """Visit every key page; return a list of problems (empty when all is well)."""
    from playwright.sync_api import sync_playwright

    problems: list[str] = []
    shots.mkdir(parents=True, exist_ok=True)
    server, port = serve(html)
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            errors: list[str] = []
            page.on(
                "console",
                lambda m: errors.append(m.text) if m.type == "error" else None,
            )
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.on(
                "response",
                lambda r: errors.append(f"HTTP {r.status} for {r.url}")
                if r.status >= 400
                else None,
            )
            for rel, min_figs in KEY_PAGES.items():
                if not (html / rel).is_file():
                    problems.append(f"{rel}: page missing from the build")
                    continue
                errors.clear()
                page.goto(f"http://127.0.0.1:{port}/{rel}", wait_until="load")
                page.wait_for_timeout(1500)
                figs = page.locator(".js-plotly-plot").count()
                drawn = page.locator(".js-plotly-plot .main-svg").count()
                name = rel.replace("/", "__").removesuffix(".html")
                page.screenshot(path=str(shots / f"{name}.png"), full_page=True)
                for err in errors:
                    problems.append(f"{rel}: console error: {err}")
                dropdowns = page.evaluate(DROPDOWNS_JS)
                problems += dropdown_problems(rel, dropdowns)
                if figs < min_figs:
                    problems.append(f"{rel}: {figs} plotly figures, expected ≥ {min_figs}")
                if drawn < figs:
                    problems.append(f"{rel}: {figs - drawn} of {figs} figures not drawn")
                print(f"{rel}: {figs} plotly figure(s), {len(errors)} console error(s), "
                      f"{len(dropdowns)} dropdown(s)")
            browser.close()
    finally:
        server.shutdown()
    return problems


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--html", type=Path, default=Path("_build/html"))
    parser.add_argument("--screenshots", type=Path, default=Path("screenshots"))
    parser.add_argument("--chromium", default="/usr/bin/chromium")
    args = parser.parse_args()
    if not (args.html / "index.html").is_file():
        print(f"{args.html}: no built book; run `make book` first", file=sys.stderr)
        return 2
    problems = check(args.html, args.screenshots, args.chromium)
    for p in problems:
        print(f"FAIL {p}", file=sys.stderr)
    print(f"{len(KEY_PAGES) - len({p.split(':')[0] for p in problems})} passed, "
          f"{len({p.split(':')[0] for p in problems})} failed")
    return 1 if problems else 0


if __name__ == "__main__":
    raise SystemExit(main())
