"""Gradient descent on the toy model: the displayed run (a trace) and runs to convergence.

The inner loop works on four Python floats: for four scalars, numpy's per-call overhead
costs more than the arithmetic, and a plain loop does 10k steps in ~10 ms. Metrics
(losses, logits, norms) are computed afterwards from the recorded subweights, vectorised.
The loop inlines :func:`grokcheck.sim.model.gd_step` with the same floating-point operations
in the same order; the tests check that the two give identical runs. (Bitwise agreement
matters: with kappa > 2 the dynamics near ``w = 0`` are chaotic, so rounding differences grow.)
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from grokcheck.errors import InputError, RunError
from grokcheck.sim import model
from grokcheck.sim.model import SimConfig

Sub = tuple[float, float, float, float]

#: steps between two checks of the convergence criterion
WINDOW = 1000
#: relative change of the weights over one window below which a run counts as converged
CONVERGE_TOL = 1e-11
#: cap on the steps of a run to convergence
MAX_STEPS = 2_000_000


def descend(sub: Sub, cfg: SimConfig, n_steps: int, record: list[Sub] | None = None) -> Sub:
    """Take ``n_steps`` gradient steps from ``sub``; append every new state to ``record``.

    Raises:
        RunError: the weights overflowed (learning rate too large for this configuration).
    """
    g1, g2, m1, m2 = sub
    lr = cfg.lr
    expo = 2.0 / cfg.kappa
    e1 = expo - 1.0
    cg = cfg.wd_coef * cfg.P_g**2 * expo
    cm = cfg.wd_coef * cfg.P_m**2 * expo
    log_wrong = math.log(cfg.n_labels - 1)
    exp, copysign = math.exp, math.copysign
    append = record.append if record is not None else None
    try:
        for _ in range(n_steps):
            wg = g1 * g2
            wm = m1 * m2
            u = log_wrong - (wg + wm)
            if u >= 0:
                s = -1.0 / (1.0 + exp(-u))
            else:
                e = exp(u)
                s = -e / (1.0 + e)
            dg = s + cg * copysign(abs(wg) ** e1, wg) if wg != 0.0 else s
            dm = s + cm * copysign(abs(wm) ** e1, wm) if wm != 0.0 else s
            # same arithmetic, in the same order, as model.gd_step: the runs agree bit for bit
            g1, g2, m1, m2 = (
                g1 - lr * (dg * g2),
                g2 - lr * (dg * g1),
                m1 - lr * (dm * m2),
                m2 - lr * (dm * m1),
            )
            if append is not None:
                append((g1, g2, m1, m2))
    except (OverflowError, ZeroDivisionError):
        raise RunError(_diverged(cfg)) from None
    if not all(math.isfinite(x) for x in (g1, g2, m1, m2)):
        raise RunError(_diverged(cfg))
    return (g1, g2, m1, m2)


def _diverged(cfg: SimConfig) -> str:
    return f"gradient descent diverged (lr {cfg.lr:g} is too large for this configuration); lower --lr"


#: the two definitions of the plotted losses: Appendix C's (cross-entropy + L_wd, the default)
#: and the cross-entropy alone
LOSS_DEFINITIONS = ("appendix_c", "xent")

#: ``progress(phase, step, total)``: called during long work ("simulate" / "converge")
Progress = Callable[[str, int, int], None]

#: steps between two progress calls while simulating
CHUNK = 50_000


@dataclass(frozen=True)
class Trace:
    """Every step of a displayed run. Arrays have shape (steps + 1,): index t is after t steps.

    ``train_loss``/``test_loss`` are Appendix C's ``L_train``/``L_test`` (cross-entropy plus
    ``L_wd``); ``train_xent``/``test_xent`` are the cross-entropies alone.
    """

    step: np.ndarray
    subweights: np.ndarray  # (steps + 1, 4): w_g1, w_g2, w_m1, w_m2
    w_gen: np.ndarray
    w_mem: np.ndarray
    train_loss: np.ndarray  # X_train + L_wd (Appendix C)
    test_loss: np.ndarray  # X_test + L_wd (Appendix C)
    train_xent: np.ndarray  # X_train, cross-entropy alone
    test_xent: np.ndarray  # X_test, cross-entropy alone
    wd_loss: np.ndarray  # L_wd
    param_norm: np.ndarray  # sqrt(P'_g^2 + P'_m^2)

    COLUMNS = (
        "step",
        "w_g1",
        "w_g2",
        "w_m1",
        "w_m2",
        "w_gen",
        "w_mem",
        "train_loss",
        "test_loss",
        "train_xent",
        "test_xent",
        "wd_loss",
        "param_norm",
    )

    def table(self) -> np.ndarray:
        """(steps + 1, 13) array in the order of :attr:`COLUMNS`."""
        return np.column_stack(
            [
                self.step,
                self.subweights,
                self.w_gen,
                self.w_mem,
                self.train_loss,
                self.test_loss,
                self.train_xent,
                self.test_xent,
                self.wd_loss,
                self.param_norm,
            ]
        )

    def losses(self, definition: str = "appendix_c") -> tuple[np.ndarray, np.ndarray]:
        """``(train, test)`` losses under one of :data:`LOSS_DEFINITIONS`."""
        if definition == "appendix_c":
            return self.train_loss, self.test_loss
        if definition == "xent":
            return self.train_xent, self.test_xent
        raise InputError("loss", f"must be one of {', '.join(LOSS_DEFINITIONS)}, got {definition!r}")


def metrics(sub: np.ndarray, cfg: SimConfig) -> dict[str, np.ndarray]:
    """Weights, losses and the parameter norm for subweights of shape (T, 4), vectorised.

    Same closed forms as :mod:`grokcheck.sim.model` (the tests compare them row by row).
    """
    sub = np.asarray(sub, dtype=float)
    w_gen = sub[:, 0] * sub[:, 1]
    w_mem = sub[:, 2] * sub[:, 3]
    n = cfg.n_labels
    train = np.logaddexp(0.0, math.log(n - 1) - (w_gen + w_mem))
    z = np.logaddexp(w_gen, w_mem)
    if n > 2:
        z = np.logaddexp(z, math.log(n - 2))
    test = z - w_gen
    pg = np.abs(w_gen) ** (1 / cfg.kappa) * cfg.P_g
    pm = np.abs(w_mem) ** (1 / cfg.kappa) * cfg.P_m
    wd = cfg.wd_coef * (pg**2 + pm**2)
    return {
        "w_gen": w_gen,
        "w_mem": w_mem,
        "train_loss": train + wd,
        "test_loss": test + wd,
        "train_xent": train,
        "test_xent": test,
        "wd_loss": wd,
        "param_norm": np.hypot(pg, pm),
    }


def simulate(cfg: SimConfig, *, progress: Progress | None = None) -> Trace:
    """Run ``cfg.steps`` gradient steps from the initial subweights, recording every step.

    ``progress("simulate", step, cfg.steps)`` is called every :data:`CHUNK` steps (the run is
    the same with or without it: the state passes between chunks unchanged).
    """
    record: list[Sub] = [cfg.subweights]
    sub, done = cfg.subweights, 0
    while done < cfg.steps:
        n = min(CHUNK, cfg.steps - done)
        sub = descend(sub, cfg, n, record)
        done += n
        if progress is not None:
            progress("simulate", done, cfg.steps)
    arr = np.array(record)
    return Trace(step=np.arange(cfg.steps + 1), subweights=arr, **metrics(arr, cfg))


@dataclass(frozen=True)
class Converged:
    """Where gradient descent stops: the weights changed by less than ``tol`` (relative to the
    larger weight) over the last ``window`` steps, or ``max_steps`` ran out (``converged`` false).
    """

    w_gen: float
    w_mem: float
    ratio: float | None  # w_gen / w_mem; None when w_mem == 0
    steps: int
    converged: bool
    loss: float  # L_train (train cross-entropy + L_wd) at the end point
    grad_norm: float  # max |dL/dw| over the four subweights at the end point
    tol: float
    window: int
    max_steps: int


def converge(
    cfg: SimConfig,
    *,
    start: Sub | None = None,
    start_step: int = 0,
    tol: float = CONVERGE_TOL,
    window: int = WINDOW,
    max_steps: int = MAX_STEPS,
    progress: Progress | None = None,
) -> Converged:
    """Run gradient descent until the weights stop changing, from ``start`` (default: the
    initial subweights) which is after ``start_step`` steps; ``steps`` counts from initialisation.

    The criterion is on the weights, not the gradient: with kappa > 2 the gradient of
    ``|w|^(2/kappa)`` is unbounded near 0, so a circuit that weight decay has switched off
    jitters around ``w = 0`` with a large gradient while its weight (~1e-20) no longer moves.
    ``progress("converge", step, max_steps)`` is called every 50 windows.
    """
    sub = start if start is not None else cfg.subweights
    step = start_step
    prev = (sub[0] * sub[1], sub[2] * sub[3])
    converged = False
    while step < max_steps:
        n = min(window, max_steps - step)
        sub = descend(sub, cfg, n)
        step += n
        w = (sub[0] * sub[1], sub[2] * sub[3])
        # purely relative, as documented; at w = 0 both sides are 0 and an unmoving run converges
        scale = max(abs(w[0]), abs(w[1]))
        if n == window and max(abs(w[0] - prev[0]), abs(w[1] - prev[1])) <= tol * scale:
            converged = True
            break
        prev = w
        if progress is not None and (step - start_step) % (50 * window) < n:
            progress("converge", step, max_steps)
    w_gen, w_mem = sub[0] * sub[1], sub[2] * sub[3]
    grad = model.subweight_grad(sub, cfg)
    return Converged(
        w_gen=w_gen,
        w_mem=w_mem,
        ratio=w_gen / w_mem if w_mem != 0 else None,
        steps=step,
        converged=converged,
        loss=model.loss(w_gen, w_mem, cfg),
        grad_norm=max(abs(g) for g in grad),
        tol=tol,
        window=window,
        max_steps=max_steps,
    )


@dataclass(frozen=True)
class Grokking:
    """When things happen in a displayed run (first step at which each holds; None: never).

    ``loss`` names the loss definition the crossings use (:data:`LOSS_DEFINITIONS`). ``delay``
    is ``test_below - train_below``: how long the test loss lags the train loss in falling
    below ``threshold`` nats (grokking shows as a long delay). ``gen_onset`` is the first step
    with ``w_gen >= onset`` (Figure 2a: "C_gen only starts to grow significantly by step 2500").
    """

    loss: str
    threshold: float
    gen_overtakes_mem: int | None
    train_below: int | None
    test_below: int | None
    delay: int | None
    onset: float
    gen_onset: int | None


def _first(mask: np.ndarray) -> int | None:
    idx = np.flatnonzero(mask)
    return int(idx[0]) if idx.size else None


def grokking_summary(
    trace: Trace, *, threshold: float = 1.0, onset: float = 0.1, loss: str = "appendix_c"
) -> Grokking:
    """Summarise a trace: crossover of the logits and the steps at which the losses fall."""
    train, test = trace.losses(loss)
    train_below = _first(train < threshold)
    test_below = _first(test < threshold)
    return Grokking(
        loss=loss,
        threshold=threshold,
        gen_overtakes_mem=_first(trace.w_gen > trace.w_mem),
        train_below=train_below,
        test_below=test_below,
        delay=None if train_below is None or test_below is None else test_below - train_below,
        onset=onset,
        gen_onset=_first(trace.w_gen >= onset),
    )
