"""The CLI imports only the chosen command's module: ``fluoseg --help`` lists every
command from its source's ``HELP`` without importing numpy, pandas or TensorFlow."""

from __future__ import annotations

import importlib
import subprocess
import sys

import pytest

from fluoseg.cli import build_parser, chosen_command, command_help, command_names

PROBE = (
    "import sys, contextlib, io\n"
    "from fluoseg.cli import main\n"
    "with contextlib.redirect_stdout(io.StringIO()):\n"
    "    try:\n"
    "        main(['--help'])\n"
    "    except SystemExit:\n"
    "        pass\n"
    "heavy = ('numpy', 'pandas', 'tensorflow')\n"
    "print(' '.join(m for m in heavy if m in sys.modules))\n"
)


def test_help_is_read_from_the_source_and_equals_the_module_help() -> None:
    names = command_names()
    assert {"data", "train", "predict", "evaluate"} <= set(names)
    for name in names:
        module = importlib.import_module(f"fluoseg.commands.{name}")
        assert command_help(name) == module.HELP != ""


def test_top_level_help_imports_no_heavy_module() -> None:
    out = subprocess.run(
        [sys.executable, "-c", PROBE], capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == ""


@pytest.mark.parametrize(
    ("argv", "want"),
    [
        (["--debug", "train", "--model", "unet"], "train"),
        (["--help"], None),
        ([], None),
    ],
)
def test_chosen_command_is_the_first_word(argv: list[str], want: str | None) -> None:
    assert chosen_command(argv) == want


def test_a_partial_parser_completes_only_the_chosen_command() -> None:
    args = build_parser(only="profile").parse_args(["profile", "smoke"])
    assert callable(args._run)
    with pytest.raises(SystemExit):  # the other commands are listed, not complete
        build_parser(only="profile").parse_args(["train", "--model", "unet"])
