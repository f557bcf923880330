"""dln_core.diagnostics against exact identities (machine precision) on networks the tests build.

Every network here is constructed so the right answer is known in closed form: products of chosen
orthogonal frames and singular values (aligned networks, THEORY.md §2), balanced or λ-balanced layers
(§3), bottlenecks of width one (rank-one updates), hand-made overlap matrices. Independent references:
literal products, numpy's SVD and norm, torch autograd and complex-step derivatives.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from dln_core import diagnostics as dg

RNG_SEED = 20261201


def _orth(rng, n):
    """A Haar-ish random orthogonal n × n matrix (QR of a Gaussian, signs fixed)."""
    q, r = np.linalg.qr(rng.standard_normal((n, n)))
    return q * np.sign(np.diag(r))


def _aligned(rng, dims, s_layers):
    """Layers W_l = R_l[:, :r] diag(s_l) R_{l−1}[:, :r]ᵀ; returns (weights, U*, V*, u) with u = Π_l s_l.

    dims = (n_0 = n_in, n_1, …, n_L = n_out); s_layers[l] holds the r per-layer strengths of layer l+1.
    """
    r = len(s_layers[0])
    frames = [_orth(rng, n) for n in dims]
    weights = [frames[li + 1][:, :r] @ np.diag(s_layers[li]) @ frames[li][:, :r].T for li in range(len(dims) - 1)]
    u = np.prod(np.asarray(s_layers), axis=0)
    return weights, frames[-1][:, :r], frames[0][:, :r], u


def _random_net(rng, dims, scale=1.0):
    return [scale * rng.standard_normal((dims[li + 1], dims[li])) for li in range(len(dims) - 1)]


# ------------------------------------------------------------------------------ end-to-end map
def test_end_to_end_is_the_literal_product_also_batched():
    rng = np.random.default_rng(RNG_SEED)
    ws = _random_net(rng, (5, 4, 3, 6))
    np.testing.assert_allclose(dg.end_to_end(ws), ws[2] @ ws[1] @ ws[0], rtol=0, atol=1e-13)
    np.testing.assert_array_equal(dg.end_to_end(ws[:1]), ws[0])  # depth 1: the layer itself
    batch = [np.stack([w, 2.0 * w]) for w in ws]  # member 2 = every layer doubled → W × 8
    W = dg.end_to_end(batch)
    assert W.shape == (2, 6, 5)
    np.testing.assert_allclose(W[1], 8.0 * W[0], rtol=1e-14, atol=1e-14)


# ------------------------------------------------------------------------------ mode strengths
@pytest.mark.parametrize("dims", [(6, 6), (5, 7, 4), (4, 9, 3, 6), (6, 2, 8, 8, 5)])
def test_mode_strengths_of_an_aligned_network_are_the_chosen_products(dims):
    rng = np.random.default_rng(RNG_SEED)
    r = min(dims)
    s_layers = [rng.uniform(0.2, 1.8, r) for _ in range(len(dims) - 1)]
    ws, U, V, u = _aligned(rng, dims, s_layers)
    np.testing.assert_allclose(dg.mode_strengths(dg.end_to_end(ws), U, V), u, rtol=1e-13, atol=1e-15)


def test_mode_strengths_are_projections_not_sorted_singular_values():
    """Chosen u = (−0.5, 2, 0, 1): order, sign and a zero survive; svd(W) would give (2, 1, 0.5, 0)."""
    rng = np.random.default_rng(RNG_SEED + 1)
    U, V = _orth(rng, 5)[:, :4], _orth(rng, 6)[:, :4]
    u = np.array([-0.5, 2.0, 0.0, 1.0])
    W = U @ np.diag(u) @ V.T
    np.testing.assert_allclose(dg.mode_strengths(W, U, V), u, rtol=0, atol=1e-15)
    # Off-mode parts (outside span U* or span V*) leave the projections unchanged exactly.
    n_out = np.eye(5) - U @ U.T
    n_in = np.eye(6) - V @ V.T
    W2 = W + n_out @ rng.standard_normal((5, 6)) + rng.standard_normal((5, 6)) @ n_in
    np.testing.assert_allclose(dg.mode_strengths(W2, U, V), u, rtol=0, atol=1e-14)


def test_mode_strengths_and_alignment_invariant_under_rotating_input_and_output_spaces():
    rng = np.random.default_rng(RNG_SEED + 2)
    W = rng.standard_normal((4, 7))
    U, V = _orth(rng, 4)[:, :3], _orth(rng, 7)[:, :3]
    Q, R = _orth(rng, 4), _orth(rng, 7)
    Wr, Ur, Vr = Q @ W @ R.T, Q @ U, R @ V
    np.testing.assert_allclose(dg.mode_strengths(Wr, Ur, Vr), dg.mode_strengths(W, U, V), atol=1e-14)
    np.testing.assert_allclose(dg.mode_alignment(Wr, Ur, Vr), dg.mode_alignment(W, U, V), atol=1e-14)


# ------------------------------------------------------------------------------ mode alignment
def test_mode_alignment_exact_values():
    rng = np.random.default_rng(RNG_SEED + 3)
    U, V = _orth(rng, 4), _orth(rng, 4)
    # Exactly aligned, positive or negative strengths: 1 for every mode.
    W = U @ np.diag([3.0, -1.0, 0.25, 0.01]) @ V.T
    np.testing.assert_allclose(dg.mode_alignment(W, U, V), 1.0, rtol=1e-12)
    # Mode 1 leaks into u*_2: W v*_1 = a u*_1 + b u*_2, Wᵀu*_1 = a v*_1, so alignment = a / √(a² + b²).
    a, b = 3.0, 4.0
    M = np.array([[a, 0, 0, 0], [b, 0, 0, 0], [0, 0, 0, 0], [0, 0, 0, 1.0]])
    got = dg.mode_alignment(U @ M @ V.T, U, V)
    # (mode 3 is left out here: with both its column and row at rounding level, 0/0 is noise)
    np.testing.assert_allclose(got[[0, 1, 3]], [a / np.hypot(a, b), 0.0, 1.0], rtol=1e-14, atol=1e-15)
    # In the standard basis W v*_2 and W v*_3 are exactly 0: alignment is defined as 0 there, not nan.
    eye = np.eye(4)
    np.testing.assert_array_equal(dg.mode_alignment(M, eye, eye), [a / np.hypot(a, b), 0.0, 0.0, 1.0])
    # Zero map: 0 everywhere.
    np.testing.assert_array_equal(dg.mode_alignment(np.zeros((4, 4)), U, V), np.zeros(4))


def test_mode_alignment_is_in_unit_interval_and_scale_free():
    rng = np.random.default_rng(RNG_SEED + 4)
    W = rng.standard_normal((3, 8, 6))  # a batch of three random maps
    U, V = _orth(rng, 8)[:, :5], _orth(rng, 6)[:, :5]
    al = dg.mode_alignment(W, U, V)
    assert al.shape == (3, 5) and np.all((al >= 0) & (al <= 1 + 1e-15))
    np.testing.assert_allclose(dg.mode_alignment(-7.5 * W, U, V), al, rtol=1e-13)  # u² / (‖·‖‖·‖)


# ------------------------------------------------------------------------------ gradients
def _problem(rng, n_out, n_in, whitened):
    sigma_yx = rng.standard_normal((n_out, n_in))
    if whitened:
        return np.eye(n_in), sigma_yx
    A = rng.standard_normal((n_in, n_in))
    return A @ A.T / n_in + 0.1 * np.eye(n_in), sigma_yx


@pytest.mark.parametrize("dims", [(4, 3), (5, 3, 4), (3, 6, 2, 5)])
@pytest.mark.parametrize("whitened", [True, False])
def test_gradients_match_torch_autograd_of_loss_h(dims, whitened):
    rng = np.random.default_rng(RNG_SEED + 5)
    sxx, syx = _problem(rng, dims[-1], dims[0], whitened)
    ws = _random_net(rng, dims, scale=0.7)
    tw = [torch.tensor(w, requires_grad=True) for w in ws]
    W = tw[0]
    for t in tw[1:]:
        W = t @ W
    # ℓ = ½ tr(W Σxx Wᵀ) − tr(W Σxy) (THEORY.md §1, constant dropped)
    loss = 0.5 * torch.trace(W @ torch.tensor(sxx) @ W.T) - torch.trace(W @ torch.tensor(syx).T)
    loss.backward()
    for g, t in zip(dg.gradients(ws, sxx, syx), tw):
        np.testing.assert_allclose(g, t.grad.numpy(), rtol=1e-12, atol=1e-12)


def test_gradients_vanish_at_the_global_minimum_and_are_batched():
    rng = np.random.default_rng(RNG_SEED + 6)
    s = np.array([2.0, 1.0, 0.5])
    ws, U, V, _ = _aligned(rng, (3, 3, 3), [np.sqrt(s), np.sqrt(s)])  # W = U diag(s) Vᵀ = Σyx
    syx = U @ np.diag(s) @ V.T
    for g in dg.gradients(ws, np.eye(3), syx):
        np.testing.assert_allclose(g, 0.0, atol=1e-14)
    other = _random_net(rng, (3, 3, 3))
    batch = [np.stack([a, b]) for a, b in zip(ws, other)]
    for gb, g0, g1 in zip(dg.gradients(batch, np.eye(3), syx), dg.gradients(ws, np.eye(3), syx),
                          dg.gradients(other, np.eye(3), syx)):
        np.testing.assert_allclose(gb[0], g0, atol=1e-15)
        np.testing.assert_allclose(gb[1], g1, atol=1e-15)


# ------------------------------------------------------------------------------ mode rates
def test_mode_rates_are_the_exact_directional_derivative_along_minus_gradient():
    """Complex step: u_i(W_l − iεG_l) has imaginary part ε·du_i/dt + O(ε³), exact to rounding."""
    rng = np.random.default_rng(RNG_SEED + 7)
    dims = (5, 4, 6, 3)
    sxx, syx = _problem(rng, dims[-1], dims[0], whitened=False)
    U, V = _orth(rng, 3), _orth(rng, 5)[:, :3]
    ws = _random_net(rng, dims, scale=0.6)
    grads = dg.gradients(ws, sxx, syx)
    eps = 1e-30
    moved = [w - 1j * eps * g for w, g in zip(ws, grads)]
    reference = np.imag(dg.mode_strengths(dg.end_to_end(moved), U, V)) / eps
    np.testing.assert_allclose(dg.mode_rates(ws, grads, U, V), reference, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("L", [1, 2, 3, 5])
def test_mode_rates_of_an_aligned_balanced_network_follow_the_mode_ode(L):
    """Whitened, aligned, balanced (per-layer strength s, u = s^L): du/dt = L u^{2−2/L}(λ − u) (§2)."""
    rng = np.random.default_rng(RNG_SEED + 8)
    lam = np.array([6.0, 4.0, 3.0, 0.5])
    s = np.array([0.3, 1.1, 0.9, 0.6])
    dims = (4,) + (6,) * (L - 1) + (5,)
    ws, U, V, u = _aligned(rng, dims, [s] * L)
    syx = U @ np.diag(lam) @ V.T
    rate = dg.mode_rates(ws, dg.gradients(ws, np.eye(4), syx), U, V)
    np.testing.assert_allclose(rate, L * u ** (2 - 2 / L) * (lam - u), rtol=1e-11)


# ------------------------------------------------------------------------------ balancedness
def test_balance_matrices_vanish_for_a_balanced_aligned_network():
    rng = np.random.default_rng(RNG_SEED + 9)
    s = np.array([1.3, 0.7, 0.2])
    ws, *_ = _aligned(rng, (3, 5, 4, 6), [s, s, s])
    H = dg.balance_matrices(ws)
    assert [h.shape for h in H] == [(5, 5), (4, 4)]
    for h in H:
        np.testing.assert_allclose(h, 0.0, atol=1e-14)


def test_balance_matrix_of_a_lambda_balanced_start_is_lambda_identity():
    """W_2 = O (W_1W_1ᵀ + λ_b I)^{1/2} with orthonormal columns O gives H_1 = λ_b I (THEORY.md §4)."""
    rng = np.random.default_rng(RNG_SEED + 10)
    lam_b = 0.35
    W1 = 0.4 * rng.standard_normal((4, 6))
    evals, evecs = np.linalg.eigh(W1 @ W1.T + lam_b * np.eye(4))
    frame = _orth(rng, 7)[:, :4]  # orthonormal columns
    W2 = frame @ evecs @ np.diag(np.sqrt(evals)) @ evecs.T
    (H,) = dg.balance_matrices([W1, W2])
    np.testing.assert_allclose(H, lam_b * np.eye(4), atol=1e-14)


def test_one_gd_step_changes_balance_by_exactly_eta_squared_terms():
    """W_{l+1}ᵀG_{l+1} = G_l W_lᵀ, so the first-order drift cancels: ΔH_l = η²(G_{l+1}ᵀG_{l+1} − G_lG_lᵀ)."""
    rng = np.random.default_rng(RNG_SEED + 11)
    dims = (4, 5, 3, 6)
    sxx, syx = _problem(rng, dims[-1], dims[0], whitened=False)
    ws = _random_net(rng, dims, scale=0.8)
    grads = dg.gradients(ws, sxx, syx)
    for li in range(len(ws) - 1):
        np.testing.assert_allclose(ws[li + 1].T @ grads[li + 1], grads[li] @ ws[li].T, atol=1e-13)
    eta = 0.03
    after = dg.balance_matrices([w - eta * g for w, g in zip(ws, grads)])
    for li, (h0, h1) in enumerate(zip(dg.balance_matrices(ws), after)):
        drift = eta**2 * (grads[li + 1].T @ grads[li + 1] - grads[li] @ grads[li].T)
        np.testing.assert_allclose(h1 - h0, drift, atol=1e-13)


# ------------------------------------------------------------------------------ norms and spectra
def test_frobenius_matches_numpy_norm_over_a_batch():
    a = np.random.default_rng(RNG_SEED + 12).standard_normal((3, 2, 5, 4))
    np.testing.assert_allclose(dg.frobenius(a), np.linalg.norm(a, axis=(-2, -1)), rtol=1e-14)


@pytest.mark.parametrize("shape", [(6, 4), (4, 6), (5, 5)])
def test_gram_singular_values_match_the_svd(shape):
    rng = np.random.default_rng(RNG_SEED + 13)
    chosen = np.array([5.0, 2.0, 1.0, 0.1])
    k = min(shape)
    s = np.concatenate([chosen, [0.01]])[:k]
    a = _orth(rng, shape[0])[:, :k] @ np.diag(s) @ _orth(rng, shape[1])[:, :k].T
    got = dg.gram_singular_values(np.stack([a, 3.0 * a]))
    assert got.shape == (2, k)
    np.testing.assert_allclose(got[0], s, rtol=1e-10)  # well above the floor: as accurate as the Gram allows
    np.testing.assert_allclose(got[1], 3.0 * s, rtol=1e-10)
    np.testing.assert_allclose(got[0], np.linalg.svd(a, compute_uv=False), rtol=1e-10)


def test_gram_singular_values_zero_below_the_floor():
    rng = np.random.default_rng(RNG_SEED + 14)
    a = np.outer(rng.standard_normal(5), rng.standard_normal(4))  # rank one
    s = dg.gram_singular_values(a)
    np.testing.assert_allclose(s[0], np.linalg.norm(a), rtol=1e-13)
    np.testing.assert_array_equal(s[1:], 0.0)  # rounding residue is not reported as rank
    np.testing.assert_array_equal(dg.gram_singular_values(np.zeros((3, 2))), 0.0)


def test_effective_rank_of_known_spectra():
    cases = {
        (1.0, 0.0, 0.0): 1.0,  # rank one
        (2.0, 2.0, 0.0): 2.0,  # k equal values → k
        (0.3, 0.3, 0.3, 0.3): 4.0,
        (2.0, 1.0, 1.0): 2.0 ** 1.5,  # p = (½, ¼, ¼): entropy 1.5 ln 2
        (0.0, 0.0): 0.0,  # the zero matrix
    }
    for s, expected in cases.items():
        assert dg.effective_rank(np.array(s)) == pytest.approx(expected, rel=1e-14, abs=0)
    batch = np.array([[1.0, 0.0, 0.0], [2.0, 2.0, 0.0], [0.0, 0.0, 0.0]])
    np.testing.assert_allclose(dg.effective_rank(batch), [1.0, 2.0, 0.0], rtol=1e-14)
    rng = np.random.default_rng(RNG_SEED + 15)
    s = np.sort(rng.uniform(0, 1, 6))[::-1]
    r = dg.effective_rank(s)
    assert 1.0 < r < 6.0
    assert dg.effective_rank(123.0 * s) == pytest.approx(r, rel=1e-14)  # scale-free


def test_update_rank_is_one_through_a_width_one_bottleneck():
    """Every layer gradient of a net with a width-1 hidden layer has rank ≤ 1 (it factors through it)."""
    rng = np.random.default_rng(RNG_SEED + 16)
    dims = (5, 4, 1, 3, 6)
    sxx, syx = _problem(rng, dims[-1], dims[0], whitened=False)
    ws = _random_net(rng, dims, scale=0.9)
    for g in dg.gradients(ws, sxx, syx):
        s = dg.gram_singular_values(0.01 * g)
        assert dg.effective_rank(s) == 1.0
        assert np.count_nonzero(s) == 1


def test_update_rank_of_an_aligned_network_counts_unlearned_modes():
    """Aligned, whitened, depth 2: G_l is diagonal in the mode frames with entries ∝ (λ_i − u_i), so
    the update's singular values are |s_i(λ_i − u_i)| and a learned mode (u_i = λ_i) adds no rank."""
    rng = np.random.default_rng(RNG_SEED + 17)
    lam = np.array([4.0, 2.0, 2.0])
    s = np.array([2.0, 0.5, 0.5])  # mode 1 learned (s² = λ), modes 2 and 3 not, with equal updates
    ws, U, V, _ = _aligned(rng, (3, 4, 3), [s, s])
    syx = U @ np.diag(lam) @ V.T
    for g in dg.gradients(ws, np.eye(3), syx):
        sv = dg.gram_singular_values(g)
        np.testing.assert_allclose(sv[:2], [0.5 * 1.75, 0.5 * 1.75], rtol=1e-12)
        assert sv.shape == (3,) and sv[2] == 0.0
        assert dg.effective_rank(sv) == pytest.approx(2.0, rel=1e-12)


