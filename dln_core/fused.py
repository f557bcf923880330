"""A fused GD step kernel for many small networks (numba): the numpy stepper's program, member by member.

The numpy stepper spends most of a d = 6 step in the overhead of ~4L stacked-matmul calls on tiny
matrices. Here one compiled loop runs all n steps of one member with its matrices in cache, and the
members are spread over the cores (``prange``). Same arithmetic as the numpy stepper (THEORY.md §1:
prefix products P_l = W_l … W_1, E = η(W Σxx − Σyx), then from the top back = W_lᵀE with the old W_l,
W_l −= E P_{l−1}ᵀ), in float64 by default; only the order of the additions inside each small product
can differ, so trajectories agree with the numpy stepper to ~1e-15 per step (tested to 1e-12).

The kernel is generated for one network shape (layer sizes, Σxx = I or not, diagonal U*, V* or not),
so every loop bound is a compile-time constant that LLVM unrolls; compiled kernels are cached per
shape in memory (and by numba on disk, keyed by the generated source). Each entry of a small product
is summed in a register (not accumulated in the block's arrays), with the same additions in the same
order, so the same bits: the parallel kernel 1.7–1.9x faster for it (~13 M network-steps/s at d = 6,
L = 3, ~40 % of the float64 GEMM roof: benchmarks/bench_sweep_cli.py), the serial one ~1.5x more from
computing a row's entries side by side (~3 M network-steps/s on one core).
"""

from __future__ import annotations

import functools
import hashlib
import importlib.util
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

PARALLEL = True


def available() -> bool:
    return importlib.util.find_spec("numba") is not None


BLOCK = 64  # members per SIMD block: the member axis is innermost, so each scalar op becomes a vector op


def serial_for(batch: int) -> bool:
    """Whether a batch of this size runs the serial variant: below two SIMD blocks the parallel
    kernel's per-call thread hand-off dominates (measured 8 ms a call on a loaded 2-core machine,
    400 us per step at B = 1), while the serial one-member-at-a-time loop takes ~0.5 us per
    network-step at d = 6, L = 3 (benchmarks/bench_engine.py --rule)."""
    return batch < 2 * BLOCK


