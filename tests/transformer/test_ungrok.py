"""Ungrokking runs: the two phases, the pretrain cache, resume in either phase, bad input."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest
import torch

from grokcheck.errors import InputError, RunError
from grokcheck.transformer.model.model import ModelConfig, make_model
from grokcheck.transformer.model.tasks import make_dataset, split
from grokcheck.transformer.training.checkpoint import load_checkpoint
from grokcheck.transformer.training.optim import OptimConfig
from grokcheck.transformer.training.pretrain import PretrainConfig
from grokcheck.transformer.training.ungrok import UngrokConfig, ungrok

PRE = PretrainConfig(p=23, max_steps=30, eval_every=5, checkpoint_every=8)
TINY = UngrokConfig(pretrain=PRE, reduced_size=200, ungrok_steps=20, eval_every=5, checkpoint_every=8)


def with_pretrain(cfg: UngrokConfig, **changes: object) -> UngrokConfig:
    return dataclasses.replace(cfg, pretrain=dataclasses.replace(cfg.pretrain, **changes))


def strip(rows_path: Path) -> list[dict]:
    return [
        {k: v for k, v in json.loads(line).items() if k != "wall_s"}
        for line in rows_path.read_text().splitlines()
    ]


def test_two_phases_and_an_independent_check_of_the_test_set(tmp_path: Path) -> None:
    r = ungrok(TINY, device="cpu", out_dir=tmp_path / "run", cache_dir=tmp_path / "cache")
    pre, ung = r.pretrain, r.ungrok
    assert (pre.train_size, pre.test_size, pre.steps, pre.final.test_acc) == (529, 0, 30, None)
    assert (ung.train_size, ung.test_size, ung.steps) == (200, 329, 20)
    assert r.pretrain_cached is False and Path(r.cache_path).is_file()
    ckpt = load_checkpoint(tmp_path / "run" / "checkpoint.pt", kind="ungrok")
    ds = make_dataset("add", 23)
    sp = split(ds, train_size=200, seed=0)
    model = make_model(ModelConfig(ds.n_vocab, ds.n_classes))
    model.load_state_dict(ckpt["model"])
    with torch.no_grad():
        acc = float((model(sp.test_tokens).argmax(-1) == sp.test_labels).double().mean())
    assert ung.final.test_acc == pytest.approx(acc)
    for name in (
        "config.json",
        "pretrain_metrics.jsonl",
        "metrics.jsonl",
        "summary.json",
        "ungrok.png",
        "checkpoint.pt",
        "pretrain_checkpoint.pt",
    ):
        assert (tmp_path / "run" / name).is_file(), name
    # the ungrok phase starts where pretraining ended
    first = strip(tmp_path / "run" / "metrics.jsonl")[0]
    assert first["step"] == 0 and first["param_norm"] == pytest.approx(pre.final.param_norm)


def test_cache_is_keyed_by_what_decides_the_pretrained_network(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    a = ungrok(TINY, device="cpu", cache_dir=cache)
    b = ungrok(
        dataclasses.replace(TINY, reduced_size=300, weight_decay=0.5, subset_seed=4),
        device="cpu",
        cache_dir=cache,
    )
    assert b.pretrain_cached and b.pretrain.final == a.pretrain.final
    # the key is the hash of the whole nested config, the engine (exact up to rounding) excepted
    assert PRE.key() == dataclasses.replace(PRE, optim=OptimConfig(engine="reference")).key()
    for change in (
        {"seed": 1},
        {"optim": OptimConfig(weight_decay=0.5)},
        {"max_steps": 31},
        {"optim": OptimConfig(loss_dtype="float32")},
        {"p": 29},
    ):
        assert dataclasses.replace(PRE, **change).key() != PRE.key(), change
    path = Path(a.cache_path)
    path.write_bytes(path.read_bytes()[:100])
    with pytest.raises(RunError, match="corrupt"):
        ungrok(TINY, device="cpu", cache_dir=cache)


@pytest.mark.parametrize("interrupt_at", [12, 40])  # during pretraining / during ungrokking
def test_resume_equals_uninterrupted(tmp_path: Path, interrupt_at: int) -> None:
    full = ungrok(TINY, device="cpu", out_dir=tmp_path / "a", cache_dir=None)
    calls = 0

    def stop() -> bool:
        nonlocal calls
        calls += 1
        return calls > interrupt_at

    part = ungrok(TINY, device="cpu", out_dir=tmp_path / "b", cache_dir=None, stop=stop)
    if interrupt_at < 30:
        assert part.ungrok is None and part.pretrain.stopped == "interrupted"
        cut = ("pretrain_metrics.jsonl", part.pretrain.steps)
    else:
        assert part.ungrok.stopped == "interrupted"
        cut = ("metrics.jsonl", part.ungrok.steps)
    done = ungrok(TINY, device="cpu", out_dir=tmp_path / "b", cache_dir=None, resume=True)
    assert done.pretrain.final == full.pretrain.final and done.ungrok.final == full.ungrok.final
    for name in ("pretrain_metrics.jsonl", "metrics.jsonl"):
        # the resumed records add only the evaluation made at the interruption
        a = strip(tmp_path / "a" / name)
        steps = {r["step"] for r in a}
        b = [r for r in strip(tmp_path / "b" / name) if (name, r["step"]) != cut or r["step"] in steps]
        assert a == b, name


def test_bad_reduced_size() -> None:
    with pytest.raises(InputError, match="--ungrok: must be an integer in \\[1, 528\\]"):
        dataclasses.replace(TINY, reduced_size=529)
    with pytest.raises(InputError, match="--ungrok"):
        dataclasses.replace(TINY, reduced_size=0)
    with pytest.raises(InputError, match="--ungrok-steps"):
        dataclasses.replace(TINY, ungrok_steps=-1)


def test_resume_may_extend_the_fixed_ungrokking_phase(tmp_path: Path) -> None:
    """``--ungrok-steps`` only moves where the run stops, like ``--steps``: a finished 20-step
    run resumed with 30 continues to 30 and ends where a 30-step run does."""
    longer = dataclasses.replace(TINY, ungrok_steps=30)
    straight = ungrok(longer, device="cpu", cache_dir=None)
    ungrok(TINY, device="cpu", out_dir=tmp_path, cache_dir=None)
    done = ungrok(longer, device="cpu", out_dir=tmp_path, cache_dir=None, resume=True)
    assert done.ungrok.steps == 30 and done.ungrok.final == straight.ungrok.final
    with pytest.raises(InputError, match="reduced-size: differs"):  # the data may not change
        ungrok(
            dataclasses.replace(longer, reduced_size=150),
            device="cpu",
            out_dir=tmp_path,
            cache_dir=None,
            resume=True,
        )
