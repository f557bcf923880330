"""Provenance of a saved run: which software, on which device and precision, from which code.

:func:`collect` returns one JSON-ready dict that the run store writes into every run's ``meta.json``
(key ``provenance``); ``python -m dln_core reproduce`` reads it back to say what may differ.

Keys: ``python``, ``packages`` (numpy, torch, scipy, pandas and dln-lab versions, read from the
installed distributions so torch need not be imported), ``platform``, ``backend`` (numpy | torch),
``device`` (cpu | cuda, "auto" resolved), ``dtype``, ``threads`` (torch's intra-op thread count for
the torch backend, else what BLAS/OpenMP use: ``OMP_NUM_THREADS`` or the CPU count) and ``code``:
the git commit and whether the work tree had uncommitted changes, when the package runs from a
checkout (``None`` for an installed wheel, whose version then identifies the code).
"""

from __future__ import annotations

import os
import platform
import subprocess
import sys
from importlib import metadata
from pathlib import Path

from .steppers import resolve_backend

PACKAGES = ("numpy", "torch", "scipy", "pandas", "dln-lab")
THREAD_VARS = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")


def package_versions() -> dict[str, str | None]:
    """Installed version of each of :data:`PACKAGES` (``None`` if not installed, e.g. a checkout)."""
    out: dict[str, str | None] = {}
    for name in PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = None
    return out


def thread_info(backend: str = "numpy") -> dict:
    """The thread count the backend uses (torch's intra-op threads for the torch backend; BLAS/OpenMP's
    for numpy), and the environment variables that set it."""
    env = {k: os.environ[k] for k in THREAD_VARS if k in os.environ}
    torch = sys.modules.get("torch") if backend == "torch" else None
    if torch is not None:
        threads, source = int(torch.get_num_threads()), "torch.get_num_threads"
    elif "OMP_NUM_THREADS" in env and env["OMP_NUM_THREADS"].isdigit():
        threads, source = int(env["OMP_NUM_THREADS"]), "OMP_NUM_THREADS"
    else:
        threads, source = os.cpu_count() or 1, "cpu_count"
    return {"threads": threads, "threads_source": source, "thread_env": env}


def code_revision(root: Path | None = None) -> dict | None:
    """``{"git_commit", "dirty"}`` of the checkout the package runs from, or None if not a checkout."""
    root = root or Path(__file__).resolve().parents[1]
    if not (root / ".git").exists():  # a directory in a clone, a file in a git worktree
        return None
    try:
        head = subprocess.run(["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True,
                              timeout=10, check=True).stdout.strip()
        status = subprocess.run(["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
                                capture_output=True, text=True, timeout=10, check=True).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    return {"git_commit": head, "dirty": bool(status.strip())}


def resolve_device(device: str | None, backend: str | None = None) -> tuple[str, str]:
    """(backend, device) the engine would use for a config's ``device`` setting ("auto" resolved)."""
    return resolve_backend(device or "auto", backend)


def collect(device: str | None = "auto", dtype: str | None = "float64", backend: str | None = None) -> dict:
    """Provenance of a run computed now with the given device setting and dtype (module docstring)."""
    try:
        backend, device = resolve_device(device, backend)
    except Exception:  # a device this machine lacks: record the request rather than fail the save
        backend = backend or ("torch" if device == "cuda" else "numpy")
    return {
        "python": platform.python_version(),
        "packages": package_versions(),
        "platform": platform.platform(),
        "backend": backend,
        "device": device,
        "dtype": dtype,
        **thread_info(backend),
        "code": code_revision(),
    }


def from_meta(meta: dict, kind: str = "train") -> dict:
    """:func:`collect` for a run about to be saved, reading device and dtype from its meta dict: the
    flat config of a train run, the config and summary of an embedding run (trained in torch), a
    sweep's spec."""
    def section(key: str) -> dict:
        value = meta.get(key)
        return value if isinstance(value, dict) else {}

    config, summary = section("config"), section("summary")
    spec = meta["spec"].get("base", {}) if isinstance(meta.get("spec"), dict) else {}
    device = config.get("device") or summary.get("device") or spec.get("device") or "auto"
    dtype = config.get("dtype") or spec.get("dtype") or "float64"
    backend = "torch" if kind == "embed" else config.get("backend")
    return collect(device=str(device), dtype=str(dtype), backend=backend)
