"""The table engine equals the reference transformer: logits and every gradient, every task."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from grokcheck.errors import InputError
from grokcheck.transformer.model import engine, runtime
from grokcheck.transformer.model.model import ModelConfig, Transformer, make_model
from grokcheck.transformer.model.tasks import TASKS, make_dataset

#: a prime modulus per mod-p task (prime so div and div-odd are defined); S5 ignores it
SMALL_P = 7
F64_TOL = 1e-10  # relative, norm-wise (the engine reassociates sums: ~1e-15 is typical)
F32_TOL = 1e-5


def rel_err(a: torch.Tensor, b: torch.Tensor) -> float:
    """``||a - b|| / ||b||`` in float64 (norm-wise: near-zero elements do not dominate)."""
    a, b = a.detach().double(), b.detach().double()
    return float((a - b).norm() / b.norm().clamp_min(1e-300))


def random_model(
    seed: int, n_vocab: int, n_classes: int, *, dtype=torch.float64, scale: float = 1.0, **sizes
) -> Transformer:
    """A model with every parameter (biases too) random, so no term is trivially zero."""
    m = make_model(ModelConfig(n_vocab=n_vocab, n_classes=n_classes, **sizes), seed=seed, dtype=dtype)
    g = torch.Generator().manual_seed(seed + 1)
    with torch.no_grad():
        for p in m.parameters():
            p.add_(
                scale * torch.randn(p.shape, generator=g, dtype=torch.float64).to(dtype) / p.shape[-1] ** 0.5
            )
    return m


def grads(logits_fn, model: Transformer, cotangent: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
    """Logits and the gradient of ``sum(logits * cotangent)`` for every parameter."""
    logits = logits_fn()
    params = list(model.parameters())
    gs = torch.autograd.grad((logits * cotangent).sum(), params, allow_unused=True)
    return logits.detach(), [torch.zeros_like(p) if g is None else g for p, g in zip(params, gs, strict=True)]


def compare(model: Transformer, tokens: torch.Tensor, params: dict | None = None) -> dict[str, float]:
    """Relative errors of the engine against ``model`` for logits and each gradient."""
    plan = engine.make_plan(tokens, model.cfg.n_heads)
    g = torch.Generator().manual_seed(7)
    cot = torch.randn(tokens.shape[0], model.cfg.n_classes, generator=g, dtype=torch.float64).to(
        model.W_U.dtype
    )
    if params is None:
        params = {k: getattr(model, k).unsqueeze(0) for k in engine.PARAM_NAMES}
    fast, g_fast = grads(lambda: engine.stacked_logits(params, plan)[0], model, cot)
    ref, g_ref = grads(lambda: model(tokens), model, cot)
    errs = {"logits": rel_err(fast, ref)}
    errs.update(
        {name: rel_err(a, b) for (name, _), a, b in zip(model.named_parameters(), g_fast, g_ref, strict=True)}
    )
    return errs


@st.composite
def task_batches(draw):
    task = draw(st.sampled_from(sorted(TASKS)))
    ds = make_dataset(task, SMALL_P)
    n = draw(st.integers(1, 48))
    rows = draw(st.lists(st.integers(0, len(ds) - 1), min_size=n, max_size=n))
    sizes = draw(
        st.sampled_from(
            [
                dict(d_model=16, n_heads=2, d_head=8, d_mlp=32),
                dict(d_model=24, n_heads=3, d_head=5, d_mlp=40),
                dict(d_model=8, n_heads=1, d_head=8, d_mlp=16),
            ]
        )
    )
    seed = draw(st.integers(0, 2**16))
    return ds, torch.tensor(rows), sizes, seed


@settings(max_examples=40, deadline=None)
@given(task_batches())
def test_float64_logits_and_gradients_match_the_reference_on_every_task(batch) -> None:
    ds, rows, sizes, seed = batch
    model = random_model(seed, ds.n_vocab, ds.n_classes, **sizes)
    errs = compare(model, ds.tokens[rows])
    assert max(errs.values()) < F64_TOL, errs


@pytest.mark.parametrize("task", sorted(TASKS))
def test_float32_matches_a_float64_reference_at_paper_size(task: str) -> None:
    """Paper-sized model in float32 against the float64 reference; tolerance scaled to each
    gradient's norm (in float32, near-zero gradients differ in every formulation, the full model
    included)."""
    ds = make_dataset(task, 23 if not TASKS[task].s5 else 113)
    rows = torch.randperm(len(ds), generator=torch.Generator().manual_seed(0))[:96]
    m64 = random_model(3, ds.n_vocab, ds.n_classes, scale=0.5)
    m32 = make_model(m64.cfg, dtype=torch.float32)
    m32.load_state_dict({k: v.float() for k, v in m64.state_dict().items()})
    tokens = ds.tokens[rows]
    plan = engine.make_plan(tokens, m32.cfg.n_heads)
    cot = torch.randn(
        len(rows), ds.n_classes, generator=torch.Generator().manual_seed(1), dtype=torch.float64
    )
    p32 = {k: getattr(m32, k).unsqueeze(0) for k in engine.PARAM_NAMES}
    fast, g_fast = grads(lambda: engine.stacked_logits(p32, plan)[0], m32, cot.float())
    ref, g_ref = grads(lambda: m64(tokens), m64, cot)
    assert rel_err(fast, ref) < F32_TOL
    for (name, _), a, b in zip(m64.named_parameters(), g_fast, g_ref, strict=True):
        assert rel_err(a, b) < F32_TOL, name


def test_stacked_models_each_match_their_reference() -> None:
    ds = make_dataset("sub", 11)
    models = [
        random_model(s, ds.n_vocab, ds.n_classes, d_model=16, n_heads=2, d_head=8, d_mlp=32) for s in range(3)
    ]
    params = {k: torch.stack([getattr(m, k) for m in models]) for k in engine.PARAM_NAMES}
    tokens = torch.stack([ds.tokens[torch.randperm(len(ds))[:20]] for _ in models])  # (3, 20, 4)
    logits = engine.stacked_logits(params, engine.make_plan(tokens, 2))
    for k, m in enumerate(models):
        assert rel_err(logits[k], m(tokens[k])) < F64_TOL


def ragged_case(sizes: tuple[int, ...]):
    """Models of one config and each model's own examples (``sizes[k]`` of them), end to end."""
    ds = make_dataset("sub", 11)
    models = [
        random_model(s, ds.n_vocab, ds.n_classes, d_model=16, n_heads=2, d_head=8, d_mlp=32)
        for s in range(len(sizes))
    ]
    g = torch.Generator().manual_seed(3)
    tokens = [ds.tokens[torch.randperm(len(ds), generator=g)[:n]] for n in sizes]
    cots = [torch.randn(n, ds.n_classes, generator=g, dtype=torch.float64) for n in sizes]
    return models, tokens, cots


