"""The run folder and the JSON result of ``grokcheck sim``'s library call."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from grokcheck.errors import GrokcheckError, InputError
from grokcheck.records import dumps
from grokcheck.sim.model import RANGES
from grokcheck.sim.run import Settings, panel_configs, report_json, run_figure


def test_panel_configs_apply_overrides_to_every_panel():
    cfgs = panel_configs("2", {"kappa": 2.5, "steps": 500})
    assert list(cfgs) == ["2a", "2b", "2c"]
    assert all(c.kappa == 2.5 and c.steps == 500 for c in cfgs.values())
    assert cfgs["2b"].P_g == 4.0 and cfgs["2c"].w_g2 == 1.0


@pytest.mark.parametrize(
    "figure, overrides, settings, flag",
    [
        ("3", {}, None, "--fig"),
        ("2a", {"kapa": 1.0}, None, "--overrides"),
        ("2a", {"kappa": 0.0}, None, "--kappa"),
        ("2a", {"steps": 5000}, Settings(max_steps=100), "--max-steps"),
        ("2a", {"kappa": 10.0, "P_g": 1e-3}, None, "--kappa"),
        ("2", {"kappa": 10.0, "P_g": 1e-3}, None, "--kappa"),
    ],
)
def test_bad_input(figure, overrides, settings, flag):
    with pytest.raises(InputError) as e:
        panel_configs(figure, overrides, settings)
    assert e.value.flag == flag


@pytest.mark.parametrize("name", ["threshold", "tol", "max_steps"])
@pytest.mark.parametrize("value", [0, -1, 1e308, float("nan"), 10**30])
def test_bad_settings(name, value):
    with pytest.raises(InputError, match="--" + name.replace("_", "-") + ": must be .* in \\["):
        Settings(**{name: value})


def run_or_stop_cleanly(overrides: dict, settings: Settings) -> None:
    try:
        report = run_figure("2", overrides, settings=settings, figures=False)
    except GrokcheckError:
        return
    dumps(report_json(report))  # finite numbers only (records refuses NaN and inf)


@pytest.mark.parametrize("field", sorted(set(RANGES) - {"steps"}))
def test_every_range_end_runs_or_stops_cleanly(field):
    """At either end of every documented range (the others at Table 1's values) a
    run of all three panels finishes or stops with a GrokcheckError, never anything else."""
    for value in RANGES[field]:
        run_or_stop_cleanly({field: value, "steps": 100}, Settings(max_steps=20_000))
    run_or_stop_cleanly({"steps": 1}, Settings(max_steps=1))


@pytest.mark.slow
def test_longest_displayed_run():
    """10^6 steps (the top of --steps' range) with 10^6 more to convergence: ~10 s, ~2.5 GB."""
    n = RANGES["steps"][1]
    report = run_figure("2c", {"steps": n}, settings=Settings(max_steps=2 * n), figures=False)
    assert report.holds and report.panels[0].final.step == n


def test_single_panel_json_and_files(tmp_path):
    report = run_figure("2a", {"steps": 3000}, out=tmp_path, figures=False)
    obj = report_json(report)
    assert obj["figure"] == "2a" and obj["steps"] == 3000 and obj["params"]["P_g"] == 1.0
    f = obj["final"]
    assert set(f) >= {
        "train_loss",
        "test_loss",
        "train_xent",
        "test_xent",
        "wd_loss",
        "w_gen",
        "w_mem",
        "param_norm",
    }
    # Appendix C's losses are the cross-entropies plus L_wd = alpha (P'_g^2 + P'_m^2)
    wd = 0.005 * ((abs(f["w_gen"]) ** (1 / 1.2)) ** 2 + (abs(f["w_mem"]) ** (1 / 1.2) * 2.0) ** 2)
    assert f["wd_loss"] == pytest.approx(wd, rel=1e-12)
    assert f["train_loss"] == pytest.approx(f["train_xent"] + wd, rel=1e-12)
    assert f["test_loss"] == pytest.approx(f["test_xent"] + wd, rel=1e-12)
    assert obj["grokking"]["loss"] == "appendix_c" and obj["grokking_xent"]["loss"] == "xent"
    # param_norm = sqrt(P'_g^2 + P'_m^2), P'_c = w_c^(1/kappa) P_c
    expected = math.hypot(abs(f["w_gen"]) ** (1 / 1.2) * 1.0, abs(f["w_mem"]) ** (1 / 1.2) * 2.0)
    assert f["param_norm"] == pytest.approx(expected, rel=1e-12)
    c = obj["converged"]
    assert c["ratio"] == pytest.approx(8.0, rel=1e-8) and c["steps"] > 3000
    assert {"w_gen", "w_mem"} <= set(c)
    assert obj["theorem_ratio"] == pytest.approx(8.0) and obj["holds"] is True
    g = obj["grokking"]
    assert g["threshold"] == 1.0 and g["gen_overtakes_mem"] is None and g["test_below"] is None
    assert sorted(p.name for p in tmp_path.iterdir()) == ["config.json", "metrics_2a.csv", "summary.json"]
    assert json.loads((tmp_path / "summary.json").read_text()) == json.loads(json.dumps(obj))
    config = json.loads((tmp_path / "config.json").read_text())
    assert config["panels"]["2a"]["steps"] == 3000 and config["settings"]["threshold"] == 1.0


def test_metrics_csv_is_readable(tmp_path):
    run_figure("2b", {"steps": 200}, out=tmp_path, figures=False)
    data = np.genfromtxt(tmp_path / "metrics_2b.csv", delimiter=",", names=True)
    assert len(data) == 201 and data["step"][-1] == 200
    assert data["test_loss"][0] == pytest.approx(math.log(113), rel=1e-15)
    np.testing.assert_allclose(data["train_loss"], data["train_xent"] + data["wd_loss"], rtol=1e-14)
    np.testing.assert_allclose(data["test_loss"], data["test_xent"] + data["wd_loss"], rtol=1e-14)
    np.testing.assert_array_equal(data["w_gen"], data["w_g1"] * data["w_g2"])


def test_all_three_panels_with_figures(tmp_path):
    report = run_figure("2", out=tmp_path)
    assert [p.figure for p in report.panels] == ["2a", "2b", "2c"] and report.holds
    for name in ("fig2a.png", "fig2b.png", "fig2c.png", "fig2.png"):
        assert (tmp_path / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert name in report.files
    obj = report_json(report)
    assert obj["figure"] == "2" and len(obj["panels"]) == 3
    assert len(obj["captions"]) == len(obj["captions_xent"]) == 9
    assert "captions" not in report_json(run_figure("2c", {"steps": 100}, figures=False))
    assert [p["converged"]["ratio"] for p in obj["panels"]] == pytest.approx([8, 1 / 8, 8], rel=1e-8)


def test_kappa_above_q_json_has_no_infinite_ratio():
    obj = report_json(run_figure("2a", {"kappa": 2.5}, figures=False))
    assert obj["theorem_ratio"] is None and obj["theorem"]["theorem_w_mem"] == 0.0
    assert obj["theorem"]["matches_optimum"] is False and obj["holds"] is True
    json.dumps(obj, allow_nan=False)
