"""Progress of every long command on stderr: one :class:`Reporter`.

On a terminal each piece of work in flight (a training phase, a simulated panel's phase, an
experiment's sweep) is a rich bar. Otherwise the reporter writes plain lines: one whenever
something happens that a log should keep (a new phase, the last step, a finished chunk, a new
experiment) and at most one every ``every_s`` seconds in between, so logs stay short and
``--json`` output on stdout stays clean. Nothing is shown in the first ``quiet_s`` seconds.

Each command's events arrive through its own method: :meth:`Reporter.training` (``grokcheck
train``), :meth:`Reporter.sim` (``grokcheck sim``) and :meth:`Reporter.sweep` (``grokcheck
experiment``, ``grokcheck verify --full``). Ctrl-C is not handled here but by
:func:`grokcheck.cli.common.stop_on_sigint`, as for every command.
"""

from __future__ import annotations

import math
import sys
import time
from collections.abc import Callable, Hashable
from typing import Any, TextIO

from grokcheck.cli.common import fmt


class Reporter:
    """Progress of one command on ``stream`` (stderr): bars on a terminal, else plain lines.

    Args:
        command: the command's name; sweep lines start with ``"<command>: "``, simulation
            lines with ``"[<command> <panel>]"``.
        every_s: the most one line per this many seconds, besides the lines that are always
            written.
        quiet_s: show nothing during the first seconds (short work stays silent).
        tty: bars (True) or lines (False); default: whether ``stream`` is a terminal.
    """

    def __init__(
        self,
        command: str,
        *,
        every_s: float = 10.0,
        quiet_s: float = 0.0,
        tty: bool | None = None,
        clock: Callable[[], float] = time.monotonic,
        stream: TextIO | None = None,
    ) -> None:
        self.command, self.every_s, self.quiet_s, self.clock = command, every_s, quiet_s, clock
        self.stream = stream if stream is not None else sys.stderr
        self.tty = self.stream.isatty() if tty is None else tty
        self.started = clock()
        self._last_line = -math.inf
        self._bar: Any = None
        self._tasks: dict[Hashable, Any] = {}
        self._line_phase: str | None = None  # training: the phase of the last line written
        self._row: Any = None  # training: the last evaluation row
        self._sweep: SweepClock | None = None

    def __enter__(self) -> Reporter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self._bar is not None:
            self._bar.stop()
        self._bar, self._tasks = None, {}

    def show(
        self,
        key: Hashable,
        label: str,
        done: int,
        total: int | None,
        *,
        info: str = "",
        line: str | None = None,
        force: bool = False,
        finished: bool = False,
    ) -> bool:
        """Work ``key`` is at ``done`` of ``total``: move its bar (removed when ``finished``), or
        write ``line`` when ``force`` or when ``every_s`` passed since the last line. Returns
        whether a line was written."""
        now = self.clock()
        if now - self.started < self.quiet_s:
            return False
        if self.tty:
            self._move_bar(key, label, done, total, info, finished)
            return False
        if line is None or not (force or now - self._last_line >= self.every_s):
            return False
        self._last_line = now
        self.stream.write(line + "\n")
        self.stream.flush()
        return True

    def _move_bar(self, key: Hashable, label: str, done: int, total: int | None, info: str, finished: bool):
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

        if self._bar is None:
            self._bar = Progress(
                TextColumn("{task.description}"),
                BarColumn(bar_width=24),
                MofNCompleteColumn(),
                TextColumn("{task.fields[info]}"),
                console=Console(file=self.stream, highlight=False),
                transient=True,
                redirect_stdout=False,  # stdout is the result's: nothing of the bar goes there
            )
            self._bar.start()
        if key not in self._tasks:
            self._tasks[key] = self._bar.add_task(label, total=total, info=info)
        self._bar.update(self._tasks[key], completed=done, total=total, info=info)
        if finished:
            self._bar.remove_task(self._tasks.pop(key))
            if not self._tasks:  # nothing in flight: the terminal is the command's again
                self.close()

    def training(self, ev: Any) -> None:
        """``grokcheck train``: after every step and evaluation of a phase
        (:class:`~grokcheck.transformer.training.loop.Event`). A line per evaluation at most every
        ``every_s`` seconds, and always at a new phase and at the phase's last step."""
        if ev.row is not None:
            self._row = ev.row
        info = _short_text(self._row, ev) if self._row is not None else ""
        line = f"[{ev.phase}] step {ev.step}/{ev.budget} {_row_text(ev.row)}" if ev.row is not None else None
        force = ev.step >= ev.budget or ev.phase != self._line_phase
        if self.show(ev.phase, ev.phase, ev.step, ev.budget, info=info, line=line, force=force):
            self._line_phase = ev.phase

    def sim(self, panel: str, phase: str, step: int, total: int) -> None:
        """``grokcheck sim``: where a panel's simulation, convergence run or metrics writing is."""
        line = f"[{self.command} {panel}] {_phase_text(phase, step, total)}"
        self.show((panel, phase), f"{panel} {phase}", step, total, line=line)

    def sweep(self, name: str, ev: Any) -> None:
        """``grokcheck experiment``, ``verify --full``: experiment ``name``'s executor event
        (:class:`~grokcheck.experiments.executors.ProgressEvent`). A line at the experiment's
        first event and whenever a chunk finishes; while a chunk trains, at most one every
        ``every_s`` seconds."""
        now = self.clock()
        sweep = self._sweep if self._sweep is not None and self._sweep.name == name else None
        new = sweep is None
        if sweep is None:  # a new experiment: its own clock
            sweep = self._sweep = SweepClock(self.command, name, now)
        sweep.record(ev)
        head, tail = sweep.text(ev, now)
        self.show(
            ("sweep", name),
            f"{self.command}: {name}",
            ev.done + ev.skipped,
            ev.total + ev.skipped,
            info=tail.lstrip(", "),
            line=head + tail,
            force=new or not ev.during_chunk,
            finished=not ev.during_chunk and ev.done >= ev.total,
        )


