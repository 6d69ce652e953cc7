"""Progress of a training run on stderr, and Ctrl-C as a request to checkpoint and stop.

A rich bar on a terminal, else a plain log line per evaluation at most every 10 s (so logs and
``--json`` output stay clean). Used by ``grokcheck train``.
"""

from __future__ import annotations

import sys
from typing import Any

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
    return text


def _row_text(row: Any) -> str:
    text = f"train loss {fmt(row.train_loss, 3)} acc {fmt(row.train_acc, 4)}"
    if row.test_acc is not None:
        text += f" | test loss {fmt(row.test_loss, 3)} acc {fmt(row.test_acc, 4)}"
    return text + f" | norm {fmt(row.param_norm, 4)}"
