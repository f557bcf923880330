"""The fused numba step kernel (dln_core.fused) runs the numpy stepper's program: same trajectories."""

from __future__ import annotations

import numpy as np
import pytest

from dln_core import engine, fused, steppers
from dln_core.config import RunConfig

pytestmark = pytest.mark.skipif(not fused.available(), reason="numba is in requirements.txt")


def stacked(cfg, B, seed=0):
    problem = engine.build_problem(cfg.target)
    rng = np.random.default_rng(seed)
    w0 = engine.init_weights(cfg, problem)
    weights = [np.ascontiguousarray(w[None] * (1 + 0.2 * rng.standard_normal((B, 1, 1)))) for w in w0]
    return problem, weights


@pytest.mark.parametrize("flat", [
    dict(depth=3, init_scale=1e-2),  # d = 6 article target: diagonal U*, V*
    dict(depth=2, init_scale=1e-3, rotate_seed=4),  # rotated target: general U*, V*
    dict(depth=4, init_scale=0.05, width=9, input_kind="rotated", input_eigenvalues="2,1.5,1,0.8,0.5,0.3"),  # Σxx ≠ I, rectangular layers
])
@pytest.mark.parametrize("B", [5, 2 * fused.BLOCK + 2])  # the serial variant; the parallel one, last block partial
def test_fused_kernel_matches_numpy_stepper(flat, B):
    cfg = RunConfig.make(**flat)
    assert fused.serial_for(B) == (B < steppers.FUSED_MIN_BATCH)
    problem, weights = stacked(cfg, B)
    lrs = np.linspace(0.004, 0.012, B)
    ref = steppers.NumpyStepper([w.copy() for w in weights], lrs, problem, "float64")
    ours = [w.copy() for w in weights]
    umax = np.full((B, problem.r), -np.inf)
    for n in (1, 300, 1700):  # several calls, as the runner's chunks make them
        ref.advance(n)
        fused.advance(ours, ref.lr.reshape(-1), ref.syx, ref.sxx, ref.UT, ref.VT, ref.diag, umax, n)
    for a, b in zip(ours, ref.W):
        scale = np.max(np.abs(b))
        np.testing.assert_allclose(a, b, rtol=0, atol=1e-12 * scale)
    np.testing.assert_allclose(umax, ref.umax, rtol=0, atol=1e-12 * np.max(np.abs(ref.umax)))
    # the runs moved: the comparison is not between two copies of the init
    assert max(np.max(np.abs(a - w)) for a, w in zip(ours, weights)) > 1e-3


# ------------------------------------------------------------------ behind the stepper interface
ARTICLE_L3 = dict(depth=3, init_scale=1e-2)  # the first shape above: compiled once for the module


def _same_runs(a, b, tol=1e-12):
    """Frames and weights to ``tol`` relative to each column's scale; events exactly."""
    for name in ("history", "modes", "alignment", "layer_sv", "updates", "balance", "mode_summary"):
        fa, fb = a.frame(name), b.frame(name)
        assert list(fa.columns) == list(fb.columns) and len(fa) == len(fb), name
        for col in fa.select_dtypes("number").columns:
            x, y = fa[col].to_numpy(float), fb[col].to_numpy(float)
            assert np.array_equal(np.isnan(x), np.isnan(y)), (name, col)
            ok = np.isfinite(x)
            scale = max(1.0, float(np.max(np.abs(x[ok]), initial=0.0)))
            # the update of a converged run is rounding noise (~1e-16 of W), so its singular values and
            # effective rank are not a function of the trajectory at 1e-12: not compared (W is, below)
            if name == "updates" or "rank" in col:
                continue
            t = tol
            assert np.max(np.abs(x[ok] - y[ok]), initial=0.0) <= t * scale, (name, col)
    for wa, wb in zip(a.weights, b.weights):
        assert np.abs(wa - wb).max() <= tol * max(1.0, np.abs(wb).max())
    for key in ("halfway_step", "diverged", "diverged_step", "steps"):
        assert a.summary[key] == b.summary[key], key


def test_fused_stepper_runs_the_same_batch_as_numpy_with_events_and_divergence():
    # lr from stable to diverging (the L = 3 article stable step is ~0.06): halfway replays and freezes
    cfgs = [RunConfig.make(**{**ARTICLE_L3, "init_scale": 0.05}, lr=lr, seed=s, steps=2000) for lr in (0.01, 0.03, 0.3) for s in range(3)]
    ours = engine.run_batch(cfgs, backend="fused")
    ref = engine.run_batch(cfgs, backend="numpy")
    assert sum(r.summary["diverged"] for r in ref) == 3
    assert sum(h is not None for r in ref if not r.summary["diverged"] for h in r.summary["halfway_step"]) >= 12
    for a, b in zip(ours, ref):
        _same_runs(a, b)


