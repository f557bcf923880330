"""The hierarchy's geometry (dln_core.representation, THEORY §10.3): target SVD and hidden-layer RSA."""

from __future__ import annotations

import numpy as np

from dln_core import engine
from dln_core import representation as rep
from dln_core.config import RunConfig
from dln_core.targets import HIERARCHY_ITEMS


def _run(depth, scheme, seed):
    scale = 1e-3 if depth == 2 else 1e-2
    cfg = RunConfig.make(target_kind="hierarchy", depth=depth, init_scheme=scheme, init_scale=scale, seed=seed,
                         lr=0.05, steps="auto")
    return engine.run(cfg)


def test_svd_frames_read_as_the_tree():
    p = engine.build_problem(RunConfig.make(target_kind="hierarchy").target)
    f = rep.svd_frames(p)
    assert f["singular_values"]["mode"].tolist() == [
        "1: all items", "2: canary, salmon vs oak, rose", "3: canary vs salmon", "4: oak vs rose"]
    assert np.all(np.diff(f["singular_values"]["lambda"]) <= 0)
    V = f["items_modes"].pivot(index="row", columns="col", values="value").loc[list(HIERARCHY_ITEMS)]
    U = f["modes_features"].pivot(index="col", columns="row", values="value").loc[list(p.labels_out)]
    lam = f["singular_values"]["lambda"].to_numpy()
    recon = U[V.columns].to_numpy() @ np.diag(lam) @ V.to_numpy().T  # signs flipped together: same product
    np.testing.assert_allclose(recon, p.sigma_yx, atol=1e-12)


def test_rsa_balanced_identity_and_mode_strength_theory():
    """Measured W_1ᵀW_1 vs (WᵀW)^{1/L} (exact for balanced nets) at every snapshot, and vs the mode-
    strength prediction V diag(u^{2/L}) Vᵀ where the net is aligned (alignment > 0.99) and every mode is
    settled (below 0.1 % or above 99 % of its target): mid-rise, and inside the equal-λ pair (modes 3, 4),
    the learned map is not diagonal in the target's basis and u alone does not determine W_1ᵀW_1."""
    rng = np.random.default_rng(7)
    for _ in range(3):
        depth, scheme = int(rng.integers(2, 4)), ("near-identity", "gaussian")[int(rng.integers(2))]
        res = _run(depth, scheme, int(rng.integers(1000)))
        _, w1, W = res.first_layer
        _, _, u = res.mode_series()
        meas = rep.rsa_measured(w1)
        norm = np.linalg.norm(meas, axis=(1, 2))
        big = norm > 0.05 * norm.max()  # below: the plateau, where both are ~ init-sized and relative error is noise
        assert rep.rsa_error(meas, rep.rsa_balanced(W, depth))[big].max() < 1e-2
        frac = u / res.problem.target_strength
        aligned = res.history["alignment"].to_numpy() > 0.99
        settled = np.all((frac < 1e-3) | (frac > 0.99), axis=1) & big & aligned
        err = rep.rsa_error(meas, rep.rsa_theory(res.problem.V_star, u, depth))
        assert settled.sum() > 10 and err[settled].max() < 2e-2
        assert res.summary.converged and err[-1] < 1e-3


def test_progressive_differentiation_animals_vs_plants_first():
    res = _run(2, "near-identity", 0)
    steps, w1, _ = res.first_layer
    h = res.summary.halfway_step  # mode 1 (all items), 2 (animals vs plants), 3 and 4 (within each)
    meas = rep.rsa_measured(w1)
    ca, sa, oa = (HIERARCHY_ITEMS.index(n) for n in ("canary", "salmon", "oak"))

    def at(k):
        return meas[int(np.argmin(np.abs(steps - k)))]

    between_1_2 = at((h[0] + h[1]) // 2 - (h[1] - h[0]) // 4)
    assert abs(between_1_2[ca, sa] - between_1_2[ca, oa]) < 0.1 * between_1_2[ca, ca]  # items alike
    after_2 = at((h[1] + h[2]) // 2)
    assert after_2[ca, sa] - after_2[ca, oa] > 0.3 * after_2[ca, ca]  # animals apart from plants
    assert after_2[ca, sa] > 0.5 * after_2[ca, ca]  # canary and salmon still alike
    final = meas[-1]
    assert final[ca, sa] < 0.5 * final[ca, ca]  # finally canary and salmon differ too


def test_rsa_frame_and_trace_only_when_needed():
    res = _run(2, "near-identity", 0)
    chosen = rep.learned_steps(res)
    f = rep.rsa_frame(res, chosen)
    assert list(f.columns) == list(rep.RSA_COLUMNS)
    assert set(f["kind"]) == {"measured", "theory"} and len(f) == 2 * 16 * f["step"].nunique()
    assert engine.run(RunConfig.make(steps=50)).first_layer is None  # article: not traced
    assert engine.run(RunConfig.make(steps=50), first_layer=True).first_layer[1].shape[1:] == (6, 6)
