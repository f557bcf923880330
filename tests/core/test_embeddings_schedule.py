"""Event-placed snapshots (dln_core.embeddings.schedule): dense around each predicted rise."""

import numpy as np

from dln_core.embeddings import schedule, theory


def test_clusters_sit_on_each_predicted_halfway_step():
    mu, u0, lr, steps = np.array([200.0, 100.0, 50.0]), np.full(3, 1e-10), 1e-3, 2000
    events = schedule.transition_steps(mu, u0, lr, steps)
    halfway = theory.tau_half(mu, u0) / lr
    for k, m in zip(halfway, mu):
        near = events[np.abs(events - k) <= schedule.WIDTH / (2 * m) / lr + 1]
        assert len(near) >= schedule.PER_MODE - 1  # a whole cluster per rise
    everything, ev = schedule.event_schedule(steps, 10, mu, u0, lr)
    assert set(ev) <= set(everything) and everything[0] == 0 and everything[-1] == steps
    # evenly spaced alone would give the fastest rise (≈ 26 steps wide) at most one frame
    assert len(everything) > 10 + 2 * schedule.PER_MODE


def test_rises_after_the_run_and_dead_modes_add_nothing():
    assert schedule.transition_steps(np.array([1.0, -2.0]), np.array([1e-12, 1e-3]), 1e-3, 100).size == 0


def test_initial_strengths_match_the_projection():
    rng = np.random.default_rng(0)
    W0, Q = rng.standard_normal((30, 4)), np.linalg.qr(rng.standard_normal((30, 3)))[0]
    u0 = schedule.initial_strengths(W0, Q)
    np.testing.assert_allclose(u0, [np.sum((Q[:, k] @ W0) ** 2) for k in range(3)], rtol=1e-12)