def test_auto_uses_the_fused_kernel_only_where_it_was_measured_to_win(monkeypatch):
    from dln_core.runner import Runner

    cfg = RunConfig.make(**ARTICLE_L3, steps=100)
    problem = engine.build_problem(cfg.target)
    B = steppers.FUSED_MIN_BATCH
    fused.advance(*_tiny_call(problem, cfg))  # both variants compiled in this process
    fused.advance(*_tiny_call(problem, cfg, B))
    assert Runner([cfg] * B, problem, "auto", "cpu", None).backend == "fused"
    assert Runner([cfg] * (B - 1), problem, "auto", "cpu", None).backend == "fused"  # the serial variant
    assert Runner([cfg], problem, "auto", "cpu", None).backend == "fused"
    f32 = RunConfig.make(**ARTICLE_L3, steps=100, dtype="float32")
    assert Runner([f32] * B, problem, "auto", "cpu", None).backend == "numpy"  # the kernel is float64 only
    wide = RunConfig.make(**ARTICLE_L3, width=steppers.FUSED_MAX_DIM + 1, steps=100)
    assert Runner([wide] * B, problem, "auto", "cpu", None).backend == "numpy"
    # numba absent: auto falls back to numpy, an explicit request names the field
    monkeypatch.setattr(fused, "available", lambda: False)
    assert Runner([cfg] * B, problem, "auto", "cpu", None).backend == "numpy"
    from dln_core.errors import ConfigError

    with pytest.raises(ConfigError) as err:
        engine.run(cfg, backend="fused")
    assert err.value.field == "backend"
    res = engine.run(cfg)  # the default still runs (numpy)
    assert res.summary["steps"] == 100


def _tiny_call(problem, cfg, B=1):
    st = steppers.NumpyStepper(engine.init_weights(cfg, problem), np.array([0.01]), problem, "float64")
    w = [np.repeat(x[None], B, 0) for x in st.W]
    return (w, np.full(B, 0.01), st.syx, st.sxx, st.UT, st.VT, st.diag, np.full((B, problem.r), -np.inf), 1)


def test_the_serial_and_parallel_variants_step_a_member_identically():
    """The same members through the serial variant and through the parallel one: bit for bit."""
    cfg = RunConfig.make(**ARTICLE_L3)
    problem, weights = stacked(cfg, 7, seed=3)
    st = steppers.NumpyStepper(weights, np.linspace(0.005, 0.02, 7), problem, "float64")
    key = ((6, 6, 6, 6), problem.r, st.diag, False)
    out = []
    for serial in (True, False):
        ws, umax = [w.copy() for w in weights], np.full((7, problem.r), -np.inf)
        fused.kernel(*key, serial)(*ws, st.lr.reshape(-1), st.syx, np.zeros((1, 1)), st.UT, st.VT, umax, 500)
        out.append((ws, umax))
    for a, b in zip(*[[*ws, u] for ws, u in out]):
        assert np.array_equal(a, b)
    assert np.abs(out[0][0][0] - weights[0]).max() > 1e-3  # the members moved


def test_stepper_registry_names_every_backend():
    assert set(steppers.STEPPERS) == {"numpy", "fused", "torch"} and steppers.BACKENDS == tuple(steppers.STEPPERS)
    from dln_core.errors import ConfigError

    with pytest.raises(ConfigError) as err:
        steppers.resolve_backend("cpu", "jax")
    assert err.value.field == "backend" and "fused" in str(err.value)


def test_a_missing_kernel_compiles_in_the_background_locally_but_never_on_a_hosted_server(monkeypatch):
    """Compiling a shape's kernel costs ~30 s of CPU that no request's budget pays for: the local
    profile starts it for later runs, the hosted profile does not (and both run this one on numpy)."""
    started = []
    monkeypatch.setattr(fused, "available", lambda: True)
    monkeypatch.setattr(fused, "compiled", lambda *key: False)
    monkeypatch.setattr(fused, "compile_async", lambda *key: started.append(key))
    cfg = RunConfig.make(**ARTICLE_L3, steps=100)
    problem = engine.build_problem(cfg.target)
    args = (cfg.layer_dims, problem, "float64", 1000.0, steppers.FUSED_MIN_BATCH)
    monkeypatch.setenv("DLN_LAB_PROFILE", "hosted")
    assert steppers.choose(*args) == "numpy" and started == []
    # nor in the foreground, however long the run: both variants stay on numpy until compiled
    one = (cfg.layer_dims, problem, "float64")
    assert steppers.choose(*one, steppers.SERIAL_COMPILE_WORK, 1) == "numpy"
    assert steppers.choose(*one, steppers.FUSED_COMPILE_WORK, steppers.FUSED_MIN_BATCH) == "numpy"
    assert started == []
    monkeypatch.setenv("DLN_LAB_PROFILE", "local")
    assert steppers.choose(*args) == "numpy" and len(started) == 1
    # one network: a quick run starts no compile (it would share the CPU with an interactive page),
    # a longer one compiles the serial variant for later runs, a long one compiles it now
    assert steppers.choose(*one, steppers.SERIAL_BACKGROUND_WORK / 2, 1) == "numpy" and len(started) == 1
    assert steppers.choose(*one, steppers.SERIAL_BACKGROUND_WORK, 1) == "numpy" and started[-1][-1] is True
    assert steppers.choose(*one, steppers.SERIAL_COMPILE_WORK, 1) == "fused"


