"""Captions that describe what this run's charts actually show (pure; no streamlit).

A caption is chosen from the run, never a fixed sentence: at depth 1 there are no saddle plateaus
(THEORY §5: the loss is convex in W), so no caption there speaks of flat steps.
"""

from __future__ import annotations


def loss_caption(depth: int, summary: dict) -> str:
    """The loss panel's caption for a run of this depth and outcome (``summary``: the run summary)."""
    if depth == 1:
        return ("Depth 1 is a convex problem: every mode rises at once along its own exponential, so "
                "the loss falls smoothly with no plateaus. Raise the depth to see the staircase.")
    floor = summary.get("loss_floor") or 0.0
    text = ("From a small start the loss rests on flat steps at the dotted levels: each is a saddle where "
            "some modes are learned and the rest are still near zero, and each drop is one mode switching "
            f"on. Depth {depth} sharpens the steps; a larger init shortens the plateaus until they merge.")
    if floor > 0:
        text += (f" This network is narrower than the target, so the best it can reach is the rank-limited "
                 f"floor {floor:.4g} (the dotted level of the modes it cannot represent).")
    return text
