"""Exact embedding GD in the eigenbasis of M* (THEORY.md §7), and its on-disk cache.

GD on ℓ = ¼‖M* − W Wᵀ‖²_F is equivariant under W → QᵀW for orthogonal Q: with M* = Q Λ Qᵀ (all V
eigenpairs) and Z = QᵀW, the step W ← W + η (M* − W Wᵀ) W becomes

    Z ← Z + η (Λ Z − Z (ZᵀZ)),        since WᵀW = ZᵀZ,

row i scaled by 1 + ηλ_i and then corrected by the d × d Gram matrix. That is the same iteration,
not an approximation: one eigendecomposition (O(V³), cached on disk), then each step costs O(V·d²)
instead of the dense O(V²·d). Everything the loop records is cheap in this basis too:
- mode strengths u_k = ‖v_kᵀW‖² = ‖z_k‖² (row k of Z, for the top-d eigenvectors);
- the loss ¼(‖M*‖²_F − 2 Σ_i λ_i ‖z_i‖² + ‖ZᵀZ‖²_F) (the dense loop's identity, with tr WᵀM*W diagonal);
- W itself is needed only at snapshot steps: W = Q Z, one V × V × d product each (on a second core
  while the loop runs, when there is one);
- the snapshot diagnostics need WᵀW = ZᵀZ (the Gram matrix is rotation invariant): formed from Z in
  float64, d² V flops instead of a float64 copy of W, and exact for the state the loop holds (the
  word-basis Gram of the float32 W differs from it by W's float32 rounding, ~1e-7 relative).

Precision (stated, and tested against the dense loop):
- float64: dsyevd, float64 steps; the trajectory equals dense float64 GD to ~1e-9 relative.
- float32: ssyevd (residual and orthogonality ~1e-6), float32 steps; it agrees with dense float32 GD
  to float32 rounding. (Both float32 loops amplify rounding along the plateaus in the same way: over a
  long run from a tiny init they drift ~10 % from float64 in W while the loss agrees to ~1e-5.)
- The CPU loop flushes subnormals to zero (|x| < 1.2e-38 in float32, 2.2e-308 in float64): at
  V = 5000, d = 100, 1,500 steps the trajectory is bit-for-bit the one without the flush, 10× faster.

Cache: ``$DLN_LAB_HOME/cache/eig_v2_<digest>_V<V>_w<window>_psi<ψ>_<dtype>.npz`` next to the corpus
statistics, keyed by everything M* depends on, evicted with them (cooccurrence.CACHE_MAX_BYTES); a
decomposition larger than half that bound is not written. Format 2 also stores ‖M*‖²_F (the loss
needs it), so a run with a cached decomposition never rebuilds M* or reads the counts. Eigenpairs are kept in LAPACK's ascending
order so that no V × V copy is ever made; the top-d modes are the last d columns.
"""

from __future__ import annotations

import contextlib
import math
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .. import budget
from ..budget import checkpoint
from .model import Spectrum, Trajectory, _positive_strides, frobenius2, resolve_device

EIG_FORMAT = 2  # 2: + frob2 = ‖M*‖²_F (format-1 files are recomputed once)


@dataclass(frozen=True, eq=False)
class Eigenbasis:
    """All eigenpairs of the symmetric M*, ascending (LAPACK order): M* = Q diag(λ) Qᵀ."""

    values: np.ndarray  # (V,) float64, ascending
    vectors: np.ndarray  # (V, V) orthonormal columns, in ``dtype``
    dtype: str
    frob2: float = math.nan  # ‖M*‖²_F as model.frobenius2 gives it (stored with the cache)

    def top(self, d: int, frob2: float) -> Spectrum:
        """The :class:`Spectrum` of the top-d eigenpairs (descending), as :func:`model.spectrum` gives."""
        idx = np.arange(len(self.values) - 1, len(self.values) - 1 - d, -1)
        return Spectrum(self.values[idx].astype(np.float64), self.vectors[:, idx].astype(np.float64),
                        float(self.values[0]), float(frob2))


