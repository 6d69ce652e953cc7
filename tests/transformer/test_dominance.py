"""Which circuit dominates under Appendix B and under the progress measures: the rules at their
edges, and constructed networks where the two measures agree and where they must differ."""

from __future__ import annotations

import math

import pytest
import torch

from grokcheck.errors import InputError
from grokcheck.transformer.analysis import circuits as C
from grokcheck.transformer.analysis import dominance as D
from grokcheck.transformer.analysis import progress_measures as P


def test_appendix_b_rule_at_its_edges() -> None:
    assert D.by_trig_fraction(0.96) == D.GEN
    assert D.by_trig_fraction(0.95) == D.MIXED  # "more than 95%"
    assert D.by_trig_fraction(0.5) == D.MIXED
    assert D.by_trig_fraction(0.49) == D.MEM
    with pytest.raises(InputError, match=r"in \[0, 1\]"):
        D.by_trig_fraction(float("nan"))


def test_progress_rule_at_its_edges() -> None:
    p = 113
    half = math.log(p) / 2
    assert D.by_progress(0.01, math.log(p), p) == D.GEN
    assert D.by_progress(math.log(p), 1e-4, p) == D.MEM
    assert D.by_progress(0.01, 0.01, p) == D.MIXED
    assert D.by_progress(math.log(p), math.log(p), p) == D.NEITHER
    assert D.by_progress(half, 1e-3, p) == D.MEM  # at the level a part does not fit
    assert D.by_progress(half * 0.999, half, p) == D.GEN
    with pytest.raises(InputError, match="p"):
        D.by_progress(0.1, 0.1, 1)


def test_agreement_and_conflict() -> None:
    p = 31
    agree = D.dominance(0.99, 0.01, 4.0, p)
    assert agree == D.Dominance(D.GEN, D.GEN, agree=True, conflict=False)
    clash = D.dominance(0.99, 4.0, 0.01, p)
    assert clash.appendix_b == D.GEN and clash.progress == D.MEM and clash.conflict and not clash.agree
    soft = D.dominance(0.7, 0.01, 4.0, p)  # mixed against gen: they differ without a clash
    assert not soft.agree and not soft.conflict
    assert soft.as_dict() == {"appendix_b": "mixed", "progress": "gen", "agree": False, "conflict": False}


def measure_both(Z: torch.Tensor, p: int, mask: torch.Tensor, labels: torch.Tensor, keys) -> D.Dominance:
    c = C.measure_logits(Z, p, train_mask=mask, train_labels=labels)
    pm = P.measure_logits(Z, p, train_mask=mask, train_labels=labels, key_frequencies=keys)
    return D.dominance_of(c, pm)


def test_constructed_networks() -> None:
    """The Fourier algorithm reads gen under both; a random-label lookup table mem under both; a
    true-label table on 60% of the inputs leaks into Z_T (Appendix B's flaw) and reads mixed
    there while the progress measures still say mem."""
    p = 23
    a = torch.arange(p, dtype=torch.float64)
    s = a[:, None, None] + a[None, :, None] - a[None, None, :]
    fourier = (6 * torch.cos(2 * math.pi * 2 * s / p) + 5 * torch.cos(2 * math.pi * 9 * s / p)).reshape(
        p * p, p
    )
    true = ((a[:, None] + a[None, :]) % p).reshape(-1).long()
    mask = torch.rand(p * p, generator=torch.Generator().manual_seed(0)) < 0.3
    got = measure_both(fourier, p, mask, true[mask], (2, 9))
    assert got == D.Dominance(D.GEN, D.GEN, agree=True, conflict=False)

    def table(mask: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        Z = torch.zeros(p * p, p, dtype=torch.float64)
        Z[mask.nonzero()[:, 0], labels] = 10.0
        return Z

    rand = torch.randint(0, p, (int(mask.sum()),), generator=torch.Generator().manual_seed(1))
    got = measure_both(table(mask, rand), p, mask, rand, (2, 9))
    assert got == D.Dominance(D.MEM, D.MEM, agree=True, conflict=False)
    big = torch.rand(p * p, generator=torch.Generator().manual_seed(2)) < 0.6
    got = measure_both(table(big, true[big]), p, big, true[big], (2, 9))
    assert got.appendix_b == D.MIXED and got.progress == D.MEM and not got.agree and not got.conflict


def test_moduli_must_match() -> None:
    p = 7
    Z = torch.zeros(p * p, p)
    mask = torch.ones(p * p, dtype=torch.bool)
    lab = torch.arange(p * p) % p
    c = C.measure_logits(Z, p, train_mask=mask, train_labels=lab)
    q = 11
    pm = P.measure_logits(torch.zeros(q * q, q), q, train_mask=torch.ones(q * q, dtype=torch.bool),
                          train_labels=torch.arange(q * q) % q, key_frequencies=())  # fmt: skip
    with pytest.raises(InputError, match="moduli"):
        D.dominance_of(c, pm)