def _source(dims: tuple[int, ...], r: int, diag: bool, use_sxx: bool, serial: bool = False) -> str:
    """Python source of ``advance(Ws..., lr, syx, sxx, UT, VT, umax, n)`` for one shape.

    Members are processed in blocks of BLOCK, with their matrices transposed to (rows, cols, member)
    so that the innermost loop runs over members (contiguous, vectorised); each block does all n steps
    before the next starts, and blocks are spread over the cores. ``serial``: blocks of one member
    (a compile-time 1, so the member loops vanish) on the calling thread. Per member the arithmetic
    is the same in both variants, operation for operation."""
    L = len(dims) - 1
    n_in, n_out = dims[0], dims[L]
    ws = ", ".join(f"W{li}" for li in range(L))
    o = []
    a = o.append

    def row(J: int, K: int, shared: str, other: str, store: str) -> None:
        """Row i of a small product, entries j = 0 … J−1, for every member of the block; ``other`` and
        ``store`` are formatted with j (and acc, the sum's name). Each entry is one sum in a register,
        0 + term_0 + term_1 + … with k ascending (the order of a plain loop), so both forms below give
        the same bits. Serial: the J sums run side by side and share the load of ``shared`` (1.6x at
        d = 6). Parallel: one entry at a time over the member vector, which LLVM vectorises (the
        side-by-side form does not vectorise there: 3x slower)."""
        if serial:
            a("                for m in range(nb):")
            for j in range(J):
                a(f"                    acc{j} = 0.0")
            a(f"                    for k in range({K}):")
            a(f"                        x = {shared}")
            for j in range(J):
                a(f"                        acc{j} += x * {other.format(j=j)}")
            for j in range(J):
                a(f"                    {store.format(j=j, acc=f'acc{j}')}")
            return
        for j in range(J):
            a("                for m in range(nb):")
            a("                    acc = 0.0")
            a(f"                    for k in range({K}):")
            a(f"                        acc += {shared} * {other.format(j=j)}")
            a(f"                    {store.format(j=j, acc='acc')}")

    a("import numpy as np")
    a("import numba")
    a(f"@numba.njit(parallel={PARALLEL and not serial}, cache=True, fastmath=False, nogil=True)")
    a(f"def advance({ws}, lr, syx, sxx, UT, VT, umax, n):")
    a("    B = W0.shape[0]")
    if serial:
        a("    for blk in range(B):")
        a("        b0 = blk")
        a("        nb = 1")
    else:
        a(f"    for blk in numba.prange((B + {BLOCK} - 1) // {BLOCK}):")
        a(f"        b0 = blk * {BLOCK}")
        a(f"        nb = min({BLOCK}, B - b0)")
    for li in range(L):  # local transposed copies (rows, cols, member)
        a(f"        w{li} = np.empty(({dims[li + 1]}, {dims[li]}, nb))")
        a(f"        for i in range({dims[li + 1]}):")
        a(f"            for j in range({dims[li]}):")
        a("                for m in range(nb):")
        a(f"                    w{li}[i, j, m] = W{li}[b0 + m, i, j]")
    for li in range(1, L):
        a(f"        P{li} = np.empty(({dims[li + 1]}, {n_in}, nb))")
    a(f"        E = np.empty(({max(dims[1:])}, {n_in}, nb))")
    a(f"        F = np.empty(({max(dims[1:])}, {n_in}, nb))")
    a("        eta = np.empty(nb)")
    a(f"        um = np.empty(({r}, nb))")
    a("        u = np.empty(nb)")
    a("        for m in range(nb):")
    a("            eta[m] = lr[b0 + m]")
    a(f"            for q in range({r}):")
    a("                um[q, m] = umax[b0 + m, q]")
    a("        for _ in range(n):")
    prev = "w0"
    for li in range(1, L):  # P_l = W_l P_{l-1}
        a(f"            for i in range({dims[li + 1]}):")
        row(n_in, dims[li], f"w{li}[i, k, m]", prev + "[k, {j}, m]", f"P{li}" + "[i, {j}, m] = {acc}")
        prev = f"P{li}"
    Wend = prev
    # running maximum of u_q = u*_qᵀ W v*_q (NaN propagates, as np.maximum does)
    a(f"            for q in range({r}):")
    if diag:
        a("                for m in range(nb):")
        a(f"                    u[m] = {Wend}[q, q, m]")
    else:
        # the numpy stepper's order: (U*ᵀW)_qj first, then the sum over j with v*_qj
        a("                for m in range(nb):")
        a("                    acc_u = 0.0")
        a(f"                    for j in range({n_in}):")
        a("                        acc = 0.0")
        a(f"                        for i in range({n_out}):")
        a(f"                            acc += UT[q, i] * {Wend}[i, j, m]")
        a("                        acc_u += acc * VT[q, j]")
        a("                    u[m] = acc_u")
    a("                for m in range(nb):")
    a("                    x = u[m]")
    a("                    y = um[q, m]")
    a("                    um[q, m] = np.nan if (x != x or y != y) else (x if x > y else y)")
    # E = η (W Σxx − Σyx)
    a(f"            for i in range({n_out}):")
    if use_sxx:
        row(n_in, n_in, f"{Wend}[i, k, m]", "sxx[k, {j}]", "E[i, {j}, m] = ({acc} - syx[i, {j}]) * eta[m]")
    else:
        a(f"                for j in range({n_in}):")
        a("                    for m in range(nb):")
        a(f"                        E[i, j, m] = ({Wend}[i, j, m] - syx[i, j]) * eta[m]")
    cur, other = "E", "F"
    for li in range(L - 1, 0, -1):  # back = W_lᵀ E (old W_l); W_l -= E P_{l-1}ᵀ; E = back
        rows, cols = dims[li + 1], dims[li]
        below = "w0" if li == 1 else f"P{li - 1}"
        a(f"            for i in range({cols}):")
        row(n_in, rows, f"w{li}[k, i, m]", cur + "[k, {j}, m]", other + "[i, {j}, m] = {acc}")
        a(f"            for i in range({rows}):")
        row(cols, n_in, f"{cur}[i, k, m]", below + "[{j}, k, m]", f"w{li}" + "[i, {j}, m] -= {acc}")
        cur, other = other, cur
    a(f"            for i in range({dims[1]}):")
    a(f"                for j in range({n_in}):")
    a("                    for m in range(nb):")
    a(f"                        w0[i, j, m] -= {cur}[i, j, m]")
    for li in range(L):  # copy back
        a(f"        for i in range({dims[li + 1]}):")
        a(f"            for j in range({dims[li]}):")
        a("                for m in range(nb):")
        a(f"                    W{li}[b0 + m, i, j] = w{li}[i, j, m]")
    a("        for m in range(nb):")
    a(f"            for q in range({r}):")
    a("                umax[b0 + m, q] = um[q, m]")
    return "\n".join(o) + "\n"


