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


# ----- documented ranges (grokcheck.theory.ranges), checked before any work -----

HUGE = [str(2**63), str(10**30)]


@pytest.mark.parametrize(
    "args, flag, fragment",
    [
        (["--kappa", "1e308"], "--kappa", "[0.01, 100]"),
        (["--kappa", "1e-308"], "--kappa", "[0.01, 100]"),
        (["--kappa", "5e-324"], "--kappa", "[0.01, 100]"),
        (["--kappa", "-0.0"], "--kappa", "[0.01, 100]"),
        (["--q", "1e308"], "--q", "[0.1, 10]"),
        (["--q", "5e-324"], "--q", "[0.1, 10]"),
        (["--alpha", "1e-308"], "--alpha", "[1e-08, 10000]"),
        (["--alpha", "1e308"], "--alpha", "[1e-08, 10000]"),
        (["--norms", "1,,2"], "--norms", "empty"),
        (["--norms", "1,2,"], "--norms", "empty"),
        (["--norms", ",1"], "--norms", "empty"),
        (["--norms", "1e308,1"], "--norms", "[0.001, 1000]"),
        (["--norms", "5e-324"], "--norms", "[0.001, 1000]"),
        (["--norms", ",".join(["1"] * 65)], "--norms", "at most 64"),
        (["--n-labels", HUGE[0]], "--n-labels", "[2, 1000]"),
        (["--n-labels", HUGE[1]], "--n-labels", "[2, 1000]"),
        (["--n-labels", "1000001"], "--n-labels", "[2, 1000]"),
        # joint limits: each value is in range, the combination is not
        (["--kappa", "100", "--q", "0.1"], "--kappa", "weight bound"),
        (["--kappa", "100", "--q", "1", "--alpha", "10000", "--norms", "1000"], "--kappa", "weight bound"),
        (["--alpha", "10000", "--norms", "1000"], "--alpha", "predicted largest weight"),
    ],
)
def test_d4_out_of_range(cli, args, flag, fragment):
    r = cli("theorem", "d4", *args)
    assert r.code == 2 and r.out == ""
    line = r.err.strip()
    assert "\n" not in line and "Traceback" not in line
    assert line.startswith(f"grokcheck: error: {flag}:") and fragment in line


@pytest.mark.parametrize(
    "cmd, args, flag",
    [
        ("d1", ["--seed", "-1"], "--seed"),
        ("d1", ["--seed", HUGE[0]], "--seed"),
        ("d1", ["--seed", HUGE[1]], "--seed"),
        ("d1", ["--n-classifiers", "0"], "--n-classifiers"),
        ("d1", ["--n-classifiers", HUGE[1]], "--n-classifiers"),
        ("d1", ["--n-classifiers", "100001"], "--n-classifiers"),
        ("lemmas", ["--seed", "-5"], "--seed"),
        ("lemmas", ["--seed", HUGE[1]], "--seed"),
    ],
)
def test_d1_lemmas_out_of_range(cli, cmd, args, flag):
    r = cli("theorem", cmd, *args)
    assert r.code == 2 and r.out == ""
    assert r.err.startswith(f"grokcheck: error: {flag}: must be an integer in [")
    assert len(r.err.strip().splitlines()) == 1


def test_range_edges_are_accepted(cli):
    """The ends of the documented ranges run (and the theorem holds there)."""
    for args in (
        ["--kappa", "0.01", "--q", "0.1"],
        ["--kappa", "20", "--q", "10", "--n-labels", "1000"],
        ["--alpha", "1e-8", "--kappa", "0.5"],
        ["--norms", "0.001,0.002", "--q", "0.1", "--kappa", "0.05"],
        ["--n-labels", "2"],
    ):
        r = cli("theorem", "d4", *args, "--json")
        assert r.code == 0, (args, r.err)
        assert json.loads(r.out)["holds"]
    assert cli("theorem", "d1", "--seed", str(2**63 - 1), "--n-classifiers", "1").code == 0


def test_help_documents_ranges(cli):
    r = cli("theorem", "d4", "--help")
    text = " ".join(r.out.split())
    for fragment in ("[0.01, 100]", "[0.1, 10]", "[1e-08, 10000]", "[0.001, 1000]", "[2, 1000]", "1 to 64"):
        assert fragment in text
    assert "[1, 100000]" in " ".join(cli("theorem", "d1", "--help").out.split())
