"""The command line offers the library's own names and shows the configs' own defaults."""

from __future__ import annotations

import re

import pytest


def _values(enum) -> tuple[str, ...]:
    return tuple(m.value for m in enum)


def test_choices_are_the_library_s_names():
    from grokcheck.cli import experiment, train
    from grokcheck.cli.common import Device
    from grokcheck.experiments import executors, grid
    from grokcheck.transformer.model import runtime, tasks
    from grokcheck.transformer.training import optim
    from grokcheck.transformer.training import train as lib_train

    assert _values(train.Task) == tuple(tasks.TASKS)
    assert _values(train.LossDtype) == tuple(runtime.LOSS_DTYPES)
    assert _values(train.Engine) == tuple(optim.ENGINES)
    assert set(_values(train.Until)) == {"grokked", "converged"}
    for until in _values(train.Until):  # each is a stop rule TrainConfig accepts
        assert lib_train.TrainConfig(p=23, until=until).until == until
    assert _values(experiment.Scale) == grid.SCALES and _values(experiment.Executor) == executors.EXECUTORS
    assert _values(Device) == _values(experiment.Device) == ("auto", "cpu", "cuda")


def _help(cli, *args: str) -> str:
    r = cli(*args, "--help")
    assert r.code == 0, r.err
    return r.out


def _default(text: str, flag: str) -> str | None:
    """The ``[default: ...]`` of ``flag``'s entry in a help text (its lines up to the next option)."""
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if re.match(rf"\s+{re.escape(flag)}[ ,]", line))
    end = next((i for i in range(start + 1, len(lines)) if re.match(r"\s+--", lines[i])), len(lines))
    entry = " ".join(" ".join(lines[start:end]).split())
    d = re.search(r"\[default: ([^\]]*)\]", entry)
    return d.group(1) if d else None


def test_train_help_shows_the_configs_defaults(cli):
    from grokcheck.transformer.training.pretrain import DEFAULT_CACHE, PretrainConfig
    from grokcheck.transformer.training.train import DEFAULT_TRAIN_FRAC, TrainConfig
    from grokcheck.transformer.training.ungrok import UngrokConfig

    text = _help(cli, "train")
    t, u = TrainConfig(), UngrokConfig()
    want = {
        "--task": t.task,
        "--p": str(t.p),
        "--train-frac": str(DEFAULT_TRAIN_FRAC),
        "--max-steps": str(t.max_steps),
        "--eval-every": str(t.eval_every),
        "--lr": str(t.lr),
        "--weight-decay": str(t.weight_decay),
        "--eps": str(t.eps),
        "--loss-dtype": t.loss_dtype,
        "--engine": t.engine,
        "--ungrok-max-steps": str(u.ungrok_max_steps),
        "--pretrain-steps": str(PretrainConfig().max_steps),
        "--cache-dir": str(DEFAULT_CACHE),
        "--seed": str(t.seed),
        "--checkpoint-every": f"{t.checkpoint_every}; also every {t.checkpoint_every_s:g} s",
    }
    assert {flag: _default(text, flag) for flag in want} == want
    assert _default(text, "--train-size") is None  # no default: --train-frac's applies
    # the paper's values, as a user reads them (Appendix A)
    assert (_default(text, "--p"), _default(text, "--lr"), _default(text, "--weight-decay")) == (
        "113",
        "0.001",
        "1.0",
    )


@pytest.mark.parametrize("name", ["ungrok", "efficiency"])
def test_experiment_help_shows_the_config_s_defaults(cli, name):
    from grokcheck.experiments import grid
    from grokcheck.experiments.run import ExperimentConfig

    text = _help(cli, "experiment", name)
    cfg = ExperimentConfig(name)
    for flag, field in (("--scale", "scale"), ("--executor", "executor"), ("--device", "device")):
        assert _default(text, flag) == str(getattr(cfg, field))
    assert _default(text, "--max-chunk") == str(cfg.max_chunk)
    assert _default(text, "--out") == f"runs/experiment-{name}-SCALE"
    for scale in grid.SCALES:
        (p,) = {sw.p for sw in grid.sweeps(name, scale)}
        assert f"{scale} (p={p})" in " ".join(text.split())


def test_each_experiment_is_a_plain_function_with_its_own_signature():
    import inspect

    import typer

    from grokcheck.cli import experiment
    from grokcheck.experiments import grid

    registered = {c.name: c.callback for c in experiment.app.registered_commands}
    assert tuple(registered) == grid.EXPERIMENTS
    assert tuple(typer.main.get_group(experiment.app).commands) == grid.EXPERIMENTS
    for name in grid.EXPERIMENTS:
        fn = getattr(experiment, name)
        assert registered[name] is fn  # the command is the function itself
        params = list(inspect.signature(fn).parameters)
        assert params[0] == "scale" and params[-1] == "json_out" and "device" in params
        assert "run_experiment(" in inspect.getsource(fn)  # its one library call, in its body


def test_cli_defaults_are_none_so_the_configs_hold_them():
    import inspect

    from grokcheck.cli import experiment

    for name in ("ungrok", "hysteresis"):
        params = inspect.signature(getattr(experiment, name)).parameters
        assert all(p.default is None for n, p in params.items() if n != "json_out")
