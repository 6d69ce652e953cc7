"""The toy model of Section 3 and Appendix C: two lookup-table circuits scaled by learned weights.

The generalising circuit ``C_gen`` and the memorising circuit ``C_mem`` are one-hot lookup
tables (Eqs. 3-4). Each is scaled by a weight that is the product of two subweights (Eq. 5)::

    o = w_g1 w_g2 o_G + w_m1 w_m2 o_M,      w_gen = w_g1 w_g2,   w_mem = w_m1 w_m2.

On a train input both circuits put their logit on the correct label; on a test input ``C_gen``
is right and ``C_mem`` confidently wrong. With ``n`` labels this gives Appendix C's closed forms

    X_train = log(1 + (n-1) e^-(w_gen + w_mem))                      (train cross-entropy)
    X_test  = log((n-2) + e^w_gen + e^w_mem) - w_gen                  (test cross-entropy)
    L_wd    = alpha (P'_g^2 + P'_m^2),   P'_c = |w_c1 w_c2|^(1/kappa) P_c,
    L_train = X_train + L_wd,   L_test = X_test + L_wd                 (Appendix C's losses)

and plain gradient descent on the four subweights, ``w <- w - lr dL_train/dw``.

Choices where the paper is silent or inconsistent (see docs/toy-model.md):

- **No 1/2 in the weight decay.** Eq. 2 writes ``alpha * 1/2 * ||theta||^2``; Appendix C writes
  ``L_wd = P'_g^2 + P'_m^2`` (with alpha from Table 1). Appendix C's form reproduces Figure 2a's
  timing: with Table 1 (a), ``w_gen`` is 0.047 at step 2500 and reaches 0.1 at step 2831, and
  the test loss falls below 1 nat at step 5393 (5258 for the cross-entropy alone), matching
  "C_gen only starts to grow significantly by step 2500". With the 1/2, ``w_gen`` is 0.004 at
  step 2500, reaches 0.1 only at step 5128 and the test loss falls below 1 nat at step 9697
  (9576), so the grokking curve barely fits in the figure's 10k steps. Checked by simulating both
  (``tests/sim/test_dynamics.py::test_appendix_c_weight_decay_matches_figure_2a_timing``).
  ``wd_half=True`` selects Eq. 2's convention.
- **Negative weights.** ``P'_c`` uses ``|w_c|``: a kappa-layer ReLU network whose output is
  scaled by ``-c`` has the parameter norm of the one scaled by ``c``. So ``L_wd`` is even in
  ``w_c`` and its derivative is ``alpha P_c^2 (2/kappa) sign(w) |w|^(2/kappa - 1)``.
- **w = 0.** That derivative is 0 at ``w = 0`` when ``kappa < 2``, ``+-alpha P_c^2`` when
  ``kappa = 2`` and unbounded when ``kappa > 2``. At exactly ``w = 0`` we use the subgradient 0
  (0 lies in the subdifferential for ``kappa >= 2``, and it is the limit for ``kappa < 2``),
  so the first step from Table 1's initialisation (``w_c1 = 0``) is driven by the
  cross-entropy alone.
- **The reported losses are Appendix C's.** Appendix C defines ``L_train`` and ``L_test`` as
  the cross-entropies plus ``L_wd``; ``train_loss``/``test_loss`` (the plotted curves, the CSV
  columns and the JSON fields) follow that definition, and the cross-entropy parts are
  reported beside them as ``train_xent``/``test_xent`` (with ``wd_loss`` = ``L_wd``).
  Gradient descent uses ``L_train`` (cross-entropy plus ``L_wd``) either way. Which of the two
  the paper's figure plots cannot be read off it with certainty (docs/toy-model.md); the
  default follows the equations the paper prints.

Appendix C's ``q`` (number of labels) is ``n_labels`` here; Theorem D.4's ``q`` (norm
exponent, 2 for weight decay) is a different quantity.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields

from grokcheck import validate
from grokcheck.errors import InputError

#: CLI flag of each field whose flag is not the field name with '_' -> '-'
_FLAGS = {"P_g": "--p-g", "P_m": "--p-m"}

#: Allowed closed range of every numeric field. Outside these the arithmetic breaks down
#: (``P^2``, ``2/kappa`` or ``|w|^(2/kappa)`` overflow or lose every digit, a trace of more than
#: 10^6 steps is too large to keep and write), or Theorem D.4's cross-check cannot follow
#: (:mod:`grokcheck.theory.ranges`: at most 1000 labels, alpha 0 or at least
#: :data:`ALPHA_MIN`, and a joint limit checked by :func:`grokcheck.sim.run.panel_configs`).
#: Within them every run either finishes or stops with a clean "diverged: lower --lr" error;
#: the corner cases are tested in tests/sim/test_run.py and tests/cli/test_sim_cli.py.
RANGES: dict[str, tuple[float, float]] = {
    "P_g": (1e-3, 1e3),
    "P_m": (1e-3, 1e3),
    "kappa": (0.1, 10.0),
    "alpha": (0.0, 10.0),
    "w_g1": (-100.0, 100.0),
    "w_g2": (-100.0, 100.0),
    "w_m1": (-100.0, 100.0),
    "w_m2": (-100.0, 100.0),
    "n_labels": (2, 1000),
    "lr": (1e-6, 10.0),
    "steps": (1, 1_000_000),
}
#: smallest alpha > 0 (below it Theorem D.4's optimum is out of float64's reach)
ALPHA_MIN = 1e-8


#: allowed closed range of every numeric field of :class:`grokcheck.sim.run.Settings` (as
#: :data:`RANGES`); ``max_steps`` must also be at least ``steps``. 10^8 steps to convergence take ~2 minutes.
SETTINGS_RANGES: dict[str, tuple[float, float]] = {
    "threshold": (1e-6, 1e3),
    "onset": (1e-6, 1e3),
    "tol": (1e-15, 0.1),
    "max_steps": (1, 100_000_000),
    "agree_tol": (1e-15, 0.1),
}


def flag(name: str) -> str:
    """The ``grokcheck sim`` flag of a config or settings field."""
    return _FLAGS.get(name, "--" + name.replace("_", "-"))


def range_text(name: str, ranges: dict[str, tuple[float, float]] | None = None) -> str:
    """``"[lo, hi]"`` for a field, as the help and the error messages show it."""
    lo, hi = (ranges or RANGES)[name]
    if ranges is None and name == "alpha":
        return f"0 or [{_num(ALPHA_MIN)}, {_num(hi)}]"
    return f"[{_num(lo)}, {_num(hi)}]"


def _num(x: float) -> str:
    """``1e-06`` as ``1e-6``, ``1e+09`` as ``1e9``."""
    return f"{x:g}".replace("e+0", "e").replace("e-0", "e-").replace("e+", "e")


def check_range(
    name: str, value: object, ranges: dict[str, tuple[float, float]] | None = None, *, integer: bool = False
) -> float | int:
    """Return ``value`` (a float, or an int with ``integer``) if it lies in its range.

    Raises:
        InputError: naming the flag and the allowed range.
    """
    lo, hi = (ranges or RANGES)[name]
    what = f"must be {'an integer' if integer else 'a number'} in {range_text(name, ranges)}"
    if ranges is None and name == "alpha":
        what = f"must be 0 or a number in [{_num(ALPHA_MIN)}, {_num(hi)}]"
    if integer:
        ok = isinstance(value, int) and not isinstance(value, bool)
        x = value if ok else None
    else:
        try:
            x = None if isinstance(value, bool) else float(value)  # type: ignore[arg-type]
        except (TypeError, ValueError, OverflowError):
            x = None
    if ranges is None and name == "alpha" and x is not None and 0 < x < ALPHA_MIN:
        x = None
    if x is None or not (lo <= x <= hi):  # NaN fails both comparisons
        raise InputError(name, f"{what}, got {validate.shown(value)}", flag=flag(name))
    return x


@dataclass(frozen=True)
class SimConfig:
    """One simulation. Defaults are Table 1 (a); :data:`PRESETS` holds (a), (b) and (c).

    Attributes:
        P_g, P_m: parameter norms of ``C_gen`` and ``C_mem`` at unit weight.
        kappa: efficiency exponent: ``P'_c = |w_c|^(1/kappa) P_c``.
        alpha: weight-decay strength (0 switches weight decay off).
        w_g1, w_g2, w_m1, w_m2: initial subweights.
        n_labels: number of labels, Appendix C's ``q``.
        lr: gradient-descent learning rate lambda.
        steps: gradient steps to simulate and plot.

    Every numeric field must lie in its range in :data:`RANGES`.
        wd_half: use Eq. 2's ``alpha/2`` instead of Appendix C's ``alpha`` (default off).
    """

    P_g: float = 1.0
    P_m: float = 2.0
    kappa: float = 1.2
    alpha: float = 0.005
    w_g1: float = 0.0
    w_g2: float = 0.005
    w_m1: float = 0.0
    w_m2: float = 1.0
    n_labels: int = 113
    lr: float = 0.01
    steps: int = 10_000
    wd_half: bool = False

    def __post_init__(self) -> None:
        for name in RANGES:
            integer = name in ("n_labels", "steps")
            object.__setattr__(self, name, check_range(name, getattr(self, name), integer=integer))

    @property
    def wd_coef(self) -> float:
        """The factor in front of ``P'_g^2 + P'_m^2``: alpha (Appendix C) or alpha/2 (Eq. 2)."""
        return self.alpha / 2 if self.wd_half else self.alpha

    @property
    def subweights(self) -> tuple[float, float, float, float]:
        """Initial ``(w_g1, w_g2, w_m1, w_m2)``."""
        return (self.w_g1, self.w_g2, self.w_m1, self.w_m2)


#: Table 1's three parameter sets, by Figure 2 panel
PRESETS: dict[str, SimConfig] = {
    "2a": SimConfig(),
    "2b": SimConfig(P_g=4.0),
    "2c": SimConfig(w_g2=1.0),
}

#: one line per panel, from Figure 2's caption
PANEL_TITLES: dict[str, str] = {
    "2a": "(a) All three ingredients",
    "2b": "(b) C_gen less efficient than C_mem",
    "2c": "(c) C_gen and C_mem learned at equal speeds",
}


def config_fields() -> tuple[str, ...]:
    """Names of the overridable config values, in Table 1's order."""
    return tuple(f.name for f in fields(SimConfig))


