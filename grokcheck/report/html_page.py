"""A report as one self-contained HTML page: inline CSS, figures as data URIs, no scripts.

The page loads nothing: its Content-Security-Policy allows only inline styles and ``data:``
images, so a browser opening it makes no network request. Every piece of text from the folder
goes through :func:`html.escape`.
"""

from __future__ import annotations

import base64
from collections.abc import Iterable
from html import escape

from grokcheck.report.content import Facts, FigureRef, Report, VerdictRow, details_text

#: in the ``<head>`` of every page this module writes: how a later run knows the file is a report
GENERATOR = '<meta name="generator" content="grokcheck report">'
PAPER = (
    "Varma, Shah, Kenton, Kramár and Kumar (2023), "
    "<cite>Explaining grokking through circuit efficiency</cite>, arXiv:2309.02390"
)

_CSS = """
:root { color-scheme: light; }
body { font: 15px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: #1d1f23;
  background: #fff; max-width: 1180px; margin: 0 auto; padding: 1.5rem 1.25rem 4rem; }
h1 { font-size: 1.6rem; margin: 0 0 .4rem; word-break: break-word; }
h2 { font-size: 1.3rem; margin: 2.2rem 0 .6rem; padding-bottom: .25rem; border-bottom: 2px solid #e3e5e8; }
h3 { font-size: 1.05rem; margin: 1.4rem 0 .4rem; }
.meta, .note, .file { color: #5b616b; font-size: .9rem; }
nav { margin: .8rem 0 0; font-size: .92rem; }
nav a { margin-right: 1rem; }
a { color: #1b5eb5; }
table { border-collapse: collapse; width: 100%; margin: .4rem 0 1rem; font-size: .92rem; }
th, td { border: 1px solid #d9dce1; padding: .35rem .55rem; text-align: left; vertical-align: top; }
thead th { background: #f3f4f6; }
table.facts th { width: 34%; font-weight: 600; background: #fafbfc; word-break: break-word; }
td.measured { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; font-size: .84rem;
  word-break: break-word; }
.badge { display: inline-block; min-width: 4.6em; padding: .05rem .45rem; border-radius: .3rem;
  font-weight: 700; font-size: .82rem; text-align: center; letter-spacing: .02em; white-space: nowrap; }
.s-pass { background: #d8f3de; color: #0f5323; border: 1px solid #8fd19e; }
.s-fail, .s-broken { background: #fbdada; color: #8a1111; border: 1px solid #eb9b9b; }
.s-not_run, .s-incomplete { background: #fff1c7; color: #6b4c00; border: 1px solid #e7c860; }
.s-none { background: #eceef1; color: #3c4048; border: 1px solid #c8ccd2; }
.overall { font-size: 1.05rem; margin: .3rem 0; }
.overall .badge { font-size: 1rem; }
article.verdict { border: 1px solid #e3e5e8; border-radius: .4rem; padding: .2rem 1rem .7rem;
  margin: .9rem 0; }
blockquote { margin: .5rem 0; padding: .3rem .9rem; border-left: 4px solid #9db7dc; background: #f5f8fc;
  font-style: italic; }
blockquote .where { font-style: normal; color: #5b616b; font-size: .88rem; }
dl { display: grid; grid-template-columns: max-content 1fr; gap: .25rem 1rem; margin: .5rem 0; }
dt { font-weight: 600; color: #3c4048; }
dd { margin: 0; word-break: break-word; }
details summary { cursor: pointer; color: #1b5eb5; }
pre { background: #f6f7f9; border: 1px solid #e3e5e8; padding: .6rem; overflow-x: auto; font-size: .8rem;
  max-height: 28rem; }
figure { margin: 1.2rem 0 1.8rem; }
figure img { display: block; max-width: 100%; height: auto; border: 1px solid #e3e5e8; }
figcaption { margin-top: .4rem; font-size: .92rem; }
ul.notes li { margin: .2rem 0; }
footer.page { margin-top: 3rem; color: #5b616b; font-size: .85rem; border-top: 1px solid #e3e5e8;
  padding-top: .6rem; }
@media print { nav, details summary { display: none; } article.verdict, figure { break-inside: avoid; } }
"""


def render_html(report: Report) -> str:
    """The whole page for ``report`` (UTF-8 text)."""
    e = escape
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en">',
        "<head>",
        '<meta charset="utf-8">',
        GENERATOR,
        '<meta http-equiv="Content-Security-Policy" '
        "content=\"default-src 'none'; img-src data:; style-src 'unsafe-inline'\">",
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{e(report.title)}</title>",
        f"<style>{_CSS}</style>",
        "</head>",
        "<body>",
        *_header(report),
        *_notes(report.notes),
        *_summary(report),
        *_articles(report.verdicts),
        *_figures(report.figures),
        *_facts(report.facts),
        '<footer class="page">Written by <code>grokcheck report</code> '
        f"{e(report.version)}. The page is self-contained: no scripts, no external resources.</footer>",
        "</body>",
        "</html>",
    ]
    return "\n".join(parts) + "\n"


