"""Measure the word-embedding targets (not a timed test): accuracy, loss steps, rank, halfway times.

    python benchmarks/report_embeddings.py [--vocab 5000 --dim 100 --steps 1500 --init-scale 1e-6]

Prints a JSON report: trained vs closed-form analogy accuracy (with the in-vocabulary question count),
man:woman::king:?, WordSim-353 / SimLex-999 ρ, the staircase (number of loss drops and how the
learned rank rises), and measured vs predicted halfway steps for the top modes (THEORY.md §2, §7;
the theory uses the measured u_k(0) and the exact step size).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from dln_core.embeddings.corpus import load_default_corpus
from dln_core.embeddings.model import EmbedConfig
from dln_core.embeddings.pipeline import run_embedding
from dln_core.limits import LOCAL


def staircase(trace, lr: float) -> dict:
    """How the learned rank rises: the largest jump between consecutive steps and the steps at
    which each new mode crossed halfway."""
    rank = trace["learned_rank"].to_numpy()
    jumps = np.diff(rank)
    return {
        "final_learned_rank": int(rank[-1]),
        "max_rank_increment_per_step": int(jumps.max()) if len(jumps) else 0,
        "steps_with_a_rank_increment": int(np.count_nonzero(jumps > 0)),
        "first_10_increment_steps": [int(s) for s in np.nonzero(jumps > 0)[0][:10] + 1],
    }


def loss_drops(trace) -> int:
    """Loss steps: separate peaks of the per-step loss decrease (each learned mode makes one), with
    a prominence of at least 1 % of the largest peak."""
    from scipy.signal import find_peaks

    dec = -np.diff(trace["loss"].to_numpy())
    peaks, _ = find_peaks(dec, prominence=0.01 * dec.max())
    return len(peaks)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--vocab", type=int, default=5000)
    p.add_argument("--dim", type=int, default=100)
    p.add_argument("--steps", type=int, default=1500)
    p.add_argument("--init-scale", type=float, default=1e-6)
    p.add_argument("--corpus", default="default")
    p.add_argument("--modes", type=int, default=10, help="top modes in the halfway-time table")
    p.add_argument("--out", type=Path, default=None, help="also write the report (JSON) here")
    args = p.parse_args(argv)

    cfg = EmbedConfig(vocab=args.vocab, dim=args.dim, steps=args.steps, init_scale=args.init_scale,
                      n_snapshots=60, n_scatter_snapshots=2, scatter_words=10)
    r = run_embedding(cfg, load_default_corpus(args.corpus), LOCAL)
    s = r.summary
    m = r.modes.head(args.modes)
    report = {
        "config": {"corpus": args.corpus, "vocab": args.vocab, "dim": args.dim, "steps": args.steps,
                   "init_scale": args.init_scale, "lr": s["lr"], "lr_max_stable": s["lr_max_stable"],
                   "mu_max": s["mu_max"], "mu_min": s["mu_min"], "mu_d": s["mu_d"]},
        "analogy_accuracy_trained": s["analogy_accuracy"],
        "analogy_accuracy_closed_form": s["closed_form_accuracy"],
        "analogy_questions_in_vocab": s["analogy_questions"],
        "king_man_woman": s["king_man_woman"],
        "chosen_analogies_final": {
            q: g.sort_values("rank")["answer"].tolist()
            for q, g in r.analogy_tracks[r.analogy_tracks["step"] == r.analogy_tracks["step"].max()].groupby("question")
        },
        "wordsim_rho": s["wordsim_rho"], "wordsim_pairs": s["wordsim_pairs"],
        "closed_form_wordsim_rho": s["closed_form_wordsim_rho"],
        "simlex_rho": s["simlex_rho"], "simlex_pairs": s["simlex_pairs"],
        "final_loss": s["final_loss"], "optimum_loss": s["optimum_loss"],
        "loss_drops": loss_drops(r.trace),
        "staircase": staircase(r.trace, s["lr"]),
        "halfway": {
            "mode": m["mode"].tolist(),
            "mu": m["mu"].round(2).tolist(),
            "measured_step": m["halfway_step"].round(2).tolist(),
            "gd_theory_step": m["halfway_step_gd_theory"].round(2).tolist(),
            "gf_theory_step": m["halfway_step_theory"].round(2).tolist(),
            "max_rel_err_gd": float(np.nanmax(np.abs(m["halfway_step"] / m["halfway_step_gd_theory"] - 1))),
            "max_rel_err_gf": float(np.nanmax(np.abs(m["halfway_step"] / m["halfway_step_theory"] - 1))),
        },
        "timings_s": {k: round(v, 2) for k, v in r.timings.items()},
    }
    text = json.dumps(report, indent=2, default=float)
    print(text)
    if args.out:
        args.out.write_text(text + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
