"""Tests that kill mutants of grokcheck/sim/model.py (tools/mutate.py).

Every expected figure here is worked out independently of the code under test: the documented
input ranges (docs/toy-model.md's table), Table 1 of the paper, closed forms derived by hand
in the comments, plain-loop reference implementations and finite differences.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest

from grokcheck.errors import InputError
from grokcheck.sim import model
from grokcheck.sim.model import SimConfig

# ---------------------------------------------------------------------------------------------
# Input ranges, as docs/toy-model.md's table states them (the spec, typed in by hand)

#: (field, lo, hi, integer) from the table "flag | range | what breaks outside it"
DOCUMENTED = [
    ("P_g", 1e-3, 1e3, False),
    ("P_m", 1e-3, 1e3, False),
    ("kappa", 0.1, 10.0, False),
    ("alpha", 1e-8, 10.0, False),  # "0 or [1e-8, 10]"
    ("w_g1", -100.0, 100.0, False),
    ("w_g2", -100.0, 100.0, False),
    ("w_m1", -100.0, 100.0, False),
    ("w_m2", -100.0, 100.0, False),
    ("n_labels", 2, 1000, True),
    ("lr", 1e-6, 10.0, False),
    ("steps", 1, 1_000_000, True),
]
#: the analysis settings in the same table (``--max-steps`` is [--steps, 1e8])
DOCUMENTED_SETTINGS = [
    ("threshold", 1e-6, 1e3, False),
    ("tol", 1e-15, 0.1, False),
    ("max_steps", 1, 100_000_000, True),
    ("onset", 1e-6, 1e3, False),
    ("agree_tol", 1e-15, 0.1, False),
]


def _just_outside(lo, hi, integer):
    if integer:
        return lo - 1, hi + 1
    return math.nextafter(lo, -math.inf), math.nextafter(hi, math.inf)


@pytest.mark.parametrize("name, lo, hi, integer", DOCUMENTED)
def test_documented_range_ends_are_exact(name, lo, hi, integer):
    """Both ends accepted, the next float (or integer) beyond each end refused."""
    base = SimConfig()
    assert getattr(dataclasses.replace(base, **{name: lo}), name) == lo
    assert getattr(dataclasses.replace(base, **{name: hi}), name) == hi
    below, above = _just_outside(lo, hi, integer)
    for bad in (below, above):
        if name == "alpha" and bad == below:
            continue  # below 1e-8 only 0 is allowed; checked in test_alpha_zero_or_above_min
        with pytest.raises(InputError) as e:
            dataclasses.replace(base, **{name: bad})
        assert e.value.flag == "--" + name.replace("_", "-").lower()


@pytest.mark.parametrize("name, lo, hi, integer", DOCUMENTED_SETTINGS)
def test_documented_settings_ranges(name, lo, hi, integer):
    ranges = model.SETTINGS_RANGES
    assert model.check_range(name, lo, ranges, integer=integer) == lo
    assert model.check_range(name, hi, ranges, integer=integer) == hi
    for bad in _just_outside(lo, hi, integer):
        with pytest.raises(InputError):
            model.check_range(name, bad, ranges, integer=integer)


def test_alpha_zero_or_above_min():
    """Docs: alpha is "0 or [1e-8, 10]"."""
    assert SimConfig(alpha=0.0).alpha == 0.0
    assert SimConfig(alpha=1e-8).alpha == 1e-8
    for bad in (math.nextafter(1e-8, 0.0), 5e-9, 1e-300, -1e-300):
        with pytest.raises(InputError, match=r"^--alpha: must be 0 or a number in \[1e-8, 10\], got "):
            SimConfig(alpha=bad)


def test_check_range_default_is_a_float():
    """Without ``integer`` a field is a number: floats and ints accepted, returned as float."""
    assert model.check_range("kappa", 1.5) == 1.5
    x = model.check_range("kappa", 3)
    assert x == 3.0 and type(x) is float


def test_long_values_are_shortened_in_the_message():
    """A 200-character value is not echoed whole; a short one is."""
    with pytest.raises(InputError) as e:
        model.check_range("kappa", "z" * 200)
    msg = str(e.value)
    assert msg.startswith("--kappa: must be a number in [0.1, 10], got 'zzz") and msg.endswith("...")
    assert len(msg) < 100
    with pytest.raises(InputError) as e:
        model.check_range("kappa", "abc")
    assert str(e.value) == "--kappa: must be a number in [0.1, 10], got 'abc'"


def test_config_is_frozen():
    """Configs are frozen dataclasses; changes go through dataclasses.replace."""
    cfg = SimConfig()
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.kappa = 2.0  # type: ignore[misc]


def test_config_fields_in_table_1_order():
    """Table 1's columns, then the run length and the weight-decay convention."""
    assert model.config_fields() == (
        "P_g",
        "P_m",
        "kappa",
        "alpha",
        "w_g1",
        "w_g2",
        "w_m1",
        "w_m2",
        "n_labels",
        "lr",
        "steps",
        "wd_half",
    )


# ---------------------------------------------------------------------------------------------
# Losses and slopes


def softmax_xent(logits: list[float], label: int) -> float:
    """Cross-entropy of one example from the definition, with a max shift."""
    m = max(logits)
    return -(logits[label] - m - math.log(sum(math.exp(z - m) for z in logits)))