@pytest.mark.parametrize("sizes", [(7, 7, 3, 12, 12), (1, 5), (6,)])
def test_models_with_different_example_counts_each_match_their_reference(sizes) -> None:
    """Rows of models with 1 to 12 examples end to end (no padding): each model's logits and
    gradients equal its reference model's on its own examples."""
    models, tokens, cots = ragged_case(sizes)
    params = {
        k: torch.stack([getattr(m, k).detach() for m in models]).requires_grad_() for k in engine.PARAM_NAMES
    }
    plan = engine.make_plan(torch.cat(tokens), 2, sizes=sizes)
    assert plan.rows == sum(sizes) and not plan.stacked
    logits = engine.stacked_logits(params, plan)  # (R, C)
    (logits * torch.cat(cots)).sum().backward()
    rows = torch.tensor(sizes).cumsum(0).tolist()
    for k, m in enumerate(models):
        ref, g_ref = grads(lambda m=m, k=k: m(tokens[k]), m, cots[k])
        assert rel_err(logits[rows[k] - sizes[k] : rows[k]], ref) < F64_TOL
        for (name, _), b in zip(m.named_parameters(), g_ref, strict=True):
            assert rel_err(params[name].grad[k], b) < F64_TOL, (k, name)


def test_a_wrong_split_into_models_is_caught_and_bad_sizes_refused() -> None:
    """Negative control: the same rows split 6 + 8 instead of 7 + 7 give other logits."""
    models, tokens, _ = ragged_case((7, 7))
    params = {k: torch.stack([getattr(m, k) for m in models]) for k in engine.PARAM_NAMES}
    wrong = engine.stacked_logits(params, engine.make_plan(torch.cat(tokens), 2, sizes=(6, 8)))
    assert rel_err(wrong[6:7], models[0](tokens[0][6:])) > 1e-3
    for bad in ((7, 8), (14, 0), ()):
        with pytest.raises(InputError, match="--engine"):
            engine.make_plan(torch.cat(tokens), 2, sizes=bad)