# ------------------------------------------------------------------------------ signed SVDs, overlaps
def _check_aligned_overlaps(ws, U, V, r):
    svds = dg.signed_svds(ws, U)
    for (Ul, sl, Vl), w in zip(svds, ws):  # still an SVD of each layer
        np.testing.assert_allclose((Ul * sl[None, :]) @ Vl.T, w, atol=1e-13)
    mats = dg.overlaps(svds, U, V)
    assert list(mats) == dg.overlap_labels(len(ws))
    for name, M in mats.items():
        np.testing.assert_allclose(M[:r, :r], np.eye(r), atol=1e-12, err_msg=name)
    assert dg.alignment_score(list(mats.values()), r) == pytest.approx(1.0, abs=1e-14)


@pytest.mark.parametrize("dims", [(6, 6), (5, 7, 4), (4, 8, 6, 5)])
def test_aligned_network_shows_plus_one_on_every_overlap_diagonal(dims):
    rng = np.random.default_rng(RNG_SEED + 18)
    r = min(dims)
    s = np.linspace(2.0, 0.3, r)  # distinct, descending
    ws, U, V, _ = _aligned(rng, dims, [s] * (len(dims) - 1))
    _check_aligned_overlaps(ws, U, V, r)


def test_degenerate_aligned_network_is_still_scored_one():
    """Equal singular values (3, 3, 1, 1): SVD may return any rotation inside each pair; it is undone."""
    rng = np.random.default_rng(RNG_SEED + 19)
    s = np.sqrt(np.array([3.0, 3.0, 1.0, 1.0]))
    ws, U, V, _ = _aligned(rng, (4, 6, 4), [s, s])
    _check_aligned_overlaps(ws, U, V, 4)


