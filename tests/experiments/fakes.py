"""A fake, deterministic, cheap runner: each record is a pure function of its spec.

Workers of a Dask cluster import it by name (``tests.experiments.fakes``), so it lives in a
module, not in a test file. Its numbers imitate the paper's shapes: ungrokking falls sharply
at D' = D_CRIT_FRACTION of the dataset whatever the weight decay (Figure 4); C_mem's norm
rises with log D at a fixed logit, C_gen's does not (Figure 3); a few semi-grokking runs end at
middling test accuracy (Figure 5).
"""

from __future__ import annotations

import hashlib
import math
import os
import time
import uuid

from grokcheck.experiments.spec import RunRecord, RunSpec
from grokcheck.transformer.training.metrics import Row

D_CRIT_FRACTION = 0.25
MEM_SLOPE = 8.0  # C_mem: d(norm)/d(log D) at a fixed logit
GEN_BASE = 30.0


def _dataset_size(spec: RunSpec) -> int:
    if spec.task.startswith("s5"):
        return 14400
    return spec.p * (spec.p - 1) if spec.task in ("div",) else spec.p * spec.p


def _u(spec: RunSpec, salt: str) -> float:
    """A deterministic number in [0, 1) from the spec."""
    h = hashlib.sha256((spec.key() + salt).encode()).digest()
    return int.from_bytes(h[:8], "big") / 2**64


def fake_record(spec: RunSpec) -> RunRecord:
    n = _dataset_size(spec)
    d = spec.train_size
    o_t = o_m = correct = trig = None
    gen_only = None
    train_acc = 1.0
    if spec.kind == "ungrok":
        d_crit = D_CRIT_FRACTION * n * (1 + 0.04 * (_u(spec, "dc") - 0.5))
        test = 1.0 / (1.0 + (d_crit / d) ** 20)  # sharp enough to show on the quick grid
    elif spec.kind == "scratch":
        x = _u(spec, "semi")
        test = 0.6 if x < 0.2 or spec.seed == 0 else (1.0 if d > 0.3 * n else 0.05)  # seed 0: middling
    else:  # random labels: no generalisation
        test = 1.0 / (spec.p if spec.p else 120)
    if spec.task == "add":
        logit = 20.0 * (1 + spec.weight_decay) * (1 + 0.3 * _u(spec, "logit"))
        if spec.kind == "random_labels":
            norm = 5.0 * math.log(logit) + MEM_SLOPE * math.log(d) + 0.3 * (_u(spec, "n") - 0.5)
            trig, gen_only = 0.05, False
        else:
            norm = 5.0 * math.log(logit) + GEN_BASE + 0.3 * (_u(spec, "n") - 0.5)
            trig, gen_only = 0.97, True
        correct = logit
        o_t = logit * test
        o_m = logit * (1 - test) + 1.0
    else:
        norm = 40.0 + _u(spec, "n")
    steps = min(spec.max_steps, 100 * (1 + int(10 * _u(spec, "steps"))))
    curve = tuple(
        Row(
            step=s,
            train_acc=train_acc,
            test_acc=1.0 - (1.0 - test) * s / steps,
            train_loss=1e-3,
            test_loss=0.5 * (1 - test) * s / steps,
            param_norm=norm,
        )
        for s in range(0, steps + 1, max(1, steps // 4))
    )
    return RunRecord(
        spec=spec,
        steps=steps,
        converged=steps < spec.max_steps or spec.max_steps >= 1000,
        stopped="converged",
        train_acc=train_acc,
        test_acc=test,
        train_loss=1e-3,
        test_loss=0.5 * (1 - test),
        param_norm=norm,
        correct_logit=correct,
        o_t=o_t,
        o_m=o_m,
        o_t_test=o_t,
        o_m_test=o_m,
        trig_fraction=trig,
        gen_only=gen_only,
        wall_s=0.0,
        curve=curve,
    )


def fake_runner(specs, *, device="cpu", cache_dir=None, stop=None, checkpoint_dir=None):
    return [fake_record(s) for s in specs]


def slow_fake_runner(specs, *, device="cpu", cache_dir=None, stop=None, checkpoint_dir=None):
    """Sleeps a little; logs the keys it trained to $GROKCHECK_FAKE_LOG/<uuid>.txt when set."""
    time.sleep(0.4)
    log = os.environ.get("GROKCHECK_FAKE_LOG")
    if log:
        with open(os.path.join(log, f"{uuid.uuid4().hex}.txt"), "w") as f:
            f.write("\n".join(s.key() for s in specs))
    return [fake_record(s) for s in specs]


def logged_keys(log_dir) -> list[str]:
    """Every key :func:`slow_fake_runner` trained, once per time it trained it."""
    out = []
    for name in sorted(os.listdir(log_dir)):
        with open(os.path.join(log_dir, name)) as f:
            out += f.read().split()
    return out
