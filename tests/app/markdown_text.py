"""What a visitor reads in a markdown element: AppTest hands back the markdown source, and user text
in it is escaped (pages/_shared.plain), so tests compare against the unescaped text."""

from __future__ import annotations

import re

_ESCAPED = re.compile(r"\\([!-/:-@\[-`{-~])")
# markdown that makes the browser fetch or link something: an image, a link, an HTML tag, an autolink
_LIVE = re.compile(r"(?<!\\)(!\[|\]\(|<[A-Za-z/!]|https?:|www\.|@\w)")


def shown(value: str) -> str:
    """The text a markdown element displays once its backslash escapes are resolved."""
    return _ESCAPED.sub(r"\1", value).replace("\u200b", "")  # and the zero-width autolink breakers


def live_markdown(value: str) -> list[str]:
    """Unescaped image / link / HTML / autolink syntax in a markdown source ([] when it is inert)."""
    return _LIVE.findall(value)
