"""kappa from scaled parameters on networks whose degree is known, and D.4's ratio from norms."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from grokcheck.errors import InputError, RunError
from grokcheck.theory import d4
from grokcheck.transformer.analysis import kappa as K
from grokcheck.transformer.model import tasks
from grokcheck.transformer.model.model import ModelConfig, make_model


def test_margin_definitions() -> None:
    z = torch.tensor([[3.0, 1.0, 2.0], [0.0, 4.0, -1.0]])
    y = torch.tensor([0, 1])
    assert K.margin(z, y, "mean") == pytest.approx(((3 - 1.5) + (4 + 0.5)) / 2)
    assert K.margin(z, y, "max") == pytest.approx(((3 - 2) + (4 - 0)) / 2)
    with pytest.raises(InputError):
        K.margin(z, y, "median")


def test_relu_mlp_of_three_layers_has_kappa_3() -> None:
    g = torch.Generator().manual_seed(0)
    W1, W2, W3 = (torch.randn(s, generator=g, dtype=torch.float64) for s in ((8, 16), (16, 16), (16, 5)))
    x = torch.randn(40, 8, generator=g, dtype=torch.float64)

    def logits_at(c: float) -> torch.Tensor:  # bias-free ReLU MLP: exactly degree 3
        return torch.relu(torch.relu(x @ (c * W1)) @ (c * W2)) @ (c * W3)

    labels = logits_at(1.0).argmax(-1)
    for kind in K.MARGINS:
        fit = K.kappa_of_function(logits_at, labels, kind=kind, scales=np.geomspace(0.1, 10, 7))
        assert fit.kappa == pytest.approx(3.0, abs=1e-9) and fit.homogeneous
    # negative control: a bias in the second layer (degree 1, against the degree-2 input it is
    # added to) makes the logits a mix of degrees 2 and 3, not a power law
    b = torch.full((16,), 3.0, dtype=torch.float64)

    def biased(c: float) -> torch.Tensor:
        return torch.relu(torch.relu(x @ (c * W1)) @ (c * W2) + c * b) @ (c * W3)

    fit = K.kappa_of_function(biased, biased(1.0).argmax(-1), scales=np.geomspace(0.1, 10, 7))
    assert not fit.homogeneous and 2.0 < fit.kappa < 3.0


def _model_state(seed: int, *, kill: tuple[str, ...]) -> dict[str, torch.Tensor]:
    ds = tasks.make_dataset("add", 11)
    model = make_model(
        ModelConfig(n_vocab=ds.n_vocab, n_classes=ds.n_classes, d_model=16, d_mlp=32), seed=seed
    )
    state = {k: v.clone() for k, v in model.state_dict().items()}
    for name in kill:
        state[name].zero_()
    return state


def test_transformer_direct_path_only_has_kappa_2() -> None:
    """W_V = 0 (no attention output), W_in = W_out = 0 and zero biases (no MLP output): the
    logits are W_U^T (W_E[=] + W_pos[3]), exactly degree 2 in the parameters."""
    ds = tasks.make_dataset("add", 11)
    state = _model_state(0, kill=("W_V", "W_in", "W_out", "b_in", "b_out"))
    from grokcheck.transformer.analysis.circuits import all_logits

    labels = all_logits(state, ds.tokens)[0].argmax(-1)
    fit = K.kappa_of_state(state, ds.tokens, labels, scales=np.geomspace(0.2, 5, 7))
    assert fit.kappa == pytest.approx(2.0, abs=1e-9) and fit.homogeneous


def test_transformer_with_attention_path_is_not_a_power_law() -> None:
    """Negative control: with W_Q = W_K = 0 attention is uniform (scores 0 at every scale), so
    logits = degree-2 direct path + degree-4 attention path: the slope runs from 2 to 4."""
    ds = tasks.make_dataset("add", 11)
    state = _model_state(1, kill=("W_Q", "W_K", "W_in", "W_out", "b_in", "b_out"))
    state["W_V"] *= 3.0
    from grokcheck.transformer.analysis.circuits import all_logits

    labels = all_logits(state, ds.tokens)[0].argmax(-1)
    fit = K.kappa_of_state(state, ds.tokens, labels, scales=np.geomspace(0.05, 20, 9))
    assert not fit.homogeneous
    assert fit.local_slopes[0] == pytest.approx(2.0, abs=0.1) and fit.local_slopes[-1] == pytest.approx(
        4.0, abs=0.1
    )


def test_fit_kappa_rejects_bad_points() -> None:
    with pytest.raises(RunError, match="not positive"):
        K.fit_kappa([0.9, 1.0, 1.1], [1.0, -0.5, 2.0])
    with pytest.raises(InputError):
        K.fit_kappa([1.0], [1.0])
    with pytest.raises(InputError):
        K.fit_kappa([0.0, 1.0], [1.0, 1.0])
    mixed = K.fit_kappa(np.geomspace(0.1, 10, 9), [c + c**3 for c in np.geomspace(0.1, 10, 9)])
    assert not mixed.homogeneous  # c + c^3 is no single power law


@pytest.mark.parametrize(("kappa", "expected"), [(1.0, 4.0), (1.2, 8.0), (0.5, 2 ** (2 / 3))])
def test_predicted_ratio_case_2_hand_values(kappa: float, expected: float) -> None:
    # (P_gen / P_mem)^(-q kappa / (q - kappa)) with P_gen = 1, P_mem = 2, q = 2
    assert float(K.predicted_ratio(1.0, 2.0, kappa)) == pytest.approx(expected, rel=1e-12)
    assert K.theorem_case(kappa) == 2 and K.semi_grokking_possible(kappa)


def test_predicted_ratio_agrees_with_d4() -> None:
    D = np.array([500.0, 1000.0, 2000.0, 4000.0])
    p_mem = np.array([20.0, 28.0, 34.0, 45.0])
    ratio = K.predicted_ratio(30.0, p_mem, 1.2)
    exponent = d4.d4_exponent_value(1.2, 2.0)  # sympy-derived
    np.testing.assert_allclose(ratio, (30.0 / p_mem) ** exponent, rtol=1e-12)
    for i in range(len(D)):
        w, _, _ = d4.predicted_weights(d4.D4Config(kappa=1.2, q=2.0, norms=(30.0, float(p_mem[i]))))
        assert ratio[i] == pytest.approx(w[0] / w[1], rel=1e-6)
    assert ratio[0] < 1 < ratio[-1]  # C_mem wins at small D, C_gen at large D
    assert K.crossing_size(D, 30.0, p_mem) == pytest.approx(math.exp(math.log(1000) + 2 / 6 * math.log(2)))


def test_predicted_ratio_case_1_one_circuit_takes_all() -> None:
    r = K.predicted_ratio([1.0, 3.0, 2.0], 2.0, kappa=2.5)
    assert r[0] == np.inf and r[1] == 0.0 and np.isnan(r[2])
    assert K.theorem_case(2.0) == 1 and not K.semi_grokking_possible(2.0)
    w, _, _ = d4.predicted_weights(d4.D4Config(kappa=2.5, q=2.0, norms=(1.0, 2.0)))
    assert w[1] == 0.0 and w[0] > 0  # d4 agrees: all weight on the smaller norm


def test_predicted_ratio_negative_controls() -> None:
    # a wrong exponent (the ratio without the -q kappa/(q - kappa)) is not what is returned
    assert float(K.predicted_ratio(1.0, 2.0, 1.2)) != pytest.approx(2.0)
    with pytest.raises(InputError):
        K.predicted_ratio(-1.0, 2.0, 1.2)
    with pytest.raises(InputError):
        K.predicted_ratio(1.0, 2.0, 0.0)
    assert K.crossing_size([1, 2, 3], 10.0, [1.0, 2.0, 3.0]) is None  # C_mem always more efficient


def test_norm_at_logit() -> None:
    # P' = w^(1/kappa) P: doubling the logit at kappa = 2 multiplies the norm by sqrt(2)
    assert float(K.norm_at_logit(10.0, 30.0, 60.0, 2.0)) == pytest.approx(10 * math.sqrt(2))
