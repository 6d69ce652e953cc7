"""``grokcheck verify``: aggregation logic, and the command's exit status when a check fails."""

from __future__ import annotations

import json
import sys
import types

from grokcheck.verify import Check, run_verify


def _provider(name: str, rows: list[Check]) -> str:
    mod = types.ModuleType(name)
    mod.checks = lambda quick=True: iter(rows)
    sys.modules[name] = mod
    return name


def test_all_hold():
    p = _provider("_fake_ok", [Check("a", "X", "1", True), Check("b", "Y", "2", True)])
    r = run_verify(providers=(p,))
    assert r.holds and len(r.checks) == 2


def test_one_failure_fails_the_whole(monkeypatch, cli):
    p = _provider("_fake_bad", [Check("a", "X", "1", True), Check("b", "Y", "2", False)])
    assert not run_verify(providers=(p,)).holds
    monkeypatch.setattr("grokcheck.verify.PROVIDERS", (p,))
    r = cli("verify", "--json")
    assert r.code == 3  # a claim of the paper does not hold; the toolkit is not broken
    d = json.loads(r.out)
    assert d["holds"] is False and [c["holds"] for c in d["checks"]] == [True, False]
    assert d["status"] == "fail" and [c["kind"] for c in d["checks"]] == ["claim", "claim"]


def test_a_failing_self_check_says_broken_not_fail(monkeypatch, cli):
    rows = [Check("a", "X", "1", False), Check("own", "batched", "x", False, kind="self")]
    p = _provider("_fake_broken", rows)
    assert run_verify(providers=(p,)).status == "broken"
    monkeypatch.setattr("grokcheck.verify.PROVIDERS", (p,))
    r = cli("verify")
    assert r.code == 1 and "BROKEN" in r.out and "self-check" in r.out
    ok = _provider(
        "_fake_claim_fails", [Check("a", "X", "1", False), Check("own", "b", "x", True, kind="self")]
    )
    monkeypatch.setattr("grokcheck.verify.PROVIDERS", (ok,))
    r = cli("verify")
    assert r.code == 3 and "a claim of the paper does not hold" in r.out


def test_no_checks_is_not_a_pass():
    assert not run_verify(providers=(_provider("_fake_empty", []),)).holds


def test_theory_rows_pass(cli):
    monkey_rows = run_verify(providers=("grokcheck.theory.checks",))
    assert monkey_rows.holds
    sources = {c.source for c in monkey_rows.checks}
    assert {"Theorem D.1", "Lemma D.2", "Lemma D.3", "Theorem D.4"} <= sources


# ---------------------------------------------------------------- not run, and the experiment rows


def test_check_constructor_and_status():
    assert Check("a", "X", "1", True).status == "pass" and Check("a", "X", "1", False).status == "fail"
    c = Check("a", "X", "1", True, status="not_run")
    assert c.status == "not_run" and not c.holds


def test_a_row_not_run_is_never_a_pass(monkeypatch, cli):
    p = _provider("_fake_notrun", [Check("a", "X", "1", True), Check("b", "Y", "-", False, status="not_run")])
    r = run_verify(providers=(p,))
    assert not r.holds and r.status == "incomplete"
    q = _provider("_fake_mixed", [Check("a", "X", "1", False), Check("b", "Y", "-", False, status="not_run")])
    assert run_verify(providers=(q,)).status == "fail"
    monkeypatch.setattr("grokcheck.verify.PROVIDERS", (p,))
    r = cli("verify")
    assert r.code == 4 and "NOT RUN" in r.out and "INCOMPLETE" in r.out and "PASS" in r.out


def _experiments(root, names=("efficiency", "ungrok", "semigrok")):
    from grokcheck.experiments.run import ExperimentConfig, run_experiment
    from tests.experiments.fakes import fake_runner

    for n in names:
        run_experiment(ExperimentConfig(n, out=root / n, figures=False), runner=fake_runner)


def test_from_dir_gives_prediction_rows(tmp_path):
    _experiments(tmp_path, ("ungrok", "semigrok"))
    r = run_verify(providers=(), experiments="from", experiments_dir=tmp_path)
    by = {c.name.split(":")[0]: c.status for c in r.checks}
    assert by["P1"] == "not_run" and by["D_crit"] == "not_run" and by["P4 (scratch)"] == "pass"
    assert by["P3 (D_crit)"] == "pass" and by["P3 (accuracy)"] == "pass"
    # the fake ungroks steeply (1 / (1 + (D_crit / D)^20)): the grid's runs end at 0.02 and 0.97,
    # but the D_crit bisection puts runs close enough to the crossing to end middling
    assert by["P4 (ungrok)"] == "pass" and r.status == "incomplete" and not r.holds


def test_full_runs_the_quick_experiments_with_a_given_runner(tmp_path):
    from tests.experiments.fakes import fake_runner

    seen = []
    r = run_verify(
        providers=(),
        experiments="run",
        experiments_dir=tmp_path,
        runner=fake_runner,
        progress=lambda name, ev: seen.append(name),
    )
    assert {"efficiency", "ungrok", "semigrok", "hysteresis"} <= set(seen)
    assert {c.name.split(":")[0] for c in r.checks} == {
        "P1", "P2", "P3 (D_crit)", "P3 (accuracy)", "D_crit", "P4 (scratch)", "P4 (ungrok)", "Hysteresis",
        "Circuit measures",
    }  # fmt: skip
    # the fake's C_mem/C_gen norms meet far below its ungrokking D_crit: efficiency mispredicts
    assert {c.name.split(":")[0]: c.status for c in r.checks}["D_crit"] == "fail"


def test_cli_from_dir_json_and_bad_folder(monkeypatch, cli, tmp_path):
    _experiments(tmp_path / "e", ("semigrok",))
    monkeypatch.setattr("grokcheck.verify.PROVIDERS", (_provider("_fake_ok2", [Check("a", "X", "1", True)]),))
    r = cli("verify", "--from", str(tmp_path / "e"), "--json")
    assert r.code == 4  # incomplete: neither a claim that fails (3) nor a broken toolkit (1)
    d = json.loads(r.out)
    assert d["status"] == "incomplete" and {c["status"] for c in d["checks"]} == {"pass", "not_run"}
    r = cli("verify", "--from", str(tmp_path / "missing"))
    assert r.code == 2 and "--from" in r.err
    (tmp_path / "empty").mkdir()
    assert cli("verify", "--from", str(tmp_path / "empty")).code == 2
    assert cli("verify", "--out", str(tmp_path)).code == 2
