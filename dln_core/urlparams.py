"""Checking a page's URL query parameters before its widgets read them (pure; no streamlit).

Streamlit drops a bound widget's invalid URL value without a word and shows the default run, so a
shared link with a typo silently shows something else. :func:`check_query` finds those values first;
the page then names each parameter, the value it ignored and the value it used instead.

A spec maps a parameter name to one rule: ``("int", lo, hi)``, ``("float", lo, hi)`` (finite),
``("choice", options)`` or ``("bool",)``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass


@dataclass(frozen=True)
class BadParam:
    """One URL parameter whose value the page cannot use."""

    name: str
    value: str
    reason: str

    def message(self, used) -> str:
        """What the page tells the user, with the value it used instead."""
        return f"URL parameter {self.name}={self.value!r} ignored ({self.reason}); using {self.name} = {used}."


def _problem(rule: tuple, text: str) -> str | None:
    kind = rule[0]
    if kind == "choice":
        return None if text in rule[1] else "must be one of " + ", ".join(map(str, rule[1]))
    if kind == "bool":
        return None if text.lower() in ("true", "false") else "must be true or false"
    lo, hi = rule[1], rule[2]
    try:
        x = float(text)
    except ValueError:
        return f"not a number; allowed range [{lo:g}, {hi:g}]"
    if not math.isfinite(x):
        return f"not a finite number; allowed range [{lo:g}, {hi:g}]"
    if kind == "int" and not x.is_integer():
        return f"must be an integer in [{lo:g}, {hi:g}]"
    if not lo <= x <= hi:
        return f"outside the allowed range [{lo:g}, {hi:g}]"
    return None


def check_query(query: Mapping[str, str], spec: Mapping[str, tuple]) -> list[BadParam]:
    """Every parameter of ``spec`` present in ``query`` whose value breaks its rule (in spec order).
    Parameters the spec does not know are left alone (other pages' or Streamlit's own)."""
    out = []
    for name, rule in spec.items():
        if name in query:
            text = str(query[name]).strip()
            reason = _problem(rule, text)
            if reason:
                out.append(BadParam(name, text, reason))
    return out
