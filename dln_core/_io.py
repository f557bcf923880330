"""File and JSON helpers: atomic writes, strict JSON values, the home folder (``DLN_LAB_HOME``).

Used by the run store, the CLIs' ``--csv`` outputs and the embeddings' co-occurrence cache. A write
goes to a hidden temporary file in the target folder and is renamed into place, so an interrupted
write never leaves a complete-looking partial file.
"""

from __future__ import annotations

import contextlib
import math
import os
import secrets
import stat
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:  # pandas stays unloaded: the CLIs import this module before they parse their flags
    import pandas as pd


def default_home() -> Path:
    """``$DLN_LAB_HOME`` or ``~/.dln_lab``."""
    env = os.environ.get("DLN_LAB_HOME")
    return Path(env).expanduser() if env else Path.home() / ".dln_lab"


def to_jsonable(value: Any) -> Any:
    """numpy scalars/arrays, tuples and Paths -> plain JSON types; non-finite floats -> None.

    None for NaN/inf keeps the meta file strict JSON (readable by any tool, not just Python).
    """
    if isinstance(value, Mapping):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set)):
        return [to_jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return [to_jsonable(v) for v in value.tolist()]
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        f = float(value)
        return f if math.isfinite(f) else None
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, Path):
        return str(value)
    if type(value).__name__ in ("NAType", "NaTType"):  # pandas' missing-value markers (pd.NA, pd.NaT)
        return None
    return str(value)


def fsync_dir(path: Path) -> None:
    # directory fsync makes the rename itself durable; not supported everywhere (e.g. Windows)
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def create_temp(directory: Path, name: str) -> tuple[int, Path]:
    """A new hidden ``.<name>.<random>.part`` file in ``directory``, opened for writing.

    Unlike ``tempfile.mkstemp`` (always mode 0600) the file is created with 0o666, which the kernel
    masks with the process umask: the mode an ordinary ``open()`` would give. O_EXCL refuses to follow
    a planted symlink, as mkstemp does.
    """
    for _attempt in range(16):
        tmp = directory / f".{name}.{secrets.token_hex(4)}.part"
        try:
            return os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666), tmp
        except FileExistsError:
            continue
    raise FileExistsError(f"no free temporary name in {directory}")


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    """Write a single file atomically: temp file in the same directory, fsync, rename over ``path``.

    A new file gets the usual mode (0o666 minus the umask); replacing a file keeps that file's mode.
    An interrupted write leaves at most a hidden ``.<name>.*.part`` file, never a partial ``path``.
    """
    path = Path(path)
    fd, tmp = create_temp(path.parent, path.name)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            with contextlib.suppress(FileNotFoundError):  # replacing: keep the old file's permissions
                os.chmod(tmp, stat.S_IMODE(os.stat(path).st_mode))
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:  # includes KeyboardInterrupt: never leave the temp file behind
        Path(tmp).unlink(missing_ok=True)
        raise
    fsync_dir(path.parent)


def atomic_write_csv(path: str | os.PathLike, frame: pd.DataFrame) -> None:
    """``frame`` as CSV (no index, full float precision) written with :func:`atomic_write_bytes`: an
    interrupted write never leaves a complete-looking partial file. The CLIs' ``--csv`` outputs."""
    atomic_write_bytes(path, frame.to_csv(index=False).encode())


def probe_writable(directory: str | os.PathLike) -> None:
    """Create and remove a temp file in ``directory``: raises OSError now if a later write would fail
    (missing folder, no permission, read-only disk), so callers can check before a long computation."""
    fd, tmp = create_temp(Path(directory), "probe")
    os.close(fd)
    Path(tmp).unlink(missing_ok=True)


__all__ = ["atomic_write_bytes", "atomic_write_csv", "create_temp", "default_home", "fsync_dir",
           "probe_writable", "to_jsonable"]
