"""``--config FILE.toml``: a subcommand's options from a TOML file (train, sweep, embed).

The file holds flat keys named like the flags, without the dashes (``init-scale = 1e-3`` or
``init_scale = 1e-3``; ``depth = "2,3"`` or ``depth = [2, 3]`` for a sweep's comma lists; ``save =
true`` for a switch). Each value is turned into the text a user would type after the flag and becomes
that option's default, so it goes through the same parsing and checks as the flag, and a flag given on
the command line wins. An unknown key, a value of the wrong kind or a file that is not TOML is one
clear error (exit code 2), raised before anything runs.
"""

from __future__ import annotations

import argparse
import tomllib
from pathlib import Path

from ..errors import ConfigError

NOT_IN_FILE = {"help", "config"}  # options a config file cannot set


def add_config_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", metavar="FILE.toml",
                        help="read options from a TOML file (keys = flag names); flags given here win")


def _options(parser: argparse.ArgumentParser) -> dict[str, argparse.Action]:
    """Settable options by key (the flag without its leading dashes, ``-`` and ``_`` both accepted)."""
    out = {}
    for action in parser._actions:  # argparse keeps no public list of a parser's options
        for flag in action.option_strings:
            if flag.startswith("--") and action.dest not in NOT_IN_FILE:
                out[flag[2:]] = action
                out[flag[2:].replace("-", "_")] = action
    return out


def _as_text(key: str, value, action: argparse.Action, path: str) -> object:
    """A TOML value as the text typed after the flag (a switch takes a boolean)."""
    if isinstance(action, argparse._StoreTrueAction):
        if not isinstance(value, bool):
            raise ConfigError("--config", f"{path}: key {key!r} is a switch and takes true or false", value)
        return value
    if isinstance(value, bool) or isinstance(value, dict):
        raise ConfigError("--config", f"{path}: key {key!r} takes a number, text or a list", value)
    if isinstance(value, list):
        if not value or any(isinstance(v, (list, dict, bool)) for v in value):
            raise ConfigError("--config", f"{path}: key {key!r} takes a list of numbers or text", value)
        return ",".join(str(v) for v in value)
    return str(value)


def read_defaults(parser: argparse.ArgumentParser, path: str) -> dict[str, object]:
    """The file's options as ``{dest: text}`` for ``parser.set_defaults`` (ConfigError if bad)."""
    try:
        data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError("--config", "must be an existing TOML file", path) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError("--config", f"must be a readable UTF-8 TOML file ({exc})", path) from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError("--config", f"{path} is not valid TOML ({exc})", path) from None
    options = _options(parser)
    defaults = {}
    for key, value in data.items():
        action = options.get(key)
        if action is None:
            allowed = ", ".join(sorted({a.option_strings[0][2:] for a in options.values()}))
            raise ConfigError("--config", f"{path}: unknown key {key!r}; allowed keys: {allowed}", key)
        defaults[action.dest] = _as_text(key, value, action, path)
    return defaults


def parse_with_config(parser: argparse.ArgumentParser, subparsers: dict, argv: list[str] | None):
    """Parse ``argv``; if the command got ``--config FILE``, parse again with the file's values as
    the command's defaults, so that flags on the command line win."""
    args = parser.parse_args(argv)
    path = getattr(args, "config", None)
    if not path:
        return args
    sub = subparsers[args.command]
    sub.set_defaults(**read_defaults(sub, path))
    return parser.parse_args(argv)
