"""Mutation-testing companions of tests/sim/test_run.py: what ``run_panel``/``run_figure`` return
and write, against references built independently (a plain-loop gradient descent with Appendix
C's closed forms written out here, or the lower-level dynamics/checks functions composed by
hand), and the input checks at their boundaries. Plotting is replaced by fakes that record
their calls (tests/sim/test_figures_plotted_series.py tests the plots themselves).
"""

from __future__ import annotations

import dataclasses
import json
import math

import numpy as np
import pytest

from grokcheck.errors import InputError
from grokcheck.sim import checks, figures
from grokcheck.sim.crosscheck import AGREE_TOL
from grokcheck.sim.dynamics import CONVERGE_TOL, MAX_STEPS, Trace, converge, grokking_summary, simulate
from grokcheck.sim.model import PRESETS
from grokcheck.sim.run import (
    Settings,
    metrics_csv,
    panel_configs,
    report_json,
    run_figure,
    run_panel,
)

A = PRESETS["2a"]


def ref_run(cfg, n: int) -> tuple[float, float, float, float]:
    """Subweights after n steps of plain gradient descent on Appendix C's loss
    L = log(1 + (q-1) e^-(wg + wm)) + alpha (P_g^2 |wg|^(2/k) + P_m^2 |wm|^(2/k)):
    dL/dw_c = -1/(1 + e^S/(q-1)) + alpha P_c^2 (2/k) sign(w)|w|^(2/k - 1) (0 at w = 0),
    chain rule through w_gen = g1 g2, w_mem = m1 m2."""
    g1, g2, m1, m2 = cfg.w_g1, cfg.w_g2, cfg.w_m1, cfg.w_m2
    e = 2 / cfg.kappa
    for _ in range(n):
        wg, wm = g1 * g2, m1 * m2
        s = -1 / (1 + math.exp(wg + wm) / (cfg.n_labels - 1))
        dg = s + (cfg.alpha * cfg.P_g**2 * e * math.copysign(abs(wg) ** (e - 1), wg) if wg else 0.0)
        dm = s + (cfg.alpha * cfg.P_m**2 * e * math.copysign(abs(wm) ** (e - 1), wm) if wm else 0.0)
        g1, g2, m1, m2 = (
            g1 - cfg.lr * dg * g2,
            g2 - cfg.lr * dg * g1,
            m1 - cfg.lr * dm * m2,
            m2 - cfg.lr * dm * m1,
        )
    return g1, g2, m1, m2


def hand_losses(wg: float, wm: float, cfg) -> dict[str, float]:
    """Appendix C's closed forms (n labels): X_train = log(1 + (n-1) e^-(wg+wm)),
    X_test = log((n-2) + e^wg + e^wm) - wg, L_wd = alpha (P'_g^2 + P'_m^2), P'_c = |w_c|^(1/k) P_c."""
    n = cfg.n_labels
    pg, pm = abs(wg) ** (1 / cfg.kappa) * cfg.P_g, abs(wm) ** (1 / cfg.kappa) * cfg.P_m
    wd = cfg.alpha * (pg**2 + pm**2)
    xtr = math.log(1 + (n - 1) * math.exp(-(wg + wm)))
    xte = math.log((n - 2) + math.exp(wg) + math.exp(wm)) - wg
    return dict(
        train_loss=xtr + wd,
        test_loss=xte + wd,
        train_xent=xtr,
        test_xent=xte,
        wd_loss=wd,
        w_gen=wg,
        w_mem=wm,
        param_norm=math.sqrt(pg**2 + pm**2),
    )


@pytest.fixture
def plots(monkeypatch):
    """Fake plot_panel / plot_panels that record their calls and write a marker file."""
    calls: list = []

    def panel(trace, panel, path):
        calls.append(("panel", panel, path, len(trace.step)))
        path.write_text("png")

    def panels(traces, names, path):
        calls.append(("panels", tuple(names), path, tuple(len(t.step) for t in traces)))
        path.write_text("png")

    monkeypatch.setattr(figures, "plot_panel", panel)
    monkeypatch.setattr(figures, "plot_panels", panels)
    return calls


