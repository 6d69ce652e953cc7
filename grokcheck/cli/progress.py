"""Progress on stderr: of a training run, and of experiment sweeps; Ctrl-C as a request to stop.

:class:`TrainReporter` (``grokcheck train``): a rich bar on a terminal, else a plain log line
per evaluation at most every 10 s (so logs and ``--json`` output stay clean).
:class:`SweepReporter` (``grokcheck experiment``, ``grokcheck verify --full``): plain lines,
terminal or not, throttled by wall time.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import Any, TextIO

from grokcheck.cli.common import console, fmt


class TrainReporter:
    """Progress on stderr (a rich bar on a terminal, else a log line per evaluation at most
    every 10 s) and Ctrl-C handling: the first Ctrl-C asks the run to checkpoint and stop,
    a second one interrupts at once."""

    LOG_EVERY_S = 10.0

    def __init__(self) -> None:
        self.tty = sys.stderr.isatty()
        self.interrupt = False
        self._bar = None
        self._task = None
        self._phase = None
        self._last_log = -1e9
        self._last_row: dict[str, Any] | None = None
        self._old_handler = None

    def __enter__(self) -> TrainReporter:
        import signal
        import threading

        if threading.current_thread() is threading.main_thread():
            self._old_handler = signal.signal(signal.SIGINT, self._on_sigint)
        return self

    def __exit__(self, *exc: object) -> None:
        import signal

        if self._bar is not None:
            self._bar.stop()
        if self._old_handler is not None:
            signal.signal(signal.SIGINT, self._old_handler)

    def _on_sigint(self, signum: int, frame: object) -> None:
        if self.interrupt:
            raise KeyboardInterrupt
        self.interrupt = True

    def stopped(self) -> bool:
        return self.interrupt

    def progress(self, ev: Any) -> None:
        import time

        if self.tty:
            self._progress_bar(ev)
            return
        now = time.monotonic()
        if ev.row is not None and (
            now - self._last_log >= self.LOG_EVERY_S or ev.step >= ev.budget or ev.phase != self._phase
        ):
            self._phase, self._last_log = ev.phase, now
            sys.stderr.write(f"[{ev.phase}] step {ev.step}/{ev.budget} {_row_text(ev.row)}\n")
            sys.stderr.flush()

    def _progress_bar(self, ev: Any) -> None:
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

        if self._bar is None:
            self._bar = Progress(
                TextColumn("{task.description}"),
                BarColumn(bar_width=24),
                MofNCompleteColumn(),
                TextColumn("{task.fields[info]}"),
                console=console(stderr=True),
            )
            self._bar.start()
        if ev.phase != self._phase:
            self._phase = ev.phase
            self._task = self._bar.add_task(ev.phase, total=ev.budget, info="")
        if ev.row is not None:
            self._last_row = ev.row
        info = _short_text(self._last_row, ev) if self._last_row is not None else ""
        self._bar.update(self._task, completed=ev.step, total=ev.budget, info=info)


def _short_text(row: Any, ev: Any) -> str:
    """Loss and accuracy for a narrow bar: the last step's train figures, the last eval's test."""
    loss = ev.train_loss if ev.row is None and ev.train_loss is not None else row.train_loss
    acc = ev.train_acc if ev.row is None and ev.train_acc is not None else row.train_acc
    text = f"train {loss:.1e} {acc:.3f}"
    if row.test_acc is not None:
        text += f" test {row.test_loss:.1e} {row.test_acc:.3f}"
    return text + (f" f32 collapse {percent(row.collapse_f32)}" if row.collapse_f32 else "")


def _row_text(row: Any) -> str:
    text = f"train loss {fmt(row.train_loss, 3)} acc {fmt(row.train_acc, 4)}"
    if row.test_acc is not None:
        text += f" | test loss {fmt(row.test_loss, 3)} acc {fmt(row.test_acc, 4)}"
    text += f" | norm {fmt(row.param_norm, 4)}"
    return text + (f" | f32 collapse {percent(row.collapse_f32)}" if row.collapse_f32 else "")


def percent(share: float) -> str:
    """A share as a percentage with 3 significant digits: ``12%``, ``0.0261%``, ``100%``."""
    return f"{100 * share:.3g}%"


class SweepReporter:
    """Plain progress lines on stderr for experiment sweeps, whether or not stderr is a terminal.

    Call it as ``reporter(name, event)`` with the sweep's
    :class:`~grokcheck.experiments.executors.ProgressEvent`. It writes a line on an experiment's
    first event, whenever a chunk finishes, and while a chunk trains at most one every
    ``every_s`` seconds of wall time, e.g.::

        verify: ungrok 12/36 runs, chunk 2/3 (12 members) step 3400/8000, 4m10s elapsed, ~6m left

    The time left is estimated from the member-steps trained so far (their rate over the
    elapsed time) and the member-steps still to go: the current ensemble's open members up to
    its step cap, and each run not yet started at the mean fraction of the cap that the
    finished runs used; ``?`` until something was trained.
    """

    def __init__(
        self,
        prefix: str,
        *,
        every_s: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
        stream: TextIO | None = None,
    ) -> None:
        self.prefix, self.every_s, self.clock, self.stream = prefix, every_s, clock, stream
        self.name: str | None = None

    def start(self, name: str) -> None:
        """Start timing experiment ``name`` (else its first event starts it)."""
        self.name, self.t0, self.last_line = name, self.clock(), None
        self.trained = 0  # member-steps of the chunks finished in this call
        self.fractions: list[float] = []  # steps / step cap of the runs finished in this call
        self.cap: int | None = None  # the ensembles' step cap
        self.at: dict[int | None, tuple[str | None, int, int | None]] = {}  # chunk -> last step seen

    def __call__(self, name: str, ev: Any) -> None:
        if name != self.name:
            self.start(name)
        now = self.clock()
        if ev.during_chunk:
            self.at[ev.chunk] = (ev.phase, ev.step, ev.max_steps)
            if ev.phase != "pretrain" and ev.max_steps is not None:
                self.cap = ev.max_steps
        else:
            self.trained += (
                ev.member_steps if ev.member_steps is not None else sum(r.steps for r in ev.records)
            )
            for r in ev.records:
                self.fractions.append(r.steps / max(1, r.spec.max_steps))
                self.cap = self.cap or r.spec.max_steps
        if ev.during_chunk and self.last_line is not None and now - self.last_line < self.every_s:
            return
        self.last_line = now
        out = self.stream if self.stream is not None else sys.stderr
        out.write(self.line(ev, now - self.t0) + "\n")
        out.flush()

    def line(self, ev: Any, elapsed: float) -> str:
        text = f"{self.prefix}: {self.name} {ev.done + ev.skipped}/{ev.total + ev.skipped} runs"
        if ev.chunk is not None:
            text += f", chunk {ev.chunk}/{ev.n_chunks} ({ev.chunk_size} members)"
        if ev.during_chunk:
            phase = "pretrain " if ev.phase == "pretrain" else ""
            text += f" {phase}step {ev.step}/{ev.max_steps}"
        else:
            cut = ev.chunk_size is not None and len(ev.records) < ev.chunk_size  # Ctrl-C: some unfinished
            text += " stopped" if cut else " finished"
            phase, step, cap = self.at.pop(ev.chunk, (None, None, None))
            if step is not None and phase != "pretrain":
                text += f" at step {step}/{cap}"
            if cut:
                text += f" ({len(ev.records)} of its runs finished)"
        left = self.time_left(ev, elapsed)
        eta = "?" if left is None else "~" + duration(left, 2)
        return text + f", {duration(elapsed)} elapsed, {eta} left"

    def time_left(self, ev: Any, elapsed: float) -> float | None:
        done = self.trained + ((ev.member_steps or 0) if ev.during_chunk else 0)
        if done <= 0 or elapsed <= 0 or self.cap is None:
            return None
        per_run = self.cap * (sum(self.fractions) / len(self.fractions) if self.fractions else 1.0)
        waiting = ev.total - ev.done
        todo = 0.0
        if ev.during_chunk and ev.chunk_size is not None:
            waiting -= ev.chunk_size
            if ev.phase == "pretrain" or ev.active is None:
                todo += ev.chunk_size * per_run
            else:
                todo += ev.active * max(0, (ev.max_steps or self.cap) - ev.step)
        todo += max(0, waiting) * per_run
        return todo * elapsed / done


def duration(seconds: float, parts: int = 3) -> str:
    """``45s``, ``4m10s``, ``1h02m``; with ``parts=2`` minutes are whole: ``45s``, ``4m``, ``1h02m``."""
    s = round(max(0.0, seconds))
    if s >= 60 and parts < 3:
        s = 60 * round(s / 60)
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s" if parts > 2 else f"{s // 60}m"
    return f"{s // 3600}h{s % 3600 // 60:02d}m"
