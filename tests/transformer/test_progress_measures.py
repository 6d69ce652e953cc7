"""Nanda et al.'s progress measures against a plain least-squares reference, constructed logits
and embeddings (with negative controls), projection properties, and the training-time wiring."""

from __future__ import annotations

import dataclasses
import json
import math

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from grokcheck.errors import InputError
from grokcheck.transformer.analysis import progress_measures as P
from grokcheck.transformer.model import tasks


def assert_same(a: P.ProgressMeasures, b: P.ProgressMeasures, rel: float = 1e-12) -> None:
    for f in dataclasses.fields(a):
        x, y = getattr(a, f.name), getattr(b, f.name)
        if isinstance(x, float):
            assert x == pytest.approx(y, rel=rel, abs=1e-12), f.name
        else:
            assert x == y, f.name


def true_labels(p: int) -> torch.Tensor:
    a = torch.arange(p)
    return ((a[:, None] + a[None, :]) % p).reshape(-1)


def random_mask(p: int, frac: float, seed: int) -> torch.Tensor:
    return torch.rand(p * p, generator=torch.Generator().manual_seed(seed)) < frac


def wave_table(p: int, amps: dict[int, tuple[float, float]]) -> torch.Tensor:
    """sum_k A_k cos(w_k (a + b - c)) + B_k sin(w_k (a + b - c)) as (p*p, p) logits."""
    a = torch.arange(p, dtype=torch.float64)
    s = a[:, None, None] + a[None, :, None] - a[None, None, :]
    w = 2 * math.pi * s / p
    Z = sum(A * torch.cos(k * w) + B * torch.sin(k * w) for k, (A, B) in amps.items())
    return Z.reshape(p * p, p)


def lookup_table(p: int, mask: torch.Tensor, labels: torch.Tensor, logit: float = 10.0) -> torch.Tensor:
    """A memorising table: ``logit`` on the trained label of each train input, 0 elsewhere."""
    Z = torch.zeros(p * p, p, dtype=torch.float64)
    Z[mask.nonzero()[:, 0], labels] = logit
    return Z


# --- the plain reference: explicit least squares, Nanda et al.'s bias correction, loops -------


def columns(values: np.ndarray, p: int, keys) -> np.ndarray:
    cols = [f(2 * math.pi * k * values / p) for k in keys for f in (np.cos, np.sin)]
    return np.stack(cols, axis=1) if cols else np.zeros((len(values), 0))


def reference(Z: np.ndarray, p: int, keys, targets: np.ndarray, mask: np.ndarray, basis: str) -> dict:
    """Project with np.linalg.lstsq on the uncentred logits (per class over the (a, b) grid, or
    once over the p^3 table), add back each class's mean of what was removed, loop the losses."""
    a, b = np.meshgrid(np.arange(p), np.arange(p), indexing="ij")

    def project(X: np.ndarray) -> np.ndarray:
        if not keys:
            return np.zeros_like(X)
        if basis == "per_class":
            A = columns((a + b).reshape(-1), p, keys)  # (p*p, 2m)
            return np.stack([A @ np.linalg.lstsq(A, X[:, c], rcond=None)[0] for c in range(p)], axis=1)
        s = (a[:, :, None] + b[:, :, None] - np.arange(p)[None, None, :]).reshape(-1)
        A = columns(s, p, keys)  # (p^3, 2m)
        return (A @ np.linalg.lstsq(A, X.reshape(-1), rcond=None)[0]).reshape(p * p, p)

    proj = project(Z)
    restricted = proj + (Z - proj).mean(axis=0, keepdims=True)
    excluded = Z - proj

    def loss(L: np.ndarray, rows) -> float:
        total = 0.0
        for i in rows:
            top = max(L[i])
            lse = top + math.log(sum(math.exp(v - top) for v in L[i]))
            total += lse - L[i, targets[i]]
        return total / len(rows)

    train, test = np.flatnonzero(mask), np.flatnonzero(~mask)
    Zc = Z - Z.mean(axis=1, keepdims=True)
    out = {"restricted_share": np.sum(project(Zc) ** 2) / np.sum(Zc**2)}
    for name, L in (("", Z), ("restricted_", restricted), ("excluded_", excluded)):
        out[f"{name}loss_train" if name else "train_loss"] = loss(L, train)
        out[f"{name}loss_test" if name else "test_loss"] = loss(L, test)
    return out


