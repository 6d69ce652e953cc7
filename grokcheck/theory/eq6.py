"""Eq. 6 (Appendix D.1) and its global minimiser, found numerically without Theorem D.4.

Eq. 6:  L(w) = L_train(sum_i w_i C_i) + alpha/q * sum_i (w_i^(1/kappa) P_i)^q,  w_i >= 0,

with a general softmax cross-entropy over the circuits' train logits. :func:`numeric_optimum`
is the independent side of :func:`grokcheck.theory.d4.check_d4`: multi-start L-BFGS-B from
every vertex, the equal split and random points, then Newton polishing. It knows nothing of the
theorem's prediction. ``cfg`` is a :class:`grokcheck.theory.d4.D4Config`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Protocol

import numpy as np

from grokcheck.theory import xent


class Eq6Constants(Protocol):
    """What these functions read of a :class:`grokcheck.theory.d4.D4Config` (Equation 6's
    constants), named here so that this module does not import the one that imports it."""

    kappa: float
    q: float
    alpha: float
    n_labels: int
    norms: Sequence[float]


def log10_weight_bound(P: float, cfg: Eq6Constants) -> float:
    """log10 of :func:`weight_bound`, computed in logs so that it never overflows."""
    inner = math.log10(cfg.q) + math.log10(math.log(cfg.n_labels)) - math.log10(cfg.alpha)
    return cfg.kappa / cfg.q * (inner - cfg.q * math.log10(P))


def weight_bound(P: float, cfg: Eq6Constants) -> float:
    """Largest weight a global minimiser can give a circuit of norm ``P``.

    Past it the weight-decay term alone exceeds L(0) = log(n_labels), and L_train >= 0.
    """
    return (cfg.q * math.log(cfg.n_labels) / (cfg.alpha * P**cfg.q)) ** (cfg.kappa / cfg.q)


def global_min_1d(f, hi: float, per_decade: int = 100) -> float:
    """Global minimiser of a 1-D function on [0, hi]: log-spaced grid (and 0), then bounded Brent.

    ``f`` takes an array of points and returns their values (it is called once on the grid).
    The grid runs from min(1e-8, hi * 1e-12) to ``hi`` with ``per_decade`` points per decade.
    """
    from scipy.optimize import minimize_scalar

    lo = min(1e-8, hi * 1e-12)
    n_grid = int(per_decade * math.log10(hi / lo)) + 1
    grid = np.concatenate([[0.0], np.geomspace(lo, hi, n_grid)])
    values = np.asarray(f(grid), dtype=float)
    k = int(np.argmin(values))
    if k == 0:
        return 0.0
    lo_b, hi_b = grid[k - 1], grid[min(k + 1, n_grid)]
    res = minimize_scalar(
        lambda x: float(f(np.array([x]))[0]),
        bounds=(lo_b, hi_b),
        method="bounded",
        options={"xatol": (hi_b - lo_b) * 1e-12},
    )
    return float(res.x) if res.fun <= values[k] else float(grid[k])


def eq6_loss(w: np.ndarray, cfg: Eq6Constants, O: np.ndarray, labels: np.ndarray) -> float:
    """Eq. 6 with a general cross-entropy: circuits given by their train logits ``O``."""
    P = np.asarray(cfg.norms)
    w = np.maximum(w, 0.0)  # the domain is w >= 0; optimisers may hand over -0.0 or -1e-300
    return xent.xent(w, O, labels) + cfg.alpha / cfg.q * float(np.sum((w ** (1 / cfg.kappa) * P) ** cfg.q))


def _eq6_grad(w: np.ndarray, cfg: Eq6Constants, O: np.ndarray, labels: np.ndarray) -> np.ndarray:
    P = np.asarray(cfg.norms)
    r = cfg.q / cfg.kappa
    w = np.maximum(w, 0.0)
    # at w_i = 0, 0^(r-1) is the one-sided derivative's factor: 0 for r > 1, 1 for r = 1 (kappa = q:
    # the decay term is linear in w) and infinite for r < 1, capped so products with 0 stay finite
    with np.errstate(divide="ignore"):
        wd = cfg.alpha / cfg.kappa * P**cfg.q * w ** (r - 1)
    return xent.xent_grad(w, O, labels) + np.minimum(wd, 1e300)


def _eq6_hess(w: np.ndarray, cfg: Eq6Constants, O: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Hessian of Eq. 6 at ``w``; entries of coordinates at 0 are not finite where r < 2."""
    P = np.asarray(cfg.norms)
    r = cfg.q / cfg.kappa
    with np.errstate(divide="ignore", invalid="ignore"):
        decay = cfg.alpha / cfg.kappa * (r - 1) * P**cfg.q * w ** (r - 2)
    return xent.xent_hess(w, O, labels) + np.diag(decay)


