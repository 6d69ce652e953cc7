"""C_gen and C_mem in modular addition (Appendix B): the trigonometric/memorisation split of logits.

Appendix B stacks a network's logits into ``Z_h[a, b, c] = o^c_h("a + b =")`` (``p^3`` entries)
and projects it onto the trigonometric directions

    Z_{w_k}[a, b, c] = cos(w_k (a + b - c)),  w_k = 2 pi k / p,  k = 1 .. K = ceil((p - 1) / 2)

(no constant direction). ``Z_T`` is the projection onto their span, ``Z_M = Z_h - Z_T``; the
correct-class entries of ``Z_T`` and ``Z_M`` are the C_trig and C_mem logits ``o_t`` and
``o_m`` of Figures 9 and 10, and a network is "C_gen-only" (Section 5.1, Figure 3) when more
than 95% of its logit norm lies in the trigonometric subspace.

Fast path: every ``Z_{w_k}`` depends on ``s = (a + b - c) mod p`` only, so
``<Z_h, Z_{w_k}> = sum_s g[s] cos(w_k s)`` with ``g[s]`` the sum of ``Z_h`` over the entries
of one ``s``: a real FFT of ``g``. ``||Z_{w_k}||^2 = p^3 / 2``, except ``p^3`` for the Nyquist
frequency ``k = p / 2`` of an even ``p`` (the paper only uses odd p = 113). The whole
measurement is ``O(p^3)`` and runs in torch on the logits' device.

Choices where the paper is silent (argued in docs/circuits.md):

- **Centring** (default): logits are centred over classes per input first. Softmax ignores a
  per-input constant and every ``Z_{w_k}`` sums to zero over ``c``, so uncentred the constant
  would all land in ``Z_M``. ``Z_T`` is unchanged by centring. ``centre=False``: the literal one.
- **Fraction**: ``trig_fraction = ||Z_T||^2 / ||Z_h||^2`` (squared; with ``Z_M``'s it adds to 1).
  ``gen_only`` is ``trig_fraction > 0.95``, the stricter reading of "95% of the logit norm".
- **Averages** over train and test inputs separately. The correct class of a train input is the
  label it was trained on (random for C_mem-only networks, Section 5.1), of a test input
  ``(a + b) mod p``. ``o_t + o_m = correct_logit`` exactly.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import torch

from grokcheck.errors import InputError

#: Section 5.1: a C_gen-only network has more than this share of its logit norm in Z_T
GEN_ONLY_THRESHOLD = 0.95
#: key frequencies: the fewest that carry this share of ||Z_T||^2 ...
KEY_COVER = 0.9
#: ... and at most this many
MAX_KEYS = 8
#: members measured at once by the batched entry point (bounds float64 working memory)
CHUNK = 8


@dataclass(frozen=True)
class CircuitMetrics:
    """Appendix B's measurements of one network on modular addition mod ``p``.

    Attributes:
        task, p: always ``"add"`` and the modulus.
        param_norm: ``||theta||`` over all parameters (``None`` when only logits were given).
        centred: whether logits were centred over classes per input (module docstring).
        trig_fraction: ``||Z_T||^2 / ||Z_h||^2`` (squared norms).
        trig_norm_ratio: ``||Z_T|| / ||Z_h||`` = ``sqrt(trig_fraction)``.
        logit_norm, trig_norm, mem_norm: ``||Z_h||``, ``||Z_T||``, ``||Z_M||`` (plain norms).
        o_t_train, o_m_train: mean correct-class entry of ``Z_T`` / ``Z_M`` over train inputs.
        o_t_test, o_m_test: the same over test inputs (``None`` when there are none).
        correct_logit_train, correct_logit_test: the network's own mean correct-class logit.
        key_frequencies: ``(k, share of ||Z_T||^2)`` for the fewest ``k`` carrying
            :data:`KEY_COVER` of it (at most :data:`MAX_KEYS`), largest first.
        gen_only: ``trig_fraction > threshold`` (Section 5.1's C_gen-only test).
        threshold: the threshold used.
        n_train, n_test: how many inputs each average is over.
    """

    task: str
    p: int
    param_norm: float | None
    centred: bool
    trig_fraction: float
    trig_norm_ratio: float
    logit_norm: float
    trig_norm: float
    mem_norm: float
    o_t_train: float
    o_m_train: float
    o_t_test: float | None
    o_m_test: float | None
    correct_logit_train: float
    correct_logit_test: float | None
    key_frequencies: tuple[tuple[int, float], ...]
    gen_only: bool
    threshold: float
    n_train: int
    n_test: int


def check_task(task: str) -> None:
    """Raise :class:`InputError` unless ``task`` is modular addition."""
    if task != "add":
        raise InputError(
            "task",
            f"circuit measurements (Appendix B) are defined for modular addition only; got task {task!r}",
            flag="task",
        )


def trig_coefficients(logits: torch.Tensor, p: int) -> torch.Tensor:
    """``<Z_h, Z_{w_k}>`` for ``k = 1 .. p // 2``: ``(..., p*p, p) -> (..., p // 2)``, float64.

    ``logits`` rows are in :func:`grokcheck.transformer.model.tasks.make_dataset` order for ``add``
    (row ``a * p + b``). ``K = ceil((p - 1) / 2) = p // 2`` for every ``p``.
    """
    z = logits.to(torch.float64)
    lead = z.shape[:-2]
    z = z.reshape(-1, p * p, p)  # (B, N, p)
    dev = z.device
    a = torch.arange(p, device=dev)
    m = (a[:, None] + a[None, :]).reshape(-1) % p  # (N,) (a + b) mod p per row
    # H[m, c]: the sum of Z over the rows with (a + b) mod p = m
    H = torch.zeros(z.shape[0], p, p, dtype=z.dtype, device=dev).index_add_(1, m, z)  # (B, p, p)
    # g[s] = sum_c H[(s + c) mod p, c], since s = (a + b - c) mod p  <=>  m = (s + c) mod p
    rows = (a[:, None] + a[None, :]) % p  # (s, c) -> (s + c) mod p
    g = H[:, rows, a[None, :]].sum(-1)  # (B, p)
    coef = torch.fft.rfft(g, dim=-1).real[:, 1 : p // 2 + 1]  # (B, K): sum_s g[s] cos(w_k s)
    return coef.reshape(*lead, p // 2)


def basis_sq_norms(p: int, device: torch.device | str = "cpu") -> torch.Tensor:
    """``||Z_{w_k}||^2`` for ``k = 1 .. p // 2``: ``p^3 / 2``, or ``p^3`` when ``2k = p``."""
    k = torch.arange(1, p // 2 + 1, device=device)
    return torch.where(2 * k == p, float(p) ** 3, float(p) ** 3 / 2).to(torch.float64)


def trig_profile(coef: torch.Tensor, p: int) -> torch.Tensor:
    """``t[s]`` with ``Z_T[a, b, c] = t[(a + b - c) mod p]``: ``(..., K) -> (..., p)``."""
    alpha = coef / basis_sq_norms(p, coef.device)  # (..., K) amplitude of each cos
    k = torch.arange(1, p // 2 + 1, device=coef.device, dtype=torch.float64)
    s = torch.arange(p, device=coef.device, dtype=torch.float64)
    cos = torch.cos(2 * math.pi * k[:, None] * s[None, :] / p)  # (K, p)
    return alpha @ cos


def add_targets(p: int, train_mask: torch.Tensor, train_labels: torch.Tensor) -> torch.Tensor:
    """The class that counts as correct on every row: the trained label on train rows, else
    ``(a + b) mod p``. ``train_labels`` lists the train rows' labels in ascending row order
    (the order of ``Split.train_idx``), ``(n_train,)``, or ``(K, n_train)`` for K members."""
    dev = train_mask.device
    a = torch.arange(p, device=dev)
    true = ((a[:, None] + a[None, :]) % p).reshape(-1)  # (N,)
    mask = train_mask.to(torch.bool)
    lab = train_labels.to(device=dev, dtype=torch.int64)
    if mask.shape[-1] != p * p:
        raise InputError("train_mask", f"must have {p * p} entries (p = {p}), got {tuple(mask.shape)}")
    counts = mask.sum(-1).reshape(-1)
    if bool((counts != lab.shape[-1]).any()):
        raise InputError(
            "train_labels",
            f"need one label per train row ({counts.tolist()[:4]} rows), got shape {tuple(lab.shape)}",
        )
    if lab.numel() and not 0 <= int(lab.min()) <= int(lab.max()) < p:
        raise InputError("train_labels", f"labels must be in [0, {p - 1}]")
    shape = torch.broadcast_shapes(mask.shape[:-1], lab.shape[:-1]) + (p * p,)
    targets = true.expand(shape).clone()
    mask = mask.expand(shape)
    targets[mask] = lab.expand(shape[:-1] + lab.shape[-1:]).reshape(-1)
    return targets


def member_targets(
    p: int,
    K: int,
    train_mask: torch.Tensor,
    train_labels: torch.Tensor | Sequence[torch.Tensor],
    device: torch.device,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Each of K members' targets and train mask over the ``p*p`` grid, both ``(K, p*p)``: one
    mask and label set for all, or one per member (a ``(K, p*p)`` mask and K label tensors)."""
    mask = train_mask.to(device=device, dtype=torch.bool)
    if isinstance(train_labels, torch.Tensor):
        targets = add_targets(p, mask, train_labels.to(device))
    else:
        if len(train_labels) != K or mask.ndim != 2:
            raise InputError("train_labels", f"a list needs {K} entries and a ({K}, {p * p}) mask")
        targets = torch.stack([add_targets(p, mask[j], lab.to(device)) for j, lab in enumerate(train_labels)])
    return targets.expand(K, p * p), mask.expand(K, p * p)


def _batch(
    logits: torch.Tensor, p: int, targets: torch.Tensor, mask: torch.Tensor, *, centre: bool
) -> dict[str, torch.Tensor]:
    """All measurements for ``(B, N, p)`` logits at once, as ``(B, ...)`` float64 tensors."""
    z = logits.to(torch.float64)
    if centre:
        z = z - z.mean(-1, keepdim=True)
    coef = trig_coefficients(z, p)  # (B, K)
    energy = coef**2 / basis_sq_norms(p, z.device)  # (B, K) ||projection on Z_wk||^2
    total = z.pow(2).sum((-2, -1))  # (B,)
    trig = energy.sum(-1)
    t = trig_profile(coef, p)  # (B, p)
    a = torch.arange(p, device=z.device)
    ab = ((a[:, None] + a[None, :]) % p).reshape(-1)  # (N,)
    correct = z.gather(-1, targets[..., None]).squeeze(-1)  # (B, N)
    o_t = t.gather(-1, (ab - targets) % p)  # (B, N)
    o_m = correct - o_t
    m = mask.to(torch.float64)
    n_tr, n_te = m.sum(-1), (1 - m).sum(-1)

    def mean(x: torch.Tensor, w: torch.Tensor, n: torch.Tensor) -> torch.Tensor:
        return (x * w).sum(-1) / n.clamp(min=1)

    return {
        "total": total, "trig": trig, "energy": energy, "n_train": n_tr, "n_test": n_te,
        "o_t_train": mean(o_t, m, n_tr), "o_m_train": mean(o_m, m, n_tr),
        "o_t_test": mean(o_t, 1 - m, n_te), "o_m_test": mean(o_m, 1 - m, n_te),
        "correct_train": mean(correct, m, n_tr), "correct_test": mean(correct, 1 - m, n_te),
    }  # fmt: skip


def _key_frequencies(energy: Sequence[float]) -> tuple[tuple[int, float], ...]:
    total = sum(energy)
    if total <= 0:
        return ()
    order = sorted(range(len(energy)), key=lambda i: -energy[i])
    keys, covered = [], 0.0
    for i in order[:MAX_KEYS]:
        keys.append((i + 1, round(energy[i] / total, 6)))
        covered += energy[i] / total
        if covered >= KEY_COVER:
            break
    return tuple(keys)


def _result(
    r: Mapping[str, list], j: int, p: int, param_norm, centre: bool, threshold: float
) -> CircuitMetrics:
    total, trig = r["total"][j], r["trig"][j]
    frac = trig / total if total > 0 else 0.0
    has_test = r["n_test"][j] > 0
    return CircuitMetrics(
        task="add",
        p=p,
        param_norm=None if param_norm is None else float(param_norm),
        centred=centre,
        trig_fraction=frac,
        trig_norm_ratio=math.sqrt(frac),
        logit_norm=math.sqrt(total),
        trig_norm=math.sqrt(trig),
        mem_norm=math.sqrt(max(total - trig, 0.0)),
        o_t_train=r["o_t_train"][j],
        o_m_train=r["o_m_train"][j],
        o_t_test=r["o_t_test"][j] if has_test else None,
        o_m_test=r["o_m_test"][j] if has_test else None,
        correct_logit_train=r["correct_train"][j],
        correct_logit_test=r["correct_test"][j] if has_test else None,
        key_frequencies=_key_frequencies(r["energy"][j]),
        gen_only=frac > threshold,
        threshold=threshold,
        n_train=int(r["n_train"][j]),
        n_test=int(r["n_test"][j]),
    )


def measure_logits_batched(
    logits: torch.Tensor,
    p: int,
    *,
    train_mask: torch.Tensor,
    train_labels: torch.Tensor | Sequence[torch.Tensor],
    param_norms: Sequence[float] | None = None,
    task: str = "add",
    centre: bool = True,
    threshold: float = GEN_ONLY_THRESHOLD,
) -> list[CircuitMetrics]:
    """Appendix B for K networks at once (a batched ensemble's members).

    Args:
        logits: ``(K, p*p, p)``, rows in ``make_dataset("add", p)`` order (row ``a * p + b``).
        p: the modulus.
        train_mask: ``(p*p,)`` shared by all members, or ``(K, p*p)``; true on train rows.
        train_labels: the label each train row was trained on, in ascending row order:
            ``(n_train,)`` or ``(K, n_train)``; or a list of K 1-D tensors when the members'
            train sets differ in size (with a ``(K, p*p)`` mask).
        param_norms: ``||theta||`` of each member, recorded as is.
        task: must be ``"add"``.
        centre: centre logits over classes per input first (module docstring).
        threshold: ``gen_only`` is ``trig_fraction > threshold``.

    Raises:
        InputError: another task, or shapes that do not fit ``p``.
    """
    check_task(task)
    if logits.ndim != 3 or logits.shape[1:] != (p * p, p):
        raise InputError(
            "logits", f"must have shape (K, {p * p}, {p}) for p = {p}, got {tuple(logits.shape)}"
        )
    K = logits.shape[0]
    if param_norms is not None and len(param_norms) != K:
        raise InputError("param_norms", f"need one norm per member ({K}), got {len(param_norms)}")
    targets, mask = member_targets(p, K, train_mask, train_labels, logits.device)
    out: list[CircuitMetrics] = []
    with torch.no_grad():
        for lo in range(0, K, CHUNK):
            sl = slice(lo, min(lo + CHUNK, K))
            r = {
                k: v.tolist() for k, v in _batch(logits[sl], p, targets[sl], mask[sl], centre=centre).items()
            }
            for j in range(sl.stop - lo):
                norm = None if param_norms is None else param_norms[lo + j]
                out.append(_result(r, j, p, norm, centre, threshold))
    return out


def measure_logits(
    logits: torch.Tensor,
    p: int,
    *,
    train_mask: torch.Tensor,
    train_labels: torch.Tensor,
    param_norm: float | None = None,
    task: str = "add",
    centre: bool = True,
    threshold: float = GEN_ONLY_THRESHOLD,
) -> CircuitMetrics:
    """Appendix B for one network from its logits ``(p*p, p)``; see :func:`measure_logits_batched`."""
    if logits.ndim != 2:
        raise InputError("logits", f"must have shape ({p * p}, {p}), got {tuple(logits.shape)}")
    norms = None if param_norm is None else [param_norm]
    return measure_logits_batched(
        logits[None], p, train_mask=train_mask, train_labels=train_labels, param_norms=norms,
        task=task, centre=centre, threshold=threshold,
    )[0]  # fmt: skip


def split_mask(split) -> torch.Tensor:
    """``(N,)`` bool, true on the rows of ``split.train_idx`` (a :class:`tasks.Split`)."""
    mask = torch.zeros(len(split.dataset), dtype=torch.bool)
    mask[split.train_idx] = True
    return mask


def all_logits(state: Mapping[str, torch.Tensor], tokens: torch.Tensor, *, device="cpu", batch: int = 4096):
    """The reference model's logits ``(N, n_classes)`` on ``tokens`` for a state dict, and its norm."""
    from grokcheck.transformer.model.model import ModelConfig, make_model, param_norm

    W_Q = state["W_Q"]
    cfg = ModelConfig(
        n_vocab=state["W_E"].shape[0], n_classes=state["W_U"].shape[1], d_model=state["W_E"].shape[1],
        n_heads=W_Q.shape[0], d_head=W_Q.shape[2], d_mlp=state["W_in"].shape[1],
        n_ctx=state["W_pos"].shape[0],
    )  # fmt: skip
    model = make_model(cfg, dtype=state["W_E"].dtype, device=device)
    model.load_state_dict(dict(state))
    toks = tokens.to(device)
    with torch.no_grad():
        logits = torch.cat([model(toks[i : i + batch]) for i in range(0, len(toks), batch)])
    return logits, param_norm(model)


def measure_state(
    state: Mapping[str, torch.Tensor],
    split,
    *,
    train_labels: torch.Tensor | None = None,
    device: torch.device | str = "cpu",
    centre: bool = True,
    threshold: float = GEN_ONLY_THRESHOLD,
) -> CircuitMetrics:
    """Appendix B for a reference-model state dict (``model.make_model``'s parameter names).

    Args:
        state: the model's state dict (as saved in a checkpoint's ``"model"``).
        split: the :class:`tasks.Split` the network was trained on (its dataset must be ``add``).
        train_labels: the labels it was trained on, in ``split.train_idx`` order (default: the
            true labels, ``split.train_labels``; give the random ones for C_mem-only networks).

    Raises:
        InputError: the split is not of modular addition.
    """
    ds = split.dataset
    check_task(ds.task)
    logits, norm = all_logits(state, ds.tokens, device=device)
    labels = split.train_labels if train_labels is None else train_labels
    return measure_logits(
        logits, ds.p, train_mask=split_mask(split).to(logits.device), train_labels=labels,
        param_norm=norm, centre=centre, threshold=threshold,
    )  # fmt: skip
