"""Batched runs through the one loop: per-member starts, random labels, retiring converged
members, and resume from an ensemble checkpoint, each against a plain reference."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import torch
import torch.nn.functional as F

from grokcheck.transformer.training import ensemble as E
from grokcheck.transformer.training.batch import train_ensemble
from grokcheck.transformer.training.convergence import ConvergenceConfig
from grokcheck.transformer.model.model import ModelConfig, make_model
from grokcheck.transformer.model.tasks import make_dataset, random_labels, split

P = 23
MEMBERS = (
    E.Member(seed=0, train_size=120, weight_decay=1.0),
    E.Member(seed=1, train_size=200, weight_decay=0.5, lr=3e-3),
    E.Member(seed=2, train_size=90, random_labels=True),
)
CFG = E.EnsembleConfig(members=MEMBERS, p=P, steps=10, eval_every=4, param_dtype="float64")


def reference(member: E.Member, steps: int, init: dict | None = None) -> torch.nn.Module:
    """One model, torch's AdamW, the member's subset (and random labels drawn independently)."""
    ds = make_dataset("add", P)
    model = make_model(ModelConfig(ds.n_vocab, ds.n_classes), seed=member.seed, dtype=torch.float64)
    if init is not None:
        model.load_state_dict(init)
    sp = split(ds, train_size=member.train_size, seed=member.seed)
    labels = sp.train_labels
    if member.random_labels:
        g = torch.Generator().manual_seed(member.seed + 7919)
        labels = torch.randint(ds.n_classes, (len(sp.train_idx),), generator=g)
    opt = torch.optim.AdamW(
        model.parameters(), lr=member.lr, betas=(0.9, 0.98), weight_decay=member.weight_decay
    )
    for _ in range(steps):
        opt.zero_grad()
        F.cross_entropy(model(sp.train_tokens).double(), labels).backward()
        opt.step()
    return model


def rel(state: dict, model: torch.nn.Module) -> float:
    return max(float((state[n] - p.detach()).norm() / p.detach().norm()) for n, p in model.named_parameters())


def test_random_labels_are_uniform_seeded_and_not_the_true_labels() -> None:
    a, b = random_labels(5000, 23, seed=3), random_labels(5000, 23, seed=3)
    assert torch.equal(a, b) and not torch.equal(a, random_labels(5000, 23, seed=4))
    counts = torch.bincount(a, minlength=23).double()
    assert float(((counts - 5000 / 23) ** 2 / (5000 / 23)).sum()) < 60  # chi^2, 22 dof: p ~ 1e-4
    sp = split(make_dataset("add", P), train_size=200, seed=0)
    assert float((random_labels(200, 23, seed=0) == sp.train_labels).double().mean()) < 0.2


def test_each_member_starts_from_its_own_state_and_matches_a_separate_run() -> None:
    ds = make_dataset("add", P)
    states = [make_model(ModelConfig(ds.n_vocab, ds.n_classes), seed=50 + k, dtype=torch.float64).state_dict()
              for k in range(2)]  # fmt: skip
    init = [states[0], None, states[1]]  # member 1 from its own seed
    r = train_ensemble(CFG, init=init)
    for k, m in enumerate(MEMBERS):
        assert rel(r.members[k].state, reference(m, 10, init=init[k])) < 1e-10, k
    # negative control: member 2 trained on its true labels is another network
    assert (
        rel(r.members[2].state, reference(dataclasses.replace(MEMBERS[2], random_labels=False), 10, init[2]))
        > 1e-4
    )


def test_random_label_members_are_scored_on_the_labels_they_train_on() -> None:
    r = train_ensemble(dataclasses.replace(CFG, steps=0))
    row = r.members[2].final
    ds = make_dataset("add", P)
    sp = split(ds, train_size=90, seed=2)
    model = make_model(ModelConfig(ds.n_vocab, ds.n_classes), seed=2, dtype=torch.float64)
    with torch.no_grad():
        logits = model(sp.train_tokens).double()
    loss = float(F.cross_entropy(logits, random_labels(90, ds.n_classes, 2)))
    assert abs(row.train_loss - loss) < 1e-9 * loss


def test_converged_members_leave_the_batch_and_the_others_do_not_change() -> None:
    """A member that converges early stops costing compute; the rest equal an ensemble where
    nobody leaves."""
    loose = ConvergenceConfig(window=4, norm_rtol=0.5, loss_rtol=10.0, acc_atol=1.0)
    cfg = dataclasses.replace(CFG, steps=12, convergence=loose)
    ens = E.Ensemble(cfg)
    seen: list[int] = []
    r = train_ensemble(cfg, ensemble=ens, progress=lambda ev: seen.append(ev.active))
    assert all(m.stopped == "converged" and m.steps == 4 for m in r.members)
    assert ens.groups == [] and min(seen) == 0
    # members 0 and 1 never converge; member 2 does at step 4: compare with a run without retiring
    picky = ConvergenceConfig(window=4, norm_rtol=1e-12, loss_rtol=1e-12, acc_atol=0.0)
    both = dataclasses.replace(CFG, steps=12, convergence=picky)
    ens2 = E.Ensemble(both)
    tracks_stop = train_ensemble(both, ensemble=ens2)
    assert all(m.stopped == "max_steps" for m in tracks_stop.members)
    ens3 = E.Ensemble(both)
    ens3.retire(2)
    for _ in range(12):
        ens3.train_step()
    for k in (0, 1):
        a, b = ens3.member_state(k), tracks_stop.members[k].state
        assert max(float((a[n] - b[n]).abs().max()) for n in a) < 1e-12
    assert ens3.active == [0, 1]


def test_ensemble_resume_equals_an_uninterrupted_run(tmp_path: Path) -> None:
    cfg = dataclasses.replace(CFG, steps=15)
    whole = train_ensemble(cfg)
    calls = iter(range(10**6))
    part = train_ensemble(cfg, checkpoint=tmp_path / "e.pt", stop=lambda: next(calls) >= 9)
    assert part.steps == 9 and all(m.stopped == "interrupted" for m in part.members)
    done = train_ensemble(cfg, checkpoint=tmp_path / "e.pt")
    assert done.steps == 15
    for a, b in zip(whole.members, done.members, strict=True):
        assert all(torch.equal(a.state[n], b.state[n]) for n in a.state)
        assert [r.step for r in a.rows] == [r.step for r in b.rows if r.step != 9]