def test_runs_group_consecutive_models_of_equal_size() -> None:
    tokens = make_dataset("add", SMALL_P).tokens[:20]
    plan = engine.make_plan(tokens, 2, sizes=(5, 5, 3, 3, 3, 1))
    assert plan.runs == ((0, 2, 0, 5), (2, 5, 10, 3), (5, 6, 19, 1))
    assert plan.model_of.tolist() == [0] * 5 + [1] * 5 + [2] * 3 + [3] * 3 + [4] * 3 + [5]
    x = torch.arange(20.0)[:, None].expand(20, 2)
    want = torch.zeros(6, 2).index_add_(0, plan.model_of, x)
    assert torch.equal(plan.sum_per_model(x), want) and want[0, 0] == 0 + 1 + 2 + 3 + 4
    assert engine.make_plan(tokens.view(4, 5, 4), 2).runs == ((0, 4, 0, 5),)


def test_general_token_sets_and_short_sequences() -> None:
    """Any tokens at positions 0..T-2 (here the op position varies too), T < n_ctx, and a
    single example (every position constant, so no gather at all)."""
    model = random_model(0, 12, 9, d_model=16, n_heads=2, d_head=8, d_mlp=32)
    g = torch.Generator().manual_seed(0)
    tokens = torch.randint(0, 12, (30, 4), generator=g)
    tokens[:, -1] = 11
    assert max(compare(model, tokens).values()) < F64_TOL
    assert (
        max(compare(model, tokens[:, :3].clone().fill_(5).index_fill_(1, torch.tensor([0]), 2)).values())
        < F64_TOL
    )
    short = tokens[:, 1:].clone()  # 3 positions of a 4-position model
    assert max(compare(model, short).values()) < F64_TOL
    assert max(compare(model, tokens[:1]).values()) < F64_TOL


def test_the_comparison_catches_a_wrong_forward_and_a_wrong_backward() -> None:
    """Negative control: a deliberately wrong engine input fails the same check."""
    ds = make_dataset("add", SMALL_P)
    model = random_model(1, ds.n_vocab, ds.n_classes, d_model=16, n_heads=2, d_head=8, d_mlp=32)
    tokens = ds.tokens[:20]
    good = {k: getattr(model, k).unsqueeze(0) for k in engine.PARAM_NAMES}
    wrong_forward = dict(good, b_out=torch.zeros_like(good["b_out"]) + 0 * good["b_out"])  # drops b_out
    assert compare(model, tokens, wrong_forward)["logits"] > 1e-3
    wrong_backward = dict(good, W_K=good["W_K"].detach())  # same logits, no gradient into W_K
    errs = compare(model, tokens, wrong_backward)
    assert errs["logits"] < F64_TOL and errs["W_K"] > 0.5


def test_exact_reason_and_fallback() -> None:
    model = random_model(0, 12, 9, d_model=16, n_heads=2, d_head=8, d_mlp=32)
    tokens = torch.randint(0, 12, (10, 4), generator=torch.Generator().manual_seed(0))
    assert engine.exact_reason(tokens, 4) is not None  # last tokens differ
    fwd = engine.make_forward(model, "auto")
    assert isinstance(fwd, engine.FastForward)
    assert fwd.plan(tokens) is None
    assert torch.equal(fwd(tokens), model(tokens))  # the fallback is the model itself
    with pytest.raises(InputError, match="--engine"):
        engine.make_plan(tokens, 2)
    assert "positions" in engine.exact_reason(torch.zeros(3, dtype=torch.long), 4)
    assert engine.exact_reason(tokens[:, :3], 4) is not None


def test_extreme_attention_scores_fall_back_to_the_reference() -> None:
    """Scores more than SCORE_RANGE nats apart: the unnormalised weights are not used."""
    ds = make_dataset("add", SMALL_P)
    model = random_model(
        0, ds.n_vocab, ds.n_classes, dtype=torch.float32, d_model=16, n_heads=2, d_head=8, d_mlp=32
    )
    tokens = ds.tokens
    fwd = engine.FastForward(model)
    assert max(compare(model.double(), tokens).values()) < F64_TOL  # ordinary scores: the engine
    model.float()
    with torch.no_grad():
        model.W_Q.mul_(300.0)  # scores spread over thousands of nats
    params = {k: getattr(model, k).unsqueeze(0) for k in engine.PARAM_NAMES}
    with pytest.raises(engine.ScoreRangeError):
        engine.stacked_logits(params, engine.make_plan(tokens, 2))
    out = fwd(tokens)
    assert torch.isfinite(out).all() and torch.equal(out, model(tokens))


