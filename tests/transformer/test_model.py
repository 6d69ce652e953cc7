"""The reference transformer: shapes, init, an independent numpy forward, gradients, learning."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from grokcheck.errors import InputError
from grokcheck.transformer.model.model import ModelConfig, Transformer, make_model, param_norm
from grokcheck.transformer.model.tasks import make_dataset, split

EXPECTED_SHAPES = {
    "W_E": (25, 128),
    "W_pos": (4, 128),
    "W_Q": (4, 128, 32),
    "W_K": (4, 128, 32),
    "W_V": (4, 128, 32),
    "W_O": (4, 32, 128),
    "W_in": (128, 512),
    "b_in": (512,),
    "W_out": (512, 128),
    "b_out": (128,),
    "W_U": (128, 23),
}


def numpy_forward(params: dict[str, np.ndarray], tokens: np.ndarray) -> np.ndarray:
    """Appendix A's transformer written out one example, one head, one position at a time."""
    n_heads, _, d_head = params["W_Q"].shape
    out = []
    for seq in tokens:
        n = len(seq)
        x = np.stack([params["W_E"][t] + params["W_pos"][i] for i, t in enumerate(seq)])  # (pos, d)
        attn = np.zeros_like(x)
        for h in range(n_heads):
            q, k, v = (x @ params[w][h] for w in ("W_Q", "W_K", "W_V"))  # (pos, d_head)
            for i in range(n):
                s = np.array([q[i] @ k[j] / math.sqrt(d_head) for j in range(i + 1)])  # causal
                a = np.exp(s - s.max())
                a /= a.sum()
                attn[i] += (a @ v[: i + 1]) @ params["W_O"][h]
        x = x + attn
        hidden = np.maximum(0.0, x @ params["W_in"] + params["b_in"])
        x = x + hidden @ params["W_out"] + params["b_out"]
        out.append(x[-1] @ params["W_U"])
    return np.array(out)


def small_model(seed: int = 0, **kw) -> Transformer:
    return make_model(ModelConfig(n_vocab=25, n_classes=23, **kw), seed=seed, dtype=torch.float64)


def test_parameters_exactly_as_specified() -> None:
    m = make_model(ModelConfig(n_vocab=25, n_classes=23))
    assert {n: tuple(p.shape) for n, p in m.named_parameters()} == EXPECTED_SHAPES
    assert m(torch.zeros(5, 4, dtype=torch.long)).shape == (5, 23)


def test_init_scales_and_seed() -> None:
    m = make_model(ModelConfig(n_vocab=115, n_classes=113), seed=3)
    for name in ("W_E", "W_Q", "W_K", "W_V", "W_O", "W_in", "W_U"):
        std = float(getattr(m, name).detach().std())
        assert abs(std - 1 / math.sqrt(128)) < 0.1 / math.sqrt(128), name
    assert abs(float(m.W_out.detach().std()) - 1 / math.sqrt(512)) < 0.1 / math.sqrt(512)
    assert not m.b_in.detach().any() and not m.b_out.detach().any()
    again = make_model(ModelConfig(n_vocab=115, n_classes=113), seed=3)
    other = make_model(ModelConfig(n_vocab=115, n_classes=113), seed=4)
    assert all(torch.equal(a, b) for a, b in zip(m.parameters(), again.parameters(), strict=True))
    assert not torch.equal(m.W_E, other.W_E)


def test_forward_matches_independent_numpy() -> None:
    m = small_model(seed=1)
    with torch.no_grad():  # non-zero biases so they are exercised too
        m.b_in.normal_(0, 0.3, generator=torch.Generator().manual_seed(0))
        m.b_out.normal_(0, 0.3, generator=torch.Generator().manual_seed(1))
    tokens = torch.randint(0, 25, (6, 4), generator=torch.Generator().manual_seed(2))
    params = {n: p.detach().numpy() for n, p in m.named_parameters()}
    expected = numpy_forward(params, tokens.numpy())
    got = m(tokens).detach().numpy()
    np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-12)


def test_last_position_ignores_nothing_and_earlier_positions_ignore_later_tokens() -> None:
    """Causality: position i's output must not change when tokens after i change."""
    m = small_model(seed=2)
    tokens = torch.tensor([[3, 23, 5, 24]])
    changed = tokens.clone()
    changed[0, 3] = 7
    assert not torch.allclose(m(tokens), m(changed))  # the last position sees its own token
    # position 2 of the full sequence = last position of the first 3 tokens
    prefix = m(tokens[:, :3])
    again = m(changed[:, :3])
    assert torch.equal(prefix, again)


def test_gradients_reach_every_parameter_and_match_finite_differences() -> None:
    tiny = make_model(
        ModelConfig(n_vocab=9, n_classes=7, d_model=8, n_heads=2, d_head=4, d_mlp=16),
        seed=0,
        dtype=torch.float64,
    )
    with torch.no_grad():
        tiny.b_in.normal_(0, 0.5, generator=torch.Generator().manual_seed(0))
    tokens = torch.randint(0, 9, (5, 4), generator=torch.Generator().manual_seed(0))
    labels = torch.randint(0, 7, (5,), generator=torch.Generator().manual_seed(1))
    names = [n for n, _ in tiny.named_parameters()]

    def loss_of(*params: torch.Tensor) -> torch.Tensor:
        state = dict(zip(names, params, strict=True))
        return F.cross_entropy(torch.func.functional_call(tiny, state, (tokens,)), labels)

    assert torch.autograd.gradcheck(
        loss_of, tuple(p.detach().clone().requires_grad_() for p in tiny.parameters())
    )
    m = small_model()
    loss = F.cross_entropy(m(torch.randint(0, 25, (32, 4))), torch.randint(0, 23, (32,)))
    loss.backward()
    for name, p in m.named_parameters():
        assert p.grad is not None and float(p.grad.abs().max()) > 0, name


def test_loss_decreases_under_adamw() -> None:
    torch.manual_seed(0)
    ds = make_dataset("add", 23)
    sp = split(ds, train_frac=0.5, seed=0)
    m = make_model(ModelConfig(ds.n_vocab, ds.n_classes), seed=0)
    opt = torch.optim.AdamW(m.parameters(), lr=1e-3, betas=(0.9, 0.98), weight_decay=1.0)
    losses = []
    for _ in range(30):
        opt.zero_grad()
        loss = F.cross_entropy(m(sp.train_tokens).double(), sp.train_labels)
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))
    assert losses[-1] < 0.85 * losses[0]
    assert all(b < a + 1e-3 for a, b in zip(losses, losses[1:], strict=False))


def test_param_norm_is_global_l2() -> None:
    m = small_model()
    expected = math.sqrt(sum(float((p.detach().double() ** 2).sum()) for p in m.parameters()))
    assert param_norm(m) == pytest.approx(expected, rel=1e-12)


def test_bad_model_config() -> None:
    with pytest.raises(InputError, match="--n-classes"):
        ModelConfig(n_vocab=5, n_classes=1)
