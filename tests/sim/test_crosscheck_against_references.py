"""Mutation-testing companions of tests/sim/test_crosscheck.py: the cross-check's figures
(weight error, ratio error, theorem loss) pinned on constructed end points whose answers are
worked out by hand, and the theorem's optimum against a plain reference solver.

Appendix C's loss (no 1/2) is ``L(w_g, w_m) = log(1 + (n-1) e^-(w_g + w_m))
+ alpha (P_g^2 |w_g|^(2/kappa) + P_m^2 |w_m|^(2/kappa))``; the references below use only that
formula (written out here, not taken from grokcheck.sim.model).
"""

from __future__ import annotations

import dataclasses
import math

import pytest

from grokcheck.sim.crosscheck import CrossCheck, cross_check, theorem_optimum
from grokcheck.sim.dynamics import Converged
from grokcheck.sim.model import PRESETS

A = PRESETS["2a"]


def hand_loss(wg: float, wm: float, cfg) -> float:
    """Appendix C's L_train, written out from the formula above."""
    coef = cfg.alpha / 2 if cfg.wd_half else cfg.alpha
    xent = math.log(1.0 + (cfg.n_labels - 1) * math.exp(-(wg + wm)))
    return xent + coef * (cfg.P_g**2 * abs(wg) ** (2 / cfg.kappa) + cfg.P_m**2 * abs(wm) ** (2 / cfg.kappa))


def end_at(
    wg: float, wm: float, *, converged: bool = True, loss: float | None = None, max_steps: int = 10**6
) -> Converged:
    """A constructed end point of gradient descent (loss given, or NaN when irrelevant)."""
    return Converged(
        w_gen=wg,
        w_mem=wm,
        ratio=None,
        steps=1000,
        converged=converged,
        loss=float("nan") if loss is None else loss,
        grad_norm=0.0,
        tol=1e-11,
        window=1000,
        max_steps=max_steps,
    )


def bisect(f, lo: float, hi: float) -> float:
    """Root of an increasing ``f`` on [lo, hi] by plain bisection to the last bit."""
    for _ in range(400):
        mid = 0.5 * (lo + hi)
        if mid in (lo, hi):
            break
        lo, hi = (mid, hi) if f(mid) < 0 else (lo, mid)
    return 0.5 * (lo + hi)


def ref_case2(cfg) -> tuple[float, float]:
    """kappa < 2: stationarity of L. dL/dw_c = -1/(1 + e^S/(n-1)) + c_c (2/kappa) w_c^(2/kappa-1)
    with c_c = coef P_c^2, so c_g w_g^e = c_m w_m^e (e = 2/kappa - 1): w_g = rho w_m with
    rho = (P_m^2/P_g^2)^(1/e). Then solve dL/dw_m = 0 for w_m (increasing in w_m) by bisection."""
    coef = cfg.alpha / 2 if cfg.wd_half else cfg.alpha
    e = 2 / cfg.kappa - 1
    rho = (cfg.P_m**2 / cfg.P_g**2) ** (1 / e)

    def dmem(wm: float) -> float:
        S = (1 + rho) * wm
        return -1 / (1 + math.exp(S) / (cfg.n_labels - 1)) + coef * cfg.P_m**2 * (2 / cfg.kappa) * wm**e

    wm = bisect(dmem, 1e-12, 100.0)
    return rho * wm, wm


def ref_case1_total(cfg, P: float) -> float:
    """kappa >= 2: all weight S on the smaller-norm circuit, S the global minimiser of
    f(S) = log(1 + (n-1) e^-S) + alpha P^2 S^(2/kappa) on S >= 0: a grid of 20001 points on
    [0, 30] locates it, bisection on f' refines it (0 if the grid minimum is at 0)."""
    k, n, a = cfg.kappa, cfg.n_labels, cfg.alpha

    def f(S):
        return math.log(1 + (n - 1) * math.exp(-S)) + a * P**2 * S ** (2 / k)

    grid = [30.0 * i / 20000 for i in range(20001)]
    i = min(range(len(grid)), key=lambda j: f(grid[j]))
    if i == 0:
        return 0.0

    def df(S):
        return -1 / (1 + math.exp(S) / (n - 1)) + a * P**2 * (2 / k) * S ** (2 / k - 1)

    return bisect(df, grid[i - 1], grid[i + 1])


@pytest.mark.parametrize(
    "cfg",
    [
        A,
        PRESETS["2b"],
        dataclasses.replace(A, wd_half=True),
        dataclasses.replace(A, P_g=1.7, P_m=0.9, kappa=0.8, alpha=0.01, n_labels=7),
    ],
)
def test_case_2_optimum_matches_a_bisection_reference(cfg):
    tg, tm = theorem_optimum(cfg)
    rg, rm = ref_case2(cfg)
    assert tg == pytest.approx(rg, rel=1e-9) and tm == pytest.approx(rm, rel=1e-9)