def test_make_forward_choices() -> None:
    model = random_model(0, 12, 9, d_model=16, n_heads=2, d_head=8, d_mlp=32)
    assert engine.make_forward(model, "reference") is model
    with pytest.raises(InputError, match="--engine"):
        engine.make_forward(model, "turbo")
    other = torch.nn.Linear(4, 2)
    assert engine.make_forward(other, "auto") is other  # not the reference transformer


def test_fast_forward_trains_the_models_own_parameters() -> None:
    """Same parameters and optimizer state: 5 AdamW steps through the engine equal 5 through
    the reference."""
    ds = make_dataset("add", SMALL_P)
    a = random_model(2, ds.n_vocab, ds.n_classes, d_model=16, n_heads=2, d_head=8, d_mlp=32)
    b = make_model(a.cfg, dtype=torch.float64)
    b.load_state_dict(a.state_dict())
    tokens, labels = ds.tokens[:30], ds.labels[:30]
    for model, fwd in ((a, engine.make_forward(a, "auto")), (b, b)):
        opt = torch.optim.AdamW(model.parameters(), lr=1e-2, betas=(0.9, 0.98), weight_decay=1.0)
        for _ in range(5):
            opt.zero_grad()
            torch.nn.functional.cross_entropy(fwd(tokens), labels).backward()
            opt.step()
    for (name, pa), pb in zip(a.named_parameters(), b.parameters(), strict=True):
        assert rel_err(pa, pb) < F64_TOL, name


def test_plan_cache_is_per_tensor_and_sees_in_place_writes() -> None:
    model = random_model(0, 12, 9, d_model=16, n_heads=2, d_head=8, d_mlp=32)
    fwd = engine.FastForward(model, max_plans=2)
    tokens = torch.randint(0, 11, (10, 4), generator=torch.Generator().manual_seed(0))
    tokens[:, -1] = 11
    p1 = fwd.plan(tokens)
    assert fwd.plan(tokens) is p1
    assert fwd.plan(tokens[:5]) is not p1
    tokens[0, 0] = 10
    p2 = fwd.plan(tokens)
    assert p2 is not p1 and int(p2.row_tok.max()) == 10
    assert len(fwd._plans) == 2  # bounded


def test_tune_malloc_is_idempotent() -> None:
    first = runtime.tune_malloc()
    assert runtime.tune_malloc() is first
    assert isinstance(first, bool)


def test_matmul_precision_restores_the_previous_setting() -> None:
    before = torch.backends.cuda.matmul.allow_tf32
    with engine.matmul_precision(tf32=True):
        assert torch.backends.cuda.matmul.allow_tf32 is True
    with engine.matmul_precision():
        assert torch.backends.cuda.matmul.allow_tf32 is False
    assert torch.backends.cuda.matmul.allow_tf32 == before


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_float64_matches_the_cpu_reference() -> None:
    ds = make_dataset("add", 23)
    cpu = random_model(0, ds.n_vocab, ds.n_classes)
    gpu = make_model(cpu.cfg, dtype=torch.float64, device="cuda")
    gpu.load_state_dict(cpu.state_dict())
    tokens = ds.tokens[:200]
    cot = torch.randn(200, ds.n_classes, dtype=torch.float64)
    fwd = engine.make_forward(gpu, "auto")
    fast, g_fast = grads(lambda: fwd(tokens.cuda()), gpu, cot.cuda())
    ref, g_ref = grads(lambda: cpu(tokens), cpu, cot)
    assert rel_err(fast.cpu(), ref) < F64_TOL
    for a, b in zip(g_fast, g_ref, strict=True):
        assert rel_err(a.cpu(), b) < F64_TOL


_FAULTS = """
import resource, sys, torch
from grokcheck.transformer.model import runtime
if sys.argv[1] == "tuned":
    assert runtime.tune_malloc()
def fill():
    t = torch.empty(20 * 2**20)  # 80 MB: above glibc's largest mmap threshold
    t.fill_(1.0)
for _ in range(12):  # warm-up: the heap grows until a freed block fits the aligned request
    fill()
f0 = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(3):
    fill()
print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - f0)
"""


def test_tune_malloc_keeps_large_buffers_mapped() -> None:
    """After a warm-up, a freed 80 MB buffer is reused without page faults; with glibc's
    defaults (the control) every allocation faults its ~20k pages in again."""
    import subprocess
    import sys

    if not runtime.tune_malloc():
        pytest.skip("not glibc")

    def faults(mode: str) -> int:
        out = subprocess.run(
            [sys.executable, "-c", _FAULTS, mode], capture_output=True, text=True, check=True
        )
        return int(out.stdout.split()[-1])

    assert faults("tuned") < 1000
    assert faults("default") > 30000
