"""``grokcheck circuits``: a real run folder, JSON and table output, and bad runs as exit codes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

FIELDS = {
    "task", "p", "param_norm", "trig_fraction", "o_t_train", "o_m_train", "o_t_test", "o_m_test",
    "correct_logit_train", "key_frequencies", "gen_only",
}  # fmt: skip


@pytest.fixture(autouse=True)
def _one_thread():
    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)  # --threads 1 sets it process-wide


def one_line_error(err: str) -> bool:
    lines = [line for line in err.splitlines() if line.strip()]
    return len(lines) == 1 and "Traceback" not in err and lines[0].startswith("grokcheck")


def handmade_run(folder: Path, *, task: str = "add", p: int = 23, **config) -> Path:
    """A run folder as ``grokcheck train --out`` leaves it, written without the training loop: an
    untrained reference model's state and the config fields the split is rebuilt from."""
    from grokcheck.transformer.model import tasks
    from grokcheck.transformer.model.model import ModelConfig, make_model
    from grokcheck.transformer.training.checkpoint import save_checkpoint

    ds = tasks.make_dataset(task, p)
    model = make_model(ModelConfig(n_vocab=ds.n_vocab, n_classes=ds.n_classes, d_model=32, d_mlp=64), seed=3)
    cfg = {
        "task": task,
        "p": p,
        "train_frac": 0.5,
        "train_size": None,
        "seed": 0,
        "data_seed": None,
        **config,
    }
    (folder).mkdir(parents=True, exist_ok=True)
    (folder / "config.json").write_text(json.dumps(cfg))
    save_checkpoint(
        folder / "checkpoint.pt", {"config": cfg, "model": model.state_dict(), "step": 0}, kind="train"
    )
    return folder


def test_json_matches_library_on_the_runs_split(cli, tmp_path: Path) -> None:
    from grokcheck.transformer.analysis import circuits
    from grokcheck.transformer.model import tasks
    from grokcheck.transformer.training.checkpoint import load_checkpoint

    run = handmade_run(tmp_path / "run", data_seed=4)
    r = cli("circuits", str(run), "--json", "--device", "cpu")
    assert r.code == 0, r.err
    data = json.loads(r.out)
    assert FIELDS <= set(data) and data["task"] == "add" and data["p"] == 23
    # a hand-made network's train margin is not positive at every scale: no kappa, and why
    assert data["kappa"] is None and data["d4_case"] is None and "not positive" in data["kappa_error"]
    sp = tasks.split(tasks.make_dataset("add", 23), train_frac=0.5, seed=4)  # data_seed, not seed
    want = circuits.measure_state(load_checkpoint(run / "checkpoint.pt", kind="train")["model"], sp)
    assert data["n_train"] == len(sp.train_idx) == 264
    assert data["o_m_train"] == pytest.approx(want.o_m_train) and data["trig_fraction"] == pytest.approx(
        want.trig_fraction
    )
    other = circuits.measure_state(load_checkpoint(run / "checkpoint.pt", kind="train")["model"], tasks.split(
        tasks.make_dataset("add", 23), train_frac=0.5, seed=0))  # fmt: skip
    assert data["o_m_train"] != pytest.approx(other.o_m_train)  # the wrong split is told apart


def test_human_table_and_checkpoint_option(cli, tmp_path: Path) -> None:
    run = handmade_run(tmp_path / "run")
    moved = tmp_path / "elsewhere.pt"
    (run / "checkpoint.pt").rename(moved)
    r = cli("circuits", str(run), "--checkpoint", str(moved), "--device", "cpu")
    assert r.code == 0, r.err
    assert "add mod 23" in r.out and "C_trig (o_t)" in r.out and "C_gen-only" in r.out


def test_other_task_is_a_usage_error(cli, tmp_path: Path) -> None:
    run = handmade_run(tmp_path / "mul", task="mul")
    r = cli("circuits", str(run))
    assert r.code == 2 and one_line_error(r.err) and "modular addition only" in r.err


def test_missing_and_corrupt_checkpoints_exit_1(cli, tmp_path: Path) -> None:
    r = cli("circuits", str(tmp_path / "nothing"))
    assert r.code == 1 and one_line_error(r.err) and "not found" in r.err
    run = handmade_run(tmp_path / "run")
    (run / "checkpoint.pt").write_bytes(b"not a checkpoint")
    r = cli("circuits", str(run))
    assert r.code == 1 and one_line_error(r.err) and "corrupt" in r.err


def test_random_label_runs_use_their_labels(cli, tmp_path: Path) -> None:
    from grokcheck.transformer.model import tasks

    if not hasattr(tasks, "random_labels"):
        pytest.skip("tasks.random_labels is not there yet")
    a = json.loads(cli("circuits", str(handmade_run(tmp_path / "a")), "--json").out)
    b = json.loads(cli("circuits", str(handmade_run(tmp_path / "b", random_labels=True)), "--json").out)
    assert a["o_t_test"] == pytest.approx(b["o_t_test"])  # test inputs: true labels in both
    assert a["correct_logit_train"] != pytest.approx(b["correct_logit_train"])