# ---------------------------------------------------------------------------------------------
# Closed forms on the weights (scalars)


def _logaddexp(a: float, b: float) -> float:
    m = max(a, b)
    return m + math.log1p(math.exp(-abs(a - b)))


def _sigmoid(u: float) -> float:
    if u >= 0:
        return 1.0 / (1.0 + math.exp(-u))
    e = math.exp(u)
    return e / (1.0 + e)


def xent_train(w_gen: float, w_mem: float, n_labels: int) -> float:
    """Train cross-entropy ``log(1 + (n-1) e^-(w_gen + w_mem))`` (Appendix C, without L_wd)."""
    return _logaddexp(0.0, math.log(n_labels - 1) - (w_gen + w_mem))


def xent_test(w_gen: float, w_mem: float, n_labels: int) -> float:
    """Test cross-entropy ``log((n-2) + e^w_gen + e^w_mem) - w_gen`` (Appendix C, without L_wd).

    On a test input ``C_gen`` puts ``w_gen`` on the correct label and ``C_mem`` puts ``w_mem``
    on one wrong label (no overlap between D_test and D_mem); the other n-2 labels get 0.
    """
    z = _logaddexp(w_gen, w_mem)
    if n_labels > 2:
        z = _logaddexp(z, math.log(n_labels - 2))
    return z - w_gen