def test_overlaps_invariant_under_hidden_layer_rotations():
    """W_l → Q_l W_l Q_{l−1}ᵀ (Q_0 = Q_L = I) leaves W and every overlap matrix unchanged."""
    rng = np.random.default_rng(RNG_SEED + 20)
    dims = (4, 5, 6, 3)
    ws = _random_net(rng, dims)
    U, V = _orth(rng, 3), _orth(rng, 4)[:, :3]
    Q = [np.eye(4), _orth(rng, 5), _orth(rng, 6), np.eye(3)]
    rotated = [Q[li + 1] @ w @ Q[li].T for li, w in enumerate(ws)]
    np.testing.assert_allclose(dg.end_to_end(rotated), dg.end_to_end(ws), atol=1e-13)
    before = dg.overlaps(dg.signed_svds(ws, U), U, V)
    after = dg.overlaps(dg.signed_svds(rotated, U), U, V)
    for name in before:  # signs are fixed along the chain for the leading 3 (= rank of U*) directions
        np.testing.assert_allclose(after[name][:3, :3], before[name][:3, :3], atol=1e-12, err_msg=name)
        np.testing.assert_allclose(np.abs(after[name]), np.abs(before[name]), atol=1e-12, err_msg=name)
    score = dg.alignment_score(list(before.values()), 3)
    assert dg.alignment_score(list(after.values()), 3) == pytest.approx(score, abs=1e-13)
    # Balancedness rotates covariantly: H_l → Q_l H_l Q_lᵀ, so its norm is invariant.
    for li, (h0, h1) in enumerate(zip(dg.balance_matrices(ws), dg.balance_matrices(rotated))):
        np.testing.assert_allclose(h1, Q[li + 1] @ h0 @ Q[li + 1].T, atol=1e-13)
        assert dg.frobenius(h1) == pytest.approx(dg.frobenius(h0), rel=1e-13)


