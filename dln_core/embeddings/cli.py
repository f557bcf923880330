"""``python -m dln_core embed``: train word embeddings headless (THEORY.md §7).

Prints one JSON object (analogy_accuracy, analogy_questions, closed_form_accuracy, king_man_woman =
top answer to man:woman::king:?, wordsim_rho, and more) and, with ``--csv``, writes the history
frame (columns documented in :mod:`dln_core.embeddings.frames`); ``--save`` stores the run (kind
"embed", meta = config + summary) in the run store. Bad input, including an unwritable output,
raises ConfigError before training, which the dispatcher prints as one line with exit code 2.
A diverged run still exits 0 (the JSON says ``"diverged": true``, trained scores are null) and
prints "diverged at step k" on stderr.
"""

from __future__ import annotations

import argparse
import json
import sys

from ..cli_train import check_outputs
from ..errors import ConfigError
from ..limits import current_limits
from ..store import to_jsonable
from .corpus import SHIPPED_CORPORA, load_default_corpus, read_text_corpus
from .model import DTYPES, METHODS, EmbedConfig

JSON_KEYS = (
    "analogy_accuracy",
    "analogy_questions",
    "closed_form_accuracy",
    "king_man_woman",
    "wordsim_rho",
    "wordsim_pairs",
    "simlex_rho",
    "men_rho",
    "closed_form_wordsim_rho",
    "final_loss",
    "optimum_loss",
    "lr",
    "lr_max_stable",
    "mu_max",
    "mu_min",
    "diverged",
    "steps",
    "corpus",
    "corpus_tokens",
    "method",
    "wall_time_s",
)


def _lr(text: str) -> float | str:
    if text.strip().lower() == "auto":
        return "auto"
    try:
        return float(text)
    except ValueError:
        raise ConfigError("lr", "must be a positive number or 'auto'", text) from None


def add_parser(subparsers) -> None:
    p = subparsers.add_parser("embed", help="word embeddings as a deep linear network (QWEM)")
    d = EmbedConfig()
    p.add_argument("--vocab", type=int, default=d.vocab, help="vocabulary size V (top-V words)")
    p.add_argument("--dim", type=int, default=d.dim, help="embedding dimension d")
    p.add_argument("--init-scale", type=float, default=d.init_scale, help="≈ singular values of W at init")
    p.add_argument("--lr", type=str, default="auto", help="step size η, or 'auto' (from M*'s extreme eigenvalues)")
    p.add_argument("--steps", type=int, default=d.steps, help="full-batch GD steps")
    p.add_argument("--seed", type=int, default=d.seed)
    p.add_argument("--window", type=int, default=d.window, help="context half-width (weights c+1-j)")
    p.add_argument("--snapshots", type=int, default=d.n_snapshots, help="history rows")
    p.add_argument("--corpus", type=str, default="default",
                   help="a shipped corpus ('default', or 'nogpl' = without the GPL dictionary) or a plain-text file")
    p.add_argument("--csv", type=str, default=None, help="write the history frame to this CSV file")
    p.add_argument("--save", action="store_true", help="save the run (kind 'embed') in the run store ($DLN_LAB_HOME)")
    p.add_argument("--name", type=str, default=None, help="a label for the saved run (with --save)")
    p.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto")
    p.add_argument("--method", choices=list(METHODS), default=d.method,
                   help="GD route: dense M* products, or the exact eigenbasis steps (auto: the faster)")
    p.add_argument("--dtype", choices=list(DTYPES), default=d.dtype, help="GD precision")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from .pipeline import run_embedding, save_embedding_run  # heavy imports only when the command runs

    limits = current_limits()
    cfg = EmbedConfig(
        vocab=args.vocab,
        dim=args.dim,
        init_scale=args.init_scale,
        lr=_lr(args.lr),
        steps=args.steps,
        seed=args.seed,
        window=args.window,
        n_snapshots=args.snapshots,
        n_scatter_snapshots=1,
        scatter_words=1,
        device=args.device,
        method=args.method,
        dtype=args.dtype,
    )
    cfg.check_limits(limits)
    csv_path, store = check_outputs(args.csv, args.save)  # fail now, not after training
    if args.corpus in SHIPPED_CORPORA:
        corpus = load_default_corpus(args.corpus)
    else:
        corpus = read_text_corpus(args.corpus, limits.max_upload_mb)
    result = run_embedding(cfg, corpus, limits)
    if result.summary["diverged"]:
        print(f"diverged at step {result.summary['diverged_step']}", file=sys.stderr)
    out = to_jsonable({k: result.summary.get(k) for k in JSON_KEYS})  # NaN → null: strict JSON
    if store is not None:
        out["run_id"] = save_embedding_run(store, result, args.name)
        print(f"saved run {out['run_id']}", file=sys.stderr)
    if csv_path is not None:
        from ..store import atomic_write_bytes

        atomic_write_bytes(csv_path, result.history.to_csv(index=False).encode())
        out["csv"] = str(csv_path)
    print(json.dumps(out))
    sys.stdout.flush()
    return 0

