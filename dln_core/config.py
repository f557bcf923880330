"""Run configuration: frozen, validated dataclasses (the single source of truth for a run).

Conventions follow THEORY.md §1: the loss is ½‖·‖² (convention H) and ``lr`` is the GD step η in that
convention, so gradient-flow time is ``t = lr * step``. Every invalid value raises one
:class:`~dln_core.errors.ConfigError` naming the *flat* field name (the same names as ``to_flat``,
the CLI flags and the URL query) and the allowed range.

Presets (:data:`PRESETS`) are the article widget's (lr, init scale) pairs converted to convention H
(η_H = 2·η_widget; THEORY.md §1.6).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, fields
from numbers import Integral
from typing import Any

from . import inits, targets
from ._validate import MAX_MAGNITUDE, check_choice, check_float, check_floats, check_int
from .errors import ConfigError
from .limits import Limits, check_cap

INPUT_KINDS = ("whitened", "commuting", "rotated")
DEVICES = ("auto", "cpu", "cuda")
DTYPES = ("float64", "float32")
MAX_DEPTH = 64  # hard bound of the library; the per-server cap is limits.max_depth
ARTICLE_SINGULAR_VALUES = targets.ARTICLE_LAMBDA

# {(depth, name): (lr in convention H, init scale c)}; THEORY.md §1.6.
PRESETS: dict[tuple[int, str], tuple[float, float]] = {
    (1, "Small"): (0.01, 1e-4),
    (1, "Medium"): (0.04, 0.4),
    (1, "Large"): (0.04, 1.5),
    (2, "Small"): (0.01, 1e-5),
    (2, "Medium"): (0.04, 0.1),
    (2, "Large"): (0.04, 1.0),
    (3, "Small"): (0.0006, 0.1),
    (3, "Medium"): (0.02, 0.3),
    (3, "Large"): (0.02, 1.0),
}
PRESET_NAMES = ("Small", "Medium", "Large")
# what a preset's η is (THEORY.md §1: the widget's loss has no ½, so its step is half of ours)
PRESET_CAPTION = ("The article widget's (η, c) pairs, near-identity init, article target. η is the "
                  "widget's step converted to loss (H) = ½‖·‖²: twice the widget's η, same trajectory.")


def split_floats(text: str) -> tuple[float, ...]:
    """``"1e-3, 1e-2"`` → (0.001, 0.01): the one comma-list rule of the library (empty items are
    skipped, so ``"1,,2"`` and a trailing comma are fine). ValueError on a non-number; no range checks."""
    return tuple(float(v) for v in str(text).split(",") if v.strip())


def parse_floats(field: str, text: str, positive: bool = False) -> tuple[float, ...]:
    """A user-typed comma list (CLI flag, page field) → finite floats, via :func:`split_floats`.

    ConfigError naming ``field`` on a non-number, an empty list, a non-finite value, or (``positive``)
    a value <= 0."""
    try:
        values = split_floats(text)
    except ValueError:
        raise ConfigError(field, "must be a comma-separated list of numbers", text) from None
    if not values or not all(math.isfinite(v) for v in values):
        raise ConfigError(field, "must list at least one finite number", text)
    if positive and min(values) <= 0:
        raise ConfigError(field, "every value must be > 0", text)
    return values


def _set(obj: object, name: str, value: Any) -> None:
    object.__setattr__(obj, name, value)  # normalise a frozen field in __post_init__


# ---------------------------------------------------------------- dataclasses
@dataclass(frozen=True)
class TargetConfig:
    """What to learn: Σyx (and Σxx). See targets.build_problem and THEORY.md §1, §6."""

    kind: str = "article"
    singular_values: tuple[float, ...] = ARTICLE_SINGULAR_VALUES
    n_out: int | None = None
    n_in: int | None = None
    rotate_seed: int | None = None
    matrix: tuple[tuple[float, ...], ...] | None = None
    input_kind: str = "whitened"
    input_eigenvalues: tuple[float, ...] | None = None
    input_seed: int = 0

    def __post_init__(self) -> None:
        kind = targets.TARGET_KINDS[check_choice("target_kind", self.kind, targets.TARGET_KINDS)]
        _set(self, "singular_values", check_floats("singular_values", self.singular_values, positive=False))
        for name in ("n_out", "n_in"):
            v = getattr(self, name)
            if v is not None:
                _set(self, name, check_int(name, v, 1))
        for name, value in ((kind.check(self) if kind.check else None) or {}).items():
            _set(self, name, value)
        if self.rotate_seed is not None:
            _set(self, "rotate_seed", check_int("rotate_seed", self.rotate_seed, 0))
            if not kind.rotatable:
                # e.g. hierarchy and matrix bring their own singular vectors: a seed would be silently ignored
                rotatable = " or ".join(repr(k) for k, v in targets.TARGET_KINDS.items() if v.rotatable)
                raise ConfigError("rotate_seed", f"must be empty unless target_kind is {rotatable} "
                                  f"(target_kind={self.kind!r} has fixed singular vectors)", self.rotate_seed)
        _set(self, "input_seed", check_int("input_seed", self.input_seed, 0))
        check_choice("input_kind", self.input_kind, INPUT_KINDS)
        if kind.own_inputs and self.input_kind != "whitened":
            # e.g. the hierarchy brings its own one-hot inputs (Σxx = I/4); see targets.py
            raise ConfigError("input_kind", f"must be 'whitened' for the {self.kind} (its inputs are one-hot)",
                              self.input_kind)
        if self.input_kind == "whitened":
            _set(self, "input_eigenvalues", None)  # ignored when whitened: normalise for equality/caching
        else:
            if self.input_eigenvalues is None:
                raise ConfigError("input_eigenvalues", f"required for input_kind={self.input_kind!r}: "
                                  f"{self.dims[1]} numbers > 0", None)
            ev = check_floats("input_eigenvalues", self.input_eigenvalues, positive=True)
            if len(ev) != self.dims[1]:
                raise ConfigError("input_eigenvalues", f"must have n_in = {self.dims[1]} values > 0", ev)
            _set(self, "input_eigenvalues", ev)

    @property
    def dims(self) -> tuple[int, int]:
        """(n_out, n_in) of Σyx (the target kind's registry entry decides)."""
        return targets.TARGET_KINDS[self.kind].dims(self)


@dataclass(frozen=True)
class NetworkConfig:
    """Depth L and hidden width (all hidden layers share it)."""

    depth: int = 2
    width: int | None = None

    def __post_init__(self) -> None:
        _set(self, "depth", check_int("depth", self.depth, 1, MAX_DEPTH))
        if self.width is not None:
            _set(self, "width", check_int("width", self.width, 1))


MAX_INIT_SCALE = 1e3  # far past any useful init: W_L…W_1 would then overflow float64 at moderate depth
MAX_LAMBDA_B = 1e6


def _check_magnitudes(init) -> None:
    """Refuse magnitudes whose products overflow before the first step (an SVD of inf fails)."""
    if init.scale > MAX_INIT_SCALE:
        raise ConfigError("init_scale", f"must be in (0, {MAX_INIT_SCALE:g}]", init.scale)
    if abs(init.lambda_b) > MAX_LAMBDA_B:
        raise ConfigError("lambda_b", f"must be in [-{MAX_LAMBDA_B:g}, {MAX_LAMBDA_B:g}]", init.lambda_b)


@dataclass(frozen=True)
class InitConfig:
    """Initialisation scheme: a name in inits.SCHEMES (inits.init_weights draws it)."""

    scheme: str = "near-identity"
    scale: float = 1e-5
    lambda_b: float = 0.0
    seed: int = 0

    def __post_init__(self) -> None:
        check_choice("init_scheme", self.scheme, inits.SCHEMES)
        _set(self, "scale", check_float("init_scale", self.scale, positive=True))
        _set(self, "lambda_b", check_float("lambda_b", self.lambda_b))
        _set(self, "seed", check_int("seed", self.seed, 0))
        _check_magnitudes(self)


@dataclass(frozen=True)
class OptimConfig:
    """Full-batch GD settings; ``lr`` in convention H (THEORY.md §1)."""

    lr: float = 0.01
    steps: int | str = "auto"
    record: str | int = "log"
    n_snapshots: int = 200
    device: str = "auto"
    dtype: str = "float64"

    def __post_init__(self) -> None:
        _set(self, "lr", check_float("lr", self.lr, positive=True))
        if self.steps != "auto":
            if isinstance(self.steps, str) and self.steps.strip().isdigit():
                _set(self, "steps", int(self.steps))
            if isinstance(self.steps, str):
                raise ConfigError("steps", "must be an integer >= 1 or 'auto'", self.steps)
            try:
                _set(self, "steps", check_int("steps", self.steps, 1))
            except ConfigError:
                raise ConfigError("steps", "must be an integer >= 1 or 'auto'", self.steps) from None
        if self.record != "log":
            if isinstance(self.record, str) and self.record.strip().isdigit():
                _set(self, "record", int(self.record))
            if isinstance(self.record, str) or isinstance(self.record, bool) or not isinstance(
                self.record, Integral
            ) or self.record < 1:
                raise ConfigError("record", "must be 'log' or an integer N >= 1 (every N steps)", self.record)
            _set(self, "record", int(self.record))
        _set(self, "n_snapshots", check_int("n_snapshots", self.n_snapshots, 2, 100_000))
        check_choice("device", self.device, DEVICES)
        check_choice("dtype", self.dtype, DTYPES)


TRACE_MAX_VALUES = 50_000_000  # traced floats of one batch (400 MB): rows × members × (1 + r)


def check_trace(value: Any) -> int | None:
    """The cheap per-step trace option (engine.run ``trace``, CLI ``train --trace``) → None or N.

    "none" / None: off; "every": every step (N = 1); an integer N >= 1 (or its digits): every N steps.
    """
    if value is None or value == "none":
        return None
    if value == "every":
        return 1
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, Integral) or value < 1:
        raise ConfigError("trace", "must be 'none', 'every' or an integer N >= 1 (every N steps)", value)
    return int(value)


