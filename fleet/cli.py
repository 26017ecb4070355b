"""The ``ocpp-fleet`` command line: it parses arguments and calls the library, nothing more."""

import argparse
from collections.abc import Sequence

from fleet import __version__


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``ocpp-fleet``."""
    parser = argparse.ArgumentParser(
        prog="ocpp-fleet",
        description=(
            "Simulate fleets of OCPP 1.6J charge points against a Central System, "
            "or run one real charge point behind a gateway."
        ),
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the process exit status."""
    parser = build_parser()
    parser.parse_args(argv)
    parser.print_help()
    return 0
