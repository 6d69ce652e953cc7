"""Batched ensembles: stacked AdamW equals torch's, K-batched training equals K separate runs."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from grokcheck.errors import InputError, RunError
from grokcheck.transformer.training import ensemble as E
from grokcheck.transformer.training.batch import train_ensemble
from grokcheck.transformer.model.model import ModelConfig, make_model
from grokcheck.transformer.training.optim import StackedAdamW
from grokcheck.transformer.model.tasks import make_dataset, split

P = 23  # 529 examples: small enough for many steps in a unit test


def separate_run(
    member: E.Member,
    steps: int,
    *,
    task: str = "add",
    p: int = P,
    init: dict | None = None,
    eps: float = 1e-8,
):
    """The plain way: the reference model and torch.optim.AdamW on the member's own subset."""
    ds = make_dataset(task, p)
    model = make_model(ModelConfig(ds.n_vocab, ds.n_classes), seed=member.seed, dtype=torch.float64)
    if init is not None:
        model.load_state_dict(init)
    sp = split(
        ds,
        train_size=E.train_size_of(member, len(ds)),
        seed=member.seed if member.data_seed is None else member.data_seed,
    )
    opt = torch.optim.AdamW(
        model.parameters(),
        lr=member.lr,
        betas=(0.9, 0.98),
        eps=eps,
        weight_decay=member.weight_decay,
    )
    for _ in range(steps):
        opt.zero_grad()
        F.cross_entropy(model(sp.train_tokens).double(), sp.train_labels).backward()
        opt.step()
    return model, sp


def max_rel(state: dict, model) -> float:
    return max(float((state[n] - p.detach()).norm() / p.detach().norm()) for n, p in model.named_parameters())


@settings(max_examples=20, deadline=None)
@given(
    lrs=st.lists(st.sampled_from([1e-3, 3e-3, 1e-2]), min_size=1, max_size=3),
    wd=st.sampled_from([0.0, 0.3, 1.0]),
    seed=st.integers(0, 1000),
    dtype=st.sampled_from([torch.float64, torch.float32]),
)
def test_stacked_adamw_is_torch_adamw_per_model(lrs, wd, seed, dtype) -> None:
    g = torch.Generator().manual_seed(seed)
    K = len(lrs)
    start = torch.randn(K, 6, 5, generator=g, dtype=torch.float64).to(dtype)
    wds = [wd * (k + 1) / K for k in range(K)]
    stacked = {"W": start.clone().requires_grad_()}
    opt = StackedAdamW(stacked, lrs, wds)
    refs = [start[k].clone().requires_grad_() for k in range(K)]
    ropts = [
        torch.optim.AdamW([refs[k]], lr=lrs[k], betas=(0.9, 0.98), weight_decay=wds[k]) for k in range(K)
    ]
    for _ in range(8):
        # gradients spanning 12 orders of magnitude, so eps matters for some elements
        grad = (
            torch.randn(K, 6, 5, generator=g, dtype=torch.float64)
            * 10.0 ** torch.randint(-12, 1, (K, 6, 5), generator=g).double()
        )
        stacked["W"].grad = grad.to(dtype)
        opt.step()
        for k in range(K):
            refs[k].grad = grad[k].to(dtype)
            ropts[k].step()
    for k in range(K):
        assert torch.equal(stacked["W"][k].detach(), refs[k].detach())


def test_a_wrong_optimizer_is_caught() -> None:
    """Negative control: Adam with L2 regularisation (coupled decay) is not AdamW."""
    start = torch.randn(1, 4, dtype=torch.float64)
    stacked = {"W": start.clone().requires_grad_()}
    opt = StackedAdamW(stacked, [1e-2], [1.0])
    ref = start[0].clone().requires_grad_()
    adam_l2 = torch.optim.Adam([ref], lr=1e-2, betas=(0.9, 0.98), weight_decay=1.0)
    for _ in range(5):
        grad = torch.randn(1, 4, dtype=torch.float64)
        stacked["W"].grad = grad.clone()
        opt.step()
        ref.grad = grad[0].clone()
        adam_l2.step()
    assert float((stacked["W"][0].detach() - ref.detach()).abs().max()) > 1e-4


MEMBERS = (
    E.Member(seed=0, train_size=100, lr=1e-3, weight_decay=1.0),
    E.Member(seed=1, train_size=160, lr=3e-3, weight_decay=0.3),
    E.Member(seed=2, data_seed=5, train_frac=0.5, lr=1e-2, weight_decay=0.0),
)


