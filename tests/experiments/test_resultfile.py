"""Result files are trusted only after checks: corrupted experiment folders, built by hand.

Each case damages a real result file the way a user or a crash could (a copy under another
name, an edited spec, mistyped or out-of-range fields, truncation) and checks that the file is
never counted, that one line names it, and that a rerun trains the run again.
"""

from __future__ import annotations

import dataclasses
import json
import shutil

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from grokcheck.experiments import grid
from grokcheck.experiments.checks import pooled_records
from grokcheck.experiments.resultfile import BadResult, load_result, parse_record
from grokcheck.experiments.run import ExperimentConfig, run_experiment
from grokcheck.experiments.store import ExperimentStore
from grokcheck.records import to_jsonable
from tests.experiments.fakes import fake_record, fake_runner

O = grid.GridOverrides(p=23, sizes=(60, 120), weight_decays=(1.0,), seeds=(0, 1), max_steps=2000)
SPECS = grid.experiment_specs("ungrok", "quick", O)


def _written(tmp_path):
    run_experiment(
        ExperimentConfig("ungrok", grid=O, out=tmp_path / "exp", figures=False), runner=fake_runner
    )
    return ExperimentStore(tmp_path / "exp")


def _edit(path, change):
    d = json.loads(path.read_text())
    change(d)
    path.write_text(json.dumps(d))


def _set(field, value):
    def change(d):
        d["record"][field] = value

    return change


DAMAGE = {
    "train_loss is text": _set("train_loss", "x"),
    "test_acc is null": _set("test_acc", None),
    "test_acc above 1": _set("test_acc", 1.5),
    "steps is a boolean": _set("steps", True),
    "steps above the cap": _set("steps", 10**9),
    "stopped is interrupted": _set("stopped", "interrupted"),
    "converged disagrees with stopped": _set("converged", False),
    "param_norm negative": _set("param_norm", -1.0),
    "gen_only is text": _set("gen_only", "yes"),
    "curve steps fall": lambda d: d["record"]["curve"].reverse(),
    "curve point has a stray field": lambda d: d["record"]["curve"][0].update(extra=1),
    "record of another run": lambda d: d["record"]["spec"].update(seed=d["record"]["spec"]["seed"] + 7),
    "key field edited": lambda d: d.update(key="0" * 16),
    "no record": lambda d: d.pop("record"),
    "spec with an unknown field": lambda d: d["spec"].update(colour="red"),
    "record with an unknown field": lambda d: d["record"].update(colour="red"),
    "curve point with a text circuit field": lambda d: d["record"]["curve"][0].update(o_t_test="x"),
}


@pytest.mark.parametrize("case", sorted(DAMAGE))
def test_a_damaged_field_is_never_counted_and_is_retrained(tmp_path, case):
    store = _written(tmp_path)
    victim = store.path(SPECS[0])
    _edit(victim, DAMAGE[case])
    with pytest.raises(BadResult):
        load_result(victim)
    assert store.read(SPECS[0]) is None and store.pending(SPECS) == [SPECS[0]]
    records, problems = store.scan()
    assert len(records) == len(SPECS) - 1 and len(problems) == 1 and str(victim) in problems[0]
    # a rerun trains exactly that run again and replaces the damaged file with a good one
    cfg = ExperimentConfig("ungrok", grid=O, out=store.root, figures=False)
    warned: list[str] = []
    result = run_experiment(cfg, runner=fake_runner, warn=warned.append)
    assert result.complete and result.n_skipped == len(SPECS) - 1 and len(warned) == 1
    assert load_result(victim) == fake_record(SPECS[0])


def test_a_copy_under_another_name_is_not_another_run(tmp_path):
    store = _written(tmp_path)
    shutil.copy(store.path(SPECS[0]), store.results_dir / "copy.json")
    shutil.copy(store.path(SPECS[1]), store.results_dir / f"{SPECS[2].key()}.json")  # posing as another run
    records, problems = store.scan()
    assert sorted(r.spec.key() for r in records) == sorted(s.key() for s in SPECS if s != SPECS[2])
    assert len(problems) == 2 and all("not its run's key" in p for p in problems)
    assert store.pending(SPECS) == [SPECS[2]]