def param_norms(w_gen: float, w_mem: float, cfg: SimConfig) -> tuple[float, float]:
    """``(P'_g, P'_m)`` with ``P'_c = |w_c|^(1/kappa) P_c``."""
    return abs(w_gen) ** (1 / cfg.kappa) * cfg.P_g, abs(w_mem) ** (1 / cfg.kappa) * cfg.P_m


def wd_loss(w_gen: float, w_mem: float, cfg: SimConfig) -> float:
    """``alpha (P'_g^2 + P'_m^2)`` (Appendix C; alpha/2 with ``wd_half``)."""
    pg, pm = param_norms(w_gen, w_mem, cfg)
    return cfg.wd_coef * (pg * pg + pm * pm)


def loss(w_gen: float, w_mem: float, cfg: SimConfig) -> float:
    """Appendix C's ``L_train``, the loss gradient descent minimises: train cross-entropy plus
    ``L_wd``."""
    return xent_train(w_gen, w_mem, cfg.n_labels) + wd_loss(w_gen, w_mem, cfg)


def loss_test(w_gen: float, w_mem: float, cfg: SimConfig) -> float:
    """Appendix C's ``L_test``: test cross-entropy plus ``L_wd``."""
    return xent_test(w_gen, w_mem, cfg.n_labels) + wd_loss(w_gen, w_mem, cfg)


