"""``fluoseg profile``: print the active profile (or a named one) as JSON."""

from __future__ import annotations

import argparse
import json

from fluoseg.config import get_profile

HELP = "print the settings of a profile (smoke, cpu, gpu, paper) as JSON"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "name",
        nargs="?",
        default=None,
        help="profile name (default: $FLUOSEG_PROFILE, else gpu with a GPU, else cpu)",
    )


def run(args: argparse.Namespace) -> int:
    print(json.dumps(get_profile(args.name).to_dict(), indent=2))
    return 0