@pytest.mark.parametrize("w_gen, w_mem, n", [(0.3, 2.0, 113), (4.0, -1.0, 5), (-0.5, 0.7, 2), (0.0, 0.0, 3)])
@pytest.mark.parametrize("wd_half", [False, True])
def test_loss_test_is_test_xent_plus_weight_decay(w_gen, w_mem, n, wd_half):
    """Appendix C: L_test = X_test + alpha (P'_g^2 + P'_m^2). On a test input (correct label 0)
    the logits are w_gen on label 0, w_mem on label 1 and 0 on the other n - 2."""
    cfg = SimConfig(P_g=1.5, P_m=0.8, kappa=1.3, alpha=0.07, n_labels=n, wd_half=wd_half)
    logits = [w_gen, w_mem] + [0.0] * (n - 2)
    coef = 0.07 / 2 if wd_half else 0.07
    wd = coef * ((abs(w_gen) ** (1 / 1.3) * 1.5) ** 2 + (abs(w_mem) ** (1 / 1.3) * 0.8) ** 2)
    assert model.loss_test(w_gen, w_mem, cfg) == pytest.approx(softmax_xent(logits, 0) + wd, rel=1e-13)
    train = [w_gen + w_mem] + [0.0] * (n - 1)
    assert model.loss(w_gen, w_mem, cfg) == pytest.approx(softmax_xent(train, 0) + wd, rel=1e-13)


def test_xent_slope_at_extreme_totals():
    """dX_train/dS = -(n-1) e^-S / (1 + (n-1) e^-S). For S = 720 (n = 113) this is
    -112 e^-720 to 1e-10 relative (e^-720 ~ 2e-313 is subnormal but exact to ~1e-10); for
    S = -800 it is -1 + e^(-800)/112 = -1.0 in float64. Neither may overflow."""
    lw = math.log(112)
    assert model.xent_slope(720.0, lw) == pytest.approx(-112 * math.exp(-720.0), rel=1e-8)
    assert model.xent_slope(-800.0, lw) == -1.0
    for S in np.linspace(-30, 30, 61):
        assert model.xent_slope(S, lw) == pytest.approx(-1 / (1 + math.exp(S) / 112), rel=1e-13)


def test_gd_step_agrees_bit_for_bit_with_the_fast_loop_near_u_zero():
    """dynamics.descend inlines gd_step with the same operations (its docstring): both must give
    the same bits, also where u = log(n-1) - S lies in [0, 1). From (0, 1, 1, S) the first
    step moves w_g1 by -lr * dX_train/dS alone (w_gen = 0: no weight decay), so any rounding
    difference in the slope shows."""
    from grokcheck.sim.dynamics import descend

    cfg = SimConfig()
    lw = math.log(112)
    for k in range(200):
        sub = (0.0, 1.0, 1.0, lw - k / 200)
        assert model.gd_step(sub, cfg) == descend(sub, cfg, 1)


def test_gd_step_equals_a_hand_written_step():
    """One step written out from the docs' formulas:
    dL/dw_c = -(n-1) e^-S / (1 + (n-1) e^-S) + alpha P_c^2 (2/kappa) sign(w_c) |w_c|^(2/kappa - 1),
    dL/dw_g1 = w_g2 dL/dw_gen, ..., w <- w - lr dL/dw."""
    cfg = SimConfig(P_g=1.3, P_m=0.7, kappa=1.2, alpha=0.1, n_labels=7, lr=0.05)
    g1, g2, m1, m2 = 0.8, 1.3, -0.6, 1.1
    wg, wm = g1 * g2, m1 * m2
    q = 6 * math.exp(-(wg + wm))
    slope = -q / (1 + q)
    e = 2 / 1.2
    dwg = slope + 0.1 * 1.3**2 * e * math.copysign(abs(wg) ** (e - 1), wg)
    dwm = slope + 0.1 * 0.7**2 * e * math.copysign(abs(wm) ** (e - 1), wm)
    expected = (g1 - 0.05 * dwg * g2, g2 - 0.05 * dwg * g1, m1 - 0.05 * dwm * m2, m2 - 0.05 * dwm * m1)
    np.testing.assert_allclose(model.gd_step((g1, g2, m1, m2), cfg), expected, rtol=1e-13)


@pytest.mark.parametrize("value", [10**29, 10**30, 123456789 * 10**25, 10**400])
def test_integer_messages_match_grokcheck_validate(value):
    """The sim config words an out-of-range integer as the rest of grokcheck does
    (:func:`grokcheck.validate.int_in`, a separate implementation): whole up to 30 characters,
    else "an integer of N digits". 10**29 has 30 digits (shown whole), 10**30 has 31."""
    from grokcheck.validate import int_in

    with pytest.raises(InputError) as ours:
        SimConfig(n_labels=value)
    with pytest.raises(InputError) as theirs:
        int_in("n_labels", value, 2, 1000, flag="--n-labels")
    assert str(ours.value) == str(theirs.value)
    shown = str(value) if len(str(value)) <= 30 else f"an integer of {len(str(value))} digits"
    assert str(ours.value) == f"--n-labels: must be an integer in [2, 1000], got {shown}"


@pytest.mark.parametrize("value, digits", [(10**400, 401), (-(10**400), 401), (-(10**29), 30)])
def test_long_integers_are_shown_by_their_digit_count(value, digits):
    """The minus sign is not a digit: -10**400 has 401 digits, as 10**400 has."""
    with pytest.raises(InputError, match=f"got an integer of {digits} digits"):
        SimConfig(n_labels=value)