def test_an_auto_length_run_is_priced_at_its_shortest_length_not_its_cap(monkeypatch):
    """steps = "auto" may stop after AUTO_MIN_STEPS: choose must not see the search cap (which would buy
    a foreground compile for a run that may take a fraction of a second); a fixed length is priced as is."""
    from dln_core import runner as runner_mod

    seen = []
    real = runner_mod.choose
    monkeypatch.setattr(runner_mod, "choose", lambda *a: seen.append(a[3]) or real(*a))
    cfg = RunConfig.make(**ARTICLE_L3, steps="auto")
    engine.run_batch([cfg, cfg.replace(seed=1)])
    engine.run_batch([cfg.replace(steps=300)] * 2)
    assert seen[0] == 2 * runner_mod.AUTO_MIN_STEPS and seen[-1] == 2 * 300


def test_a_process_that_starts_a_background_compile_and_exits_at_once_exits_cleanly(tmp_path):
    """The background compile runs in a detached process: the parent's exit neither waits for it nor
    crashes (a compile thread inside LLVM at interpreter exit ended the CLI with status 139 or 134),
    and the kernel lands in the disk cache, where compiled() finds it."""
    import os
    import subprocess
    import sys
    import time
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    env = {**os.environ, "TMPDIR": str(tmp_path), "PYTHONPATH": str(root)}
    key = "((2, 2, 2), 2, True, False, True)"  # the serial variant of a tiny shape compiles in seconds
    code = f"from dln_core import fused; fused.compile_async(*{key}); print(fused.compiled(*{key}))"
    t0 = time.perf_counter()
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "False" and time.perf_counter() - t0 < 30  # it did not wait for the compile
    check = f"import sys; from dln_core import fused; sys.exit(0 if fused.compiled(*{key}) else 1)"
    deadline = time.time() + 180
    while subprocess.run([sys.executable, "-c", check], env=env, timeout=60).returncode != 0:
        assert time.time() < deadline, "the detached compile never reached the disk cache"
        time.sleep(1)
    folder = tmp_path / "dln_lab_fused"
    while list(folder.glob("*.compiling")):  # the child removes its compile lock when done
        assert time.time() < deadline, "the compile lock was left behind"
        time.sleep(0.2)
    assert list(folder.glob("*.log")) and not any("Traceback" in p.read_text() for p in folder.glob("*.log"))


def test_only_one_process_compiles_a_shape_at_a_time(tmp_path, monkeypatch):
    """A live compile lock (another process compiling this shape) means no second compile; a lock
    whose process is gone is taken over; the child is started with -P and its stderr in a log."""
    import os
    import tempfile

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    started = []

    class FakeChild:
        pid = os.getpid()

        def poll(self):
            return None

    monkeypatch.setattr(fused.subprocess, "Popen", lambda cmd, **kw: started.append((cmd, kw)) or FakeChild())
    monkeypatch.setattr(fused, "_compiling", set())
    monkeypatch.setattr(fused, "_children", [])
    live, stale = ((3, 3), 3, True, False, True), ((4, 4), 4, True, False, True)
    for key, pid in ((live, os.getppid()), (stale, 2**22 + 12345)):  # the parent is alive; no such pid
        lock = fused._lock_path(key)
        lock.parent.mkdir(parents=True, exist_ok=True)
        lock.write_text(f"{pid}\n")
    fused.compile_async(*live)
    assert started == [] and fused._lock_path(live).exists()
    fused.compile_async(*stale)
    assert len(started) == 1
    cmd, kw = started[0]
    assert cmd[1] == "-P" and cmd[2].endswith("fused.py") and kw["stderr"].name.endswith(".log")
    assert fused._lock_path(stale).read_text().split()[0] == str(os.getpid())  # now the child's (here: fake) pid
    fused.compile_async(*stale)  # once per process
    assert len(started) == 1

    def no_child(cmd, **kw):
        raise OSError("cannot start a process")

    monkeypatch.setattr(fused.subprocess, "Popen", no_child)
    failed = ((5, 5), 5, True, False, True)
    fused.compile_async(*failed)  # no child, no error, and no lock left to block the next process
    assert not fused._lock_path(failed).exists()
