"""The ``fluoseg`` command line: a thin dispatcher over ``fluoseg.commands``.

Each module in ``fluoseg.commands`` is one sub-command. It defines ``HELP`` (one line),
``add_arguments(parser)`` and ``run(args) -> int``. fluoseg modules are imported at
the top of a command module, except those that import TensorFlow, which ``run``
imports (with a comment), so that ``--help`` needs no TensorFlow.

Exit status: 0 on success; 2 on bad input (one line on stderr naming the problem, no
traceback); 1 on any other failure (one line, or the traceback with ``--debug``).
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys
from collections.abc import Sequence

from fluoseg import __version__, commands
from fluoseg.errors import InputError


class _Parser(argparse.ArgumentParser):
    """An ArgumentParser whose usage errors are one line and exit with status 2."""

    def error(self, message: str) -> None:  # type: ignore[override]
        sys.stderr.write(f"{self.prog}: error: {message}\n")
        raise SystemExit(2)


def _command_modules() -> dict[str, object]:
    modules = {}
    for info in sorted(pkgutil.iter_modules(commands.__path__), key=lambda i: i.name):
        if info.name.startswith("_"):
            continue
        modules[info.name] = importlib.import_module(f"fluoseg.commands.{info.name}")
    return modules


def build_parser() -> argparse.ArgumentParser:
    """The full parser, one sub-parser per module of ``fluoseg.commands``."""
    parser = _Parser(
        prog="fluoseg",
        description="Deep learning segmentation of 3D fluorescence microscopy "
        "(nuclei and Golgi).",
    )
    parser.add_argument("--version", action="version", version=f"fluoseg {__version__}")
    parser.add_argument(
        "--debug", action="store_true", help="show the full traceback on failure"
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for name, module in _command_modules().items():
        p = sub.add_parser(name, help=module.HELP, description=module.HELP)
        module.add_arguments(p)
        p.set_defaults(_run=module.run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI and return its exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "_run", None):
        parser.print_help(sys.stderr)
        return 2
    try:
        return int(args._run(args) or 0)
    except InputError as exc:
        sys.stderr.write(f"fluoseg {args.command}: error: {exc}\n")
        return 2
    except KeyboardInterrupt:
        sys.stderr.write(f"fluoseg {args.command}: interrupted\n")
        return 130
    except Exception as exc:  # noqa: BLE001 - the CLI's last line of defence
        if args.debug:
            raise
        msg = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        sys.stderr.write(
            f"fluoseg {args.command}: failed: {type(exc).__name__}: {msg} "
            "(re-run with --debug for the traceback)\n"
        )
        return 1


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