@pytest.mark.parametrize("basis", P.BASES)
@pytest.mark.parametrize(("p", "keys"), [(7, (1, 3)), (8, (1, 4)), (11, (2, 5)), (11, ())])
def test_matches_least_squares_reference(p: int, keys: tuple[int, ...], basis: str) -> None:
    g = torch.Generator().manual_seed(p)
    Z = torch.randn(p * p, p, generator=g, dtype=torch.float64) + wave_table(
        p, {1: (2.0, -1.0), 2: (1.0, 0.5)}
    )
    Z += 3 * torch.randn(p * p, 1, generator=g, dtype=torch.float64)  # per-input offsets
    mask = random_mask(p, 0.4, p)
    labels = torch.randint(0, p, (int(mask.sum()),), generator=g)  # random train labels
    targets = true_labels(p).clone()
    targets[mask] = labels
    ref = reference(Z.numpy(), p, keys, targets.numpy(), mask.numpy(), basis)
    got = P.measure_logits(Z, p, train_mask=mask, train_labels=labels, key_frequencies=keys, basis=basis)
    for key, value in ref.items():
        assert getattr(got, key) == pytest.approx(value, rel=1e-9, abs=1e-12), key
    assert got.key_frequencies == keys and got.key_share is None and got.sparse is None
    assert got.chance_loss == math.log(p)