def test_an_edited_spec_does_not_count_as_a_run_of_another_size(tmp_path):
    store = _written(tmp_path)
    path = store.path(SPECS[0])
    _edit(path, lambda d: (d["spec"].update(train_size=90), d["record"]["spec"].update(train_size=90)))
    records, problems = store.scan()
    assert 90 not in {r.spec.train_size for r in records} and len(problems) == 1


def test_truncated_and_garbage_files(tmp_path):
    store = _written(tmp_path)
    text = store.path(SPECS[0]).read_text()
    store.path(SPECS[0]).write_text(text[: len(text) // 2])
    store.path(SPECS[1]).write_bytes(b"\xff\xfe\x00garbage")
    (store.results_dir / "results.json").write_text("[1, 2, 3]")
    records, problems = store.scan()
    assert len(records) == len(SPECS) - 2 and len(problems) == 3


def test_a_copied_experiment_folder_does_not_double_the_runs(tmp_path):
    store = _written(tmp_path)
    shutil.copytree(store.root, tmp_path / "exp-copy")
    warned: list[str] = []
    records = pooled_records(tmp_path, warned.append)
    assert len(records) == len(SPECS) and len(warned) == len(SPECS)
    assert all("counted once" in w for w in warned)


def test_verify_from_reports_each_file_left_out(cli, tmp_path):
    run_experiment(
        ExperimentConfig(
            "semigrok", grid=grid.GridOverrides(p=23, seeds=(0, 1)), out=tmp_path / "e", figures=False
        ),
        runner=fake_runner,
    )
    res = tmp_path / "e" / "results"
    first = sorted(res.glob("*.json"))[0]
    shutil.copy(first, res / "copy.json")
    _edit(sorted(res.glob("*.json"))[1], _set("train_loss", "x"))
    r = cli("verify", "--from", str(tmp_path / "e"), "--json")
    warnings = [line for line in r.err.splitlines() if "warning: ignored" in line]
    assert len(warnings) == 2 and r.code in (3, 4)
    p4 = next(c for c in json.loads(r.out)["checks"] if c["name"].startswith("P4 (scratch)"))
    n_files = len(list(res.glob("*.json")))
    assert f"/{n_files - 2} " in p4["figure"] or f"of {n_files - 2}" in p4["figure"], p4["figure"]


FINITE = st.floats(min_value=0.0, max_value=1.0, allow_nan=False)


@settings(max_examples=40, deadline=None)
@given(
    spec=st.sampled_from(SPECS),
    train_acc=FINITE,
    test_acc=FINITE,
    loss=st.one_of(st.none(), st.floats(min_value=0.0, max_value=1e6)),
    norm=st.floats(min_value=0.0, max_value=1e6),
    steps=st.integers(min_value=0, max_value=2000),
)
def test_every_valid_record_round_trips(spec, train_acc, test_acc, loss, norm, steps):
    rec = dataclasses.replace(
        fake_record(spec),
        train_acc=train_acc,
        test_acc=test_acc,
        test_loss=float("nan") if loss is None else loss,
        param_norm=norm,
        steps=steps,
        curve=(),
    )
    back = parse_record(to_jsonable(rec))
    assert back.test_acc == test_acc and back.steps == steps
    assert (back.test_loss != back.test_loss) if loss is None else back.test_loss == loss


@settings(max_examples=40, deadline=None)
@given(
    field=st.sampled_from(["train_acc", "test_acc", "param_norm", "steps", "converged", "stopped"]),
    value=st.one_of(st.text(max_size=3), st.booleans(), st.none(), st.just(-1), st.just(2.5), st.just([1])),
)
def test_a_wrong_type_or_range_is_refused(field, value):
    d = to_jsonable(fake_record(SPECS[0]))
    if field in ("converged", "stopped"):
        ok = (field == "converged" and value is True) or (field == "stopped" and value == "converged")
    else:
        ok = (
            not isinstance(value, bool)
            and isinstance(value, (int, float))
            and value >= 0
            and (field not in ("train_acc", "test_acc") or value <= 1)
            and (field != "steps" or isinstance(value, int))
        )
    d[field] = value
    if ok:
        parse_record(d)
    else:
        with pytest.raises(BadResult):
            parse_record(d)
