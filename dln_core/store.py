"""Embedded on-disk run store: save, list, load, delete and export runs (no server, no database).

Layout (format version 1)::

    <home>/runs/<run_id>/meta.json        kind, name, created, config (RunConfig.to_flat()), summary,
                                          provenance (dln_core.provenance), and one entry per file
                                          (file name, bytes, sha256)
    <home>/runs/<run_id>/<frame>.parquet  one file per named DataFrame (history, modes, ...)
    <home>/runs/<run_id>/<array>.npy      optional arrays (a train run's final weights)

``home`` is the ``DLN_LAB_HOME`` environment variable, default ``~/.dln_lab``.

Writes are atomic: a run is assembled in a hidden temporary directory next to its final place, every
file and the directory are fsynced, and only then is the directory renamed into place. A crash
mid-write therefore leaves a hidden ``.tmp-*`` directory that listing ignores (and removes once it is
stale), never a half entry that looks complete. A corrupt entry (bad JSON; a missing, truncated or
garbled file) is reported in :attr:`RunStore.problems` (and ``list().attrs["problems"]``, and a
``logging`` warning) and skipped; it never breaks listing.

The stored history frame is the engine's (``frames.HISTORY_COLUMNS``: step, t = lr·step per THEORY
§1, loss ½‖·‖², mode_i, theory_i, ...); the store never recomputes anything, it only keeps frames.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import hashlib
import io
import json
import logging
import os
import re
import secrets
import shutil
import time
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from . import provenance
from ._io import atomic_write_bytes, atomic_write_csv, default_home, fsync_dir, probe_writable, to_jsonable
from .result import FRAME_NAMES
from .stored import (
    CorruptRunError,
    RunNotFoundError,
    StoredRun,
    StoreError,
    compact_halfway,
    export_stored,
    runs_table,
)

log = logging.getLogger(__name__)

FORMAT_VERSION = 1
KINDS = ("train", "sweep", "embed")
META_FILE = "meta.json"
# a leftover temp dir older than this is from a dead writer and may be removed
STALE_SECONDS = 600.0

_ID_RE = re.compile(r"^[0-9A-Za-z][0-9A-Za-z_-]{0,63}$")
_NAME_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,63}$")  # frame / array names become file names


# ---------------------------------------------------------------- helpers


def _write_bytes(path: Path, data: bytes) -> dict:
    with open(path, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    return {"file": path.name, "bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()}


def new_run_id(now: _dt.datetime | None = None) -> str:
    """Short, sortable, unique: UTC time to the millisecond + 4 random hex digits.

    e.g. ``20261129-081347123-a1b2``; ids sort in creation order (to the ms), and the random suffix
    keeps two processes saving in the same millisecond apart.
    """
    now = now or _dt.datetime.now(_dt.UTC)
    return f"{now:%Y%m%d-%H%M%S}{now.microsecond // 1000:03d}-{secrets.token_hex(2)}"


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _has_parquet_magic(path: Path, size: int) -> bool:
    # a parquet file starts and ends with b"PAR1": catches most garbling without parsing the file
    if size < 8:
        return False
    with open(path, "rb") as fh:
        head = fh.read(4)
        fh.seek(-4, os.SEEK_END)
        return head == b"PAR1" and fh.read(4) == b"PAR1"


def _result_parts(run: Any) -> tuple[dict[str, pd.DataFrame], dict, dict[str, np.ndarray]]:
    """Frames, meta and arrays of a run (a result.Run: a live RunResult or anything with its frames)."""
    frames = {n: run.frame(n) for n in FRAME_NAMES if n in run.frames}
    summary = run.summary
    meta = {
        "config": run.config_flat or None,
        "summary": summary.to_dict() if hasattr(summary, "to_dict") else dict(summary or {}),
    }
    weights = getattr(run, "weights", None) or []
    arrays = {f"W{i + 1}": np.asarray(w) for i, w in enumerate(weights)}
    return frames, meta, arrays


# ---------------------------------------------------------------- the store


def _check_meta_types(name: str, meta: dict) -> None:
    """Valid JSON is not enough: a field of the wrong type would break listing later (the table parses
    ``created`` as a time), so an ill-typed meta is a corrupt entry, reported and skipped."""
    try:
        _dt.datetime.fromisoformat(meta["created"])
    except ValueError:
        raise CorruptRunError(f"{name}: meta 'created' is not an ISO time ({meta['created']!r})") from None
    if meta.get("name") is not None and not isinstance(meta["name"], str):
        raise CorruptRunError(f"{name}: meta 'name' is not text")
    for key in ("config", "summary"):
        if meta.get(key) is not None and not isinstance(meta[key], dict):
            raise CorruptRunError(f"{name}: meta '{key}' is not an object")


class RunStore:
    """The run store rooted at ``home`` (default: :func:`default_home`), runs under ``home/runs``."""

    def __init__(self, home: str | os.PathLike | None = None) -> None:
        self.home = Path(home).expanduser() if home is not None else default_home()
        self.root = self.home / "runs"
        self.problems: list[str] = []  # filled by list(): one message per skipped entry

    # -- writing

    def check_writable(self) -> None:
        """Create the runs folder if needed and check a run could be written there (OSError if not).

        Cheap; callers use it before a long computation so a bad ``DLN_LAB_HOME`` fails first."""
        self._check_root()
        self.root.mkdir(parents=True, exist_ok=True)
        probe_writable(self.root)

    def save(
        self, result_or_frames: Any, kind: str = "train", name: str | None = None, meta: Mapping | None = None
    ) -> str:
        """Save a run (a ``result.Run``: a RunResult — all its frames, config, summary, final weights) or a dict
        of DataFrames; returns the new run id. ``meta`` adds/overrides meta keys (e.g. config)."""
        if isinstance(result_or_frames, Mapping):
            frames, base, arrays = dict(result_or_frames), {}, {}
        else:
            frames, base, arrays = _result_parts(result_or_frames)
        base.update(meta or {})
        if name is not None:
            base["name"] = name
        return self.save_frames(frames, base, kind=kind, arrays=arrays)

    def save_frames(
        self,
        frames: Mapping[str, pd.DataFrame],
        meta: Mapping | None = None,
        kind: str = "train",
        arrays: Mapping[str, np.ndarray] | None = None,
    ) -> str:
        """The primitive: write named frames (+ optional arrays) and a meta dict atomically."""
        if kind not in KINDS:
            raise ValueError(f"kind: must be one of {', '.join(KINDS)}, got {kind!r}")
        for label, names in (("frame", frames), ("array", arrays or {})):
            for n in names:
                if not _NAME_RE.match(str(n)):
                    raise ValueError(
                        f"{label} name: letters, digits and _ (starting with a letter), got {n!r}"
                    )
        for n, df in frames.items():
            if not isinstance(df, pd.DataFrame):
                raise TypeError(f"frame {n!r} is a {type(df).__name__}, not a DataFrame")
        self._check_root()
        self.root.mkdir(parents=True, exist_ok=True)
        for _attempt in range(8):  # a clash needs the same ms and the same 16 random bits
            run_id = new_run_id()
            try:
                self._write_entry(run_id, frames, dict(meta or {}), kind, dict(arrays or {}))
                return run_id
            except FileExistsError:
                continue
        raise StoreError("could not find a free run id")

    def _write_entry(
        self,
        run_id: str,
        frames: Mapping[str, pd.DataFrame],
        meta: dict,
        kind: str,
        arrays: Mapping[str, np.ndarray],
    ) -> None:
        final = self.root / run_id
        if final.exists():
            raise FileExistsError(final)
        tmp = self.root / f".tmp-{run_id}-{secrets.token_hex(4)}"
        tmp.mkdir()
        try:
            frame_entries = {}
            for n, df in frames.items():
                buf = io.BytesIO()
                df.to_parquet(buf, engine="pyarrow")
                frame_entries[n] = _write_bytes(tmp / f"{n}.parquet", buf.getvalue())
            array_entries = {}
            for n, arr in arrays.items():
                buf = io.BytesIO()
                np.save(buf, np.asarray(arr), allow_pickle=False)
                array_entries[n] = _write_bytes(tmp / f"{n}.npy", buf.getvalue())
            if "provenance" not in meta:  # versions, backend, device, dtype, threads, git (provenance.py)
                meta["provenance"] = provenance.from_meta(meta, kind)
            meta = to_jsonable(meta)
            meta.update(
                format_version=FORMAT_VERSION,
                run_id=run_id,
                kind=kind,
                name=meta.get("name"),
                created=_dt.datetime.now(_dt.UTC).isoformat(timespec="microseconds"),
                frames=frame_entries,
                arrays=array_entries,
            )
            # meta.json last: inside the temp dir it is the marker that every other file is complete
            _write_bytes(tmp / META_FILE, json.dumps(meta, indent=1, allow_nan=False).encode())
            fsync_dir(tmp)
            # rename fails (ENOTEMPTY/EEXIST) rather than overwrite if the id was taken meanwhile
            try:
                os.rename(tmp, final)
            except OSError as exc:
                if final.exists():
                    raise FileExistsError(final) from exc
                raise
            fsync_dir(self.root)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise

    def delete(self, run_id: str) -> None:
        """Remove a run. It disappears atomically (renamed aside first, then removed)."""
        path = self._path(run_id)
        if not path.is_dir():
            raise RunNotFoundError(f"no run {run_id!r} in {self.root}")
        trash = self.root / f".trash-{run_id}-{secrets.token_hex(4)}"
        os.rename(path, trash)
        shutil.rmtree(trash, ignore_errors=True)

    # -- reading

    def _path(self, run_id: str) -> Path:
        # ids become directory names: refuse anything that could escape the runs directory
        if isinstance(run_id, str) and _ID_RE.match(run_id):
            return self.root / run_id
        # a folder with another name (copied or renamed by hand) is listed under its name, so it must
        # be loadable and deletable too: only a plain, visible child folder, never a path
        if (isinstance(run_id, str) and run_id not in ("", ".", "..") and not run_id.startswith(".")
                and not any(c in run_id for c in ("/", "\\", "\0")) and (self.root / run_id).is_dir()):
            return self.root / run_id
        raise RunNotFoundError(f"not a run id: {run_id!r}")

    def _check_root(self) -> None:
        """A ``runs`` file where the folder should be is an error, not an empty store."""
        if self.root.exists() and not self.root.is_dir():
            raise StoreError(f"{self.root} is not a folder; move it away or set DLN_LAB_HOME to another place")

    def _read_meta(self, path: Path, verify: bool = False) -> dict:
        """Parse and check one entry's meta.json and that its files are present and complete.

        Raises CorruptRunError with a one-line reason. Cheap by default: sizes and the parquet magic
        bytes at both ends; ``verify=True`` also checks every file's sha256 (load() always does).
        """
        try:
            meta = json.loads((path / META_FILE).read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise CorruptRunError(f"{path.name}: missing {META_FILE}") from None
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise CorruptRunError(f"{path.name}: unreadable {META_FILE} ({exc})") from None
        if not isinstance(meta, dict):
            raise CorruptRunError(f"{path.name}: {META_FILE} is not a JSON object")
        version = meta.get("format_version")
        if not isinstance(version, int) or version > FORMAT_VERSION:
            raise CorruptRunError(f"{path.name}: unsupported format_version {version!r}")
        if meta.get("kind") not in KINDS or not isinstance(meta.get("created"), str):
            raise CorruptRunError(f"{path.name}: meta lacks a valid kind/created")
        _check_meta_types(path.name, meta)
        for section in ("frames", "arrays"):
            entries = meta.get(section, {})
            if not isinstance(entries, dict):
                raise CorruptRunError(f"{path.name}: meta '{section}' is not an object")
            for n, entry in entries.items():
                try:
                    fpath = path / entry["file"]
                    size = fpath.stat().st_size
                except (OSError, KeyError, TypeError):
                    raise CorruptRunError(f"{path.name}: {section[:-1]} {n!r} file missing") from None
                if fpath.parent != path or size != entry.get("bytes"):
                    raise CorruptRunError(f"{path.name}: {section[:-1]} {n!r} file truncated or altered")
                if section == "frames" and not _has_parquet_magic(fpath, size):
                    raise CorruptRunError(f"{path.name}: frame {n!r} is not a parquet file (garbled)")
                if verify and _sha256(fpath) != entry.get("sha256"):
                    raise CorruptRunError(
                        f"{path.name}: {section[:-1]} {n!r} fails its checksum (garbled file)"
                    )
        meta["run_id"] = path.name  # the directory name is the id, whatever the JSON says
        return meta

    def _clean_stale(self) -> None:
        now = time.time()
        for p in self.root.iterdir():
            if not p.name.startswith((".tmp-", ".trash-")):
                continue
            with contextlib.suppress(OSError):
                if p.name.startswith(".trash-") or now - p.stat().st_mtime > STALE_SECONDS:
                    shutil.rmtree(p, ignore_errors=True)

    def entries(self, verify: bool = False) -> list[dict]:
        """Meta dicts of all complete, readable runs (newest first); fills :attr:`problems`.

        ``verify=True`` also checksums every file (slower; reads all the data)."""
        self.problems = []
        self._check_root()
        if not self.root.is_dir():
            return []
        self._clean_stale()
        metas = []
        for p in sorted(self.root.iterdir(), reverse=True):
            if p.name.startswith(".") or not p.is_dir():
                continue  # in-progress / interrupted writes and stray files are not runs
            try:
                metas.append(self._read_meta(p, verify))
            except CorruptRunError as exc:
                if not p.exists():
                    continue  # deleted by another process while we listed: not a problem
                self.problems.append(str(exc))
                log.warning("run store: skipping corrupt entry %s", exc)
        metas.sort(key=lambda m: (m["created"], m["run_id"]), reverse=True)
        return metas

    def list(self, verify: bool = False) -> pd.DataFrame:
        """One row per run, newest first (:meth:`table` of :meth:`entries`).

        Corrupt entries are skipped; their messages are in ``self.problems`` and ``df.attrs["problems"]``.
        ``verify=True`` checksums every file too (see :meth:`entries`).
        """
        df = self.table(self.entries(verify))
        df.attrs["problems"] = list(self.problems)
        return df

    table = staticmethod(runs_table)

    def load(self, run_id: str, frames: Iterable[str] | None = None) -> StoredRun:
        """Read a run back (all frames, or only the named ones). Verifies checksums.

        RunNotFoundError if there is no such run; CorruptRunError if it cannot be read.
        """
        path = self._path(run_id)
        if not path.is_dir():
            raise RunNotFoundError(f"no run {run_id!r} in {self.root}")
        try:
            return self._load(path, run_id, frames)
        except (FileNotFoundError, CorruptRunError) as exc:
            if not path.is_dir():  # deleted by another process meanwhile
                raise RunNotFoundError(f"no run {run_id!r} in {self.root}") from None
            if isinstance(exc, FileNotFoundError):
                raise CorruptRunError(f"{run_id}: file missing ({exc.filename})") from None
            raise

    def _load(self, path: Path, run_id: str, frames: Iterable[str] | None) -> StoredRun:
        meta = self._read_meta(path)
        wanted = list(meta["frames"]) if frames is None else list(frames)
        out = StoredRun(run_id=run_id, meta=meta)
        for n in wanted:
            entry = meta["frames"].get(n)
            if entry is None:
                raise KeyError(f"run {run_id} has no frame {n!r}; it has {sorted(meta['frames'])}")
            data = self._verified_bytes(path, n, entry)
            try:
                out.frames[n] = pd.read_parquet(io.BytesIO(data), engine="pyarrow")
            except Exception as exc:  # checksum ok but unreadable: written by an incompatible library
                raise CorruptRunError(f"{path.name}: frame {n!r} unreadable ({exc})") from None
        for n, entry in meta["arrays"].items():
            try:  # never unpickle: an object array planted in the store is a corrupt entry, not code to run
                out.arrays[n] = np.load(io.BytesIO(self._verified_bytes(path, n, entry)), allow_pickle=False)
            except ValueError as exc:
                raise CorruptRunError(f"{path.name}: array {n!r} unreadable ({exc})") from None
        return out

    @staticmethod
    def _verified_bytes(path: Path, name: str, entry: dict) -> bytes:
        data = (path / entry["file"]).read_bytes()
        if hashlib.sha256(data).hexdigest() != entry.get("sha256"):
            raise CorruptRunError(f"{path.name}: {name!r} fails its checksum (garbled file)")
        return data

    # -- export

    def export_frame(self, run_ids: Iterable[str], frame: str = "history") -> pd.DataFrame:
        """Tidy export: one row per run × snapshot (rows of ``frame``).

        Same layout as :func:`dln_core.frames.export_frame` (run_id first, the frame's columns, the
        flat config columns, diverged), built from the stored frames and meta, plus ``kind`` and
        ``name`` right after ``run_id`` so a CSV of mixed runs stays self-describing.
        """
        return export_stored([self.load(rid, frames=[frame]) for rid in run_ids], frame)

    def export_csv(self, run_ids: Iterable[str], frame: str = "history") -> str:
        """:meth:`export_frame` as CSV text (full float precision)."""
        return self.export_frame(run_ids, frame).to_csv(index=False)


# the file helpers live in dln_core._io; the store names them for the CLIs that still import them from here
__all__ = ["CorruptRunError", "RunNotFoundError", "RunStore", "StoreError", "StoredRun", "atomic_write_bytes",
           "atomic_write_csv", "compact_halfway", "export_stored", "probe_writable", "to_jsonable"]