# ---------------------------------------------------------------------------------------------
# Settings and panel_configs


def test_settings_defaults_and_conversion():
    s = Settings()
    # the summary's defaults are the caption rows' (1 nat; w_gen 0.1), the rest the modules'
    assert (s.threshold, s.onset) == (checks.THRESHOLD, checks.ONSET_LEVEL) == (1.0, 0.1)
    assert (s.tol, s.max_steps, s.agree_tol) == (CONVERGE_TOL, MAX_STEPS, AGREE_TOL)
    s = Settings(threshold="0.5", onset=np.float64(0.25), max_steps=7)
    assert s.threshold == 0.5 and type(s.threshold) is float and type(s.onset) is float
    assert s.max_steps == 7
    with pytest.raises(InputError):
        Settings(max_steps=7.0)  # an integer field
    with pytest.raises(dataclasses.FrozenInstanceError):
        s.tol = 1e-3  # type: ignore[misc]


def test_panel_configs_defaults():
    assert panel_configs("2a") == {"2a": A}
    assert panel_configs("2b", None) == {"2b": PRESETS["2b"]}
    assert panel_configs("2") == dict(PRESETS)
    assert list(panel_configs("2c", {})) == ["2c"]
    # alpha = 0: the theorem does not apply, nothing to check
    assert panel_configs("2", {"alpha": 0.0})["2b"].alpha == 0.0


def bound_P(B: float, kappa: float = 10.0, alpha: float = 0.005, n: int = 113) -> float:
    """The norm whose Theorem D.4 weight bound (2 ln n / (alpha_6 P^2))^(kappa/2), alpha_6 = 2 alpha,
    is 10^B: log10(P^2) = log10(ln n / alpha) - 2 B / kappa."""
    return 10 ** (0.5 * (math.log10(math.log(n) / alpha) - 2 * B / kappa))


def test_theorem_bound_boundary():
    """Theorem D.4's weight bound must stay within [1e-100, 1e30]; the check uses alpha_6 = 2 alpha."""
    assert panel_configs("2a", {"kappa": 10.0, "P_g": bound_P(29.5)})  # 1e29.5: inside
    with pytest.raises(InputError) as e:
        panel_configs("2a", {"kappa": 10.0, "P_g": bound_P(30.7)})
    assert e.value.flag == "--kappa"
    want = (
        f"with --alpha 0.005, --p-g {bound_P(30.7):g}, --p-m 2 and --n-labels 113, Theorem D.4's "
        "weight bound (ln n / (alpha P^2))^(kappa/2) for P_g is 1e31, outside [1e-100, 1e30]"
    )
    assert want in str(e.value)
    # the other norm too (P_m's bound is the out-of-range one here)
    with pytest.raises(InputError, match="for P_m is 1e31"):
        panel_configs("2a", {"kappa": 10.0, "P_m": bound_P(30.7)})
    # alpha = 1 is checked like any other alpha > 0: 1e30.7 with alpha 1
    with pytest.raises(InputError, match="for P_g is 1e31"):
        panel_configs("2a", {"kappa": 10.0, "alpha": 1.0, "P_g": bound_P(30.7, alpha=1.0)})
    assert panel_configs("2a", {"kappa": 10.0, "alpha": 1.0, "P_g": bound_P(29.0, alpha=1.0)})


def test_cap_boundary():
    assert panel_configs("2a", {"steps": 500}, Settings(max_steps=500))
    with pytest.raises(InputError) as e:
        panel_configs("2a", {"steps": 500}, Settings(max_steps=499))
    assert str(e.value).endswith("must be an integer in [--steps (500), 1e+08], got 499")
    with pytest.raises(InputError, match=r"\[--steps \(500\)"):
        run_panel("2a", dataclasses.replace(A, steps=500), Settings(max_steps=499))


# ---------------------------------------------------------------------------------------------
# run_panel


