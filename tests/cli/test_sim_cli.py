"""``grokcheck sim``: the issue's examples run, and bad input exits 2 with one line."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest


def one_line_error(r, flag: str) -> None:
    assert r.code == 2, (r.code, r.err)
    assert r.err.count("\n") == 1 and "Traceback" not in r.err
    assert flag in r.err


def test_fig_2c_human_output(cli, tmp_path, monkeypatch):
    """Documented: grokcheck sim --fig 2c (default folder under runs/)."""
    monkeypatch.chdir(tmp_path)
    r = cli("sim", "--fig", "2c", "--no-plots")
    assert r.code == 0, r.err
    assert "Figure 2c" in r.out and "Theorem D.4" in r.out and "PASS" in r.out
    (run,) = (tmp_path / "runs").iterdir()
    assert run.name.startswith("sim-") and (run / "summary.json").exists()


def test_fig_2_out_writes_the_panels(cli, tmp_path):
    """Documented: grokcheck sim --fig 2 --out figs/"""
    out = tmp_path / "figs"
    r = cli("sim", "--fig", "2", "--out", str(out))
    assert r.code == 0, r.err
    names = {p.name for p in out.iterdir()}
    assert {"fig2a.png", "fig2b.png", "fig2c.png", "fig2.png", "summary.json", "config.json",
            "metrics_2a.csv", "metrics_2b.csv", "metrics_2c.csv"} <= names


def test_fig_2a_json(cli, tmp_path, monkeypatch):
    """Documented: grokcheck sim --fig 2a --steps 60000 --json"""
    monkeypatch.chdir(tmp_path)
    r = cli("sim", "--fig", "2a", "--steps", "60000", "--json", "--no-plots")
    assert r.code == 0, r.err
    obj = json.loads(r.out)
    assert obj["figure"] == "2a" and obj["steps"] == 60000 and obj["final"]["w_gen"] > 7
    assert obj["converged"]["ratio"] == pytest.approx(8, rel=1e-8) and obj["holds"] is True
    assert obj["theorem_ratio"] == pytest.approx(8) and obj["grokking"]["test_below"] > 4000


def test_kappa_override(cli, tmp_path, monkeypatch):
    """Documented: grokcheck sim --fig 2a --kappa 2.5 (kappa >= q: both points reported)."""
    monkeypatch.chdir(tmp_path)
    r = cli("sim", "--fig", "2a", "--kappa", "2.5", "--no-plots")
    assert r.code == 0, r.err
    assert "kappa=2.5" in r.out and "case 1" in r.out and "matches the optimum: no" in r.out
    assert "ended elsewhere" in r.out.replace("\n", " ")


def test_every_table_1_value_can_be_overridden(cli, tmp_path):
    r = cli("sim", "--fig", "2b", "--p-g", "3", "--p-m", "1.5", "--kappa", "1.1", "--alpha", "0.01",
            "--w-g1", "0.1", "--w-g2", "0.2", "--w-m1", "0.3", "--w-m2", "0.9", "--n-labels", "50",
            "--lr", "0.02", "--steps", "100", "--json", "--no-plots", "--out", str(tmp_path / "o"))
    assert r.code == 0, r.err
    p = json.loads(r.out)["params"]
    assert (p["P_g"], p["P_m"], p["kappa"], p["alpha"], p["w_g1"], p["w_g2"], p["w_m1"], p["w_m2"],
            p["n_labels"], p["lr"], p["steps"]) == (3, 1.5, 1.1, 0.01, 0.1, 0.2, 0.3, 0.9, 50, 0.02, 100)


@pytest.mark.parametrize(
    "args, flag",
    [(["--fig", "3"], "--fig"), (["--fig", "2d"], "--fig"), (["--steps", "-5"], "--steps"),
     (["--steps", "0"], "--steps"), (["--steps", "ten"], "--steps"), (["--kappa", "abc"], "--kappa"),
     (["--kappa", "0"], "--kappa"), (["--kappa", "-1.2"], "--kappa"), (["--lr", "0"], "--lr"),
     (["--p-g", "-1"], "--p-g"), (["--n-labels", "1"], "--n-labels"), (["--alpha", "-1"], "--alpha"),
     (["--w-g2", "nan"], "--w-g2"), (["--max-steps", "10"], "--max-steps"), (["--tol", "0"], "--tol"),
     (["--threshold", "-1"], "--threshold")],
)
def test_bad_input_exits_2(cli, tmp_path, args, flag):
    out = tmp_path / "o"
    base = () if "--fig" in args else ("--fig", "2a")
    r = cli("sim", *base, *args, "--out", str(out))
    one_line_error(r, flag)
    assert not out.exists()  # nothing created on bad input


def test_existing_folder_is_not_overwritten(cli, tmp_path):
    (tmp_path / "keep.txt").write_text("mine")
    r = cli("sim", "--fig", "2a", "--out", str(tmp_path))
    assert r.code == 1 and "already holds files" in r.err and "Traceback" not in r.err
    assert (tmp_path / "keep.txt").read_text() == "mine"


def test_divergence_exits_1(cli, tmp_path):
    r = cli("sim", "--fig", "2c", "--lr", "50", "--no-plots", "--out", str(tmp_path / "o"))
    assert r.code == 1 and r.err.count("\n") == 1 and "lower --lr" in r.err
    assert not (tmp_path / "o").exists()  # no empty run folder left behind


def test_help_imports_nothing_heavy():
    code = ("import sys, grokcheck.cli, grokcheck.cli.sim; "
            "print(sorted(m for m in ('torch', 'sympy', 'scipy', 'matplotlib') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_cli_defaults_are_the_library_defaults():
    import inspect

    from grokcheck.cli.sim import sim
    from grokcheck.sim.run import Settings

    params = inspect.signature(sim).parameters
    lib = Settings()
    assert (params["threshold"].default, params["tol"].default, params["max_steps"].default) == (
        lib.threshold, lib.tol, lib.max_steps)
