"""The ``fluoseg`` command line: a thin dispatcher over ``fluoseg.commands``.

Each module in ``fluoseg.commands`` is one sub-command. It defines ``HELP`` (one line,
a string literal), ``add_arguments(parser)`` and ``run(args) -> int``. Only the chosen
command's module is imported; the others are listed with their ``HELP`` read from the
source, so that ``fluoseg --help`` imports neither numpy nor pandas. fluoseg modules
are imported at the top of a command module, except those that import TensorFlow,
which ``run`` imports (with a comment).

Exit status: 0 on success; 2 on bad input (one line on stderr naming the problem, no
traceback); 1 on any other failure (one line, or the traceback with ``--debug``).
"""

from __future__ import annotations

import argparse
import ast
import importlib
import importlib.util
import pkgutil
import sys
from collections.abc import Sequence
from pathlib import Path

from fluoseg import __version__, commands
from fluoseg.errors import InputError


class _Parser(argparse.ArgumentParser):
    """An ArgumentParser whose usage errors are one line and exit with status 2."""

    def error(self, message: str) -> None:  # type: ignore[override]
        sys.stderr.write(f"{self.prog}: error: {message}\n")
        raise SystemExit(2)


def command_names() -> list[str]:
    """The sub-commands: the public modules of ``fluoseg.commands`` (none imported)."""
    infos = pkgutil.iter_modules(commands.__path__)
    return sorted(i.name for i in infos if not i.name.startswith("_"))


def command_help(name: str) -> str:
    """The ``HELP`` line of command ``name``, read from its source without importing."""
    spec = importlib.util.find_spec(f"fluoseg.commands.{name}")
    source = Path(str(spec.origin)).read_text(encoding="utf-8")  # type: ignore[union-attr]
    tree = ast.parse(source)
    for node in tree.body:
        targets = node.targets if isinstance(node, ast.Assign) else []
        if any(isinstance(t, ast.Name) and t.id == "HELP" for t in targets):
            return str(ast.literal_eval(node.value))  # type: ignore[union-attr]
    return ""


def chosen_command(argv: Sequence[str]) -> str | None:
    """The sub-command named in ``argv``: its first word that is not an option (the
    top-level options take no value)."""
    return next((a for a in argv if not a.startswith("-")), None)


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The parser, one sub-parser per module of ``fluoseg.commands``. With ``only``,
    that command's module alone is imported and given its arguments; the others are
    listed by name and help. Without it, every command is complete."""
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
    for name in command_names():
        if only is not None and name != only:
            sub.add_parser(name, help=command_help(name))
            continue
        module = importlib.import_module(f"fluoseg.commands.{name}")
        p = sub.add_parser(name, help=module.HELP, description=module.HELP)
        module.add_arguments(p)
        p.set_defaults(_run=module.run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI and return its exit status."""
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser(only=chosen_command(argv) or "")
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