def check_trace_size(every: int, total_steps: int, members: int, r: int) -> None:
    """ConfigError if a trace of ``total_steps`` every ``every`` steps would hold more than
    :data:`TRACE_MAX_VALUES` floats."""
    n = (total_steps // every + 2) * members * (1 + r)
    if n > TRACE_MAX_VALUES:
        need = math.ceil(every * n / TRACE_MAX_VALUES)
        raise ConfigError("trace", f"at most {TRACE_MAX_VALUES:,} traced values per run: {n:,}, so trace every "
                          f"{need} steps or more", every)


# flat key -> (section, attribute); the order is the CSV / URL column order
FLAT_KEYS: dict[str, tuple[str, str]] = {
    "target_kind": ("target", "kind"),
    "singular_values": ("target", "singular_values"),
    "n_out": ("target", "n_out"),
    "n_in": ("target", "n_in"),
    "rotate_seed": ("target", "rotate_seed"),
    "matrix": ("target", "matrix"),
    "input_kind": ("target", "input_kind"),
    "input_eigenvalues": ("target", "input_eigenvalues"),
    "input_seed": ("target", "input_seed"),
    "depth": ("network", "depth"),
    "width": ("network", "width"),
    "init_scheme": ("init", "scheme"),
    "init_scale": ("init", "scale"),
    "lambda_b": ("init", "lambda_b"),
    "seed": ("init", "seed"),
    "lr": ("optim", "lr"),
    "steps": ("optim", "steps"),
    "record": ("optim", "record"),
    "n_snapshots": ("optim", "n_snapshots"),
    "device": ("optim", "device"),
    "dtype": ("optim", "dtype"),
}
_INT_KEYS = {"n_out", "n_in", "rotate_seed", "input_seed", "depth", "width", "seed", "n_snapshots"}
_FLOAT_KEYS = {"init_scale", "lambda_b", "lr"}
_VECTOR_KEYS = {"singular_values", "input_eigenvalues"}


def _fmt_vector(v: tuple[float, ...] | None) -> str | None:
    return None if v is None else ",".join(repr(float(x)) for x in v)


def _fmt_matrix(m: tuple[tuple[float, ...], ...] | None) -> str | None:
    return None if m is None else ";".join(",".join(repr(float(x)) for x in row) for row in m)


def _parse_flat(key: str, value: Any) -> Any:
    """Turn a flat (possibly string, e.g. from a URL or CSV) value into the field's type."""
    if value is None or (isinstance(value, float) and math.isnan(value) and key not in _FLOAT_KEYS):
        return None  # pandas reads missing CSV cells as NaN
    if isinstance(value, str):
        s = value.strip()
        if key in _VECTOR_KEYS and not s:
            # an emptied list field: () lets TargetConfig raise its "non-empty" error; None would
            # silently become the default (article) spectrum
            return ()
        if s.lower() in ("", "none", "null"):
            return None
        try:
            if key in _VECTOR_KEYS:
                return split_floats(s.replace(";", ","))  # ';' is accepted as a separator too
            if key == "matrix":
                return tuple(tuple(float(x) for x in row.split(",")) for row in s.split(";") if row.strip())
            if key in _INT_KEYS:
                return int(s)
            if key in _FLOAT_KEYS:
                return float(s)
            if key in ("steps", "record") and s.isdigit():
                return int(s)
        except ValueError:
            raise ConfigError(key, "could not parse the value", value) from None
        return s
    if key in _INT_KEYS and isinstance(value, float) and value.is_integer():
        return int(value)  # CSV round trip of an int column with missing cells
    if key in ("steps", "record") and isinstance(value, float) and value.is_integer():
        return int(value)
    if key in _VECTOR_KEYS or key == "matrix":
        return tuple(tuple(r) if key == "matrix" else r for r in value)
    return value


@dataclass(frozen=True)
class RunConfig:
    """One training run: target × network × init × optimiser."""

    target: TargetConfig = field(default_factory=TargetConfig)
    network: NetworkConfig = field(default_factory=NetworkConfig)
    init: InitConfig = field(default_factory=InitConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)

    def __post_init__(self) -> None:
        for name, cls in (("target", TargetConfig), ("network", NetworkConfig), ("init", InitConfig),
                          ("optim", OptimConfig)):
            if not isinstance(getattr(self, name), cls):
                raise ConfigError(name, f"must be a {cls.__name__}", type(getattr(self, name)).__name__)
        scheme = inits.SCHEMES[self.init.scheme]
        if scheme.check is not None:  # cross-field rules of the scheme (e.g. λ-balanced: depth 2, width)
            scheme.check(self)

    @property
    def width(self) -> int:
        """Hidden width in force: network.width or max(n_in, n_out)."""
        return self.network.width or max(self.target.dims)

    @property
    def layer_dims(self) -> tuple[int, ...]:
        """(n_0 = n_in, n_1, ..., n_L = n_out): W_l has shape (n_l, n_{l-1})."""
        n_out, n_in = self.target.dims
        return (n_in, *([self.width] * (self.network.depth - 1)), n_out)

    # ------------------------------------------------------------ flat view
    def to_flat(self) -> dict:
        """Flat JSON-able dict (vectors as comma strings, the matrix as 'a,b;c,d')."""
        out = {}
        for key, (section, attr) in FLAT_KEYS.items():
            v = getattr(getattr(self, section), attr)
            if key in _VECTOR_KEYS:
                v = _fmt_vector(v)
            elif key == "matrix":
                v = _fmt_matrix(v)
            out[key] = v
        return out

    @classmethod
    def from_flat(cls, d: dict) -> RunConfig:
        """Inverse of to_flat; unknown keys are rejected, missing keys take defaults, strings are parsed.

        A blank string for a vector key (``singular_values``, ``input_eigenvalues``) is an empty list,
        not a missing value: it fails validation instead of silently meaning the default."""
        unknown = sorted(set(d) - set(FLAT_KEYS))
        if unknown:
            raise ConfigError(unknown[0], "unknown setting; known: " + ", ".join(FLAT_KEYS), d[unknown[0]])
        parts: dict[str, dict] = {"target": {}, "network": {}, "init": {}, "optim": {}}
        for key, value in d.items():
            section, attr = FLAT_KEYS[key]
            parts[section][attr] = _parse_flat(key, value)
        # a missing optional value keeps its default rather than becoming None
        for section, cls_ in (("target", TargetConfig), ("network", NetworkConfig), ("init", InitConfig),
                              ("optim", OptimConfig)):
            defaults = {f.name: f.default for f in fields(cls_)}
            for attr, v in list(parts[section].items()):
                if v is None and defaults[attr] is not None:
                    parts[section][attr] = defaults[attr]
        return cls(
            target=TargetConfig(**parts["target"]),
            network=NetworkConfig(**parts["network"]),
            init=InitConfig(**parts["init"]),
            optim=OptimConfig(**parts["optim"]),
        )

    @classmethod
    def make(cls, **flat: Any) -> RunConfig:
        """Build from flat keyword arguments, e.g. ``RunConfig.make(depth=3, init_scale=0.1, lr=0.02)``."""
        return cls.from_flat(flat)

    def replace(self, **flat: Any) -> RunConfig:
        """A copy with some flat keys changed (validated again)."""
        d = self.to_flat()
        d.update(flat)
        return RunConfig.from_flat(d)

    # ------------------------------------------------------------ caps
    def check_limits(self, limits: Limits) -> None:
        """ConfigError if this run exceeds the server's caps (limits.py)."""
        check_cap("depth", self.network.depth, limits.max_depth)
        n_out, n_in = self.target.dims
        check_cap("n_out", n_out, limits.max_width, "target output dimension")
        check_cap("n_in", n_in, limits.max_width, "target input dimension")
        check_cap("width", self.width, limits.max_width)
        if self.optim.steps != "auto":
            check_cap("steps", self.optim.steps, limits.max_steps)
        # memory grows with the recorded snapshots; with 'auto' steps and recording every N steps the
        # count is known only once the run length is (engine.run_batch checks it then: check_snapshots)
        if self.optim.record == "log":
            check_cap("n_snapshots", self.optim.n_snapshots, limits.max_snapshots, "snapshots per run")
        elif self.optim.steps != "auto":
            self.check_snapshots(self.optim.steps, limits)
        else:  # 'auto' may run up to the step cap: refuse now what would be refused only after training
            self.check_snapshots(limits.max_steps, limits, auto=True)

    def check_snapshots(self, total_steps: int, limits: Limits, auto: bool = False) -> None:
        """ConfigError if recording every N steps over ``total_steps`` exceeds limits.max_snapshots
        (``auto``: ``total_steps`` is the longest an 'auto' run may last)."""
        if self.optim.record == "log":
            return
        n = total_steps // self.optim.record + 2  # every N steps, plus step 0 and the last step
        if n <= limits.max_snapshots:
            return
        every = -(-total_steps // (limits.max_snapshots - 2))
        length = f"'auto' may run up to {total_steps} steps" if auto else f"{total_steps} steps"
        raise ConfigError("record", f"at most {limits.max_snapshots} snapshots per run on this server: {length}, "
                          f"so record every {every} steps or more (or use log-spaced snapshots)",
                          self.optim.record)


def preset(depth: int, name: str) -> RunConfig:
    """The article widget's preset (near-identity init, article target) for depth 1-3."""
    name = check_choice("preset", name, PRESET_NAMES)
    depth = check_int("depth", depth, 1, 3)
    lr, scale = PRESETS[(depth, name)]
    return RunConfig(
        network=NetworkConfig(depth=depth),
        init=InitConfig(scheme="near-identity", scale=scale),
        optim=OptimConfig(lr=lr),
    )


__all__ = [
    "INPUT_KINDS",
    "MAX_MAGNITUDE",
    "PRESETS",
    "PRESET_NAMES",
    "TRACE_MAX_VALUES",
    "InitConfig",
    "NetworkConfig",
    "OptimConfig",
    "RunConfig",
    "TargetConfig",
    "check_trace",
    "check_trace_size",
    "preset",
]