def _path(dims: tuple[int, ...], r: int, diag: bool, use_sxx: bool, serial: bool = False) -> tuple[str, Path]:
    src = _source(dims, r, diag, use_sxx, serial)
    digest = hashlib.sha1(src.encode()).hexdigest()[:16]
    return src, Path(tempfile.gettempdir()) / "dln_lab_fused" / f"fused_{digest}.py"


_lock = threading.RLock()  # re-entered: compile_async holds it while it asks compiled()
_compiling: set = set()
_loaded: set = set()  # shapes whose kernel has run (so is compiled) in this process


def compiled(dims: tuple[int, ...], r: int, diag: bool, use_sxx: bool, serial: bool = False) -> bool:
    """Whether the kernel for this shape is ready without compiling: loaded in this process, or in
    numba's on-disk cache (compiling one costs ~20–30 s on a loaded 2-core machine, the serial
    variant ~3 s)."""
    key = (tuple(dims), int(r), bool(diag), bool(use_sxx), bool(serial))
    if key in _loaded:
        return True
    if _children:
        with _lock:
            _reap()
    _, path = _path(*key)
    return any(path.parent.glob(f"__pycache__/{path.stem}.advance-*.nbi"))


_children: list = []  # background compile processes (polled, so that finished ones are reaped)
COMPILE_LOCK_STALE_S = 600  # a compile lock older than this (or whose process is gone) is taken over


def _reap() -> None:
    _children[:] = [c for c in _children if c.poll() is None]


def _lock_path(key: tuple) -> Path:
    _, path = _path(*key)
    return path.with_suffix(".compiling")


def _lock_is_live(lock: Path) -> bool:
    """Whether another process holds this shape's compile lock (its pid alive, the lock recent)."""
    try:
        pid = int(lock.read_text().split()[0])
        if time.time() - lock.stat().st_mtime > COMPILE_LOCK_STALE_S:
            return False
        os.kill(pid, 0)  # signal 0: only asks whether the process exists
        return True
    except (OSError, ValueError, IndexError):
        return False


def _take_lock(key: tuple) -> bool:
    """Create this shape's compile lock, or False when a live one exists: across processes (CLI runs,
    dask workers, app servers) only one compiles a shape at a time."""
    lock = _lock_path(key)
    lock.parent.mkdir(parents=True, exist_ok=True)
    for _ in range(2):
        try:
            fd = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
        except FileExistsError:
            if _lock_is_live(lock):
                return False
            lock.unlink(missing_ok=True)  # stale: its compile died; take it over
            continue
        with os.fdopen(fd, "w") as f:
            f.write(f"{os.getpid()}\n")
        return True
    return False


