"""``python -m dln_core study NAME``: run one study of the Theory & scaling page headless.

NAME is ``lambda-law`` (the depth exponent 2 − 2/L from a sweep over λ at fixed u₀/λ, dln_core.laws),
``u0-law`` (the plateau's u₀ exponent 1 − 2/L) or one of the page's other studies (``learning-order``,
``sharpness``, ``stability``, ``commuting``, ``exact-l2``). ``--depth 2,3,4`` sets the depths where a
study takes them; ``--csv PATH`` writes its summary frame atomically. stdout gets one JSON line:
``study``, ``fits`` (a list of {quantity, depth, measured, theory, stderr}; quantities
``lambda_exponent`` and ``u0_exponent``; empty for studies without an exponent), ``rows`` (summary
rows) and ``wall_time_s``. Progress goes to stderr.
"""

from __future__ import annotations

import time

from ..errors import ConfigError

STUDIES = {  # CLI name -> (module, function)
    "lambda-law": ("dln_core.studies_laws", "study_lambda_law"),
    "u0-law": ("dln_core.studies_laws", "study_u0_law"),
    "learning-order": ("dln_core.studies", "study_learning_order"),
    "sharpness": ("dln_core.studies", "study_sharpness"),
    "stability": ("dln_core.studies", "study_stability"),
    "commuting": ("dln_core.studies", "study_commuting"),
    "exact-l2": ("dln_core.studies", "study_exact_l2"),
}
TAKES_DEPTHS = {"lambda-law", "u0-law", "sharpness"}
FIT_KEYS = ("quantity", "depth", "measured", "theory", "stderr")


HELP = "run a Theory & scaling study headless; one JSON line with the fitted exponents"
DESCRIPTION = __doc__


def add_arguments(p) -> None:
    p.add_argument("name", choices=sorted(STUDIES), help="which study")
    p.add_argument("--depth", default=None, help="comma list of depths (lambda-law, u0-law, sharpness)")
    p.add_argument("--csv", default=None, help="write the study's summary frame to this CSV file")


def _fits(out) -> list[dict]:
    rows = []
    for key in ("fits", "exponent_fits"):
        frame = out.get(key)
        if frame is None or "quantity" not in frame:
            continue
        for rec in frame.to_dict("records"):
            rows.append({k: (None if rec[k] != rec[k] else rec[k]) for k in FIT_KEYS})
    return rows


def run(args) -> int:
    import importlib

    from .._io import atomic_write_csv
    from ..sweep import parse_ints
    from .common import StderrProgress, check_outputs, print_json

    params: dict = {}
    if args.depth is not None:
        if args.name not in TAKES_DEPTHS:
            raise ConfigError("--depth", f"study {args.name} does not take depths", args.depth)
        params["depths"] = parse_ints("--depth", args.depth, lo=2, hi=64)
    module, func = STUDIES[args.name]
    t0 = time.perf_counter()

    if args.csv:
        check_outputs(args.csv, False)  # a bad path fails before any training
    out = getattr(importlib.import_module(module), func)(progress=StderrProgress(args.name), **params)
    summary = out.get("summary")
    if args.csv and summary is not None:
        atomic_write_csv(args.csv, summary)
    line = {"study": args.name, "fits": _fits(out), "rows": 0 if summary is None else len(summary),
            "wall_time_s": time.perf_counter() - t0}
    print_json(line)
    return 0
