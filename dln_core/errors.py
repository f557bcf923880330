"""The one error type users see for bad input.

Every invalid configuration value raises :class:`ConfigError`, whose message names the field and
the allowed range, e.g. ``depth: must be an integer in [1, 12], got 0``. Pages show the message with
``st.error``; the CLI prints it as one line and exits with code 2.
"""

from __future__ import annotations


class ConfigError(ValueError):
    """An invalid input value. ``field`` is the offending field's name, ``allowed`` the allowed range."""

    def __init__(self, field: str, allowed: str, got: object = None) -> None:
        self.field = field
        self.allowed = allowed
        self.got = got
        msg = f"{field}: {allowed}"
        if got is not None:
            msg += f", got {got!r}"
        super().__init__(msg)
