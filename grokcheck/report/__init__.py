"""``grokcheck report``: one self-contained page summarising a verification, an experiment or a run.

The page shows every verdict (the claim, its status, the paper's sentence it tests, the rule
and where its thresholds come from, the numbers behind it), the folder's figures, and the
configuration, grid, run counts, wall times and software versions. It is written as HTML
(inline CSS, figures embedded as ``data:`` URIs, no scripts, nothing loaded from a network)
and as Markdown (figures linked by relative path).

- :func:`build_report` reads a folder into a :class:`Report` (:mod:`.collect`);
- :func:`render_html` / :func:`render_markdown` turn it into text;
- :func:`write_report` writes the files, never over a file that is not a report it wrote
  (:mod:`.write`), and with ``verify=`` first records a verification's rows in ``verify.json``.
"""

from __future__ import annotations

from grokcheck.report.collect import build_report, folder_kind
from grokcheck.report.content import Report
from grokcheck.report.html_page import render_html
from grokcheck.report.markdown import render_markdown
from grokcheck.report.write import FORMATS, is_report, write_report, write_verify_record

__all__ = [
    "FORMATS",
    "Report",
    "build_report",
    "folder_kind",
    "is_report",
    "render_html",
    "render_markdown",
    "write_report",
    "write_verify_record",
]