def eigendecomposition(M: np.ndarray, dtype: str = "float32", overwrite: bool = False,
                       frob2: float | None = None) -> Eigenbasis:
    """Full eigendecomposition of the symmetric M* in ``dtype`` (divide and conquer, the fastest full
    solver). ``overwrite=True`` lets LAPACK destroy M when it already has that dtype (saves a V × V copy).
    ``frob2`` = ‖M*‖²_F when known (computed here otherwise, before M can be overwritten)."""
    import scipy.linalg

    frob2 = frobenius2(M) if frob2 is None else float(frob2)
    A = np.asarray(M, dtype=np.dtype(dtype))
    w, Q = scipy.linalg.eigh(A, driver="evd", overwrite_a=overwrite or A is not M, check_finite=False)
    return Eigenbasis(np.asarray(w, dtype=np.float64), Q, dtype, frob2)


def predicted_costs(V: int, d: int, steps: int, n_snapshots: int, dtype: str, cached: bool) -> dict[str, float]:
    """Flop-equivalents of the dense loop and of the eigenbasis route (decomposition unless cached,
    rotated steps, one V × V × d product per snapshot and one for Z₀): the spectrum-and-training
    stages of the one cost model, budget.embed_counts."""
    dense = budget.embed_counts(V, d, steps, n_snapshots, "dense", dtype, cached)
    eig = budget.embed_counts(V, d, steps, n_snapshots, "eigenbasis", dtype, cached)
    return {"dense": dense["train"], "eigenbasis": eig["eigh"] + eig["train"]}


def choose_method(method: str, V: int, d: int, steps: int, n_snapshots: int, dtype: str, cached: bool) -> str:
    """``method`` unless "auto"; then the route with the smaller predicted cost (budget.embed_route)."""
    return budget.embed_route(method, V, d, steps, n_snapshots, dtype, cached)


# --------------------------------------------------------------------------------------- the loop


def train_gd_eigenbasis(
    basis: Eigenbasis,
    W0: np.ndarray,
    lr: float,
    steps: int,
    snapshot_steps: np.ndarray,
    frob2: float,
    device: str = "auto",
    dtype: str = "float32",
    progress: Callable[[float], None] | None = None,
    snapshot_dtype: str = "float32",
) -> Trajectory:
    """:func:`model.train_gd` computed in the eigenbasis (module docstring): the same Trajectory, with
    mode strengths along the top-d = W0.shape[1] eigenvectors of ``basis``."""
    import torch

    dev = resolve_device(device)
    tdt = torch.float32 if dtype == "float32" else torch.float64
    t0 = time.perf_counter()
    threads = torch.get_num_threads()
    if dev.type == "cpu":  # one thread: see the flush below (worker threads keep subnormals)
        torch.set_num_threads(1)
    # Rows of Z along eigenvalues with |1 + ηλ_i| < 1 decay geometrically and reach float32's subnormal
    # range (< 1.2e-38) after a few hundred steps; x86 then takes a microcode assist per operation
    # (V = 5000, d = 100, 1,500 steps: 66 s instead of 6 s). Flushing them to zero changes nothing
    # above 1e-38 in absolute value: far below the float32 rounding of every recorded quantity.
    # torch sets the flush on the calling thread only (its intra-op workers keep subnormals: 40 s on
    # two threads), so the CPU loop runs on this one thread; its products are thin (d × V) anyway.
    flush = dev.type == "cpu" and torch.set_flush_denormal(True)
    try:
        with torch.no_grad():
            Q = torch.as_tensor(_positive_strides(basis.vectors), device=dev).to(tdt)
            lam = torch.as_tensor(basis.values, dtype=tdt, device=dev)
            return _rotated_loop(Q, lam, W0, lr, steps, snapshot_steps, float(frob2), dev, tdt, progress, t0,
                                 threads, getattr(torch, snapshot_dtype))
    finally:
        if flush:
            torch.set_flush_denormal(False)  # torch's default: leave the process as it was
        torch.set_num_threads(threads)


