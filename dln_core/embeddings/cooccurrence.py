"""Windowed co-occurrence statistics and the QWEM target M* (THEORY.md §7).

Counting (reference setting): for every pair of in-vocabulary tokens at distance j ≤ c inside one
document, add the weight c + 1 − j to C[i, j] *and* to C[j, i] (symmetrised; a word paired with
itself adds 2w to the diagonal). P = C / ΣC is the co-occurrence distribution and the unigram P_i is
its marginal ΣP_ij, so that Σ_ij P_i P_j = 1 like Σ_ij P_ij.

Target: M*_ij = 2 (P_ij − ψ P_i P_j) / (P_ij + ψ P_i P_j) ∈ (−2, 2]; never-seen pairs give −2.

Counting is vectorised with ``np.bincount`` and bounded in memory: positions are processed in chunks
and, for large V, the V × V table in row blocks of at most ``max_cells`` cells.
Statistics are cached on disk under ``$DLN_LAB_HOME/cache`` (default ``~/.dln_lab/cache``), keyed by
(corpus digest, V, window); a stale or corrupt cache file is rebuilt, never fatal. Because the ids are
frequency ranks, the counts for V are the top-left block of the counts for any V' ≥ V: a shipped seed
(``data/corpus/<name>_cooc_V<V'>_w<window>.npz``, checked against the corpus digest) serves every
V ≤ V' on a cold start without counting; such requests write no cache file (the seed is as fast).

The cache folder is bounded: after each write the least recently used cache files (mtime; a cache
hit refreshes it) are deleted until the folder holds at most ``CACHE_MAX_BYTES`` (1 GB; one V = 20k
file is ~0.8 GB). Files are written with :func:`dln_core._io.atomic_write_bytes`.
"""

from __future__ import annotations

import contextlib
import io
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .._io import atomic_write_bytes
from ..errors import ConfigError
from .corpus import DATA_DIR, Corpus, check_vocab_size

CACHE_FORMAT = 1
CACHE_MAX_BYTES = 1_000_000_000  # bound on the cache folder's cooc_*.npz files (module docstring)
DEFAULT_WINDOW = 16
SEED_DIR = DATA_DIR / "corpus"  # shipped, read-only statistics (scripts/build_corpus.py --seed-vocab)


@dataclass(frozen=True, eq=False)
class CooccurrenceStats:
    """Symmetric weighted co-occurrence counts C (V × V, float64) for the top-V words."""

    counts: np.ndarray
    vocab: tuple[str, ...]
    window: int
    corpus_digest: str

    @property
    def unigram(self) -> np.ndarray:
        """P_i = Σ_j P_ij (THEORY §7)."""
        total = self.counts.sum()
        return self.counts.sum(axis=1) / total if total > 0 else np.zeros(len(self.vocab))


def check_window(window: int) -> None:
    if not isinstance(window, int | np.integer) or not 1 <= window <= 64:
        raise ConfigError("window", "must be an integer in [1, 64]", window)