def test_overlap_labels():
    assert dg.overlap_labels(1) == ["U*ᵀU_L", "V_1ᵀV*"]
    assert dg.overlap_labels(3) == ["U*ᵀU_L", "V_1ᵀV*", "V_2ᵀU_1", "V_3ᵀU_2"]


def test_alignment_score_exact_values():
    eye = np.eye(3)
    assert dg.alignment_score([eye, -2.0 * eye], 3) == 1.0  # diagonal, any sign or scale
    upper = np.array([[1.0, 1.0], [0.0, 1.0]])
    assert dg.alignment_score([upper], 2) == pytest.approx(2.0 / 3.0, rel=1e-15)
    assert dg.alignment_score([upper, eye[:2, :2]], 2) == pytest.approx(5.0 / 6.0, rel=1e-15)  # mean
    # Only the leading k × k block counts: clutter beyond it does not.
    M = np.eye(4)
    M[2:, 2:] = 5.0
    assert dg.alignment_score([M], 2) == 1.0
    assert dg.alignment_score([M], 4) == pytest.approx(52.0 / 102.0, rel=1e-15)
    assert dg.alignment_score([np.zeros((3, 3))], 3) == 0.0
    batch = np.stack([eye, np.ones((3, 3))])  # second member: all-ones → 3/9
    np.testing.assert_allclose(dg.alignment_score([batch], 3), [1.0, 1.0 / 3.0], rtol=1e-15)


def test_is_basis_is_exactly_the_identity_columns_test_and_times_slices_to_the_same_numbers():
    from dln_core.linalg import is_basis, times

    cases = [(np.eye(5, 3), True), (np.eye(3), True), (np.eye(3) * 2, False), (np.eye(3, 5), False),
             (np.array([[1.0, 0], [0, 1], [0, 1e-300]]), False), (np.array([[1.0, 0], [0, 1], [0, np.nan]]), False),
             (-np.eye(2), False), (np.eye(4)[:, [1, 0]], False), (np.eye(4, 0), True)]
    for M, want in cases:
        assert is_basis(M) is want and want == (M.shape[0] >= M.shape[1] and np.array_equal(M, np.eye(*M.shape)))
    X = np.random.default_rng(0).standard_normal((7, 4, 5)).astype(np.float32)
    out = times(X, np.eye(5, 3))
    assert out.dtype == np.float64 and np.array_equal(out, X.astype(np.float64) @ np.eye(5, 3))