def _newton_polish(
    w: np.ndarray, cfg: Eq6Constants, O: np.ndarray, labels: np.ndarray, *, max_steps: int = 60
) -> np.ndarray:
    """Newton steps on the coordinates that are > 0 (the objective is smooth there).

    L-BFGS-B stops early where the loss is nearly flat along a direction (kappa just below q);
    Newton with the exact Hessian converges there too. A step is kept only if it lowers Eq. 6.
    """
    # coordinates ~0 stay put: their Hessian entry ~ w^(r-2) is huge and would stall every step
    free = w > 1e-10 * w.max(initial=0.0)
    if not free.any():
        return w
    best, best_loss = w.copy(), eq6_loss(w, cfg, O, labels)
    for _ in range(max_steps):
        g = _eq6_grad(best, cfg, O, labels)[free]
        H = _eq6_hess(best, cfg, O, labels)[np.ix_(free, free)]
        try:
            step = np.linalg.solve(H, g)
        except np.linalg.LinAlgError:
            break
        improved = False
        for t in (1.0, 0.5, 0.25, 0.125, 1 / 16, 1 / 64):
            cand = best.copy()
            # a weight heading to ~0 may shrink 1000x per step but never cross 0
            cand[free] = np.maximum(best[free] - t * step, best[free] * 1e-3)
            loss = eq6_loss(cand, cfg, O, labels)
            if loss <= best_loss:
                improved = loss < best_loss or not np.array_equal(cand, best)
                best, best_loss = cand, loss
                break
        if not improved or np.max(np.abs(t * step)) <= 1e-15 * np.max(best):
            break
    return best


def numeric_optimum(
    cfg: Eq6Constants,
    *,
    train_logits: np.ndarray | None = None,
    labels: np.ndarray | None = None,
    n_starts: int = 8,
    seed: int = 0,
) -> np.ndarray:
    """Global minimiser of Eq. 6 over w >= 0, found numerically without the theorem.

    Candidates: the optimum along every vertex direction (all weight on one circuit, a 1-D
    global search), L-BFGS-B from those vertices, from the equal split and from ``n_starts``
    random points in the box of :func:`weight_bound`; each is Newton-polished and the lowest
    loss wins. ``train_logits`` (I, N, Y) with ``labels`` (N,) replace the identical one-hot
    circuits, e.g. to test the checker on circuits that violate the theorem's assumption.
    """
    from threadpoolctl import threadpool_limits

    # The problems are tiny (I <= 64): BLAS threads only add synchronisation, and on a busy
    # machine they made each L-BFGS-B iteration ~20x slower (measured: 0.15 s vs 3.4 s).
    with threadpool_limits(limits=1, user_api="blas"):
        return _numeric_optimum(cfg, train_logits, labels, n_starts, seed)


