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
    assert r.code == 1
    d = json.loads(r.out)
    assert d["holds"] is False and [c["holds"] for c in d["checks"]] == [True, False]


def test_no_checks_is_not_a_pass():
    assert not run_verify(providers=(_provider("_fake_empty", []),)).holds


def test_theory_rows_pass(cli):
    monkey_rows = run_verify(providers=("grokcheck.theory.checks",))
    assert monkey_rows.holds
    sources = {c.source for c in monkey_rows.checks}
    assert {"Theorem D.1", "Lemma D.2", "Lemma D.3", "Theorem D.4"} <= sources