def test_case_1_optimum_matches_a_grid_reference():
    cfg = dataclasses.replace(A, kappa=2.5)  # P_g = 1 < P_m = 2: all on C_gen
    tg, tm = theorem_optimum(cfg)
    assert tm == 0.0 and tg == pytest.approx(ref_case1_total(cfg, 1.0), rel=1e-8)
    cfg = dataclasses.replace(PRESETS["2b"], kappa=3.0)  # P_g = 4 > P_m = 2: all on C_mem
    tg, tm = theorem_optimum(cfg)
    assert tg == 0.0 and tm == pytest.approx(ref_case1_total(cfg, 2.0), rel=1e-8)
    cfg = dataclasses.replace(A, kappa=2.5, alpha=2.0)  # weight decay too strong: S = 0
    assert ref_case1_total(cfg, 1.0) == 0.0 and theorem_optimum(cfg) == (0.0, 0.0)


def test_case_2_error_figures_by_hand():
    """End at (2 tg, tm): weight error |2tg - tg| / max(2tg, tm) = 1/2 (tg = 8 tm > tm), gd ratio
    2 tg/tm, ratio error 2 - 1 = 1; the theorem's loss is L(tg, tm)."""
    tg, tm = ref_case2(A)
    x = cross_check(A, end_at(2 * tg, tm, loss=3.25))
    assert isinstance(x, CrossCheck) and x.applicable is True and x.case == 2 and x.q == 2.0
    assert x.theorem_w_gen == pytest.approx(tg, rel=1e-9) and x.theorem_w_mem == pytest.approx(tm, rel=1e-9)
    assert x.theorem_ratio == pytest.approx(8.0, rel=1e-12)
    assert x.gd_w_gen == 2 * tg and x.gd_w_mem == tm and x.gd_ratio == (2 * tg) / tm
    assert x.weight_error == pytest.approx(0.5, rel=1e-12)
    assert x.ratio_rel_error == pytest.approx(1.0, rel=1e-9)
    assert x.theorem_loss == pytest.approx(hand_loss(tg, tm, A), rel=1e-12)
    assert x.gd_loss == 3.25 and x.converged is True and x.tolerance == 1e-6
    assert x.matches_optimum is False and x.holds is False
    assert x.note == "gradient descent converged away from the theorem's unique optimum"
    # end at (tg, tm + tg/4): only w_mem is off, by tg/4, and tg is the largest weight -> 1/4
    x = cross_check(A, end_at(tg, tm + tg / 4))
    assert x.weight_error == pytest.approx(0.25, rel=1e-8)
    # end at (1.1 tg, tm - 0.1 tg): the right total but the wrong split -> error 0.1 / 1.1
    x = cross_check(A, end_at(1.1 * tg, tm - 0.1 * tg))
    assert x.weight_error == pytest.approx(0.1 / 1.1, rel=1e-8)
    # 2b: tg = tm / 8, end at (tg, 2 tm): error tm / (2 tm) = 1/2
    tg, tm = ref_case2(PRESETS["2b"])
    x = cross_check(PRESETS["2b"], end_at(tg, 2 * tm))
    assert x.weight_error == pytest.approx(0.5, rel=1e-9)
    assert x.ratio_rel_error == pytest.approx(0.5, rel=1e-9)  # ratio halves


def test_matching_end_and_the_tolerance_boundary():
    tg, tm = theorem_optimum(A)
    x = cross_check(A, end_at(tg, tm))
    assert x.weight_error == 0.0 and x.ratio_rel_error == pytest.approx(0.0, abs=1e-15)
    assert x.matches_optimum is True and x.holds is True and x.note == ""
    # weight error exactly 1/2 (2tg - tg and the division by 2tg are exact): <= tolerance holds
    assert cross_check(A, end_at(2 * tg, tm), tolerance=0.5).matches_optimum is True
    assert cross_check(A, end_at(2 * tg, tm), tolerance=0.5).holds is True
    assert cross_check(A, end_at(2 * tg, tm), tolerance=0.4999).matches_optimum is False
    # default tolerance 1e-6: an error of 1.5e-6 fails, 0.7e-6 passes
    assert cross_check(A, end_at(tg * (1 + 1.5e-6), tm)).matches_optimum is False
    assert cross_check(A, end_at(tg * (1 + 0.7e-6), tm)).matches_optimum is True
    with pytest.raises(dataclasses.FrozenInstanceError):
        x.holds = False  # type: ignore[misc]


