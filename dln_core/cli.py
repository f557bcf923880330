"""Command line: ``python -m dln_core train|sweep|study|embed``.

Each subcommand lives in its own module exposing ``add_parser(subparsers)``, which registers the
subcommand and sets ``func`` (called with the parsed namespace, returning an exit code).
Bad input never shows a traceback: argparse errors and :class:`ConfigError` print one line on stderr
and exit with code 2; an interrupt exits with 130.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from .errors import ConfigError

# subcommand name -> module that defines add_parser(subparsers)
SUBCOMMANDS = {
    "train": "dln_core.cli_train",
    "sweep": "dln_core.cli_sweep",
    "study": "dln_core.cli_study",
    "embed": "dln_core.embeddings.cli",
}


class OneLineError(Exception):
    """Raised by the parser instead of printing usage and exiting."""


class Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        raise OneLineError(f"{self.prog}: {message}")


def build_parser() -> Parser:
    parser = Parser(prog="dln_core", description="DLN Lab: train deep linear networks headless.")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=Parser)
    for module in SUBCOMMANDS.values():
        try:
            mod = importlib.import_module(module)
        except ModuleNotFoundError as exc:  # a subcommand not built yet must not break the others
            if exc.name != module:
                raise
            continue
        mod.add_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    try:
        args = build_parser().parse_args(argv)
        return int(args.func(args) or 0)
    except OneLineError as exc:
        print(str(exc), file=sys.stderr)
        return 2
    except ConfigError as exc:
        print(f"dln_core: error: {exc}", file=sys.stderr)
        return 2
    except (FileNotFoundError, PermissionError, IsADirectoryError) as exc:
        print(f"dln_core: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("dln_core: interrupted", file=sys.stderr)
        return 130