def _rotated_loop(Q, lam, W0, lr, steps, snapshot_steps, frob2, dev, tdt, progress, t0, threads, sdt) -> Trajectory:
    import torch

    d = W0.shape[1]
    with _threads(threads):  # the one V × V × d product is large: all threads
        # the loop keeps X = Zᵀ = WᵀQ (d × V), the layout of the dense loop
        X = (torch.as_tensor(_positive_strides(W0), dtype=tdt, device=dev).T @ Q).contiguous()
    snap = set(int(s) for s in snapshot_steps)
    losses = np.full(steps + 1, np.nan)
    modes = np.full((steps + 1, d), np.nan)
    kept: list[tuple[int, object]] = []  # (step, X) at snapshot steps; mapped back to W = Q Z below
    # each snapshot is mapped back on its own, by one torch thread, with subnormals kept (the same bits
    # whichever thread maps it); the CPU loop holds one core, so a second one (if any) maps them meanwhile
    mapper = _SnapshotMapper(Q, sdt, background=dev.type == "cpu" and threads > 1)
    try:
        k, diverged = _steps(X, lam, lr, steps, snap, frob2, losses, modes, kept, mapper, progress)
    except BaseException:
        mapper.abort()  # cancelled (checkpoint raised) or failed: the worker never outlives the call
        raise
    if dev.type == "cpu":
        torch.set_flush_denormal(False)  # the loop is over; mapping keeps subnormals, as on the worker
    done = mapper.finish()  # this thread joins in for what is left
    snapshots = [done[i][0] for i in range(len(kept))]
    grams = [done[i][1] for i in range(len(kept))]
    if progress is not None:
        progress(1.0)
    return Trajectory(
        loss=losses,
        modes=modes,
        snapshot_steps=np.asarray([s for s, _ in kept], dtype=np.int64),
        snapshots=snapshots,
        steps_run=k,
        diverged_step=diverged,
        wall_time_s=time.perf_counter() - t0,
        device=dev.type,
        grams=grams,
    )


def _gram(X) -> np.ndarray:
    """WᵀW = ZᵀZ in float64 from X = Zᵀ (module docstring)."""
    import torch

    Xd = X.to(torch.float64)
    return (Xd @ Xd.T).cpu().numpy()


def _steps(X, lam, lr, steps, snap, frob2, losses, modes, kept, mapper, progress) -> tuple[int, int | None]:
    """The rotated GD steps (in place on X; fills losses, modes, kept). Returns (last step, diverged step)."""
    import torch

    V, d = X.shape[1], X.shape[0]
    diverged = None
    k = 0
    for k in range(steps + 1):
        G = X @ X.T  # ZᵀZ = WᵀW
        P = X * lam  # (ΛZ)ᵀ
        # loss from the step's own products: tr(WᵀM*W) = Σ_i λ_i ‖z_i‖² = ⟨ΛZ, Z⟩
        loss = 0.25 * (frob2 - 2.0 * float(torch.dot(P.view(-1), X.view(-1))) + float(torch.dot(G.view(-1), G.view(-1))))
        losses[k] = loss
        top = X[:, V - d :]  # the top-d eigenvectors are the last d (ascending order), reversed below
        modes[k] = torch.sum(top * top, dim=0).cpu().numpy()[::-1]  # u_k = ‖v_kᵀW‖² = ‖z_k‖²
        if not math.isfinite(loss) or loss > 1e30:
            diverged = k
            losses[k] = np.nan
            break
        if k in snap:
            kept.append((k, X.clone()))
            mapper.put(len(kept) - 1, kept[-1][1])
        if k == steps:
            break
        X.add_(torch.addmm(P, G, X, alpha=-1.0), alpha=lr)  # Z ← Z + η (ΛZ − Z ZᵀZ), transposed
        if k % 20 == 0:
            checkpoint()  # the requester left or asked for something else: stop here (as the dense loop)
            if progress is not None:
                progress(k / steps)
    return k, diverged