def test_a_real_grokcheck_train_run(cli, tmp_path: Path) -> None:
    out = tmp_path / "run"
    args = ("--task", "add", "--p", "23", "--train-frac", "0.5", "--steps", "50", "--threads", "1")
    r = cli("train", *args, "--out", str(out))
    assert r.code == 0, r.err
    r = cli("circuits", str(out), "--json")
    assert r.code == 0, r.err
    data = json.loads(r.out)
    from grokcheck.transformer.training.checkpoint import load_checkpoint

    state = load_checkpoint(out / "checkpoint.pt", kind="train")["model"]
    norm = sum(float(v.double().pow(2).sum()) for v in state.values()) ** 0.5
    assert data["param_norm"] == pytest.approx(norm, rel=1e-9)
    assert data["n_train"] == 264 and data["n_test"] == 265
    assert data["o_t_train"] + data["o_m_train"] == pytest.approx(data["correct_logit_train"])


def test_an_ungrokking_run_is_measured_on_its_reduced_subset(cli, tmp_path: Path) -> None:
    """An ungrokking run's config nests its pretrained network's task, p and seed; the reduced
    subset (not a grokking split) is its train set."""
    import torch

    from grokcheck.transformer.analysis import circuits
    from grokcheck.transformer.model import tasks
    from grokcheck.transformer.training.checkpoint import load_checkpoint

    run = tmp_path / "u"
    args = ("train", "--p", "23", "--ungrok", "200", "--pretrain-steps", "20", "--ungrok-steps", "5",
            "--cache-dir", str(tmp_path / "cache"), "--out", str(run), "--json")  # fmt: skip
    assert cli(*args).code == 0
    r = cli("circuits", str(run), "--json", "--device", "cpu")
    assert r.code == 0, r.err
    data = json.loads(r.out)
    sp = tasks.split(tasks.make_dataset("add", 23), train_size=200, seed=0)
    state = load_checkpoint(run / "checkpoint.pt", kind="ungrok")["model"]
    want = circuits.measure_state(state, sp)
    assert data["n_train"] == 200 and abs(data["o_m_train"] - want.o_m_train) < 1e-9 * max(
        1.0, abs(want.o_m_train)
    )
    assert torch.isfinite(torch.tensor(data["trig_fraction"]))


def test_progress_measures_in_json_and_table(cli, tmp_path: Path) -> None:
    """The progress measures and the dominance verdicts ride along under their own keys, equal to
    the library's on the run's own split; Appendix B's fields stay as they were."""
    from grokcheck.transformer.analysis import progress_measures
    from grokcheck.transformer.analysis.dominance import dominance
    from grokcheck.transformer.model import tasks
    from grokcheck.transformer.training.checkpoint import load_checkpoint

    run = handmade_run(tmp_path / "run", data_seed=4)
    data = json.loads(cli("circuits", str(run), "--json", "--device", "cpu").out)
    assert FIELDS <= set(data) and isinstance(data["key_frequencies"], list)
    sp = tasks.split(tasks.make_dataset("add", 23), train_frac=0.5, seed=4)
    want = progress_measures.measure_state(load_checkpoint(run / "checkpoint.pt", kind="train")["model"], sp)
    got = data["progress"]
    assert got["n_train"] == 264 and got["key_frequencies"] == list(want.key_frequencies)
    for key in ("restricted_loss_train", "restricted_loss_test", "excluded_loss_train", "excluded_loss_test"):
        assert got[key] == pytest.approx(getattr(want, key), rel=1e-9)
    verdict = dominance(data["trig_fraction"], got["restricted_loss_train"], got["excluded_loss_train"], 23)
    assert data["dominance"] == verdict.as_dict()
    r = cli("circuits", str(run), "--device", "cpu")
    assert r.code == 0 and "progress measures" in r.out and "restricted (key frequencies)" in r.out
    assert "dominant circuit" in r.out and "C_trig (o_t)" in r.out


def test_train_circuits_records_progress_measures(cli, tmp_path: Path) -> None:
    """grokcheck train --circuits: every metrics row carries the progress measures, and the last
    one matches grokcheck circuits on the saved network (training engine against the reference
    forward pass, so to float32 precision)."""
    out = tmp_path / "run"
    args = ("--task", "add", "--p", "23", "--train-frac", "0.5", "--steps", "20", "--eval-every", "10",
            "--circuits", "--threads", "1")  # fmt: skip
    assert cli("train", *args, "--out", str(out)).code == 0
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert rows[0]["step"] == 0 and rows[-1]["step"] == 20 and len(rows) >= 3
    for r in rows:
        assert {
            "o_t",
            "restricted_loss",
            "restricted_loss_test",
            "excluded_loss",
            "excluded_loss_test",
        } <= set(r)
        assert isinstance(r["key_frequencies"], list)
    data = json.loads(cli("circuits", str(out), "--json", "--device", "cpu").out)["progress"]
    assert rows[-1]["key_frequencies"] == data["key_frequencies"]
    assert rows[-1]["restricted_loss"] == pytest.approx(data["restricted_loss_train"], rel=1e-4)
    assert rows[-1]["excluded_loss_test"] == pytest.approx(data["excluded_loss_test"], rel=1e-4)
    assert (out / "circuits.png").read_bytes()[:4] == b"\x89PNG"