def count_cooccurrences(
    ids: np.ndarray,
    vocab_size: int,
    window: int = DEFAULT_WINDOW,
    pad_id: int | None = None,
    chunk: int = 1 << 22,
    max_cells: int = 25_000_000,
) -> np.ndarray:
    """Symmetric weighted co-occurrence counts C (THEORY §7), shape (V, V), float64.

    ``ids``: token ids; ids ≥ ``vocab_size`` never pair; ``pad_id`` (if given) ends a document, so no
    window crosses it. Weight of offset j is ``window + 1 − j``. Memory is bounded by ``chunk``
    positions at a time and, for large V, row blocks of at most ``max_cells`` table cells.
    """
    check_window(window)
    V = int(vocab_size)
    ids = np.asarray(ids)
    x = np.where(ids < V, ids, -1).astype(np.int64)  # -1: never pairs (OOV, pad, beyond V)
    # document index per position: a pair stays inside a document iff both ends share it
    doc = np.cumsum(ids == pad_id, dtype=np.int64) if pad_id is not None else np.zeros(len(ids), dtype=np.int64)
    A = np.zeros((V, V), dtype=np.float64)  # ordered pairs (left, right); C = A + Aᵀ
    rows_per_block = max(1, min(V, max_cells // V))
    n = len(ids)
    for r0 in range(0, V, rows_per_block):
        r1 = min(V, r0 + rows_per_block)
        block = np.zeros((r1 - r0) * V, dtype=np.float64)
        for s in range(0, n, chunk):
            e = min(n, s + chunk)
            for j in range(1, window + 1):
                m = min(e, n - j)
                if m <= s:
                    break
                left, right = x[s:m], x[s + j : m + j]
                ok = (right >= 0) & (doc[s:m] == doc[s + j : m + j])
                ok &= (left >= r0) & (left < r1) if rows_per_block < V else left >= 0
                # integer counts per offset, then one scaled add: ~2x faster than weighted bincount
                counts = np.bincount((left[ok] - r0) * V + right[ok], minlength=block.size)
                block += (window + 1 - j) * counts
        A[r0:r1] = block.reshape(r1 - r0, V)
    return A + A.T


def target_matrix(counts: np.ndarray, psi: float = 1.0, dtype=np.float32) -> np.ndarray:
    """M*_ij = 2 (P_ij − ψ P_i P_j) / (P_ij + ψ P_i P_j) (THEORY §7).

    Rows of words with no co-occurrence at all (P_i = 0; only in tiny user corpora) are set to 0:
    0/0 carries no information.
    """
    if not psi > 0:
        raise ConfigError("psi", "must be a positive number", psi)
    total = counts.sum()
    if not total > 0:
        raise ConfigError("corpus", "has no co-occurring vocabulary words within the window", 0)
    # float32 in place: V × V temporaries dominate memory and time at V = 5k
    P = (counts / total).astype(np.float32)
    p = P.sum(axis=1, dtype=np.float64).astype(np.float32)
    indep = np.outer(p, p)
    indep *= np.float32(psi)
    den = P + indep
    num = P - indep
    del P, indep
    num *= 2.0
    empty = den <= 0
    den[empty] = 1.0
    num /= den
    num[empty] = 0.0
    return num.astype(dtype, copy=False)


# ------------------------------------------------------------------------------------ disk cache


def cache_dir() -> Path:
    return Path(os.environ.get("DLN_LAB_HOME", Path.home() / ".dln_lab")).expanduser() / "cache"


def _cache_path(corpus: Corpus, V: int, window: int) -> Path:
    return cache_dir() / f"cooc_v{CACHE_FORMAT}_{corpus.digest}_V{V}_w{window}.npz"


def _load_cached(path: Path, corpus: Corpus, V: int, window: int) -> np.ndarray | None:
    try:
        with np.load(path, allow_pickle=False) as z:
            upper = z["upper"]
            ok = (
                int(z["format"]) == CACHE_FORMAT
                and str(z["digest"]) == corpus.digest
                and int(z["V"]) == V
                and int(z["window"]) == window
                and upper.shape == (V * (V + 1) // 2,)
            )
        if not ok:
            return None
    except Exception:  # missing, truncated or foreign file: recompute instead
        return None
    with contextlib.suppress(OSError):  # mark as recently used, for the size-bounded eviction
        os.utime(path)
    return _upper_to_full(upper, V)


def _upper_to_full(upper: np.ndarray, V: int) -> np.ndarray:
    C = np.zeros((V, V), dtype=np.float64)
    iu = np.triu_indices(V)
    C[iu] = upper
    C.T[iu] = upper
    return C


def _load_seed(corpus: Corpus, V: int, window: int) -> np.ndarray | None:
    """Counts from a shipped seed with the same corpus digest and window and V' ≥ V, else None."""
    for path in sorted(SEED_DIR.glob(f"*_cooc_V*_w{window}.npz")):
        try:
            with np.load(path, allow_pickle=False) as z:
                if str(z["digest"]) != corpus.digest or int(z["window"]) != window or int(z["V"]) < V:
                    continue
                Vs = int(z["V"])
                upper = z["upper"]
            return np.ascontiguousarray(_upper_to_full(upper, Vs)[:V, :V])
        except Exception:  # an unreadable seed only costs the speed-up
            continue
    return None


def save_seed(path: Path, C: np.ndarray, corpus: Corpus, window: int) -> None:
    """Write a shipped seed (exact integer counts, upper triangle, compressed)."""
    V = C.shape[0]
    upper = C[np.triu_indices(V)]
    if not np.all(upper == np.round(upper)) or upper.max(initial=0) >= 2**32:
        raise ValueError("seed counts must be integers below 2**32")
    np.savez_compressed(path, upper=upper.astype(np.uint32), format=CACHE_FORMAT, digest=corpus.digest, V=V,
                        window=window)


def _save_cached(path: Path, C: np.ndarray, corpus: Corpus, V: int, window: int) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        # counts are sums of small integers: float32 keeps them to 1e-7 relative; upper triangle only
        upper = C[np.triu_indices(V)].astype(np.float32)
        buf = io.BytesIO()
        np.savez(buf, upper=upper, format=CACHE_FORMAT, digest=corpus.digest, V=V, window=window)
        atomic_write_bytes(path, buf.getvalue())  # readers never see a half-written file
    except OSError:
        return  # a read-only disk only costs the speed-up
    evict_cache(path.parent, CACHE_MAX_BYTES, keep=path)


def evict_cache(folder: Path, max_bytes: int, keep: Path | None = None) -> list[Path]:
    """Delete the least recently used ``cooc_*.npz`` files until the rest total ≤ ``max_bytes``
    (``keep``, the file just written, is never deleted). Returns the deleted paths."""
    files = []
    for f in folder.glob("cooc_*.npz"):
        with contextlib.suppress(OSError):  # another process may be evicting too
            st = f.stat()
            files.append((st.st_mtime, st.st_size, f))
    total = sum(size for _, size, _ in files)
    deleted = []
    for _, size, f in sorted(files, key=lambda x: x[0]):
        if total <= max_bytes:
            break
        if keep is not None and f == keep:
            continue
        with contextlib.suppress(OSError):
            f.unlink()
            deleted.append(f)
        total -= size
    return deleted


def corpus_statistics(corpus: Corpus, vocab_size: int, window: int = DEFAULT_WINDOW, use_cache: bool = True) -> CooccurrenceStats:
    """Co-occurrence statistics of the top-``vocab_size`` words, from the disk cache when valid."""
    check_vocab_size(vocab_size, len(corpus.vocab))
    check_window(window)
    V = int(vocab_size)
    path = _cache_path(corpus, V, window)
    C = _load_cached(path, corpus, V, window) if use_cache else None
    if C is None:
        C = _load_seed(corpus, V, window) if use_cache else None
        if C is None:
            C = count_cooccurrences(corpus.ids, V, window, pad_id=corpus.pad_id)
            if use_cache:  # not after a seed hit: the seed serves the next request as fast
                _save_cached(path, C, corpus, V, window)
    return CooccurrenceStats(C, tuple(corpus.vocab[:V]), window, corpus.digest)
