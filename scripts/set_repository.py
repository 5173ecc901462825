"""Copy the repository URL and branch set in ``_config.yml`` to every other place.

The publisher sets the repository once, in ``_config.yml``::

    repository:
      url: https://github.com/OWNER/REPO
      branch: main

(jupyter-book builds the launch, repository and issues buttons from it), then runs

    python scripts/set_repository.py           # rewrite the copies
    python scripts/set_repository.py --check   # exit 1 and list the stale copies

The copies: ``[project.urls]`` in ``pyproject.toml``, the install lines
(``git+URL@BRANCH``) in ``README.md``, ``book/intro.md`` and the first cell of every
chapter (``book/**/*.ipynb``: it installs the package in Colab or a bare Jupyter), and
``fluoseg.export.BOOK_URL``/``BOOK_BRANCH`` (written into exported model packages).
``tests/test_publishing.py`` runs ``--check``. Only the standard library is used.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def read_repository(config: Path = ROOT / "_config.yml") -> tuple[str, str]:
    """``(url, branch)`` from the ``repository:`` block of ``_config.yml``."""
    text = config.read_text()
    block = re.search(r"^repository:\s*\n((?:[ \t]+.*\n?)+)", text, re.MULTILINE)
    if block is None:
        raise SystemExit(f"{config}: no 'repository:' block")
    fields = dict(re.findall(r"^\s+(\w+):\s*\"?([^\"\s#]*)\"?", block.group(1), re.M))
    url, branch = fields.get("url", "").rstrip("/"), fields.get("branch", "") or "main"
    if not re.match(r"^https://\S+/\S+$", url):
        raise SystemExit(f"{config}: repository.url must be https://HOST/OWNER/REPO")
    return url, branch


def _rewrites(url: str, branch: str) -> dict[Path, list[tuple[str, str]]]:
    """Per file, the (pattern, replacement) pairs that put ``url``/``branch`` in it."""
    git = rf"git+{url}@{branch}"
    install = [(r"git\+https?://[^\s\"'`@]+(?:@[\w./-]+)?", git)]
    notebooks = sorted((ROOT / "book").glob("**/*.ipynb"))
    chapters = {nb: install for nb in notebooks if ".ipynb_checkpoints" not in nb.parts}
    return {
        **chapters,
        ROOT / "pyproject.toml": [
            (r'(?m)^Homepage = ".*"$', f'Homepage = "{url}"'),
            (r'(?m)^Repository = ".*"$', f'Repository = "{url}"'),
            (r'(?m)^Issues = ".*"$', f'Issues = "{url}/issues"'),
        ],
        ROOT / "README.md": install,
        ROOT / "book" / "intro.md": install,
        ROOT / "src" / "fluoseg" / "export.py": [
            (r'(?m)^BOOK_URL = ".*"$', f'BOOK_URL = "{url}"'),
            (r'(?m)^BOOK_BRANCH = ".*"$', f'BOOK_BRANCH = "{branch}"'),
        ],
    }


def sync(check: bool) -> list[str]:
    """Rewrite (or, with ``check``, only list) the files whose copy differs."""
    url, branch = read_repository()
    stale = []
    for path, pairs in _rewrites(url, branch).items():
        text = path.read_text()
        new = text
        for pattern, repl in pairs:
            if not re.search(pattern, new):
                stale.append(f"{path.relative_to(ROOT)}: nothing matches {pattern!r}")
                continue
            new = re.sub(pattern, lambda _m, r=repl: r, new)
        if new != text:
            stale.append(f"{path.relative_to(ROOT)}: differs from {url} @ {branch}")
            if not check:
                path.write_text(new)
    return stale


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only list stale copies")
    args = parser.parse_args(argv)
    stale = sync(args.check)
    for line in stale:
        print(line, file=sys.stderr if args.check else sys.stdout)
    url, branch = read_repository()
    if not args.check:
        owner_repo = url.split("://", 1)[1].split("/", 1)[1]
        print(f"repository {url} @ {branch}")
        print(f"Binder: https://mybinder.org/v2/gh/{owner_repo}/{branch}")
        print(
            "Colab:  https://colab.research.google.com/github/"
            f"{owner_repo}/blob/{branch}/book/01_theory/metrics.ipynb (any chapter)"
        )
    return 1 if args.check and stale else 0


if __name__ == "__main__":
    raise SystemExit(main())
