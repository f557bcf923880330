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
from . import app, embed, export, generalize, reproduce, study, sweep, train
from .common import Command, OneLineError, Parser
from .config_file import add_config_option, parse_with_config

COMMANDS: dict[str, Command] = {
    "train": train,
    "sweep": sweep,
    "study": study,
    "embed": embed,
    "generalize": generalize,
    "reproduce": reproduce,
    "export": export,
    "app": app,
}
CONFIGURABLE = ("train", "sweep", "embed")  # commands that take --config FILE.toml (cli/config_file.py)


def build_parser() -> Parser:
    parser = Parser(prog="dln_core", description="DLN Lab: train deep linear networks headless.")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=Parser)
    parser.commands = {}  # name -> its parser (for --config)
    for name, command in COMMANDS.items():
        parser.commands[name] = cmd = sub.add_parser(name, help=command.HELP, description=command.DESCRIPTION)
        command.add_arguments(cmd)
        if name in CONFIGURABLE:
            add_config_option(cmd)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run one command line (``sys.argv[1:]`` by default) and return its exit code."""
    try:
        try:
            parser = build_parser()
            args = parse_with_config(parser, parser.commands, argv)
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
