"""Reading a report back with the standard library only: HTML via html.parser, Markdown by lines,
and folders built from the pieces grokcheck writes (no training)."""

from __future__ import annotations

import json
import re
import struct
import zlib
from html.parser import HTMLParser
from pathlib import Path

LABEL = {"pass": "PASS", "fail": "FAIL", "not_run": "NOT RUN"}
#: elements that load or run something; a self-contained page has none
ACTIVE = {
    "script",
    "link",
    "iframe",
    "object",
    "embed",
    "base",
    "frame",
    "applet",
    "audio",
    "video",
    "source",
}


class Page(HTMLParser):
    """Every element with its attributes, the text of each table row, and the section it is in."""

    def __init__(self, text: str) -> None:
        super().__init__(convert_charrefs=True)
        self.elements: list[tuple[str, dict[str, str | None]]] = []
        self.rows: list[tuple[str, list[str]]] = []  # (section id, cell texts)
        self.text: list[str] = []
        self._section = ""
        self._cells: list[str] | None = None
        self._cell: list[str] | None = None
        self.feed(text)
        self.close()

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        self.elements.append((tag, a))
        if tag == "section":
            self._section = a.get("id") or ""
        elif tag == "tr":
            self._cells = []
        elif tag in ("td", "th") and self._cells is not None:
            self._cell = []

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self._cell is not None and self._cells is not None:
            self._cells.append(" ".join("".join(self._cell).split()))
            self._cell = None
        elif tag == "tr" and self._cells is not None:
            self.rows.append((self._section, self._cells))
            self._cells = None

    def handle_data(self, data):
        self.text.append(data)
        if self._cell is not None:
            self._cell.append(data)

    def verdict_rows(self) -> list[tuple[str, str]]:
        """(name, status label) of every row of the verdict tables."""
        return [(c[0], c[1]) for s, c in self.rows if s == "verdicts" and len(c) == 4 and c[1] != "Status"]

    def images(self) -> list[dict[str, str | None]]:
        return [a for t, a in self.elements if t == "img"]

    def all_text(self) -> str:
        return "".join(self.text)


def outside_references(page: Page, raw: str) -> list[str]:
    """What in a page could load from outside it: active elements, event handlers, links or
    sources that are not ``data:`` or ``#fragment``, ``url(`` or ``@import`` in its CSS."""
    found = [f"<{t}>" for t, _ in page.elements if t in ACTIVE]
    for t, attrs in page.elements:
        for k, v in attrs.items():
            if k.startswith("on"):
                found.append(f"{t} {k}")
            if k in ("src", "href", "srcset", "poster", "data", "action", "formaction", "background"):
                if not (v or "").startswith(("data:", "#")):
                    found.append(f"{t} {k}={v}")
    found += [m for m in re.findall(r"url\(|@import|https?:|//[a-z0-9.-]+\.[a-z]{2,}/", raw, re.I)]
    return found


def _md_cells(line: str) -> list[str]:
    cells = re.split(r"(?<!\\)\|", line.strip())[1:-1]
    return [re.sub(r"\\(.)", r"\1", c.strip()) for c in cells]


def markdown_rows(text: str) -> list[tuple[str, str]]:
    """(name, status) of every row of the Markdown verdict tables (``## Verdicts`` section)."""
    section = text.split("\n## Verdicts\n", 1)[1].split("\n## ", 1)[0]
    out = []
    for line in section.splitlines():
        if not line.startswith("|") or line.startswith("| ---") or line.startswith("| Verdict |"):
            continue
        cells = _md_cells(line)
        out.append((cells[0], cells[1].strip("*")))
    return out


def markdown_images(text: str) -> list[tuple[str, str]]:
    """(alt, target) of every Markdown image."""
    return [(alt, t.strip("<>")) for alt, t in re.findall(r"!\[((?:\\.|[^\]])*)\]\(([^)]*)\)", text)]


def tiny_png(width: int = 2, height: int = 1) -> bytes:
    """A valid RGB PNG, built from the format's definition (signature, IHDR, IDAT, IEND)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    raw = b"".join(b"\x00" + b"\xff\x00\x00" * width for _ in range(height))
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")
    )


def train_folder(root: Path, *, png: bytes | None = None) -> Path:
    """A training-run folder as ``grokcheck train --out`` lays it out (config.json, summary.json,
    metrics.jsonl, curves.png), with made-up numbers."""
    root.mkdir(parents=True, exist_ok=True)
    config = {"lr": 0.001, "weight_decay": 1.0, "task": "add", "p": 23, "steps": 200, "seed": 0,
              "convergence": {"window": 2000, "norm_rtol": 0.001}}  # fmt: skip
    final = {"step": 200, "train_loss": 0.0018, "train_acc": 1.0, "test_loss": 21.0, "test_acc": 0.0486,
             "param_norm": 37.36}  # fmt: skip
    summary = {"task": "add", "p": 23, "train_size": 159, "test_size": 370, "steps": 200, "final": final,
               "step_train_100": 58, "step_test_95": None, "stopped": "steps", "wall_s": 16.991,
               "device": "cpu", "threads": 2, "converged": False}  # fmt: skip
    (root / "config.json").write_text(json.dumps(config))
    (root / "summary.json").write_text(json.dumps(summary))
    (root / "metrics.jsonl").write_text(
        "".join(json.dumps({**final, "step": s}) + "\n" for s in (0, 100, 200))
    )
    (root / "curves.png").write_bytes(png if png is not None else tiny_png())
    return root