def test_run_panel_against_references():
    cfg = dataclasses.replace(A, steps=50)
    # an onset between the plain loop's w_gen at steps 29 and 30 (w_gen grows): first reached at 30
    w29, w30 = (lambda s: s[0] * s[1])(ref_run(cfg, 29)), (lambda s: s[0] * s[1])(ref_run(cfg, 30))
    assert w29 < w30
    onset = (w29 + w30) / 2
    settings = Settings(threshold=4.7, onset=onset, tol=1e-9)
    events: list = []
    r, t = run_panel("2a", cfg, settings, progress=lambda *a: events.append(a))
    # the displayed run: 51 points, the last one the plain loop's state after 50 steps
    np.testing.assert_allclose(t.subweights[-1], ref_run(cfg, 50), rtol=1e-13)
    np.testing.assert_allclose(t.subweights[1], ref_run(cfg, 1), rtol=1e-13)
    g1, g2, m1, m2 = ref_run(cfg, 50)
    want = hand_losses(g1 * g2, m1 * m2, cfg)
    assert r.final.step == 50 and r.steps == 50 and r.figure == "2a" and r.params == cfg
    for k, v in want.items():
        assert getattr(r.final, k) == pytest.approx(v, rel=1e-12), k
    # the run to convergence continues from step 50 with the settings' tolerance and cap
    end = converge(cfg, start=tuple(float(x) for x in t.subweights[-1]), start_step=50, tol=1e-9)
    assert r.converged == end and r.converged.tol == 1e-9 and r.converged.steps > 50
    assert r.theorem.converged and r.theorem.tolerance == AGREE_TOL
    assert r.theorem_ratio == r.theorem.theorem_ratio == pytest.approx(8.0, rel=1e-12)
    assert r.holds is True
    # the summaries use the settings' threshold and onset, under each loss definition
    assert r.grokking == grokking_summary(simulate(cfg), threshold=4.7, onset=onset)
    assert r.grokking_xent == grokking_summary(simulate(cfg), threshold=4.7, onset=onset, loss="xent")
    assert r.grokking.threshold == 4.7 and r.grokking_xent.loss == "xent"
    assert r.grokking.gen_onset == r.grokking_xent.gen_onset == 30
    weights = [(lambda s: (s[0] * s[1], s[2] * s[3]))(ref_run(cfg, i)) for i in range(51)]
    below = [i for i, w in enumerate(weights) if hand_losses(*w, cfg)["train_loss"] < 4.7]
    assert r.grokking.train_below == below[0]
    assert ("2a", "simulate", 50, 50) in events and events[0][0] == "2a"
    assert any(e[1] == "converge" for e in events) or r.converged.steps - 50 < 50_000
    with pytest.raises(dataclasses.FrozenInstanceError):
        r.holds = False  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        r.final.step = 3  # type: ignore[misc]


def test_run_panel_without_progress_and_with_a_tight_tolerance():
    cfg = dataclasses.replace(A, steps=20)
    r, _ = run_panel("2a", cfg, Settings(agree_tol=1e-15, max_steps=200_000))
    # converged weights agree with the theorem to ~1e-11, not 1e-15
    assert r.theorem.tolerance == 1e-15 and r.holds is False and r.theorem.matches_optimum is False


# ---------------------------------------------------------------------------------------------
# metrics_csv


def test_metrics_csv_exact_round_trip():
    cfg = dataclasses.replace(PRESETS["2b"], steps=30)
    t = simulate(cfg)
    text = metrics_csv(t)
    lines = text.splitlines()
    assert lines[0] == ",".join(Trace.COLUMNS) and len(lines) == 32
    rows = [line.split(",") for line in lines[1:]]
    assert all(len(row) == 13 for row in rows)
    assert [row[0] for row in rows] == [str(i) for i in range(31)]  # steps as integers
    # %.17g: every float reads back to the same double
    table = t.table()
    for i, row in enumerate(rows):
        assert [float(x) for x in row[1:]] == table[i, 1:].tolist()


# ---------------------------------------------------------------------------------------------
# run_figure