def compile_async(dims: tuple[int, ...], r: int, diag: bool, use_sxx: bool, serial: bool = False) -> None:
    """Compile the kernel for this shape into numba's disk cache, once per process and one process at
    a time (a lock file beside the source), in a detached child process (``python -P fused.py KEY``,
    its errors in ``<source>.log``); :func:`compiled` sees the result on disk.

    Not a thread: a process that exits while a compile thread is inside LLVM crashes on the way out
    (exit status 139 or 134, measured with a short CLI run), and the compile would hold this
    process's GIL for much of its 20–30 s. The child outlives a short-lived parent and finishes."""
    key = (tuple(int(n) for n in dims), int(r), bool(diag), bool(use_sxx), bool(serial))
    with _lock:
        _reap()
        if key in _compiling or key in _loaded or not sys.executable:
            return
        _compiling.add(key)
        try:
            if compiled(*key) or not _take_lock(key):
                return
            lock = _lock_path(key)
            flags = {"creationflags": subprocess.CREATE_NO_WINDOW} if os.name == "nt" else {"start_new_session": True}
            try:
                with open(lock.with_suffix(".log"), "w") as log:
                    # -P: the script's folder (dln_core/) does not shadow top-level modules; own session:
                    # a Ctrl-C of the parent does not kill it
                    child = subprocess.Popen([sys.executable, "-P", str(Path(__file__).resolve()), json.dumps(key)],
                                             stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=log, **flags)
            except BaseException:
                lock.unlink(missing_ok=True)  # no child: nobody compiles it, so nobody holds the lock
                raise
            lock.write_text(f"{child.pid}\n")  # the child holds it now; it removes it when done
            _children.append(child)
        except (OSError, ValueError, TypeError):  # no compile only means the numpy stepper keeps running
            pass


def compile_now(dims: tuple[int, ...], r: int, diag: bool, use_sxx: bool, serial: bool = False) -> None:
    """Compile (and cache on disk) the kernel for this shape in this process: one call with n = 0."""
    key = (tuple(dims), int(r), bool(diag), bool(use_sxx), bool(serial))
    fn = kernel(*key)
    B = 1
    ws = [np.zeros((B, dims[li + 1], dims[li])) for li in range(len(dims) - 1)]
    fn(*ws, np.zeros(B), np.zeros((dims[-1], dims[0])), np.zeros((dims[0], dims[0]) if use_sxx else (1, 1)),
       np.zeros((r, dims[-1])), np.zeros((r, dims[0])), np.zeros((B, r)), 0)
    _loaded.add(key)


@functools.cache
def kernel(dims: tuple[int, ...], r: int, diag: bool, use_sxx: bool, serial: bool = False):
    """The compiled ``advance`` for one shape (numba caches it on disk next to its generated source)."""
    src, path = _path(dims, r, diag, use_sxx, serial)
    folder = path.parent
    folder.mkdir(parents=True, exist_ok=True)
    digest = path.stem.removeprefix("fused_")
    if not path.exists():  # atomic: several worker processes may generate the same shape at once
        tmp = path.with_suffix(f".{os.getpid()}.{threading.get_ident()}.tmp")  # a compile process may race a run
        tmp.write_text(src)
        os.replace(tmp, path)
    name = f"dln_lab_fused_{digest}"
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module.advance


def advance(weights: list[np.ndarray], lr: np.ndarray, syx: np.ndarray, sxx: np.ndarray | None,
            UT: np.ndarray, VT: np.ndarray, diag: bool, umax: np.ndarray, n: int) -> None:
    """n fused GD steps of every member, in place on ``weights`` [(B, n_l, n_{l−1})] and ``umax`` (B, r)."""
    dims = (weights[0].shape[2], *(w.shape[1] for w in weights))
    key = (dims, umax.shape[1], bool(diag), sxx is not None, serial_for(weights[0].shape[0]))
    fn = kernel(*key)
    fn(*weights, lr, syx, sxx if sxx is not None else np.zeros((1, 1), dtype=lr.dtype), UT, VT, umax, int(n))
    _loaded.add(key)


if __name__ == "__main__":  # the child of compile_async: python fused.py '[[dims...], r, diag, use_sxx, serial]'
    _key = json.loads(sys.argv[1])
    try:
        compile_now(tuple(_key[0]), *_key[1:])
    finally:
        _lock_path((tuple(_key[0]), *_key[1:])).unlink(missing_ok=True)
