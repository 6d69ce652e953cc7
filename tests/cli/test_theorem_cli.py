"""``grokcheck theorem ...``: outputs, JSON fields, and one-line errors with exit status 2."""

from __future__ import annotations

import json

import pytest

D4_FIELDS = {
    "theorem",
    "kappa",
    "q",
    "alpha",
    "n_labels",
    "norms",
    "case",
    "exponent",
    "predicted_weights",
    "numeric_weights",
    "max_rel_error",
    "holds",
}


def test_d4_human(cli):
    r = cli("theorem", "d4", "--kappa", "1.2")
    assert r.code == 0
    assert "case 2" in r.out and "PASS" in r.out and "-3" in r.out


def test_d4_json_case1(cli):
    r = cli("theorem", "d4", "--kappa", "2.5", "--norms", "1,2,3", "--json")
    assert r.code == 0
    d = json.loads(r.out)
    assert D4_FIELDS <= d.keys()
    assert d["case"] == 1 and d["exponent"] is None and d["holds"] is True
    assert d["predicted_weights"][1:] == [0.0, 0.0]


def test_d4_json_case2_ratio(cli):
    d = json.loads(cli("theorem", "d4", "--kappa", "1.2", "--q", "2", "--json").out)
    w = d["predicted_weights"]
    assert d["exponent"] == pytest.approx(-3.0) and w[0] / w[1] == pytest.approx(8.0)


def test_d1_and_lemmas(cli):
    r = cli("theorem", "d1", "--n-classifiers", "20")
    assert r.code == 0 and "hypothesis violated" in r.out
    d = json.loads(cli("theorem", "lemmas", "--json").out)
    assert d["holds"] and d["d3"]["as_printed_counterexample"]["delta_found"] is None


@pytest.mark.parametrize(
    "args, flag",
    [
        (["--kappa", "0"], "--kappa"),
        (["--kappa", "-1"], "--kappa"),
        (["--kappa", "nan"], "--kappa"),
        (["--kappa", "inf"], "--kappa"),
        (["--kappa", "abc"], "--kappa"),
        (["--q", "0"], "--q"),
        (["--alpha", "-0.1"], "--alpha"),
        (["--alpha", "x"], "--alpha"),
        (["--norms", ""], "--norms"),
        (["--norms", "1,a"], "--norms"),
        (["--norms", "1,-2"], "--norms"),
        (["--norms", "0"], "--norms"),
        (["--n-labels", "1"], "--n-labels"),
        (["--n-labels", "2.5"], "--n-labels"),
    ],
)
def test_d4_bad_input(cli, args, flag):
    r = cli("theorem", "d4", *args)
    assert r.code == 2
    assert flag in r.err
    assert len(r.err.strip().splitlines()) == 1 and "Traceback" not in r.err
    assert r.out == ""


def test_unknown_command(cli):
    r = cli("theorem", "d5")
    assert r.code == 2 and "d5" in r.err and "Traceback" not in r.err


def test_version(cli):
    r = cli("--version")
    assert r.code == 0 and r.out.startswith("grokcheck ")