def test_single_panel_folder_and_report(tmp_path, plots):
    events: list = []
    out = tmp_path / "run"
    report = run_figure("2c", {"steps": 40}, out=str(out), progress=lambda *a: events.append(a))
    assert report.out == str(out) and report.figure == "2c" and len(report.panels) == 1
    assert report.files == ("config.json", "metrics_2c.csv", "fig2c.png", "summary.json")
    assert sorted(p.name for p in out.iterdir()) == sorted(report.files)
    assert plots == [("panel", "2c", out / "fig2c.png", 41)]
    assert ("2c", "write", 0, 41) in events
    assert events.index(("2c", "write", 0, 41)) > max(i for i, e in enumerate(events) if e[1] != "write")
    assert report.captions == () and report.captions_xent == ()
    assert report.holds is True
    config = json.loads((out / "config.json").read_text())
    assert config["figure"] == "2c" and config["panels"]["2c"]["steps"] == 40
    assert config["settings"] == {
        "threshold": 1.0,
        "onset": 0.1,
        "tol": CONVERGE_TOL,
        "max_steps": MAX_STEPS,
        "agree_tol": AGREE_TOL,
    }
    summary = json.loads((out / "summary.json").read_text())
    assert summary["figure"] == "2c" and summary["out"] == str(out)
    assert summary["files"] == list(report.files)
    assert summary == json.loads(json.dumps(report_json(report)))
    data = np.genfromtxt(out / "metrics_2c.csv", delimiter=",", names=True)
    assert len(data) == 41 and data["step"][-1] == 40
    with pytest.raises(dataclasses.FrozenInstanceError):
        report.holds = False  # type: ignore[misc]


def test_no_folder_no_files(tmp_path, plots):
    report = run_figure("2a", {"steps": 10})
    assert report.out is None and report.files == () and plots == []
    report = run_figure("2a", {"steps": 10}, out=tmp_path, figures=False)
    assert report.files == ("config.json", "metrics_2a.csv", "summary.json") and plots == []


def test_three_panels_folder_captions_and_holds(tmp_path, plots):
    settings = Settings(max_steps=300_000)
    report = run_figure("2", {"steps": 60}, settings=settings, out=tmp_path)
    names = ["2a", "2b", "2c"]
    assert [p.figure for p in report.panels] == names
    assert report.files == (
        "config.json",
        "metrics_2a.csv",
        "metrics_2b.csv",
        "metrics_2c.csv",
        "fig2a.png",
        "fig2b.png",
        "fig2c.png",
        "fig2.png",
        "summary.json",
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(report.files)
    assert plots == [("panel", p, tmp_path / f"fig{p}.png", 61) for p in names] + [
        ("panels", tuple(names), tmp_path / "fig2.png", (61, 61, 61))
    ]
    # captions: the caption rows of these very traces and configs, under both definitions
    configs = panel_configs("2", {"steps": 60})
    traces = {p: simulate(c) for p, c in configs.items()}
    assert report.captions == tuple(checks.caption_rows(traces, "appendix_c", configs))
    assert report.captions_xent == tuple(checks.caption_rows(traces, "xent", configs))
    assert report.holds is all(p.holds for p in report.panels) is True
    obj = report_json(report)
    assert [p["figure"] for p in obj["panels"]] == names and obj["out"] == str(tmp_path)
    assert json.loads((tmp_path / "summary.json").read_text()) == json.loads(json.dumps(obj))
    config = json.loads((tmp_path / "config.json").read_text())
    assert list(config["panels"]) == names and config["settings"]["max_steps"] == 300_000


def test_holds_none_without_weight_decay_and_false_when_any_fails(monkeypatch):
    report = run_figure("2a", {"alpha": 0.0, "steps": 10}, settings=Settings(max_steps=2000), figures=False)
    assert report.panels[0].holds is None and report.holds is None
    report = run_figure(
        "2", {"steps": 10}, settings=Settings(agree_tol=1e-15, max_steps=200_000), figures=False
    )
    assert report.holds is False


def test_report_json_single_vs_many():
    one = run_figure("2b", {"steps": 5}, figures=False)
    obj = report_json(one)
    assert obj["figure"] == "2b" and "panels" not in obj and obj["out"] is None and obj["files"] == []
    assert obj["final"]["step"] == 5
