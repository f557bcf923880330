"""The generalisation experiment's configuration: one frozen, validated dataclass (THEORY §9).

Light on purpose (stdlib, the validators, limits): the CLI checks a ``generalize`` command line with it
before numpy-heavy modules, pandas or the engine load. Every invalid value raises one
:class:`~dln_core.errors.ConfigError` naming the field (the CLI flag's name with ``_``) and its range.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from ._validate import MAX_MAGNITUDE, check_choice, check_float, check_floats, check_int
from .errors import ConfigError
from .limits import Limits, check_cap

INPUTS = ("whitened", "gaussian")  # gaussian = raw inputs, Σ̂xx ≠ I: simulation only
INIT_SCHEMES = ("aligned", "gaussian")  # aligned on the sample's modes: the exact level applies exactly
MAX_DIM = 4096
MAX_DEPTH = 64
MAX_SAMPLES = 1_000_000
MAX_SAMPLE_ENTRIES = 20_000_000  # n_in × P numbers of the drawn input matrix (160 MB in float64)
MAX_INIT_SCALE = 1e3


def _set(obj: object, name: str, value) -> None:
    object.__setattr__(obj, name, value)


@dataclass(frozen=True)
class GeneralizeConfig:
    """Teacher (n_out × n_in, ``rank`` singular values), ``samples`` noisy examples, a depth-L student.

    Defaults: a 20 × 20 teacher of rank 3 seen through 40 samples with label noise σ = 1 — two signal
    modes far above the noise, one just above the BBP threshold — and a depth-2 student from an
    aligned start of per-layer strength 1e-3.
    """

    n_in: int = 20
    n_out: int = 20
    rank: int = 3
    singular_values: tuple[float, ...] = (4.0, 2.0, 1.0)
    samples: int = 40
    noise: float = 1.0
    inputs: str = "whitened"
    depth: int = 2
    width: int | None = None
    init_scheme: str = "aligned"
    init_scale: float = 1e-3
    lr: float = 0.05
    steps: int | str = "auto"
    seed: int = 0
    n_snapshots: int = 300

    def __post_init__(self) -> None:
        _set(self, "n_in", check_int("n_in", self.n_in, 1, MAX_DIM))
        _set(self, "n_out", check_int("n_out", self.n_out, 1, MAX_DIM))
        r = min(self.n_in, self.n_out)
        _set(self, "rank", check_int("rank", self.rank, 1, r))
        sv = check_floats("singular_values", self.singular_values, positive=True)
        if len(sv) != self.rank:
            raise ConfigError("singular_values", f"must list rank = {self.rank} values > 0 and <= "
                              f"{MAX_MAGNITUDE:g}", sv)
        _set(self, "singular_values", sv)
        hi = min(MAX_SAMPLES, MAX_SAMPLE_ENTRIES // self.n_in)
        if hi < self.n_in:
            raise ConfigError("n_in", f"must be at most {int(MAX_SAMPLE_ENTRIES ** 0.5)} (n_in × samples "
                              f"<= {MAX_SAMPLE_ENTRIES:g} and samples >= n_in)", self.n_in)
        # whitening needs P ≥ n_in (X Xᵀ/P = I has rank n_in); raw inputs need it for an invertible Σ̂xx
        _set(self, "samples", check_int("samples", self.samples, self.n_in, hi))
        _set(self, "noise", check_float("noise", self.noise, nonneg=True))
        if self.noise > MAX_MAGNITUDE:
            raise ConfigError("noise", f"must be in [0, {MAX_MAGNITUDE:g}]", self.noise)
        check_choice("inputs", self.inputs, INPUTS)
        _set(self, "depth", check_int("depth", self.depth, 1, MAX_DEPTH))
        if self.depth == 1:
            _set(self, "width", None)  # no hidden layer: normalised so equal runs compare equal
        elif self.width is not None:
            # every empirical mode (min(n_in, n_out) of them, signal and noise) must fit in the hidden layer
            _set(self, "width", check_int("width", self.width, r, MAX_DIM))
        check_choice("init_scheme", self.init_scheme, INIT_SCHEMES)
        _set(self, "init_scale", check_float("init_scale", self.init_scale, positive=True))
        if self.init_scale > MAX_INIT_SCALE:
            raise ConfigError("init_scale", f"must be in (0, {MAX_INIT_SCALE:g}]", self.init_scale)
        _set(self, "lr", check_float("lr", self.lr, positive=True))
        if self.steps != "auto":
            if isinstance(self.steps, str) and self.steps.strip().isdigit():
                _set(self, "steps", int(self.steps))
            try:
                _set(self, "steps", check_int("steps", self.steps, 1))
            except ConfigError:
                raise ConfigError("steps", "must be an integer >= 1 or 'auto'", self.steps) from None
        _set(self, "seed", check_int("seed", self.seed, 0))
        _set(self, "n_snapshots", check_int("n_snapshots", self.n_snapshots, 10, 100_000))

    @property
    def hidden_width(self) -> int:
        """Hidden width in force: ``width`` or max(n_in, n_out)."""
        return self.width or max(self.n_in, self.n_out)

    @property
    def layer_dims(self) -> tuple[int, ...]:
        """(n_in, width, …, width, n_out)."""
        return (self.n_in, *([self.hidden_width] * (self.depth - 1)), self.n_out)

    def to_dict(self) -> dict:
        """Plain JSON-able dict (the CLI's config echo, the page's cache key)."""
        d = asdict(self)
        d["singular_values"] = list(self.singular_values)
        return d

    def replace(self, **changes) -> GeneralizeConfig:
        """A validated copy with some fields changed."""
        return GeneralizeConfig(**{**self.to_dict(), **changes, "singular_values": tuple(
            changes.get("singular_values", self.singular_values))})

    def check_limits(self, limits: Limits) -> None:
        """ConfigError if this experiment exceeds the server's caps (limits.py)."""
        check_cap("depth", self.depth, limits.max_depth)
        check_cap("n_in", self.n_in, limits.max_width, "teacher input dimension")
        check_cap("n_out", self.n_out, limits.max_width, "teacher output dimension")
        check_cap("width", self.hidden_width, limits.max_width)
        check_cap("samples", self.samples, 200 * limits.max_width, "training samples")
        if self.steps != "auto":
            check_cap("steps", self.steps, limits.max_steps)
        check_cap("n_snapshots", self.n_snapshots, limits.max_snapshots, "snapshots per run")


__all__ = ["INIT_SCHEMES", "INPUTS", "GeneralizeConfig"]
