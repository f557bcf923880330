"""Shipped data files (corpora, evaluation sets) as package data of ``dln_core``.

They live in ``dln_core/data/`` (sources and licences in ``dln_core/data/README.md``, which ships with
them) and are located through :mod:`importlib.resources`, so a checkout, ``pip install .`` and the
wheel all find them, from any working directory.
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path


def data_path(*parts: str) -> Path:
    """A path inside the package's ``data/`` folder (``data_path("eval", "men.txt")``).

    The wheel installs as plain files (it is not zip-safe), so the resource is a real file-system path
    that numpy and globbing can use directly.
    """
    root = files("dln_core").joinpath("data", *parts)
    if not isinstance(root, Path):  # a zipped install: not supported (numpy needs real files)
        raise RuntimeError(f"dln_core's data must be installed as files, not inside an archive: {root}")
    return root