class _SnapshotMapper:
    """W = Q Z and WᵀW for the snapshots the loop hands over: on a worker thread while the loop runs
    (torch's matmul releases the GIL), then on the calling thread too until none is left.

    Deterministic by construction: every snapshot goes through the same calls, one (V × V)·(V × d)
    product and one d × V × d float64 Gram, at one torch thread (the loop's setting) and without the
    subnormal flush, whichever thread takes it. At V = 5000, d = 100 this also equals, bit for bit, the
    batched multi-threaded map-back after the loop that it replaces (checked on the CLI's run).
    """

    def __init__(self, Q, sdt, background: bool):
        import queue
        import threading

        self.Q, self.sdt = Q, sdt
        self.todo: queue.SimpleQueue = queue.SimpleQueue()
        self.done: dict[int, tuple[np.ndarray, np.ndarray]] = {}  # i → (W, WᵀW)
        self.error: BaseException | None = None
        self.halt = threading.Event()
        self.thread = threading.Thread(target=self._work, name="dln-map-back", daemon=True) if background else None
        if self.thread is not None:
            self.thread.start()

    def put(self, i: int, X) -> None:
        self.todo.put((i, X))

    def _one(self, item) -> None:
        i, X = item
        self.done[i] = (_map_back(self.Q, X, self.sdt), _gram(X))

    def _work(self) -> None:
        try:
            while not self.halt.is_set():
                item = self.todo.get()
                if item is None:
                    return
                self._one(item)
        except BaseException as e:  # re-raised on the loop's thread by finish()
            self.error = e

    def _drain(self) -> None:
        import queue

        while True:
            try:
                item = self.todo.get_nowait()
            except queue.Empty:
                return
            if item is not None:
                self._one(item)

    def finish(self) -> dict[int, tuple[np.ndarray, np.ndarray]]:
        """Map what is left (with the worker, if any), stop the worker; i → (W, WᵀW) for every snapshot."""
        self._drain()
        self._join()
        return self.done

    def abort(self) -> None:
        """Stop the worker; its own error (if any) is dropped: the caller's exception (a cancellation,
        say) is the one to report."""
        self.halt.set()
        self._join(raise_error=False)

    def _join(self, raise_error: bool = True) -> None:
        if self.thread is not None:
            self.todo.put(None)
            self.thread.join()
            self.thread = None
        if raise_error and self.error is not None:
            raise self.error


def _map_back(Q, X, sdt) -> np.ndarray:
    """W = Q Z for one kept X = Zᵀ, stored as ``sdt``."""
    return (Q @ X.T.contiguous()).to("cpu", sdt).numpy()


@contextlib.contextmanager
def _threads(n: int):
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


# --------------------------------------------------------------------------------------- disk cache


def cache_path(folder: Path, digest: str, V: int, window: int, psi: float, dtype: str) -> Path:
    return folder / f"eig_v{EIG_FORMAT}_{digest}_V{V}_w{window}_psi{float(psi)!r}_{dtype}.npz"


def load_cached(path: Path, digest: str, V: int, dtype: str) -> Eigenbasis | None:
    """The cached decomposition, or None when missing, foreign or unreadable (then it is recomputed)."""
    try:
        with np.load(path, allow_pickle=False) as z:
            ok = (int(z["format"]) == EIG_FORMAT and str(z["digest"]) == digest and int(z["V"]) == V
                  and str(z["dtype"]) == dtype)
            if not ok:
                return None
            values, vectors, frob2 = z["values"], z["vectors"], float(z["frob2"])
        if values.shape != (V,) or vectors.shape != (V, V) or vectors.dtype != np.dtype(dtype):
            return None
    except Exception:
        return None
    with contextlib.suppress(OSError):  # recently used, for the size-bounded eviction
        os.utime(path)
    return Eigenbasis(values, vectors, dtype, frob2)


def save_cached(path: Path, basis: Eigenbasis, digest: str, max_bytes: int) -> bool:
    """Write atomically (temp file, rename) unless larger than ``max_bytes / 2``. True if written."""
    if basis.vectors.nbytes > max_bytes // 2 or not math.isfinite(basis.frob2):
        return False
    tmp = path.with_name(f".{path.name}.{os.getpid()}.part")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(tmp, "wb") as fh:  # streamed: no in-memory copy of the V × V matrix
            np.savez(fh, values=basis.values, vectors=basis.vectors, format=EIG_FORMAT, digest=digest,
                     V=len(basis.values), dtype=basis.dtype, frob2=basis.frob2)
        os.replace(tmp, path)
    except OSError:
        with contextlib.suppress(OSError):
            tmp.unlink()
        return False
    return True
