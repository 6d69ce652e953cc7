"""Appendix B measurements against a loop-built projection, constructed logits and a trained net."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from grokcheck.errors import InputError
from grokcheck.transformer.analysis import circuits as C
from grokcheck.transformer.model import tasks


def true_labels(p: int) -> torch.Tensor:
    a = torch.arange(p)
    return ((a[:, None] + a[None, :]) % p).reshape(-1)


def random_mask(p: int, frac: float, seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.rand(p * p, generator=g) < frac


def reference(Z: np.ndarray, p: int, targets: np.ndarray, mask: np.ndarray, centre: bool) -> dict:
    """Appendix B literally: build each p^3 vector Z_wk, project, sum; then gather by loops."""
    Z = Z.reshape(p, p, p).astype(np.float64)
    if centre:
        Z = Z - Z.mean(axis=2, keepdims=True)
    ZT = np.zeros_like(Z)
    for k in range(1, math.ceil((p - 1) / 2) + 1):
        basis = np.empty((p, p, p))
        for a in range(p):
            for b in range(p):
                for c in range(p):
                    basis[a, b, c] = math.cos(2 * math.pi * k * (a + b - c) / p)
        unit = basis / np.linalg.norm(basis)
        ZT += np.sum(Z * unit) * unit
    ZM = Z - ZT
    o_t, o_m, corr = [], [], []
    for a in range(p):
        for b in range(p):
            c = targets[a * p + b]
            o_t.append(ZT[a, b, c])
            o_m.append(ZM[a, b, c])
            corr.append(Z[a, b, c])
    o_t, o_m, corr = map(np.array, (o_t, o_m, corr))
    return {
        "trig_fraction": np.sum(ZT**2) / np.sum(Z**2),
        "o_t_train": o_t[mask].mean(),
        "o_m_train": o_m[mask].mean(),
        "o_t_test": o_t[~mask].mean(),
        "o_m_test": o_m[~mask].mean(),
        "correct_logit_train": corr[mask].mean(),
        "correct_logit_test": corr[~mask].mean(),
    }


def trig_tensor(p: int, amps: dict[int, float]) -> torch.Tensor:
    """sum_k A_k cos(w_k (a + b - c)) as (p*p, p) logits."""
    a = torch.arange(p, dtype=torch.float64)
    s = a[:, None, None] + a[None, :, None] - a[None, None, :]  # (a, b, c)
    Z = sum(A * torch.cos(2 * math.pi * k * s / p) for k, A in amps.items())
    return Z.reshape(p * p, p)


@pytest.mark.parametrize("p", [7, 8, 11])
@pytest.mark.parametrize("centre", [True, False])
def test_matches_loop_projection(p: int, centre: bool) -> None:
    g = torch.Generator().manual_seed(p)
    Z = torch.randn(p * p, p, generator=g, dtype=torch.float64) + 0.5 * trig_tensor(p, {1: 3.0, 2: -1.0})
    Z += torch.randn(p * p, 1, generator=g, dtype=torch.float64)  # per-input offsets
    mask = random_mask(p, 0.4, p)
    labels = torch.randint(0, p, (int(mask.sum()),), generator=g)  # random train labels
    targets = true_labels(p).clone()
    targets[mask] = labels
    ref = reference(Z.numpy(), p, targets.numpy(), mask.numpy(), centre)
    got = C.measure_logits(Z, p, train_mask=mask, train_labels=labels, centre=centre)
    for key, value in ref.items():
        assert getattr(got, key) == pytest.approx(value, rel=1e-9, abs=1e-12), key
    assert got.trig_norm_ratio == pytest.approx(math.sqrt(ref["trig_fraction"]))


def test_coefficients_match_loop_sum() -> None:
    p = 11
    Z = torch.randn(p * p, p, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    coef = C.trig_coefficients(Z, p)
    for k in range(1, p // 2 + 1):
        direct = sum(
            float(Z[a * p + b, c]) * math.cos(2 * math.pi * k * (a + b - c) / p)
            for a in range(p)
            for b in range(p)
            for c in range(p)
        )
        assert float(coef[k - 1]) == pytest.approx(direct, rel=1e-10)
    assert C.basis_sq_norms(8).tolist() == [256.0, 256.0, 256.0, 512.0]  # Nyquist k = 4 of p = 8


def test_constructed_trig_plus_lookup_exact() -> None:
    """A known trig part plus a lookup part u[a, c] + v[b, c] (orthogonal to every Z_wk, since
    sum_b cos(w_k (a + b - c)) = 0): every quantity is known in closed form."""
    p = 13
    amps = {2: 4.0, 5: 1.5}
    g = torch.Generator().manual_seed(3)
    u = torch.randn(p, p, generator=g, dtype=torch.float64)
    v = torch.randn(p, p, generator=g, dtype=torch.float64)
    u, v = u - u.mean(1, keepdim=True), v - v.mean(1, keepdim=True)  # centred over c already
    L = (u[:, None, :] + v[None, :, :]).reshape(p * p, p)  # (a, b, c) -> u[a, c] + v[b, c]
    Z = trig_tensor(p, amps) + L
    mask = random_mask(p, 0.5, 0)
    got = C.measure_logits(Z, p, train_mask=mask, train_labels=true_labels(p)[mask])
    trig_energy = sum(A**2 for A in amps.values()) * p**3 / 2
    lookup_energy = float(L.pow(2).sum())
    assert got.trig_fraction == pytest.approx(trig_energy / (trig_energy + lookup_energy), rel=1e-10)
    assert got.trig_norm == pytest.approx(math.sqrt(trig_energy), rel=1e-10)
    assert got.mem_norm == pytest.approx(math.sqrt(lookup_energy), rel=1e-10)
    assert got.o_t_train == pytest.approx(5.5) and got.o_t_test == pytest.approx(5.5)  # t[0] = sum A_k
    lookup_correct = L[torch.arange(p * p), true_labels(p)]
    assert got.o_m_train == pytest.approx(float(lookup_correct[mask].mean()), abs=1e-10)
    assert got.o_m_test == pytest.approx(float(lookup_correct[~mask].mean()), abs=1e-10)
    assert [k for k, _ in got.key_frequencies] == [2, 5]
    assert got.key_frequencies[0][1] == pytest.approx(16 / (16 + 2.25), rel=1e-5)


def test_pure_trig_is_gen_only_with_no_mem_logit() -> None:
    p = 23
    Z = trig_tensor(p, {3: 2.0, 7: 1.0, 10: 0.5})
    mask = random_mask(p, 0.3, 1)
    got = C.measure_logits(Z, p, train_mask=mask, train_labels=true_labels(p)[mask])
    assert got.trig_fraction == pytest.approx(1.0, abs=1e-12) and got.gen_only
    assert abs(got.o_m_train) < 1e-10 and abs(got.o_m_test) < 1e-10 and got.mem_norm < 1e-6
    assert got.o_t_train == pytest.approx(3.5)


def test_random_lookup_table_is_not_gen_only() -> None:
    p = 23
    Z = torch.randn(p * p, p, generator=torch.Generator().manual_seed(0))
    mask = random_mask(p, 0.3, 1)
    got = C.measure_logits(Z, p, train_mask=mask, train_labels=true_labels(p)[mask])
    assert not got.gen_only and got.trig_fraction < 0.01
    # A memorising table (10 on the correct class of each train row) is not C_gen-only, but part
    # of it projects onto Z_T: Appendix B's flaw 1. Closed form: <memo, Z_wk> = 10 n for every
    # k, so o_t = K * 10 n / (p^3 / 2) on every input, train and test alike.
    memo = torch.zeros(p * p, p)
    rows = torch.nonzero(mask).squeeze(1)
    memo[rows, true_labels(p)[rows]] = 10.0
    got = C.measure_logits(memo, p, train_mask=mask, train_labels=true_labels(p)[mask])
    n, K = len(rows), p // 2
    leak = K * 10 * n / (p**3 / 2)
    # centred, the table keeps 100 n (p - 1) / p of its 100 n energy
    assert not got.gen_only and got.trig_fraction == pytest.approx(2 * K * n / p**3 * p / (p - 1))
    assert got.o_t_train == pytest.approx(leak) and got.o_t_test == pytest.approx(leak)
    assert got.correct_logit_train == pytest.approx(10 - 10 / p)  # centred
    assert got.o_m_train == pytest.approx(10 - 10 / p - leak) and got.o_m_test == pytest.approx(-leak)


def test_per_input_offset_is_ignored_when_centred() -> None:
    p = 17
    g = torch.Generator().manual_seed(5)
    Z = trig_tensor(p, {4: 3.0}) + 0.2 * torch.randn(p * p, p, generator=g, dtype=torch.float64)
    shifted = Z + 50.0 * torch.randn(p * p, 1, generator=g, dtype=torch.float64)
    mask = random_mask(p, 0.5, 2)
    kw = dict(train_mask=mask, train_labels=true_labels(p)[mask])
    a, b = C.measure_logits(Z, p, **kw), C.measure_logits(shifted, p, **kw)
    for key in ("trig_fraction", "o_t_train", "o_m_train", "o_m_test", "correct_logit_train"):
        assert getattr(a, key) == pytest.approx(getattr(b, key), rel=1e-9, abs=1e-9), key
    assert a.gen_only and b.gen_only
    # uncentred, the offset lands in Z_M: the measurement then says "not C_gen-only"
    raw = C.measure_logits(shifted, p, centre=False, **kw)
    assert not raw.gen_only and raw.o_t_train == pytest.approx(a.o_t_train)


def test_random_train_labels_define_the_correct_class_on_train() -> None:
    p = 19
    Z = trig_tensor(p, {1: 1.0, 6: 2.0})
    mask = random_mask(p, 0.5, 3)
    labels = torch.randint(0, p, (int(mask.sum()),), generator=torch.Generator().manual_seed(4))
    got = C.measure_logits(Z, p, train_mask=mask, train_labels=labels)
    rows = torch.nonzero(mask).squeeze(1)
    assert got.correct_logit_train == pytest.approx(float(Z[rows, labels].mean()), rel=1e-10)
    assert got.o_t_train == pytest.approx(got.correct_logit_train, rel=1e-9)  # all trig
    assert got.o_t_test == pytest.approx(3.0) and got.o_t_train < 1.0


def test_batched_equals_single_per_member() -> None:
    p, K = 11, 5
    g = torch.Generator().manual_seed(9)
    logits = torch.randn(K, p * p, p, generator=g, dtype=torch.float64)
    logits += trig_tensor(p, {2: 2.0})
    masks = torch.stack([random_mask(p, 0.0, s) for s in range(K)])
    masks[:, :40] = True  # the same count per member, different rows
    masks[:, 40:] = False
    masks = masks[:, torch.randperm(p * p, generator=g)]
    labels = torch.randint(0, p, (K, 40), generator=g)
    batched = C.measure_logits_batched(
        logits, p, train_mask=masks, train_labels=labels, param_norms=[1.0, 2.0, 3.0, 4.0, 5.0]
    )
    for j in range(K):
        one = C.measure_logits(logits[j], p, train_mask=masks[j], train_labels=labels[j], param_norm=j + 1.0)
        assert batched[j].o_m_train == pytest.approx(one.o_m_train, rel=1e-12)
        assert batched[j].o_t_test == pytest.approx(one.o_t_test, rel=1e-12)
        assert batched[j].trig_fraction == pytest.approx(one.trig_fraction, rel=1e-12)
        assert batched[j].param_norm == j + 1.0 and batched[j].key_frequencies == one.key_frequencies


def test_batched_members_with_different_train_sizes() -> None:
    p = 11
    g = torch.Generator().manual_seed(2)
    logits = torch.randn(3, p * p, p, generator=g, dtype=torch.float64)
    masks = torch.stack([random_mask(p, f, s) for s, f in enumerate((0.2, 0.5, 0.8))])
    labels = [torch.randint(0, p, (int(m.sum()),), generator=g) for m in masks]
    batched = C.measure_logits_batched(logits, p, train_mask=masks, train_labels=labels)
    for j in range(3):
        one = C.measure_logits(logits[j], p, train_mask=masks[j], train_labels=labels[j])
        assert batched[j] == one
    with pytest.raises(InputError):
        C.measure_logits_batched(logits, p, train_mask=masks[0], train_labels=labels)


def test_bad_input() -> None:
    p = 7
    Z = torch.zeros(p * p, p)
    mask = random_mask(p, 0.5, 0)
    with pytest.raises(InputError, match="modular addition only"):
        C.measure_logits(Z, p, train_mask=mask, train_labels=true_labels(p)[mask], task="mul")
    with pytest.raises(InputError, match="shape"):
        C.measure_logits(Z[:-1], p, train_mask=mask, train_labels=true_labels(p)[mask])
    with pytest.raises(InputError, match="one label per train row"):
        C.measure_logits(Z, p, train_mask=mask, train_labels=true_labels(p)[:3])
    split = tasks.split(tasks.make_dataset("mul", p), train_frac=0.5)
    with pytest.raises(InputError, match="modular addition only"):
        C.measure_state({}, split)


def test_trained_tiny_network() -> None:
    """A real network (p = 23, half the data, 150 full-batch AdamW steps of Appendix A's
    optimiser: memorised, not grokked), trained here with a plain loop so the test does not
    depend on the training module's API: Appendix B's identities on a network nobody built,
    and (to train only once) its kappa: the trained transformer's paths have degrees 2 to 6
    in the parameters, so it is measured above 2 and is not a single power law."""
    from grokcheck.transformer.model.model import ModelConfig, make_model, param_norm

    torch.manual_seed(0)
    ds = tasks.make_dataset("add", 23)
    sp = tasks.split(ds, train_frac=0.5, seed=0)
    model = make_model(ModelConfig(n_vocab=ds.n_vocab, n_classes=ds.n_classes), seed=0)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3, betas=(0.9, 0.98), weight_decay=1.0)
    for _ in range(150):
        opt.zero_grad()
        torch.nn.functional.cross_entropy(model(sp.train_tokens), sp.train_labels).backward()
        opt.step()
    with torch.no_grad():
        logits = model(ds.tokens)
    train_acc = float((logits[sp.train_idx].argmax(-1) == sp.train_labels).float().mean())
    got = C.measure_state(model.state_dict(), sp)
    assert got.param_norm == pytest.approx(param_norm(model), rel=1e-9)
    same = C.measure_logits(
        logits, 23, train_mask=C.split_mask(sp), train_labels=sp.train_labels, param_norm=param_norm(model)
    )
    assert got == same
    assert got.o_t_train + got.o_m_train == pytest.approx(got.correct_logit_train, rel=1e-9)
    assert train_acc == 1.0 and got.correct_logit_train > 0
    assert got.correct_logit_train > got.correct_logit_test  # it fits train better than test
    assert 0.0 < got.trig_fraction < 1.0 and not got.gen_only and got.n_train == len(sp.train_idx)
    from grokcheck.transformer.analysis.kappa import kappa_of_state

    fit = kappa_of_state(model.state_dict(), sp.train_tokens, sp.train_labels)
    assert 2.0 < fit.kappa < 8.0 and fit.margins[0] < fit.margins[-1]


# --- circuit_plots: Figure 9 and Figure 3 helpers -------------------------------------------


def test_isologit_curves_bucket_geometrically() -> None:
    from grokcheck.transformer.analysis.circuit_plots import isologit_curves

    D = [100, 100, 200, 200, 400, 400]
    logit = [1.0, 1.0, 2.0, 8.0, 8.0, -1.0]  # the non-positive logit is dropped
    norm = [10.0, 12.0, 20.0, 30.0, 40.0, 99.0]
    curves = isologit_curves(D, logit, norm, n_buckets=3)  # edges 1, 2, 4, 8
    assert [(c.lo, c.hi) for c in curves] == [(1.0, 2.0), (2.0, 4.0), (4.0, 8.0)]
    assert curves[0].sizes == (100.0,) and curves[0].mean_norms == (11.0,)
    assert curves[1].sizes == (200.0,) and curves[1].mean_norms == (20.0,)
    assert curves[2].sizes == (200.0, 400.0) and curves[2].mean_norms == (30.0, 40.0)  # top edge closed


def test_logit_buckets_by_hand() -> None:
    """Figure 3's buckets: geometric edges from the smallest to the largest positive logit, each
    bucket closed below, the top one closed above too; the same buckets P1's fit uses."""
    from grokcheck.experiments import efficiency
    from grokcheck.transformer.analysis.circuit_plots import N_BUCKETS, logit_bucket_edges, logit_buckets

    edges = logit_bucket_edges([2.0, -3.0, 0.5, 16.0, 0.0], n_buckets=5)  # 0.5 x 2^k, k = 0..5
    assert edges == pytest.approx([0.5, 1.0, 2.0, 4.0, 8.0, 16.0], rel=1e-12)
    assert edges[0] == 0.5 and edges[-1] == 16.0
    logits = [0.5, 0.99, 1.01, 7.9, 8.1, 16.0, 16.5, 0.4, 0.0, -1.0, float("nan")]
    assert logit_buckets(logits, edges).tolist() == [0, 0, 1, 3, 4, 4, -1, -1, -1, -1, -1]
    assert logit_buckets([3.0, 3.0], logit_bucket_edges([3.0, 3.0])).tolist() == [N_BUCKETS - 1] * 2
    with pytest.raises(ValueError):
        logit_bucket_edges([0.0, -1.0])
    rows = [{"correct_logit": x, "train_size": 100, "param_norm": 1.0} for x in (0.99, 16.0, 16.5)]
    assert [b for b, _, _ in efficiency._points(rows, edges)] == [0, 4]


def test_plots_write_pngs(tmp_path) -> None:
    from grokcheck.records import save_figure
    from grokcheck.transformer.analysis.circuit_plots import efficiency_figure, plot_circuit_curves

    rows = [
        {"step": s, "train_loss": 1 / (s + 1), "test_loss": 2.0, "o_t_train": s / 10, "o_m_train": 5.0,
         "param_norm": 40 - s / 100}
        for s in range(0, 1000, 100)
    ]  # fmt: skip
    rows.append({"step": 1000, "train_loss": 0.0, "test_loss": None})  # gaps and zeros are fine
    plot_circuit_curves(rows, tmp_path / "fig9.png", title="t")
    rng = np.random.default_rng(0)
    D = rng.choice([500, 1000, 2000, 4000], 40)
    fig3 = efficiency_figure(
        {"C_mem": (D, rng.uniform(30, 90, 40), rng.uniform(25, 90, 40)),
         "C_gen": (D, rng.uniform(30, 120, 40), rng.uniform(27, 33, 40))},
        title="t",
    )  # fmt: skip
    save_figure(fig3, tmp_path / "fig3.png")
    for name in ("fig9.png", "fig3.png"):
        assert (tmp_path / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