def _numeric_optimum(
    cfg: Eq6Constants, train_logits: np.ndarray | None, labels: np.ndarray | None, n_starts: int, seed: int
) -> np.ndarray:
    n = len(cfg.norms)
    if train_logits is None:
        O, labels = xent.one_hot_circuits(n, cfg.n_labels)
    else:
        O, labels = np.asarray(train_logits, dtype=float), np.asarray(labels)
    hi = np.array([weight_bound(p, cfg) for p in cfg.norms])
    vertices = vertex_optima(cfg, O, labels, hi)
    starts = start_points(vertices, hi, n_starts=n_starts, seed=seed)
    candidates = [np.zeros(n), *vertices, *(local_optimum(x0, cfg, O, labels, hi) for x0 in starts)]
    polished = [_newton_polish(c, cfg, O, labels) for c in candidates]
    losses = [eq6_loss(c, cfg, O, labels) for c in polished]
    return polished[int(np.argmin(losses))]


def vertex_optima(cfg: Eq6Constants, O: np.ndarray, labels: np.ndarray, hi: np.ndarray) -> list[np.ndarray]:
    """For each circuit i, the optimum of Eq. 6 with all weight on i (a global 1-D search on [0, hi_i])."""
    P = np.asarray(cfg.norms)
    vertices = []
    for i in range(len(P)):

        def along(t: np.ndarray, i: int = i) -> np.ndarray:
            return xent.xent_ray(t, O[i], labels) + cfg.alpha / cfg.q * (t ** (1 / cfg.kappa) * P[i]) ** cfg.q

        w = np.zeros(len(P))
        w[i] = global_min_1d(along, hi[i])
        vertices.append(w)
    return vertices


def start_points(vertices: list[np.ndarray], hi: np.ndarray, *, n_starts: int, seed: int) -> list[np.ndarray]:
    """L-BFGS-B's starts: the vertex optima, the equal split hi_min / (2n), and ``n_starts``
    points drawn uniformly from the box prod_i [0, hi_i / n]."""
    n = len(hi)
    random = np.random.default_rng(seed).uniform(0, 1, size=(n_starts, n)) * hi / n
    return [*vertices, np.full(n, float(hi.min()) / (2 * n)), *random]


def substitution_power(cfg: Eq6Constants) -> float:
    """m of the substitution w = u^m under which L-BFGS-B optimises Eq. 6.

    Where kappa > q the weight-decay gradient is infinite at w = 0 (r = q/kappa < 1), which stalls
    L-BFGS-B's line searches; with m = 2 kappa/q >= 2 the decay term becomes P^q u^2, smooth at 0.
    For kappa < q plain w is already smooth, and at kappa = q the decay term is linear in w.
    """
    return 1.0 if cfg.kappa < cfg.q else 2.0 * cfg.kappa / cfg.q


def local_optimum(
    x0: np.ndarray, cfg: Eq6Constants, O: np.ndarray, labels: np.ndarray, hi: np.ndarray
) -> np.ndarray:
    """L-BFGS-B on Eq. 6 from ``x0`` in the box [0, hi], over u = w^(1/m) (:func:`substitution_power`).

    u_i = 0 is stationary in u even where Eq. 6's own slope in w_i points inwards; where the
    search stops there, it is restarted from w_i = hi_i / 1000 (at most once per circuit).
    """
    from scipy.optimize import minimize

    m = substitution_power(cfg)

    def f_u(u: np.ndarray) -> float:
        return eq6_loss(u**m, cfg, O, labels)

    def grad_u(u: np.ndarray) -> np.ndarray:
        g = _eq6_grad(u**m, cfg, O, labels)
        return g if m == 1 else g * m * u ** (m - 1)

    def solve(start: np.ndarray) -> np.ndarray:
        res = minimize(
            f_u,
            start ** (1 / m),
            jac=grad_u,
            method="L-BFGS-B",
            bounds=[(0.0, h ** (1 / m)) for h in hi],
            options={"ftol": 1e-15, "gtol": 1e-12, "maxiter": 300},
        )
        return np.clip(res.x**m, 0.0, hi)

    w = solve(x0)
    for _ in range(len(hi)):
        inward = (w == 0) & (_eq6_grad(w, cfg, O, labels) < 0)
        if not inward.any():
            break
        w = solve(np.where(inward, hi * 1e-3, w))
    return w