def _badge(status: str, label: str) -> str:
    cls = status if status in ("pass", "fail", "broken", "not_run", "incomplete") else "none"
    return f'<span class="badge s-{cls}">{escape(label)}</span>'


def _header(report: Report) -> list[str]:
    sections = [("verdicts", "Verdicts"), ("figures", "Figures"), ("facts", "Configuration and software")]
    if report.notes:
        sections.insert(0, ("notes", "Notes"))
    nav = " ".join(f'<a href="#{i}">{t}</a>' for i, t in sections)
    return [
        "<header>",
        f"<h1>{escape(report.title)}</h1>",
        f'<p class="overall">Overall: {_badge(report.status, report.overall_label)} '
        f"{escape(report.tally())}</p>",
        f"<p>Checks the claims of {PAPER}.</p>",
        f'<p class="meta">Folder <code>{escape(str(report.root))}</code> ({escape(report.kind)}); '
        f"built {escape(report.generated)} by grokcheck {escape(report.version)}.</p>",
        f"<nav>{nav}</nav>",
        "</header>",
    ]


def _notes(notes: Iterable[str]) -> list[str]:
    items = [f"<li>{escape(n)}</li>" for n in notes]
    if not items:
        return []
    return ['<section id="notes"><h2>Notes</h2><ul class="notes">', *items, "</ul></section>"]


def _summary(report: Report) -> list[str]:
    out = ['<section id="verdicts"><h2>Verdicts</h2>']
    if not report.verdicts:
        out.append('<p class="note">This folder has no verdicts.</p>')
    groups = list(dict.fromkeys(v.group for v in report.verdicts))
    for group in groups:
        if len(groups) > 1 or group:
            out.append(f"<h3>{escape(group or 'Verdicts')}</h3>")
        out += [
            "<table><thead><tr><th>Verdict</th><th>Status</th><th>In the paper</th>"
            "<th>Measured</th></tr></thead><tbody>"
        ]
        for i, v in enumerate(report.verdicts):
            if v.group != group:
                continue
            name = escape(v.name)
            cell = f'<a href="#v{i}">{name}</a>' if v.detailed else name
            out.append(
                f"<tr><td>{cell}</td><td>{_badge(v.status, v.label)}</td><td>{escape(v.source)}</td>"
                f'<td class="measured">{escape(v.measured)}</td></tr>'
            )
        out.append("</tbody></table>")
    out.append("</section>")
    return out


def _articles(rows: tuple[VerdictRow, ...]) -> list[str]:
    if not any(v.detailed for v in rows):
        return []
    out = ['<section id="details"><h2>The verdicts in detail</h2>']
    for i, v in enumerate(rows):
        if not v.detailed:
            continue
        out.append(
            f'<article class="verdict" id="v{i}"><h3>{escape(v.name)} {_badge(v.status, v.label)}</h3>'
        )
        for q in v.quotes:
            out.append(
                f'<blockquote><p>“{escape(q.text)}”</p><p class="where">{escape(q.where)}</p></blockquote>'
            )
        out.append("<dl>")
        for term, value in v.terms:
            out.append(f"<dt>{term}</dt><dd>{escape(value)}</dd>")
        out.append("</dl>")
        if v.details:
            numbers = escape(details_text(v.details))
            out.append(f"<details><summary>All numbers</summary><pre>{numbers}</pre></details>")
        out.append("</article>")
    out.append("</section>")
    return out


def data_uri(fig: FigureRef) -> str:
    """The PNG at ``fig.path`` as a ``data:image/png;base64,...`` URI."""
    return "data:image/png;base64," + base64.b64encode(fig.path.read_bytes()).decode("ascii")


def _figures(figs: tuple[FigureRef, ...]) -> list[str]:
    out = ['<section id="figures"><h2>Figures</h2>']
    if not figs:
        out.append('<p class="note">This folder has no figures.</p>')
    for f in figs:
        where = f" ({f.group})" if f.group else ""
        out.append(
            f'<figure><img src="{data_uri(f)}" alt="{escape(f.alt, quote=True)}">'
            f"<figcaption><strong>{escape(f.title)}</strong>{escape(where)}: {escape(f.caption)}. "
            f'<span class="file">{escape(f.group + "/" if f.group else "")}{escape(f.path.name)}</span>'
            "</figcaption></figure>"
        )
    out.append("</section>")
    return out


def _facts(facts: tuple[Facts, ...]) -> list[str]:
    out = ['<section id="facts"><h2>Configuration and software</h2>']
    for f in facts:
        out.append(f"<h3>{escape(f.title)}</h3>")
        if f.note:
            out.append(f'<p class="note">{escape(f.note)}.</p>')
        if f.rows:
            out.append('<table class="facts"><tbody>')
            out += [f'<tr><th scope="row">{escape(k)}</th><td>{escape(v)}</td></tr>' for k, v in f.rows]
            out.append("</tbody></table>")
    out.append("</section>")
    return out