def test_k_batched_training_equals_k_separate_runs_in_float64() -> None:
    steps = 12
    ens = E.Ensemble(E.EnsembleConfig(members=MEMBERS, p=P, steps=steps, param_dtype="float64"))
    for _ in range(steps):
        ens.train_step()
    for k, m in enumerate(MEMBERS):
        model, _ = separate_run(m, steps)
        # AdamW divides by sqrt(v): it amplifies last-bit gradient differences early on, so
        # 1e-10 (not 1e-15) after 12 steps; measured ~1e-12
        assert max_rel(ens.member_state(k), model) < 1e-10, k


def test_groups_bound_the_padded_rows_and_change_nothing() -> None:
    """Members train in groups of at most max_rows train examples (similar sizes together);
    the grouping is an implementation detail: same steps, same results."""
    cfg = E.EnsembleConfig(members=MEMBERS, p=P, steps=3, param_dtype="float64")
    one = E.Ensemble(cfg, max_rows=10**9)
    grouped = E.Ensemble(cfg, max_rows=330)  # sizes 100, 160, 264 -> [264], [160, 100]
    assert [g.members for g in one.groups] == [[2, 1, 0]]
    assert [g.members for g in grouped.groups] == [[2], [1, 0]]
    for _ in range(3):
        (la, ca), (lb, cb) = one.train_step(), grouped.train_step()
        assert torch.equal(ca, cb) and torch.allclose(la, lb, rtol=1e-12, atol=0)
    for k in range(3):
        a, b = one.member_state(k), grouped.member_state(k)
        assert max(float((a[n] - b[n]).norm() / b[n].norm()) for n in a) < 1e-12
    for a, b in zip(one.evaluate(), grouped.evaluate(), strict=True):
        assert as_dict(a) == pytest.approx(as_dict(b), rel=1e-12)


def test_a_wrong_loss_normalisation_is_caught() -> None:
    """Negative control: summing (not averaging) each member's loss breaks the equality."""
    ens = E.Ensemble(E.EnsembleConfig(members=MEMBERS[:2], p=P, steps=3, param_dtype="float64"))
    for g in ens.groups:
        g.loss_weight = torch.ones_like(g.loss_weight)  # deliberately wrong: sum over the subset
    for _ in range(3):
        ens.train_step()
    model, _ = separate_run(MEMBERS[1], 3)
    assert max_rel(ens.member_state(1), model) > 1e-6


def test_members_from_one_init_state() -> None:
    """Ungrokking starts every member from one state; identical members stay together (not
    bitwise: batched kernels may round differently by memory alignment)."""
    ds = make_dataset("add", P)
    init = make_model(ModelConfig(ds.n_vocab, ds.n_classes), seed=9, dtype=torch.float64).state_dict()
    members = (
        E.Member(seed=0, train_size=60),
        E.Member(seed=0, train_size=60),
        E.Member(seed=3, train_size=200),
    )
    ens = E.Ensemble(E.EnsembleConfig(members=members, p=P, steps=4, param_dtype="float64"), init=init)
    for _ in range(4):
        ens.train_step()
    s0, s1, s2 = (ens.member_state(k) for k in range(3))
    assert max(float((s0[n] - s1[n]).norm() / s1[n].norm()) for n in s0) < 1e-12
    model, _ = separate_run(members[2], 4, init=init)
    assert max_rel(s2, model) < 1e-10


def test_evaluate_matches_the_reference_model_on_each_split() -> None:
    ens = E.Ensemble(E.EnsembleConfig(members=MEMBERS[:2], p=P, steps=2, param_dtype="float64"))
    for _ in range(2):
        ens.train_step()
    rows = ens.evaluate()
    for k, m in enumerate(MEMBERS[:2]):
        model, sp = separate_run(m, 2)
        with torch.no_grad():
            for which, tok, lab in (
                ("train", sp.train_tokens, sp.train_labels),
                ("test", sp.test_tokens, sp.test_labels),
            ):
                logits = model(tok)
                assert getattr(rows[k], f"{which}_loss") == pytest.approx(
                    float(F.cross_entropy(logits, lab)), rel=1e-9
                )
                assert getattr(rows[k], f"{which}_acc") == pytest.approx(
                    float((logits.argmax(-1) == lab).double().mean())
                )
        norm = math.sqrt(sum(float(p.detach().pow(2).sum()) for p in model.parameters()))
        assert rows[k].param_norm == pytest.approx(norm, rel=1e-9)
        assert rows[k].step == 2


def test_evaluate_in_chunks(monkeypatch) -> None:
    """Chunking over members and examples gives the same rows as one chunk."""
    ens = E.Ensemble(E.EnsembleConfig(members=MEMBERS, p=P, steps=1, param_dtype="float64"))
    whole = ens.evaluate()
    monkeypatch.setattr(E, "EVAL_ROWS", 200)  # < 529 examples: one member in three chunks
    ens._eval_plans.clear()
    chunked = ens.evaluate()
    for a, b in zip(whole, chunked, strict=True):
        assert as_dict(a) == pytest.approx(as_dict(b), rel=1e-12)