def test_embedding_spectrum_matches_explicit_basis() -> None:
    for p in (7, 8, 13):
        W = torch.randn(p + 2, 5, generator=torch.Generator().manual_seed(p), dtype=torch.float64)
        x = np.arange(p)
        rows = [np.ones(p)]
        for k in range(1, p // 2 + 1):
            rows += [np.cos(2 * math.pi * k * x / p), np.sin(2 * math.pi * k * x / p)]
        coef = [
            r @ W[:p].numpy() / np.linalg.norm(r) if np.linalg.norm(r) > 1e-9 else 0 * W[0].numpy()
            for r in rows
        ]
        want = [np.sum(coef[2 * k - 1] ** 2) + np.sum(coef[2 * k] ** 2) for k in range(1, p // 2 + 1)]
        got = P.embedding_spectrum(W, p)
        assert got.tolist() == pytest.approx(want, rel=1e-10)
        const = np.sum(coef[0] ** 2)
        assert float(got.sum()) + const == pytest.approx(float(W[:p].pow(2).sum()), rel=1e-10)  # Parseval


# --- constructed networks: the Fourier algorithm and a lookup table ---------------------------


@pytest.mark.parametrize("basis", P.BASES)
def test_pure_fourier_table(basis: str) -> None:
    """Logits in the span of the key directions: removing them leaves per-input constants
    (exactly chance), keeping them changes nothing. With the wrong keys, the reverse."""
    p = 23
    Z = wave_table(p, {2: (6.0, 1.0), 9: (4.0, -2.0)})
    mask = random_mask(p, 0.3, 0)
    kw = dict(train_mask=mask, train_labels=true_labels(p)[mask], basis=basis)
    got = P.measure_logits(Z, p, key_frequencies=(2, 9), **kw)
    assert got.train_loss < 0.2 * got.chance_loss
    assert got.restricted_loss_train == pytest.approx(got.train_loss, rel=1e-9)
    assert got.restricted_loss_test == pytest.approx(got.test_loss, rel=1e-9)
    assert got.excluded_loss_train == pytest.approx(math.log(p), rel=1e-9)
    assert got.excluded_loss_test == pytest.approx(math.log(p), rel=1e-9)
    assert got.restricted_share == pytest.approx(1.0)
    wrong = P.measure_logits(Z, p, key_frequencies=(3, 5), **kw)  # negative control
    assert wrong.restricted_loss_train == pytest.approx(math.log(p), rel=1e-9)
    assert wrong.excluded_loss_train == pytest.approx(wrong.train_loss, rel=1e-9)
    assert wrong.restricted_share == pytest.approx(0.0, abs=1e-12)


@pytest.mark.parametrize("random_labels", [False, True])
def test_lookup_table_is_the_opposite(random_labels: bool) -> None:
    """A memorising table: removing the key directions costs almost nothing, keeping only them
    leaves the train set far from fitted. With true labels each anti-diagonal's mean is the
    answer scaled by the train fraction, so part of the table leaks into the key directions (as
    Appendix B's Z_T leaks); with random labels (Section 5.1's C_mem-only networks) nearly none."""
    p = 23
    mask = random_mask(p, 0.3, 1)
    g = torch.Generator().manual_seed(1)
    labels = torch.randint(0, p, (int(mask.sum()),), generator=g) if random_labels else true_labels(p)[mask]
    Z = lookup_table(p, mask, labels)
    got = P.measure_logits(Z, p, train_mask=mask, train_labels=labels, key_frequencies=(1, 2, 3))
    assert got.train_loss < 1e-3
    assert got.excluded_loss_train < got.train_loss + 0.01
    assert got.restricted_loss_train > (0.9 if random_labels else 0.6) * got.chance_loss
    assert got.restricted_share < (0.02 if random_labels else 0.12)


def test_per_class_directions_keep_what_the_joint_ones_do_not() -> None:
    """cos(w_k (a + b)) f(c) with an arbitrary f lies in Nanda et al.'s per-class span but only
    f's own frequency-k part lies along cos/sin(w_k (a + b - c)): with F = sum_c f(c) e^{i w_k c}
    (f centred), an energy share of |F|^2 / (p ||f||^2) in closed form."""
    p, k = 11, 2
    a = torch.arange(p, dtype=torch.float64)
    f = torch.randn(p, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    Z = (torch.cos(2 * math.pi * k * (a[:, None] + a[None, :]) / p).reshape(-1, 1) * f).contiguous()
    fc = f - f.mean()
    part = (torch.cos(2 * math.pi * k * a / p) @ fc) ** 2 + (torch.sin(2 * math.pi * k * a / p) @ fc) ** 2
    kw = dict(train_mask=random_mask(p, 0.5, 0), train_labels=true_labels(p)[random_mask(p, 0.5, 0)])
    per_class = P.measure_logits(Z, p, key_frequencies=(k,), **kw)
    joint = P.measure_logits(Z, p, key_frequencies=(k,), basis="joint", **kw)
    assert per_class.restricted_share == pytest.approx(1.0)
    assert joint.restricted_share == pytest.approx(float(part) / p / float(fc @ fc))
    assert joint.restricted_share < 0.6


# --- key frequencies from the embedding -------------------------------------------------------


def planted_embedding(p: int, d: int, amps: dict[int, float], noise: float, seed: int) -> torch.Tensor:
    """W_E whose number rows are sum_k A_k (cos(w_k a) u_k + sin(w_k a) v_k) with random unit
    u_k, v_k (so frequency k carries p A_k^2 of the energy), plus Gaussian noise."""
    g = torch.Generator().manual_seed(seed)
    a = torch.arange(p, dtype=torch.float64)[:, None]
    W = noise * torch.randn(p + 2, d, generator=g, dtype=torch.float64)
    for k, A in amps.items():
        u, v = torch.randn(2, d, generator=g, dtype=torch.float64)
        u, v = u / u.norm(), v / v.norm()
        W[:p] += A * (torch.cos(2 * math.pi * k * a / p) * u + torch.sin(2 * math.pi * k * a / p) * v)
    return W


@pytest.mark.parametrize(
    ("p", "amps"),
    [
        (31, {3: 2.0, 7: 1.8, 10: 1.5}),
        (113, {14: 1, 35: 1, 41: 1, 42: 1, 52: 1}),
        (11, {4: 1.0}),
        (8, {4: 1.0}),
    ],
)
def test_planted_frequencies_are_found(p: int, amps: dict[int, float]) -> None:
    W = planted_embedding(p, 32, amps, noise=0.05, seed=p)
    keys, share, sparse = P.embedding_keys(W, p)
    assert set(keys) == set(amps) and share > P.KEY_SHARE and sparse
    energy = P.embedding_spectrum(W, p)
    assert [float(energy[k - 1]) for k in keys] == sorted((float(energy[k - 1]) for k in keys), reverse=True)


def test_a_weak_frequency_is_left_out() -> None:
    """The fewest carrying 80%: shares 9 : 4 : 2.25 put 85% in the first two."""
    keys, share, sparse = P.embedding_keys(planted_embedding(31, 32, {3: 3.0, 7: 2.0, 10: 1.5}, 0.0, 0), 31)
    assert keys == (3, 7) and share == pytest.approx(13 / 15.25) and sparse


@pytest.mark.parametrize("d", [8, 32, 128])
@pytest.mark.parametrize("p", [11, 23, 31, 47, 113])
def test_random_embeddings_are_not_sparse(p: int, d: int) -> None:
    """Negative control: i.i.d. Gaussian rows (the initialisation) spread their energy, so the
    capped keys hold far less than 80% of it, about cap / K."""
    K = p // 2
    cap = min(P.MAX_KEYS, max(1, K // 2))
    for seed in range(5):
        W = torch.randn(p + 2, d, generator=torch.Generator().manual_seed(seed))
        keys, share, sparse = P.embedding_keys(W, p)
        assert not sparse and len(keys) == cap and share < min(0.7, 2.5 * cap / K)


def test_too_many_frequencies_are_not_sparse() -> None:
    """Nine equal planted frequencies at p = 23 need more than the cap of 5: the five kept are
    planted ones, but they carry only 5/9 of the energy."""
    keys, share, sparse = P.embedding_keys(
        planted_embedding(23, 64, {k: 1.0 for k in range(1, 10)}, 0.0, 0), 23
    )
    assert not sparse and len(keys) == 5 and set(keys) <= set(range(1, 10)) and share == pytest.approx(5 / 9)
    assert P.embedding_keys(planted_embedding(23, 64, {1: 1.0, 5: 1.0}, noise=0.0, seed=0), 23)[2]


def test_pick_rule_on_hand_made_spectra() -> None:
    assert P.pick_key_frequencies([8.0, 2.0]) == ((1,), 0.8, True)  # exactly 80% is enough
    assert P.pick_key_frequencies([7.0, 3.0]) == ((1,), 0.7, False)  # needs 2 > cap 1
    assert P.pick_key_frequencies([0.0] * 5) == ((), 0.0, False)
    keys, share, sparse = P.pick_key_frequencies([1, 5, 0, 5, 0, 0, 0, 0, 0, 1])  # ties: the lower k first
    assert keys == (2, 4) and share == pytest.approx(10 / 12) and sparse
    keys, share, sparse = P.pick_key_frequencies([1.0] * 20 + [100.0] * 10)  # 8 carry 78%
    assert keys == tuple(range(21, 29)) and not sparse  # capped at MAX_KEYS = 8
    assert P.pick_key_frequencies([1.0] * 20 + [100.0] * 9)[2]  # 8 carry 87%


# --- properties of the projection -------------------------------------------------------------


@st.composite
def tables(draw):
    p = draw(st.sampled_from([5, 7, 8, 11]))
    keys = draw(st.lists(st.integers(1, p // 2), unique=True, max_size=p // 2))
    seed = draw(st.integers(0, 2**31 - 1))
    rng = np.random.default_rng(seed)
    scale = draw(st.floats(0.1, 20.0, allow_nan=False))
    Z = torch.tensor(scale * rng.standard_normal((p * p, p)))
    return p, tuple(keys), Z - Z.mean(-1, keepdim=True)


def rows_of(R: torch.Tensor, p: int) -> torch.Tensor:
    return R[:, true_labels(p)]  # (B, N, p): row a*p+b reads m = (a + b) mod p


@given(tables(), st.sampled_from(P.BASES))
def test_projection_is_an_orthogonal_projection(table, basis: str) -> None:
    p, keys, Z = table
    Pi = P.projector(p, keys)
    R = rows_of(P.key_component(Z[None], p, Pi, basis), p)
    assert torch.allclose(
        rows_of(P.key_component(R, p, Pi, basis), p), R, atol=1e-10 * (1 + float(Z.abs().max()))
    )
    rest = Z[None] - R  # the excluded component: the two add up to the centred logits
    assert float((R * rest).sum()) == pytest.approx(0.0, abs=1e-9 * float(Z.pow(2).sum()))
    assert torch.allclose(
        R.sum(-1), torch.zeros(1, p * p, dtype=R.dtype), atol=1e-9 * (1 + float(Z.abs().max()))
    )


@given(tables())
def test_joint_directions_lie_in_the_per_class_span(table) -> None:
    p, keys, Z = table
    Pi = P.projector(p, keys)
    J = rows_of(P.key_component(Z[None], p, Pi, "joint"), p)
    tol = 1e-10 * (1 + float(Z.abs().max()))
    assert torch.allclose(rows_of(P.key_component(J, p, Pi, "per_class"), p), J, atol=tol)
    per_class = rows_of(P.key_component(Z[None], p, Pi, "per_class"), p)
    assert torch.allclose(rows_of(P.key_component(per_class, p, Pi, "joint"), p), J, atol=tol)


@given(tables(), st.floats(-50, 50, allow_nan=False))
def test_losses_ignore_per_input_constants(table, shift: float) -> None:
    p, keys, Z = table
    mask = random_mask(p, 0.5, p)
    kw = dict(train_mask=mask, train_labels=true_labels(p)[mask], key_frequencies=keys)
    u = shift * torch.linspace(-1, 1, p * p, dtype=torch.float64)[:, None]
    a, b = P.measure_logits(Z, p, **kw), P.measure_logits(Z + u, p, **kw)
    for name in ("train_loss", "restricted_loss_train", "excluded_loss_train", "excluded_loss_test"):
        assert getattr(a, name) == pytest.approx(getattr(b, name), rel=1e-9, abs=1e-12)


def test_batched_equals_single_per_member() -> None:
    p, K = 11, 6  # more members than one chunk
    g = torch.Generator().manual_seed(0)
    logits = torch.randn(K, p * p, p, generator=g)
    masks = torch.stack([random_mask(p, 0.3 + 0.1 * j, j) for j in range(K)])
    labels = [true_labels(p)[masks[j]] for j in range(K)]
    keys = [(1,), (2, 3), (), (5,), (1, 4), (2,)]
    batch = P.measure_logits_batched(logits, p, train_mask=masks, train_labels=labels, key_frequencies=keys)
    for j in range(K):
        one = P.measure_logits(
            logits[j], p, train_mask=masks[j], train_labels=labels[j], key_frequencies=keys[j]
        )
        assert_same(batch[j], one)


def test_bad_input() -> None:
    p = 7
    Z = torch.zeros(p * p, p)
    mask = random_mask(p, 0.5, 0)
    kw = dict(train_mask=mask, train_labels=true_labels(p)[mask])
    for keys, match in (((0,), r"\[1, 3\]"), ((4,), r"\[1, 3\]"), ((1, 1), "distinct")):
        with pytest.raises(InputError, match=match):
            P.measure_logits(Z, p, key_frequencies=keys, **kw)
    with pytest.raises(InputError, match="either"):
        P.measure_logits(Z, p, **kw)
    with pytest.raises(InputError, match="either"):
        P.measure_logits(Z, p, key_frequencies=(1,), embedding=torch.zeros(p + 2, 4), **kw)
    with pytest.raises(InputError, match="basis"):
        P.measure_logits(Z, p, key_frequencies=(1,), basis="diagonal", **kw)
    with pytest.raises(InputError, match="shape"):
        P.measure_logits(Z[:-1], p, key_frequencies=(1,), **kw)
    with pytest.raises(InputError, match="rows"):
        P.measure_logits(Z, p, embedding=torch.zeros(3, 4), **kw)
    with pytest.raises(InputError, match="modular addition only"):
        P.measure_logits(Z, p, key_frequencies=(1,), task="mul", **kw)
    with pytest.raises(InputError, match="modular addition only"):
        P.measure_state({}, tasks.split(tasks.make_dataset("mul", p), train_frac=0.5))


# --- a network, and the wiring into training ----------------------------------------------------


def small_model(p: int):
    from grokcheck.transformer.model.model import ModelConfig, make_model

    ds = tasks.make_dataset("add", p)
    return ds, make_model(
        ModelConfig(n_vocab=ds.n_vocab, n_classes=ds.n_classes, d_model=32, d_mlp=64), seed=1
    )


def test_measure_state_reads_the_embedding_and_the_split() -> None:
    """A network whose W_E rows are planted with two frequencies: its state's measures equal
    the logits' measures with those keys, and the untouched network has none."""
    p = 23
    ds, model = small_model(p)
    sp = tasks.split(ds, train_frac=0.5, seed=0)
    untouched = P.measure_state(model.state_dict(), sp)
    assert not untouched.sparse and len(untouched.key_frequencies) == 5
    for loss in (untouched.restricted_loss_train, untouched.excluded_loss_train):
        assert loss == pytest.approx(untouched.chance_loss, rel=0.05)  # neither part fits anything
    with torch.no_grad():
        model.W_E.copy_(planted_embedding(p, 32, {4: 3.0, 9: 2.0}, noise=0.01, seed=0).float())
        logits = model(ds.tokens)
    got = P.measure_state(model.state_dict(), sp)
    assert set(got.key_frequencies) == {4, 9} and got.key_share > 0.99 and got.sparse
    want = P.measure_logits(
        logits, p, train_mask=torch.isin(torch.arange(len(ds)), sp.train_idx),
        train_labels=sp.train_labels, key_frequencies=got.key_frequencies,
    )  # fmt: skip
    assert_same(dataclasses.replace(want, key_share=got.key_share, sparse=True), got, rel=1e-6)


def test_circuit_hook_adds_progress_fields_with_an_embedding() -> None:
    from grokcheck.transformer.training.single import circuit_hook

    p = 11
    ds, model = small_model(p)
    with torch.no_grad():
        logits = model(ds.tokens)
    mask = random_mask(p, 0.5, 0)
    plain = circuit_hook(p)(logits, mask, ds.labels)
    full = circuit_hook(p, embedding=lambda: model.W_E)(logits, mask, ds.labels)
    assert set(full) - set(plain) == {
        "restricted_loss", "restricted_loss_test", "excluded_loss", "excluded_loss_test", "key_frequencies",
    }  # fmt: skip
    want = P.measure_logits(logits, p, train_mask=mask, train_labels=ds.labels[mask], embedding=model.W_E)
    assert full["restricted_loss"] == want.restricted_loss_train
    assert full["excluded_loss_test"] == want.excluded_loss_test


def test_row_round_trip_keeps_key_frequencies() -> None:
    from grokcheck.records import dumps
    from grokcheck.transformer.training.metrics import Row

    row = Row(step=5, train_loss=0.1, train_acc=1.0, test_loss=2.0, test_acc=0.3, param_norm=40.0,
              o_t=1.0, restricted_loss=0.5, excluded_loss=3.0, key_frequencies=(14, 35))  # fmt: skip
    back = Row.from_dict(json.loads(dumps(row.to_dict())))
    assert back == row and back.key_frequencies == (14, 35)
    bare = Row(step=5, train_loss=0.1, train_acc=1.0, test_loss=None, test_acc=None, param_norm=1.0)
    assert "restricted_loss" not in bare.to_dict() and "key_frequencies" not in bare.to_dict()


def test_figure_9_gains_the_progress_panel(tmp_path) -> None:
    from grokcheck.transformer.analysis.circuit_plots import plot_circuit_curves

    rows = [{"step": s, "train_loss": 1 / (s + 1), "test_loss": 2.0, "o_t": s / 10, "o_m": 5.0,
             "param_norm": 40 - s / 100} for s in range(0, 1000, 100)]  # fmt: skip
    plot_circuit_curves(rows, tmp_path / "plain.png", title="t", o_t_key="o_t", o_m_key="o_m")
    for r in rows:
        r.update(restricted_loss=3.0 / (r["step"] + 1), excluded_loss=2.5, excluded_loss_test=None)
    plot_circuit_curves(rows, tmp_path / "both.png", title="t", o_t_key="o_t", o_m_key="o_m", chance=3.1)

    def height(path) -> int:
        data = path.read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n"
        return int.from_bytes(data[20:24], "big")  # IHDR height

    assert height(tmp_path / "both.png") > 1.5 * height(tmp_path / "plain.png")
