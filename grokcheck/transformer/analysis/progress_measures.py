"""Nanda et al.'s progress measures for modular addition: key frequencies, restricted and excluded loss.

"Progress measures for grokking via mechanistic interpretability" (Nanda, Chan, Lieberum,
Smith, Steinhardt, 2023; Section 5.1) tracks the Fourier-multiplication algorithm that
Appendix B of Varma et al. calls C_trig. This module is a second reading of the C_gen / C_mem
split, independent of Appendix B's (:mod:`grokcheck.transformer.analysis.circuits`): it asks what the
logits *do* (the loss they reach) when cut down to a few key frequencies or stripped of them,
where Appendix B asks how much logit *norm* lies in the trigonometric subspace.

- **Key frequencies** are read from the embedding: W_E's rows for the number tokens
  ``0 .. p-1`` are projected onto the orthonormal Fourier basis over ``a`` (constant,
  ``cos(w_k a)``, ``sin(w_k a)``, ``w_k = 2 pi k / p``); the energy of frequency ``k`` is the
  squared norm of its cos and sin rows. Rule (:func:`pick_key_frequencies`): the fewest
  frequencies, largest energy first, that carry :data:`KEY_SHARE` (80%) of the non-constant
  energy, capped at ``min(MAX_KEYS, max(1, K // 2))`` with ``K = p // 2``; the embedding is
  called ``sparse`` when they reach 80% within the cap. Why these numbers: an embedding without
  Fourier structure (the initialisation: i.i.d. Gaussian rows) gives every frequency about
  ``1/K`` of the energy, so 80% would take about ``0.8 K`` frequencies, well over the cap of
  ``K / 2``, and it is never sparse; Nanda et al. report an embedding sparse in the Fourier
  basis with 5 key frequencies of 56 at p = 113, far inside the cap of 8 (a grokked p = 47
  network here: 6 of 23 hold 86%, docs/circuits.md). The cap
  keeps the restricted logits to a small part of the frequencies, so that little of a
  memorising table passes through them: a true-label table's mean over each anti-diagonal
  ``a + b = m`` is the answer itself, and the key directions keep ``2 n_keys / p`` of it.
  Below the cap the keys are kept even when they fall short of 80%: during training the
  eventual key frequencies lead the spectrum long before they dominate it, so the restricted
  loss falls smoothly as the algorithm forms (Nanda et al.'s "circuit formation").
- **Restricted loss**: the loss of the logits kept only on the key frequencies' directions plus
  each class's mean logit (the constant term), on train and on test. Low when the
  Fourier-multiplication algorithm alone fits the data.
- **Excluded loss**: the loss of the logits with the key frequencies' directions removed. Near
  chance (``log p``) on the train set when the network relies on them; as low as the full loss
  when it memorised.

Directions (``basis``). ``"per_class"`` (default, Nanda et al.'s): ``cos(w_k (a + b))`` and
``sin(w_k (a + b))`` over the ``p x p`` input grid, projected for each output class ``c``
separately, so each class keeps its own amplitude and phase (``2 p`` directions per frequency).
``"joint"``: the two directions ``cos(w_k (a + b - c))`` and ``sin(w_k (a + b - c))`` over the
whole ``p^3`` logit table, the form Appendix B uses (with sines added); it lies inside the
per-class span. For the trained algorithm, whose logits are ``sum_k A_k cos(w_k (a + b - c))``,
the two agree.

Fast path: every direction is a function of ``m = (a + b) mod p`` (and ``c``), so projecting the
``p^2 x p`` logits is projecting ``Hbar[m, c]``, the mean logit over the ``p`` inputs with that
``m``, with the ``p x p`` projector ``Pi`` onto the key frequencies over ``m`` (per class); the
joint form averages ``Hbar`` once more over ``s = (m - c) mod p``. ``O(p^3)`` in all, in float64
and torch on the logits' device. Logits are centred over classes first: softmax ignores a
per-input constant, and centred, the key component and the rest are centred too, orthogonal,
and add up to the centred logits.

Differences from Nanda et al., where grokcheck had to choose: they read the key frequencies once,
from the final network (from its neurons and embedding), and apply them at every checkpoint;
here each network (each evaluation of ``grokcheck train --circuits``) is read with its own
embedding's, so a curve answers "what does the network rely on now". Losses are float64
cross-entropies over train inputs (scored on the labels trained on) and test inputs (the true
sum), as everywhere in grokcheck.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import torch

from grokcheck.errors import InputError
from grokcheck.transformer.analysis.circuits import all_logits, check_task, member_targets, split_mask

#: key frequencies: the fewest that carry this share of W_E's non-constant Fourier energy ...
KEY_SHARE = 0.8
#: ... when they are at most this many (and at most half of all frequencies)
MAX_KEYS = 8
BASES = ("per_class", "joint")
#: members measured at once by the batched entry point (bounds float64 working memory)
CHUNK = 4


@dataclass(frozen=True)
class ProgressMeasures:
    """Nanda et al.'s progress measures of one network on modular addition mod ``p``.

    Attributes:
        task, p: always ``"add"`` and the modulus.
        basis: ``"per_class"`` or ``"joint"`` (module docstring).
        key_frequencies: the key frequencies ``k`` (``w_k = 2 pi k / p``), largest embedding
            energy first (in the order given, when given).
        key_share: the share of W_E's non-constant Fourier energy they carry (``None`` when the
            keys were given rather than read from an embedding).
        sparse: whether that share reaches :data:`KEY_SHARE` within the cap (``None`` when given).
        restricted_share: ``||R||^2 / ||Z_c||^2``, the share of the centred logits' energy on
            the key directions.
        train_loss, test_loss: the network's own mean cross-entropy.
        restricted_loss_train, restricted_loss_test: the loss of the key component plus each
            class's mean logit.
        excluded_loss_train, excluded_loss_test: the loss with the key component removed.
        chance_loss: ``log p``, the loss of uniform logits.
        n_train, n_test: how many inputs each mean is over (test values ``None`` without any).
    """

    task: str
    p: int
    basis: str
    key_frequencies: tuple[int, ...]
    key_share: float | None
    sparse: bool | None
    restricted_share: float
    train_loss: float
    test_loss: float | None
    restricted_loss_train: float
    restricted_loss_test: float | None
    excluded_loss_train: float
    excluded_loss_test: float | None
    chance_loss: float
    n_train: int
    n_test: int

    def as_dict(self) -> dict[str, Any]:
        """Every field as JSON-able data (key frequencies as a list)."""
        from grokcheck.records import to_jsonable

        return to_jsonable(self)


def embedding_spectrum(W_E: torch.Tensor, p: int) -> torch.Tensor:
    """Energy of each frequency ``k = 1 .. p // 2`` in W_E's number rows: ``(..., n_vocab, d) ->
    (..., p // 2)``, float64. The squared norms of the rows of ``F W_E[:p]`` for the unit
    vectors ``cos(w_k a)`` and ``sin(w_k a)`` (only cos at the Nyquist frequency of an even
    ``p``); with the constant row's energy they add up to ``||W_E[:p]||^2`` (Parseval)."""
    if W_E.ndim < 2 or W_E.shape[-2] < p:
        raise InputError(
            "embedding", f"needs at least {p} rows (one per number token), got {tuple(W_E.shape)}"
        )
    W = W_E[..., :p, :].detach().to(torch.float64)  # (..., p, d)
    F = torch.fft.rfft(W, dim=-2)[..., 1 : p // 2 + 1, :]  # (..., K, d): sum_a W[a] exp(-i w_k a)
    k = torch.arange(1, p // 2 + 1, device=W.device)
    sq_norm = torch.where(2 * k == p, float(p), p / 2).to(torch.float64)  # ||cos_k||^2 = ||sin_k||^2
    return F.abs().pow(2).sum(-1) / sq_norm  # (..., K)


def pick_key_frequencies(
    energy: Sequence[float], *, share: float = KEY_SHARE, max_keys: int = MAX_KEYS
) -> tuple[tuple[int, ...], float, bool]:
    """The key frequencies of a spectrum (``energy[k - 1]`` for frequency ``k``), the share of
    the total they carry, and whether the spectrum is sparse.

    The fewest frequencies, largest first (ties: the lower ``k``), that carry ``share`` of the
    total, at most ``min(max_keys, max(1, K // 2))`` of them (``K = len(energy)``); sparse when
    they reach ``share``. A zero spectrum has none. The module docstring says why 80% and half.
    """
    e = [float(x) for x in energy]
    total = sum(e)
    if not total > 0:
        return (), 0.0, False
    cap = min(max_keys, max(1, len(e) // 2))
    order = sorted(range(len(e)), key=lambda i: (-e[i], i))
    keys, covered = [], 0.0
    for i in order[:cap]:
        keys.append(i + 1)
        covered += e[i]
        if covered >= share * total:
            break
    return tuple(keys), covered / total, covered >= share * total


def embedding_keys(W_E: torch.Tensor, p: int) -> tuple[tuple[int, ...], float, bool]:
    """:func:`pick_key_frequencies` of one embedding's :func:`embedding_spectrum`."""
    return pick_key_frequencies(embedding_spectrum(W_E, p).tolist())


def check_keys(keys: Sequence[int], p: int) -> tuple[int, ...]:
    """``keys`` as distinct ints in ``[1, p // 2]``, or :class:`InputError`."""
    out = tuple(int(k) for k in keys)
    if any(not 1 <= k <= p // 2 for k in out) or len(set(out)) != len(out):
        raise InputError(
            "key_frequencies", f"must be distinct integers in [1, {p // 2}] for p = {p}, got {list(keys)}"
        )
    return out


def projector(p: int, keys: Sequence[int], device: torch.device | str = "cpu") -> torch.Tensor:
    """``Pi``: ``(p, p)`` float64 orthogonal projector onto the span of ``cos(w_k m)`` and
    ``sin(w_k m)`` over ``m = 0 .. p-1`` for ``k`` in ``keys`` (no constant)."""
    m = torch.arange(p, device=device, dtype=torch.float64)
    cols = []
    for k in keys:
        for f in (torch.cos, torch.sin):
            v = f(2 * math.pi * k * m / p)
            if float(v.norm()) > 1e-9:  # sin at the Nyquist frequency of an even p is 0
                cols.append(v / v.norm())
    if not cols:
        return torch.zeros(p, p, dtype=torch.float64, device=device)
    U = torch.stack(cols, dim=1)  # (p, 2 * len(keys)) orthonormal columns
    return U @ U.T


def key_component(z: torch.Tensor, p: int, Pi: torch.Tensor, basis: str = "per_class") -> torch.Tensor:
    """``R[m, c]``, the projection of logits ``z`` ``(B, p*p, p)`` onto the key directions as a
    function of ``m = (a + b) mod p`` and ``c``: ``(B, p, p)``. ``Pi``: ``(p, p)`` or ``(B, p, p)``."""
    dev = z.device
    a = torch.arange(p, device=dev)
    m = ((a[:, None] + a[None, :]) % p).reshape(-1)  # (N,)
    Hbar = torch.zeros(z.shape[0], p, p, dtype=z.dtype, device=dev).index_add_(1, m, z) / p  # (B, m, c)
    if basis == "per_class":
        return Pi @ Hbar  # (B, m, c): each class's column projected over m
    rows = (a[:, None] + a[None, :]) % p  # (s, c) -> m = (s + c) mod p
    gbar = Hbar[:, rows, a[None, :]].mean(-1)  # (B, s): mean over the p^2 entries with that s
    f = (Pi @ gbar[..., None])[..., 0]  # (B, s)
    return f[:, (a[:, None] - a[None, :]) % p]  # (B, m, c) = f[(m - c) mod p]


def _losses(
    z: torch.Tensor, p: int, Pis: torch.Tensor, targets: torch.Tensor, mask: torch.Tensor, basis: str
) -> dict[str, torch.Tensor]:
    """Full, restricted and excluded mean losses on train and test for ``(B, N, p)`` logits."""
    z = z.to(torch.float64)
    z = z - z.mean(-1, keepdim=True)
    R = key_component(z, p, Pis, basis)  # (B, p, p)
    a = torch.arange(p, device=z.device)
    m_row = ((a[:, None] + a[None, :]) % p).reshape(-1)  # (N,)
    bias = z.mean(1, keepdim=True)  # (B, 1, p): each class's mean logit (the constant term)
    m = mask.to(torch.float64)
    n_tr, n_te = m.sum(-1), (1 - m).sum(-1)

    def means(nll: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:  # (B, N) -> train, test
        return (nll * m).sum(-1) / n_tr.clamp(min=1), (nll * (1 - m)).sum(-1) / n_te.clamp(min=1)

    def nll(x: torch.Tensor) -> torch.Tensor:  # (B, N, p) -> (B, N)
        return -x.log_softmax(-1).gather(-1, targets[..., None])[..., 0]

    # the restricted logits depend on (m, c) only: one (p, p) table per member
    lp_r = (R + bias).log_softmax(-1)  # (B, m, c)
    restricted = means(-lp_r.flatten(1).gather(-1, m_row * p + targets))  # entry (m_row, target)
    full, excluded = means(nll(z)), means(nll(z - R[:, m_row]))
    return {
        "train": full[0], "test": full[1], "r_train": restricted[0], "r_test": restricted[1],
        "e_train": excluded[0], "e_test": excluded[1], "n_train": n_tr, "n_test": n_te,
        "share": p * R.pow(2).sum((1, 2)) / z.pow(2).sum((1, 2)).clamp(min=1e-300),
    }  # fmt: skip


def measure_logits_batched(
    logits: torch.Tensor,
    p: int,
    *,
    train_mask: torch.Tensor,
    train_labels: torch.Tensor | Sequence[torch.Tensor],
    key_frequencies: Sequence[Sequence[int]] | None = None,
    embeddings: torch.Tensor | Sequence[torch.Tensor] | None = None,
    task: str = "add",
    basis: str = "per_class",
) -> list[ProgressMeasures]:
    """Progress measures for K networks at once (a batched ensemble's members).

    Args:
        logits: ``(K, p*p, p)``, rows in ``make_dataset("add", p)`` order (row ``a * p + b``).
        p: the modulus.
        train_mask, train_labels: as :func:`grokcheck.transformer.analysis.circuits.measure_logits_batched`
            (train rows are scored on the labels trained on, test rows on ``(a + b) mod p``).
        key_frequencies: each member's key frequencies; or
        embeddings: each member's W_E ``(K, n_vocab, d)`` (or K tensors), to read them from.
        task: must be ``"add"``.
        basis: ``"per_class"`` (Nanda et al.) or ``"joint"`` (module docstring).

    Raises:
        InputError: another task, shapes that do not fit ``p``, not exactly one key source,
            keys outside ``[1, p // 2]``, an unknown basis.
    """
    check_task(task)
    if logits.ndim != 3 or logits.shape[1:] != (p * p, p):
        raise InputError(
            "logits", f"must have shape (K, {p * p}, {p}) for p = {p}, got {tuple(logits.shape)}"
        )
    if basis not in BASES:
        raise InputError("basis", f"must be one of {', '.join(BASES)}, got {basis!r}")
    K = logits.shape[0]
    if (key_frequencies is None) == (embeddings is None):
        raise InputError(
            "key_frequencies", "give either the key frequencies or the embeddings to read them from"
        )
    if embeddings is not None:
        if len(embeddings) != K:
            raise InputError("embeddings", f"need one embedding per member ({K}), got {len(embeddings)}")
        picked = [embedding_keys(E, p) for E in embeddings]
    else:
        if len(key_frequencies) != K:
            raise InputError("key_frequencies", f"need one set per member ({K}), got {len(key_frequencies)}")
        picked = [(check_keys(k, p), None, None) for k in key_frequencies]
    targets, mask = member_targets(p, K, train_mask, train_labels, logits.device)
    out: list[ProgressMeasures] = []
    with torch.no_grad():
        for lo in range(0, K, CHUNK):
            sl = slice(lo, min(lo + CHUNK, K))
            Pis = torch.stack([projector(p, keys, logits.device) for keys, _, _ in picked[sl]])
            r = {k: v.tolist() for k, v in _losses(logits[sl], p, Pis, targets[sl], mask[sl], basis).items()}
            for j in range(sl.stop - lo):
                out.append(_result(r, j, p, basis, *picked[lo + j]))
    return out


def _result(r: Mapping[str, list], j: int, p: int, basis: str, keys, share, sparse) -> ProgressMeasures:
    has_test = r["n_test"][j] > 0
    return ProgressMeasures(
        task="add",
        p=p,
        basis=basis,
        key_frequencies=tuple(keys),
        key_share=share,
        sparse=sparse,
        restricted_share=r["share"][j],
        train_loss=r["train"][j],
        test_loss=r["test"][j] if has_test else None,
        restricted_loss_train=r["r_train"][j],
        restricted_loss_test=r["r_test"][j] if has_test else None,
        excluded_loss_train=r["e_train"][j],
        excluded_loss_test=r["e_test"][j] if has_test else None,
        chance_loss=math.log(p),
        n_train=int(r["n_train"][j]),
        n_test=int(r["n_test"][j]),
    )


def measure_logits(
    logits: torch.Tensor,
    p: int,
    *,
    train_mask: torch.Tensor,
    train_labels: torch.Tensor,
    key_frequencies: Sequence[int] | None = None,
    embedding: torch.Tensor | None = None,
    task: str = "add",
    basis: str = "per_class",
) -> ProgressMeasures:
    """Progress measures of one network from its logits ``(p*p, p)`` and either its key
    frequencies or its embedding W_E; see :func:`measure_logits_batched`."""
    if logits.ndim != 2:
        raise InputError("logits", f"must have shape ({p * p}, {p}), got {tuple(logits.shape)}")
    return measure_logits_batched(
        logits[None], p, train_mask=train_mask, train_labels=train_labels,
        key_frequencies=None if key_frequencies is None else [key_frequencies],
        embeddings=None if embedding is None else [embedding], task=task, basis=basis,
    )[0]  # fmt: skip


def measure_state(
    state: Mapping[str, torch.Tensor],
    split,
    *,
    train_labels: torch.Tensor | None = None,
    device: torch.device | str = "cpu",
    basis: str = "per_class",
) -> ProgressMeasures:
    """Progress measures of a reference-model state dict, keys read from its ``W_E``.

    Args:
        state: the model's state dict (as saved in a checkpoint's ``"model"``).
        split: the :class:`tasks.Split` it was trained on (its dataset must be ``add``).
        train_labels: the labels it was trained on, in ``split.train_idx`` order (default: the
            true labels).

    Raises:
        InputError: the split is not of modular addition.
    """
    ds = split.dataset
    check_task(ds.task)
    logits, _ = all_logits(state, ds.tokens, device=device)
    labels = split.train_labels if train_labels is None else train_labels
    return measure_logits(
        logits, ds.p, train_mask=split_mask(split).to(logits.device), train_labels=labels,
        embedding=state["W_E"].to(logits.device), basis=basis,
    )  # fmt: skip