# ---------------------------------------------------------------------------------------------
# Gradients in closed form


def xent_slope(S: float, log_wrong: float) -> float:
    """``dL_train/dS`` at total weight ``S``: ``-1 / (1 + e^S / (n-1))``; ``log_wrong = log(n-1)``.

    Written as a sigmoid so it neither overflows for large ``S`` nor rounds to -1 for very
    negative ``S``.
    """
    return -_sigmoid(log_wrong - S)


def wd_slope(w: float, coef: float, expo: float) -> float:
    """``d/dw coef |w|^expo`` with ``coef = wd_coef P_c^2`` and ``expo = 2/kappa``.

    ``coef expo sign(w) |w|^(expo - 1)``; at ``w = 0`` the subgradient 0 (see module docstring).
    """
    if w == 0.0:
        return 0.0
    return coef * expo * math.copysign(abs(w) ** (expo - 1.0), w)


def weight_grad(w_gen: float, w_mem: float, cfg: SimConfig) -> tuple[float, float]:
    """``(dL/dw_gen, dL/dw_mem)`` of train cross-entropy plus ``L_wd``."""
    s = xent_slope(w_gen + w_mem, math.log(cfg.n_labels - 1))
    expo = 2.0 / cfg.kappa
    return (
        s + wd_slope(w_gen, cfg.wd_coef * cfg.P_g**2, expo),
        s + wd_slope(w_mem, cfg.wd_coef * cfg.P_m**2, expo),
    )


def subweight_grad(
    sub: tuple[float, float, float, float], cfg: SimConfig
) -> tuple[float, float, float, float]:
    """Gradient with respect to ``(w_g1, w_g2, w_m1, w_m2)`` by the chain rule through Eq. 5."""
    g1, g2, m1, m2 = sub
    dg, dm = weight_grad(g1 * g2, m1 * m2, cfg)
    return (dg * g2, dg * g1, dm * m2, dm * m1)


def gd_step(sub: tuple[float, float, float, float], cfg: SimConfig) -> tuple[float, float, float, float]:
    """One gradient-descent step ``w_ci <- w_ci - lr dL/dw_ci`` (all four from the same state)."""
    grad = subweight_grad(sub, cfg)
    return tuple(w - cfg.lr * g for w, g in zip(sub, grad, strict=True))  # type: ignore[return-value]
