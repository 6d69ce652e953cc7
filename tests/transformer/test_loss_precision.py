"""Float32 softmax collapse and the float64 - float32 loss gap, against closed forms.

With the correct logit ahead of C - 1 equal wrong logits by a margin m, the cross-entropy is
log1p((C - 1) exp(-m)) (Theorem D.1's form of Eq. 1). A float32 log-softmax rounds 1 + t to 1,
whatever the order of the sum, when t = (C - 1) exp(-m) is below half of float32's spacing
above 1 (2**-24); it cannot when a single wrong term exp(-m) is above it. Between the two the
order of the sum decides, so the cases here keep a factor of 2 away from both bounds.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from grokcheck.transformer.training import ensemble as E
from grokcheck.transformer.analysis import loss_precision
from grokcheck.transformer.training.metrics import Row, Track
from grokcheck.transformer.model.model import ModelConfig, make_model
from grokcheck.transformer.training.optim import OptimConfig, make_optimizer
from grokcheck.transformer.training.single import single_stepper
from grokcheck.transformer.model.tasks import make_dataset, random_labels, split

HALF_ULP = 2.0**-24  # half of float32's spacing above 1
F32_EPS = 2.0**-23


def collapses(margin: float, n_classes: int) -> bool | None:
    """Whether a float32 log-softmax must round the loss to 0 (None: the sum's order decides)."""
    if margin > math.log(n_classes - 1) - math.log(HALF_ULP / 2):  # (C - 1) exp(-m) < HALF_ULP / 2
        return True
    if margin < -math.log(2 * HALF_ULP):  # exp(-m) > 2 HALF_ULP
        return False
    return None


def exact_loss(margin: float, n_classes: int) -> float:
    return math.log1p((n_classes - 1) * math.exp(-margin))


def f32_error_bound(loss: float, n_classes: int) -> float:
    """A generous bound on float32's error in one cross-entropy: C rounded terms, a log, a sum."""
    return 4 * F32_EPS * (n_classes + 1 + loss)


def margin_logits(
    margins: list[float], labels: list[int], n_classes: int, *, dtype: torch.dtype = torch.float32
) -> torch.Tensor:
    """Rows with every wrong logit 0 and the correct one ``margin``."""
    x = torch.zeros(len(margins), n_classes, dtype=torch.float64)
    x[torch.arange(len(margins)), torch.tensor(labels)] = torch.tensor(margins, dtype=torch.float64)
    return x.to(dtype)


@pytest.mark.parametrize("margin", [20.0, 25.0, 30.0, 40.0])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_collapsed_examples_lose_their_whole_loss(margin: float, dtype: torch.dtype) -> None:
    C, n = 10, 6
    assert collapses(margin, C) is True
    m = loss_precision.measure(
        margin_logits([margin] * n, [k % C for k in range(n)], C, dtype=dtype), torch.arange(n) % C
    )
    assert m.collapse_f32 == 1.0
    # float32 says 0, so the gap is the float64 loss (margin 40: float64 rounds it to 0 as well)
    assert m.loss_gap_f32 == pytest.approx(exact_loss(margin, C), rel=1e-6, abs=C * 2.0**-52)


@pytest.mark.parametrize("margin", [0.0, 5.0, 10.0, 15.0])
def test_examples_that_do_not_collapse(margin: float) -> None:
    C, n = 10, 5
    assert collapses(margin, C) is False
    m = loss_precision.measure(margin_logits([margin] * n, [3] * n, C), torch.full((n,), 3))
    assert m.collapse_f32 == 0.0
    assert m.loss_gap_f32 <= f32_error_bound(exact_loss(margin, C), C)


def test_the_share_counts_examples_and_the_gap_takes_the_worst() -> None:
    C = 10
    margins = [25.0, 3.0, 20.0, 12.0, 30.0, -2.0, 40.0, 0.5]  # -2: the correct class is not the top
    labels = [1, 2, 3, 4, 5, 6, 7, 8]
    m = loss_precision.measure(margin_logits(margins, labels, C), torch.tensor(labels))
    assert m.collapse_f32 == 4 / 8
    # the worst collapsed example loses exact_loss(20); the others lose at most float32's error
    assert m.loss_gap_f32 >= exact_loss(20.0, C) * (1 - 1e-6)
    assert m.loss_gap_f32 <= max(
        exact_loss(20.0, C), *(f32_error_bound(exact_loss(x, C), C) for x in (3.0, 12.0, -2.0, 0.5))
    )


@settings(max_examples=40, deadline=None)
@given(
    n_classes=st.integers(2, 113),
    margins=st.lists(st.floats(-5.0, 60.0, allow_nan=False), min_size=1, max_size=30),
    shift=st.integers(-8, 8),
)
def test_share_matches_the_closed_form(n_classes: int, margins: list[float], shift: int) -> None:
    decided = [x for x in margins if collapses(x, n_classes) is not None]
    if not decided:
        decided = [0.0]
    labels = [k % n_classes for k in range(len(decided))]
    logits = margin_logits(decided, labels, n_classes) + shift  # a shift changes no loss
    m = loss_precision.measure(logits, torch.tensor(labels))
    expected = sum(collapses(x, n_classes) for x in decided) / len(decided)
    assert m.collapse_f32 == expected
    assert m.loss_gap_f32 <= max(
        f32_error_bound(exact_loss(x, n_classes) + abs(shift), n_classes) for x in decided
    )


def test_well_conditioned_logits_do_not_collapse() -> None:
    """Negative control: standard normal logits over 113 classes have losses of a few nats."""
    g = torch.Generator().manual_seed(0)
    logits = torch.randn(2000, 113, generator=g)
    labels = torch.randint(0, 113, (2000,), generator=g)
    m = loss_precision.measure(logits, labels)
    assert m.collapse_f32 == 0.0
    assert 0.0 <= m.loss_gap_f32 <= f32_error_bound(20.0, 113)


def test_row_fields_round_trip_and_are_omitted_when_not_measured() -> None:
    base = Row(step=3, train_loss=1e-7, train_acc=1.0, test_loss=0.5, test_acc=0.9, param_norm=30.0)
    assert "collapse_f32" not in base.to_dict() and "loss_gap_f32" not in base.to_dict()
    row = Row(**{**base.to_dict(), "collapse_f32": 0.25, "loss_gap_f32": 3e-8})
    d = json.loads(json.dumps(row.to_dict()))
    assert (d["collapse_f32"], d["loss_gap_f32"]) == (0.25, 3e-8)
    assert Row.from_dict(d) == row and Row.from_dict(base.to_dict()) == base


def test_first_collapse_step_is_the_first_row_with_collapse() -> None:
    track = Track()
    for step, share in [(0, None), (100, 0.0), (200, 0.01), (300, 0.0), (400, 0.5)]:
        track.add_row(Row(step, 1e-6, 1.0, 1.0, 0.5, 30.0, collapse_f32=share))
    assert track.step_collapse_f32 == 200
    assert Track(rows=track.rows[:2]).step_collapse_f32 is None
    assert Track.from_dict(track.to_dict()).step_collapse_f32 == 200


# --- the evaluation paths: the train set, scored on the labels it trains on -------------------

P = 23


def confident_network(seed: int = 0) -> dict[str, torch.Tensor]:
    """A random network with W_U scaled up: every margin is large, so each train example is
    either far from collapse (a wrong or close call) or collapsed."""
    ds = make_dataset("add", P)
    state = make_model(ModelConfig(ds.n_vocab, ds.n_classes), seed=seed, dtype=torch.float64).state_dict()
    state["W_U"] = state["W_U"] * 3000
    return state


def reference(
    state: dict[str, torch.Tensor], tokens: torch.Tensor, labels: torch.Tensor
) -> tuple[float, float]:
    """From the float64 reference model's margins: the share of examples that must collapse,
    and a bound on the float64 - float32 gap (float32's error on the largest loss)."""
    ds = make_dataset("add", P)
    model = make_model(ModelConfig(ds.n_vocab, ds.n_classes), dtype=torch.float64)
    model.load_state_dict(state)
    with torch.no_grad():
        logits = model(tokens).numpy()  # (n, C)
    rows, y = np.arange(len(labels)), labels.numpy()
    others = logits.copy()
    others[rows, y] = -np.inf
    margins = logits[rows, y] - others.max(axis=1)
    verdicts = [collapses(float(x), ds.n_classes) for x in margins]
    assert None not in verdicts  # no margin where the sum's order would decide
    top = logits.max(axis=1, keepdims=True)
    losses = np.log(np.exp(logits - top).sum(axis=1)) + top[:, 0] - logits[rows, y]
    return sum(verdicts) / len(verdicts), f32_error_bound(
        float(np.abs(logits).max() + losses.max()), ds.n_classes
    )


def test_single_run_evaluation_measures_its_train_set_on_its_labels() -> None:
    ds = make_dataset("add", P)
    sp = split(ds, train_size=200, seed=1)
    labels = random_labels(200, ds.n_classes, 1)
    state = confident_network()
    model = make_model(ModelConfig(ds.n_vocab, ds.n_classes))
    model.load_state_dict(state)
    stepper = single_stepper(
        model, make_optimizer(model, OptimConfig()), OptimConfig(), ds, sp.train_idx, train_labels=labels
    )
    (row,) = stepper.evaluate([0], 0)
    share, bound = reference(state, sp.train_tokens, labels)
    # the check can fail: the true labels or the test set give other shares
    assert 0 < share < 1
    assert share != reference(state, sp.train_tokens, sp.train_labels)[0]
    assert share != reference(state, ds.tokens[sp.test_idx], ds.labels[sp.test_idx])[0]
    assert row.collapse_f32 == share
    assert 0 <= row.loss_gap_f32 <= bound


def test_ensemble_members_get_the_same_fields() -> None:
    ds = make_dataset("add", P)
    members = (
        E.Member(seed=0, train_size=200),
        E.Member(seed=1, train_size=150),
        E.Member(seed=1, train_size=150, random_labels=True),
    )
    states = [confident_network(0), confident_network(1), confident_network(1)]
    ens = E.Ensemble(E.EnsembleConfig(members=members, p=P, steps=1), init=states)
    rows = ens.evaluate([0, 1, 2], 0)
    shares = []
    for m, state, row in zip(members, states, rows, strict=True):
        sp = split(ds, train_size=m.train_size, seed=m.seed)
        labels = random_labels(m.train_size, ds.n_classes, m.seed) if m.random_labels else sp.train_labels
        share, bound = reference(state, sp.train_tokens, labels)
        assert row.collapse_f32 == share
        assert 0 <= row.loss_gap_f32 <= bound
        shares.append(share)
    assert shares[1] != shares[2]  # the labels trained on matter, so the check can fail


TINY = ("--p", "23", "--train-frac", "0.5", "--eval-every", "20", "--threads", "1")
#: a large step and no weight decay: margins grow past float32's resolution within 100 steps
FAST_FIT = ("--steps", "100", "--lr", "0.01", "--weight-decay", "0")


def read_rows(out: Path) -> list[dict]:
    return [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]


def test_train_cli_writes_the_fields(cli, tmp_path: Path) -> None:
    """Negative control: a short run at the paper's settings records no collapse and says none."""
    out = tmp_path / "run"
    r = cli("train", *TINY, "--steps", "20", "--out", str(out), "--json")
    assert r.code == 0, r.err
    rows = read_rows(out)
    assert len(rows) > 3 and all(d["collapse_f32"] == 0.0 and 0.0 <= d["loss_gap_f32"] < 1e-5 for d in rows)
    summary = json.loads(r.out)
    assert summary["step_collapse_f32"] is None
    assert summary["final"]["loss_gap_f32"] == rows[-1]["loss_gap_f32"]
    assert "collapse" not in r.err


@pytest.mark.parametrize(
    ("dtype", "effect"), [("float32", "gave no gradient"), ("float64", "float64 loss kept their gradient")]
)
def test_train_cli_reports_collapse(cli, tmp_path: Path, dtype: str, effect: str) -> None:
    out = tmp_path / dtype
    r = cli("train", *TINY, *FAST_FIT, "--loss-dtype", dtype, "--out", str(out))
    assert r.code == 0, r.err
    rows = read_rows(out)
    first = next(d["step"] for d in rows if d["collapse_f32"] > 0)
    last = rows[-1]["collapse_f32"]
    assert 0 < last <= 1
    summary = json.loads((out / "summary.json").read_text())
    assert summary["step_collapse_f32"] == first
    assert summary["final"]["collapse_f32"] == last
    text = " ".join(r.out.split())  # rich wraps long lines
    assert f"float32 softmax collapse first at step {first};" in text
    assert f"at the last evaluation {100 * last:.3g}% of train examples" in text and effect in text
    assert "step 100/100" in r.err and f"| f32 collapse {100 * last:.3g}%" in r.err
