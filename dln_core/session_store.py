"""Private run stores for a hosted demo: one store per visitor session, with a quota.

On the hosted profile a visitor's saved runs belong to that visitor's session: the pages keep a
random owner token in the session and open :func:`session_store` for it, a store in its own folder
``<home>/sessions/<sha256(token)[:32]>/runs``. Another session has another token, so it cannot list,
load or delete those runs (the folder name is a hash: the token itself is never on disk). Locally the
pages use the shared store, as before.

:class:`QuotaStore` refuses a save that would take the session over its count or byte quota with
:class:`QuotaExceededError` (a StoreError, shown by the pages as an error box): checked before writing
from the frames' in-memory size (parquet is smaller, so this never lets an entry through that is too
big), and again from the written size, which removes the new entry if it still broke the quota.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from .store import RunStore, StoreError


class QuotaExceededError(StoreError):
    """Saving would take this store over its quota (runs or bytes)."""


@dataclass(frozen=True)
class Quota:
    max_runs: int
    max_bytes: float


def entry_bytes(meta: Mapping) -> int:
    """Bytes an entry takes: its frames and arrays as recorded in its meta (meta.json itself is small)."""
    total = 0
    for section in ("frames", "arrays"):
        for entry in (meta.get(section) or {}).values():
            if isinstance(entry, Mapping) and isinstance(entry.get("bytes"), int):
                total += entry["bytes"]
    return total


class QuotaStore(RunStore):
    """A RunStore that keeps at most ``quota.max_runs`` entries and ``quota.max_bytes`` bytes."""

    def __init__(self, home: str | os.PathLike, quota: Quota) -> None:
        super().__init__(home)
        self.quota = quota

    def usage(self) -> tuple[int, int]:
        """(entries, bytes) saved in this store now."""
        metas = self.entries()
        return len(metas), sum(entry_bytes(m) for m in metas)

    def _refuse(self, runs: int, used: float, adding: float) -> None:
        q = self.quota
        if runs + 1 > q.max_runs:
            raise QuotaExceededError(f"this session may keep at most {q.max_runs} saved runs; delete some on the "
                                     "Runs page first")
        if used + adding > q.max_bytes:
            raise QuotaExceededError(f"this session may keep at most {q.max_bytes / 1e6:g} MB of saved runs "
                                     f"({used / 1e6:.1f} MB used, this one needs about {adding / 1e6:.1f} MB); "
                                     "delete some on the Runs page first")

    def save_frames(self, frames: Mapping[str, pd.DataFrame], meta: Mapping | None = None, kind: str = "train",
                    arrays: Mapping[str, np.ndarray] | None = None) -> str:
        runs, used = self.usage()
        size = sum(int(df.memory_usage(index=True).sum()) for df in frames.values() if isinstance(df, pd.DataFrame))
        size += sum(int(np.asarray(a).nbytes) for a in (arrays or {}).values())
        self._refuse(runs, used, min(size, self.quota.max_bytes))  # a frame bigger than the quota: refused
        run_id = super().save_frames(frames, meta, kind, arrays)
        runs, used = self.usage()
        if used > self.quota.max_bytes:  # written smaller than in memory, yet over: take it back
            self.delete(run_id)
            self._refuse(runs - 1, used, 0)
        return run_id


def prune_sessions(home: str | os.PathLike, max_age_s: float = 24 * 3600.0) -> int:
    """Remove session stores nobody has written to for ``max_age_s`` (their tokens died with their
    sessions, so nobody can reach them any more). Returns how many were removed."""
    root = Path(home) / "sessions"
    if not root.is_dir():
        return 0
    now, removed = time.time(), 0
    for folder in root.iterdir():
        runs = folder / "runs"
        try:
            newest = max([folder.stat().st_mtime, *(p.stat().st_mtime for p in runs.iterdir())] if runs.is_dir()
                         else [folder.stat().st_mtime])
        except OSError:
            continue
        if now - newest > max_age_s:
            shutil.rmtree(folder, ignore_errors=True)
            removed += 1
    return removed


def session_folder(home: str | os.PathLike, token: str) -> Path:
    """The folder of the session holding ``token`` (a hash of it: the token is not on disk)."""
    digest = hashlib.sha256(token.encode()).hexdigest()[:32]
    return Path(home) / "sessions" / digest


def session_store(home: str | os.PathLike, token: str, quota: Quota) -> QuotaStore:
    """The private store of one visitor session (see the module docstring)."""
    if not isinstance(token, str) or len(token) < 16:
        raise ValueError("a session token must be a string of at least 16 characters")
    return QuotaStore(session_folder(home, token), quota)