def test_gd_ratio_at_w_mem_zero_and_one():
    """w_mem = 0: no ratio (and no ratio error); w_mem = 1: the ratio is w_gen itself."""
    tg, tm = theorem_optimum(A)
    x = cross_check(A, end_at(3.0, 0.0))
    assert x.gd_ratio is None and x.ratio_rel_error is None
    assert x.weight_error == pytest.approx(abs(3.0 - tg) / tg, rel=1e-9)
    x = cross_check(A, end_at(3.0, 1.0))
    assert x.gd_ratio == 3.0 and x.ratio_rel_error == pytest.approx(1 - 3.0 / 8.0, rel=1e-9)
    cfg = dataclasses.replace(A, alpha=0.0)
    assert cross_check(cfg, end_at(3.0, 0.0)).gd_ratio is None
    x = cross_check(cfg, end_at(3.0, 1.0, converged=False, loss=2.5), tolerance=0.25)
    assert x.gd_ratio == 3.0 and x.applicable is False and x.case is None and x.q == 2.0
    assert (x.gd_w_gen, x.gd_w_mem, x.gd_loss, x.tolerance, x.converged) == (3.0, 1.0, 2.5, 0.25, False)
    assert x.holds is None and x.matches_optimum is None and x.weight_error is None
    assert x.theorem_w_gen is None and x.theorem_ratio is None and x.theorem_loss is None


def test_alpha_one_is_applicable():
    cfg = dataclasses.replace(A, alpha=1.0)
    tg, tm = ref_case2(cfg)
    x = cross_check(cfg, end_at(tg, tm))
    assert x.applicable is True and x.holds is True and x.weight_error < 1e-8


def test_unconverged_notes_and_holds():
    tg, tm = theorem_optimum(A)
    x = cross_check(A, end_at(tg, tm, converged=False, max_steps=1234))
    assert x.matches_optimum is True and x.holds is False and x.converged is False
    assert x.note == "gradient descent did not converge in 1234 steps; raise --max-steps"
    x = cross_check(A, end_at(2 * tg, tm, converged=False, max_steps=99))
    assert x.holds is False
    assert x.note == "gradient descent did not converge in 99 steps; raise --max-steps"


def test_case_1_notes_and_holds():
    cfg = dataclasses.replace(A, kappa=2.5)
    tg = ref_case1_total(cfg, 1.0)
    th = hand_loss(tg, 0.0, cfg)
    x = cross_check(cfg, end_at(tg, 0.0, loss=th))
    assert x.case == 1 and x.theorem_ratio is None and x.ratio_rel_error is None
    assert x.theorem_loss == pytest.approx(th, rel=1e-12)
    assert x.matches_optimum is True and x.holds is True and x.note == ""
    # matching but unconverged: a claim about global minima is not contradicted
    x = cross_check(cfg, end_at(tg, 0.0, converged=False, loss=th, max_steps=7))
    assert x.holds is True and x.note == "gradient descent did not converge in 7 steps; raise --max-steps"
    # elsewhere with a higher loss (5.0 > th = 0.0358): holds, and the note gives both losses
    x = cross_check(cfg, end_at(0.0, 6.0, converged=False, loss=5.0, max_steps=7))
    assert x.matches_optimum is False and x.holds is True
    assert x.weight_error == pytest.approx(1.0, rel=1e-12)  # max(tg, 6) / max(tg, 6), tg = 10.7
    assert x.note == (
        "gradient descent did not converge in 7 steps; raise --max-steps; "
        f"kappa >= 2: the global optimum puts all weight on the smaller-norm circuit (loss {th:.6g}); "
        "gradient descent ended elsewhere (loss 5), which a theorem about global minima allows"
    )
    # 2b with kappa 2.5: all weight on C_mem; a theorem ratio of 0 has no relative error
    cfg = dataclasses.replace(PRESETS["2b"], kappa=2.5)
    tm = ref_case1_total(cfg, 2.0)
    x = cross_check(cfg, end_at(1.0, tm, loss=9.0))
    assert x.theorem_ratio == 0.0 and x.ratio_rel_error is None and x.gd_ratio == 1.0 / tm
    assert x.weight_error == pytest.approx(1.0 / tm, rel=1e-8)


