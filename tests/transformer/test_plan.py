"""Planning a ``grokcheck train`` run: which kind of run, its config, its folders, before training.

Expectations are written out by hand (Appendix A's values, the flags a user types, configs
written as plain JSON), not read back from the planner.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from grokcheck.errors import FolderError, InputError, RunError
from grokcheck.transformer.training.plan import option_defaults, plan_train
from grokcheck.transformer.training.pretrain import PretrainConfig
from grokcheck.transformer.training.train import TrainConfig
from grokcheck.transformer.training.ungrok import UngrokConfig


def saved_run(folder: Path, config: dict) -> Path:
    """A run folder holding only a hand-written ``config.json``."""
    folder.mkdir(parents=True)
    (folder / "config.json").write_text(json.dumps(config))
    return folder


def test_no_options_plan_figure_1a_with_the_config_defaults(tmp_path):
    plan = plan_train({}, out=tmp_path / "run", device="cpu")
    assert plan.kind == "train" and plan.device == "cpu" and plan.resume is False
    assert plan.config == TrainConfig()
    # Appendix A: addition mod 113, AdamW lr 1e-3, weight decay 1; Figure 1a: 30% train
    c = plan.config
    assert (c.task, c.p, c.lr, c.weight_decay, c.resolved_train_size) == ("add", 113, 1e-3, 1.0, 3831)
    assert plan.run_dir == tmp_path / "run" and plan.run_dir.is_dir() and not any(plan.run_dir.iterdir())


def test_ungrok_options_go_to_the_pretrained_network_and_the_reduced_phase(tmp_path):
    plan = plan_train(
        {
            "ungrok": 200,
            "p": 23,
            "seed": 4,
            "pretrain_steps": 30,
            "weight_decay": 0.5,
            "cache_dir": tmp_path / "c",
        },
        out=tmp_path / "u",
        device="cpu",
    )
    assert plan.kind == "ungrok" and plan.cache_dir == tmp_path / "c"
    want = UngrokConfig(
        pretrain=PretrainConfig(task="add", p=23, seed=4, max_steps=30), reduced_size=200, weight_decay=0.5
    )
    assert plan.config == want
    assert plan.config.pretrain.optim.weight_decay == 1.0  # the pretraining keeps Appendix A's


@pytest.mark.parametrize(
    "options, text",
    [
        ({"ungrok": 100, "steps": 5}, "--steps: does not apply with --ungrok; use --ungrok-steps"),
        (
            {"ungrok": 100, "max_steps": 5},
            "--max-steps: does not apply with --ungrok; use --ungrok-max-steps",
        ),
        ({"ungrok": 100, "data_seed": 1}, "--data-seed: does not apply with --ungrok; use --subset-seed"),
        ({"ungrok": 100, "train_frac": 0.5}, "--train-frac: does not apply with --ungrok"),
        ({"pretrain_steps": 5}, "--pretrain-steps: does not apply without --ungrok"),
        ({"ungrok_steps": 5}, "--ungrok-steps: does not apply without --ungrok"),
        ({"cache_dir": "c"}, "--cache-dir: does not apply without --ungrok"),
        ({"task": "s5-mul", "p": 23}, "--p: the S5 tasks have no modulus"),
    ],
)
def test_an_option_of_the_other_kind_is_refused_with_its_hint_and_nothing_is_made(tmp_path, options, text):
    with pytest.raises(InputError) as e:
        plan_train(options, out=tmp_path / "never", device="cpu")
    assert str(e.value) == text
    assert not (tmp_path / "never").exists()


def test_options_of_its_own_kind_are_accepted(tmp_path):
    """The negative control of the refusals: the same options with the right kind plan."""
    assert plan_train({"steps": 5, "data_seed": 1}, out=tmp_path / "a", device="cpu").config.steps == 5
    plan = plan_train({"ungrok": 100, "ungrok_steps": 5, "subset_seed": 1}, out=tmp_path / "b", device="cpu")
    assert (plan.config.ungrok_steps, plan.config.subset_seed) == (5, 1)


def test_a_resumed_ungrok_folder_is_planned_as_ungrok_without_the_flag(tmp_path):
    # lr, eval_every and weight_decay are fields a grokking run has too: the stored kind decides
    run = saved_run(
        tmp_path / "u",
        {"kind": "ungrok", "pretrain": {"p": 23}, "reduced_size": 100, "lr": 0.001, "eval_every": 10,
         "weight_decay": 1.0},
    )  # fmt: skip
    plan = plan_train({}, out=run, resume=True, device="cpu")
    assert plan.kind == "ungrok" and plan.resume and plan.run_dir == run
    assert plan.config == UngrokConfig(pretrain=PretrainConfig(p=23), reduced_size=100, eval_every=10)
    with pytest.raises(InputError, match="--steps: does not apply with --ungrok; use --ungrok-steps"):
        plan_train({"steps": 5}, out=run, resume=True, device="cpu")
    with pytest.raises(InputError, match=r"--p: differs from the run being resumed \(23 there\)"):
        plan_train({"p": 31}, out=run, resume=True, device="cpu")
    # a resumed run may move where it stops
    assert (
        plan_train({"ungrok_max_steps": 7}, out=run, resume=True, device="cpu").config.ungrok_max_steps == 7
    )
    assert plan_train({"ungrok_steps": 9}, out=run, resume=True, device="cpu").config.ungrok_steps == 9
    # but not its data: D' is named by the flag that sets it
    with pytest.raises(InputError) as e:
        plan_train({"ungrok": 150}, out=run, resume=True, device="cpu")
    assert str(e.value) == "--ungrok: differs from the run being resumed (100 there, 150 now)"


def test_a_resumed_train_folder_is_a_grokking_run_and_refuses_ungrok(tmp_path):
    run = saved_run(tmp_path / "t", {"kind": "train", "p": 23, "train_frac": 0.5, "steps": 10})
    plan = plan_train({"steps": 20}, out=run, resume=True, device="cpu")
    assert plan.kind == "train" and plan.config == TrainConfig(p=23, train_frac=0.5, steps=20)
    with pytest.raises(InputError, match="--ungrok: the run in .* is a grokking run, not an ungrokking run"):
        plan_train({"ungrok": 100}, out=run, resume=True, device="cpu")
    with pytest.raises(InputError, match=r"--lr: differs from the run being resumed"):
        plan_train({"lr": 0.01}, out=run, resume=True, device="cpu")


def test_a_folder_that_does_not_say_its_kind_is_refused_not_guessed(tmp_path):
    run = saved_run(tmp_path / "x", {"p": 23, "train_frac": 0.5, "steps": 10})  # a grokking run's fields
    with pytest.raises(RunError, match="does not say which kind of run"):
        plan_train({}, out=run, resume=True, device="cpu")


def test_resume_needs_a_folder(tmp_path):
    with pytest.raises(InputError, match="--resume: needs --out DIR"):
        plan_train({}, resume=True, device="cpu")
    with pytest.raises(RunError, match="no run to continue"):
        plan_train({}, out=tmp_path / "missing", resume=True, device="cpu")


def test_folders_are_checked_before_anything_is_made(tmp_path):
    (tmp_path / "afile").write_text("x")
    with pytest.raises(FolderError, match="--out"):
        plan_train({}, out=tmp_path / "afile" / "run", device="cpu")
    with pytest.raises(FolderError, match="--cache-dir"):
        plan_train({"ungrok": 100, "cache_dir": tmp_path / "afile" / "c"}, out=tmp_path / "u", device="cpu")
    assert not (tmp_path / "u").exists()


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_cuda_without_a_gpu_is_refused_before_the_folder(tmp_path):
    with pytest.raises(InputError, match="--device: CUDA is not available"):
        plan_train({}, out=tmp_path / "never", device="cuda")
    assert not (tmp_path / "never").exists()


def test_help_defaults_are_the_configs_and_appendix_a_s():
    shown = option_defaults()
    # Appendix A and Figure 1a, as a user reads them in --help
    assert {k: shown[k] for k in ("task", "p", "lr", "weight_decay", "train_frac")} == {
        "task": "add", "p": "113", "lr": "0.001", "weight_decay": "1.0", "train_frac": "0.3",
    }  # fmt: skip
    assert shown["max_steps"] == str(TrainConfig().max_steps)
    assert shown["ungrok_max_steps"] == str(UngrokConfig().ungrok_max_steps)
    assert shown["pretrain_steps"] == str(PretrainConfig().max_steps)
    # --eval-every sets the grokking run's and the reduced phase's (100), not the pretraining's
    assert PretrainConfig().eval_every != TrainConfig().eval_every
    assert shown["eval_every"] == str(TrainConfig().eval_every) == str(UngrokConfig().eval_every)
    # options whose default is decided elsewhere (data_seed follows seed) show none here
    assert "data_seed" not in shown and "steps" not in shown and "subset_seed" not in shown
