"""Command line: ``python -m dln_core <command>`` or ``dln-lab <command>``.

``COMMANDS`` is the registry: subcommand name -> a module of this package that satisfies
:class:`common.Command` (``HELP``, ``DESCRIPTION``, ``add_arguments(parser)``, ``run(args) -> int``).
A new subcommand is one module here plus one entry in ``COMMANDS``.

Every subcommand module imports only light modules, so the whole parser is built, and a bad flag
rejected, without loading numpy, pandas, scipy, torch or the engine; those load through the lazy
package (dln_core/__init__.py) once a command runs. Bad input never shows a traceback: argparse errors
and :class:`ConfigError` print one line on stderr and exit with code 2; an interrupt exits with 130.
"""

from __future__ import annotations

import sys

from ..errors import ConfigError
from . import embed, sweep, train
from .common import Command, OneLineError, Parser

COMMANDS: dict[str, Command] = {
    "train": train,
    "sweep": sweep,
    "embed": embed,
}


def build_parser() -> Parser:
    parser = Parser(prog="dln_core", description="DLN Lab: train deep linear networks headless.")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=Parser)
    for name, command in COMMANDS.items():
        command.add_arguments(sub.add_parser(name, help=command.HELP, description=command.DESCRIPTION))
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run one command line (``sys.argv[1:]`` by default) and return its exit code."""
    try:
        try:
            args = build_parser().parse_args(argv)
        except SystemExit as exc:  # --help printed its text; return, do not raise, its code
            return int(exc.code or 0)
        return int(COMMANDS[args.command].run(args) or 0)
    except OneLineError as exc:
        print(str(exc), file=sys.stderr)
        return 2
    except ConfigError as exc:
        print(f"dln_core: error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:  # a missing file, no permission, a full disk: one line, not a traceback
        print(f"dln_core: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("dln_core: interrupted", file=sys.stderr)
        return 130