@pytest.mark.parametrize("alpha", [0.3, 0.1, 2.0])
def test_case_1_lower_loss_boundary(alpha):
    """holds iff theorem loss <= GD loss + 1e-12 max(1, |GD loss|). The theorem's losses here are
    1.49 (alpha 0.3), 0.561 (alpha 0.1) and log(113) = 4.73 (alpha 2, optimum at 0)."""
    cfg = dataclasses.replace(A, kappa=2.5, alpha=alpha)
    tg = ref_case1_total(cfg, 1.0)
    th = hand_loss(tg, 0.0, cfg)
    if alpha == 2.0:
        assert th == pytest.approx(math.log(113), rel=1e-15)
    assert (th > 1) == (alpha != 0.1)
    far = (tg + 3.0, 0.5)  # not the optimum

    def holds(loss):
        return cross_check(cfg, end_at(*far, loss=loss)).holds

    scale = max(1.0, th)
    assert holds(th + 0.01) and not holds(th - 0.01)
    assert holds(th - 0.7e-12 * scale) and not holds(th - 1.5e-12 * scale)
    assert holds(th - 0.9e-12) and not holds(th - 1.2e-12 * scale - 0.3e-12)
    # the exact boundary: L + 1e-12 max(1, |L|) == th in floating point
    L = th - 1e-12 * scale
    assert L + 1e-12 * max(1.0, abs(L)) == th
    assert holds(L) and not holds(math.nextafter(L, -math.inf) - 1e-14 * scale)
    if th > 1:  # a relative margin: 1.2e-12 absolute is inside 1e-12 * th (th >= 1.49)
        assert holds(th - 1.2e-12)
    if 1 < th < 2:  # 1.8e-12 absolute is outside 1e-12 * 1.49
        assert not holds(th - 1.8e-12)


def test_tied_norms_compare_totals_by_hand():
    """P_g = P_m, kappa = 2 (case 1): any split of the optimal total S is optimal; the error is
    |total_gd - S| / S."""
    cfg = dataclasses.replace(A, P_g=2.0, P_m=2.0, kappa=2.0)
    S = ref_case1_total(cfg, 2.0)
    tg, tm = theorem_optimum(cfg)
    assert tg + tm == pytest.approx(S, rel=1e-8)
    for wg, wm in ((S, 0.0), (0.0, S), (S / 3, 2 * S / 3)):
        x = cross_check(cfg, end_at(wg, wm))
        assert x.weight_error == pytest.approx(0.0, abs=1e-8) and x.matches_optimum is True
    x = cross_check(cfg, end_at(0.6 * S, 0.6 * S))
    assert x.weight_error == pytest.approx(0.2, rel=1e-7)
    x = cross_check(cfg, end_at(0.3 * S, 0.4 * S))
    assert x.weight_error == pytest.approx(0.3, rel=1e-7)
    # with an exponent given, the prediction w_c ~ P_c^e splits equally; errors are per weight
    x = cross_check(cfg, end_at(2 * tg, 0.0), exponent=-2.0)
    xt = x.theorem_w_gen
    assert x.theorem_w_mem == pytest.approx(xt, rel=1e-12)
    assert x.weight_error == pytest.approx(abs(2 * tg - xt) / max(2 * tg, xt), rel=1e-9)


def test_zero_optimum_uses_the_tiny_scale():
    """alpha 2, kappa 2.5: the optimum is (0, 0), so the scale is the guard 1e-300:
    an end at (1e-301, 0) has error 1e-301 / 1e-300 = 0.1, tied norms or not."""
    for P_m in (2.0, 1.0):
        cfg = dataclasses.replace(A, kappa=2.5, alpha=2.0, P_m=P_m)
        assert theorem_optimum(cfg) == (0.0, 0.0)
        x = cross_check(cfg, end_at(1e-301, 0.0, loss=4.0))
        assert x.weight_error == pytest.approx(0.1, rel=1e-12)
        assert x.theorem_loss == pytest.approx(math.log(113), rel=1e-15)
        x = cross_check(cfg, end_at(0.0, 0.0, loss=math.log(113)))
        assert x.weight_error == 0.0 and x.holds is True


@pytest.mark.parametrize("gap, tied", [(1e-10, True), (0.9e-9, True), (1.1e-9, False), (1e-6, False)])
def test_near_tied_norms_count_as_tied_as_in_theorem_d4(gap, tied):
    """Norms within TIE_RTOL = 1e-9 (relative) tie, as in grokcheck.theory.d4: an equal split of
    the optimal total then matches; past it the optimum is the corner and the split is 1/2 off."""
    cfg = dataclasses.replace(A, P_g=2.0, P_m=2.0 * (1 + gap), kappa=2.0)
    S = ref_case1_total(dataclasses.replace(cfg, P_m=2.0), 2.0)
    x = cross_check(cfg, end_at(S / 2, S / 2))
    if tied:
        assert x.matches_optimum is True and x.weight_error < 1e-6
    else:
        assert x.matches_optimum is False and x.weight_error == pytest.approx(0.5, rel=1e-3)