def as_dict(row) -> dict:
    return {k: v for k, v in row.to_dict().items() if k != "wall_s"}


def test_train_ensemble_records_and_stops() -> None:
    cfg = E.EnsembleConfig(members=MEMBERS[:2], p=P, steps=7, eval_every=3)
    seen: list[int] = []
    r = train_ensemble(cfg, progress=lambda ev: seen.append(ev.step) if ev.row is not None else None)
    assert r.steps == 7 and seen == [0, 1, 2, 3, 6, 7]
    assert [row.step for row in r.members[0].rows] == [0, 1, 2, 3, 6, 7]
    assert r.ms_per_step > 0 and r.members[1].train_size == 160 and r.members[1].test_size == P * P - 160
    calls = iter(range(100))
    r2 = train_ensemble(cfg, stop=lambda: next(calls) >= 2)
    assert r2.steps == 2 and r2.members[0].rows[-1].step == 2
    assert all(m.stopped == "interrupted" for m in r2.members)


def test_extreme_attention_scores_are_a_run_error() -> None:
    ds = make_dataset("add", P)
    init = make_model(ModelConfig(ds.n_vocab, ds.n_classes), seed=0).state_dict()
    init["W_Q"] = init["W_Q"] * 3000.0  # scores spread over hundreds of nats
    ens = E.Ensemble(E.EnsembleConfig(members=MEMBERS[:1], p=P, steps=1), init=init)
    with pytest.raises(RunError, match="grokcheck train"):
        ens.train_step()


def test_the_documented_example_runs(capsys) -> None:
    """docs/engine.md's ensemble example, executed as written."""
    from pathlib import Path

    doc = (Path(__file__).resolve().parents[2] / "docs" / "engine.md").read_text()
    code = doc.split("```python\n", 1)[1].split("```", 1)[0]
    exec(compile(code, "docs/engine.md", "exec"), {})
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 8 and all(len(line.split()) == 4 for line in lines)


def test_config_validation() -> None:
    with pytest.raises(InputError, match="--members"):
        E.EnsembleConfig(members=())
    with pytest.raises(InputError, match="--train-size"):
        E.EnsembleConfig(members=(E.Member(train_size=P * P),), p=P)
    with pytest.raises(InputError, match="--lr"):
        E.Member(lr=0.0)
    with pytest.raises(InputError, match="--weight-decay"):
        E.Member(weight_decay=-1.0)
    with pytest.raises(InputError, match="--train-size"):
        E.Member(train_frac=0.3, train_size=10)
    with pytest.raises(InputError, match="--loss-dtype"):
        E.EnsembleConfig(loss_dtype="float16")


def test_shared_settings_and_member_defaults_are_appendix_a_s_once() -> None:
    """AdamW's settings have one source (OptimConfig): the ensemble shares its betas, eps and
    dtypes, each member its learning rate and weight decay; Appendix A's values."""
    from grokcheck.transformer.training.optim import OptimConfig

    cfg, opt, m = E.EnsembleConfig(), OptimConfig(), E.Member()
    shared = ("beta1", "beta2", "eps", "loss_dtype", "param_dtype")
    assert [getattr(cfg, k) for k in shared] == [getattr(opt, k) for k in shared]
    assert [getattr(cfg, k) for k in shared] == [0.9, 0.98, 1e-8, "float64", "float32"]
    assert (m.lr, m.weight_decay) == (opt.lr, opt.weight_decay) == (1e-3, 1.0)
    with pytest.raises(InputError, match="--beta2"):
        E.EnsembleConfig(beta2=1.0)
    with pytest.raises(InputError, match="--eps"):
        E.EnsembleConfig(eps=0.0)
    for name, value in (("lr", 3e-3), ("weight_decay", 0.5), ("engine", "reference")):
        with pytest.raises(InputError, match=f"--{name.replace('_', '-')}"):
            E.EnsembleConfig(**{name: value})  # set per member, or not a choice here
    assert E.EnsembleConfig(lr=1e-3, weight_decay=1.0, engine="auto") == cfg


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_ensemble_equals_separate_cpu_runs() -> None:
    ens = E.Ensemble(E.EnsembleConfig(members=MEMBERS, p=P, steps=5, param_dtype="float64"), device="cuda")
    for _ in range(5):
        ens.train_step()
    for k, m in enumerate(MEMBERS):
        model, _ = separate_run(m, 5)
        assert max_rel(ens.member_state(k), model) < 1e-10