class SweepClock:
    """What one experiment's sweep has done and the time it has left.

    A line reads, e.g.::

        verify: ungrok 12/36 runs, chunk 2/3 (12 members) step 3400/8000, 4m10s elapsed, ~6m left

    The time left is estimated from the member-steps trained so far (their rate over the
    elapsed time) and the member-steps still to go: the current ensemble's open members up to
    its step cap, and each run not yet started at the mean fraction of the cap that the
    finished runs used; ``?`` until something was trained.
    """

    def __init__(self, prefix: str, name: str, t0: float) -> None:
        self.prefix, self.name, self.t0 = prefix, name, t0
        self.trained = 0  # member-steps of the chunks finished since t0
        self.fractions: list[float] = []  # steps / step cap of the runs finished since t0
        self.cap: int | None = None  # the ensembles' step cap
        self.at: dict[int | None, tuple[str | None, int, int | None]] = {}  # chunk -> last step seen

    def record(self, ev: Any) -> None:
        if ev.during_chunk:
            self.at[ev.chunk] = (ev.phase, ev.step, ev.max_steps)
            if ev.phase != "pretrain" and ev.max_steps is not None:
                self.cap = ev.max_steps
            return
        self.trained += ev.member_steps if ev.member_steps is not None else sum(r.steps for r in ev.records)
        for r in ev.records:
            self.fractions.append(r.steps / max(1, r.spec.max_steps))
            self.cap = self.cap or r.spec.max_steps

    def text(self, ev: Any, now: float) -> tuple[str, str]:
        """The line for ``ev``, as (who and how many runs, the rest)."""
        head = f"{self.prefix}: {self.name} {ev.done + ev.skipped}/{ev.total + ev.skipped} runs"
        tail = ""
        if ev.chunk is not None:
            tail += f", chunk {ev.chunk}/{ev.n_chunks} ({ev.chunk_size} members)"
        if ev.during_chunk:
            phase, step, cap = ev.phase, ev.step, ev.max_steps
            tail += f" {'pretrain ' if phase == 'pretrain' else ''}step {step}/{cap}"
        else:
            cut = ev.chunk_size is not None and len(ev.records) < ev.chunk_size  # Ctrl-C: some unfinished
            tail += " stopped" if cut else " finished"
            phase, step, cap = self.at.pop(ev.chunk, (None, None, None))
            if step is not None and phase != "pretrain":
                tail += f" at step {step}/{cap}"
            if cut:
                tail += f" ({len(ev.records)} of its runs finished)"
        elapsed = now - self.t0
        left = self.time_left(ev, elapsed)
        eta = "?" if left is None else "~" + duration(left, 2)
        return head, tail + f", {duration(elapsed)} elapsed, {eta} left"

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


def _phase_text(phase: str, step: int, total: int) -> str:
    if phase == "simulate":
        return f"simulating: step {step:,} of {total:,}"
    if phase == "converge":
        return f"running to convergence: step {step:,} (cap {total:,})"
    return f"writing metrics ({total:,} rows)"


def percent(share: float) -> str:
    """A share as a percentage with 3 significant digits: ``12%``, ``0.0261%``, ``100%``."""
    return f"{100 * share:.3g}%"


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
