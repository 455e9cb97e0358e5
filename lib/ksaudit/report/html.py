"""Small, escaping HTML builders shared by the report views and the error page.

Every piece of text that came from evidence (DNS names, log lines, file names)
passes through `esc`; nothing here emits script or external links.  The only style
is the report stylesheet itself, scoped to the view (`view_css`), so a view looks
the same in JupyterLab as in the rendered report.
"""

import functools
import html
import re
from urllib.parse import quote

MAX_CELL_CHARS = 2000  # a 100 kB log line is cut, with a note, instead of flooding the page
VIEW_CLASS = "ks-view"
# Page-level rules of the report stylesheet that a view inside JupyterLab must not
# apply to the page around it (JupyterLab's own layout, cells and prompts).
_PAGE_SELECTORS = ("html", "main", "*", "a.anchor-link")


class Html(str):
    """A fragment of trusted HTML; displays as HTML in a notebook.

    Displayed (``_repr_html_``) it is wrapped in ``<div class="ks-view">`` with the
    report stylesheet scoped to that div, because JupyterLab shows outputs without the
    report template's stylesheet.  ``str()`` is the bare fragment, for composing.
    """

    def _repr_html_(self):
        return f'<div class="{VIEW_CLASS}"><style>{view_css()}</style>{self}</div>'

    def __repr__(self):
        return f"<ksaudit HTML fragment, {len(self)} chars>"


def esc(value, limit=MAX_CELL_CHARS):
    """Escape `value` (any object; None -> "") for HTML text or attribute, cutting very long text."""
    text = "" if value is None else str(value)
    if limit and len(text) > limit:
        text = f"{text[:limit]} … [{len(text) - limit} more characters]"
    return html.escape(text, quote=True)


def href(name):
    """A relative link target for a file name (percent-encoded, never a scheme)."""
    return html.escape(quote(str(name), safe=""), quote=True)


def num(value, digits=0):
    """Format a number with thousands separators; None -> an en dash."""
    if value is None:
        return "–"
    if isinstance(value, float) and digits:
        return f"{value:,.{digits}f}"
    try:
        return f"{int(value):,}"
    except (TypeError, ValueError):
        return esc(value)


def table(columns, rows, numeric=(), row_classes=None, empty="none"):
    """An HTML table; every cell escaped unless it is already an `Html` fragment.

    Parameters
    ----------
    columns : list of str
        Header texts.
    rows : iterable of sequences
        Cell values, one sequence per row, in column order.
    numeric : iterable of str
        Columns to right-align.
    row_classes : list of str, optional
        A CSS class per row (e.g. "ks-leak").
    empty : str
        Text shown instead of a table when there are no rows.

    Returns
    -------
    Html
    """
    rows = list(rows)
    if not rows:
        return Html(f'<p class="ks-note">{esc(empty)}</p>')
    numeric = set(numeric)
    kinds = ["num" if c in numeric else "" for c in columns]
    head = "".join(f'<th class="{k}">{esc(c)}</th>' if k else f"<th>{esc(c)}</th>"
                   for c, k in zip(columns, kinds))
    body = []
    for i, row in enumerate(rows):
        cls = row_classes[i] if row_classes else ""
        cells = "".join(
            (f'<td class="{k}">' if k else "<td>") + (v if isinstance(v, Html) else esc(v)) + "</td>"
            for v, k in zip(row, kinds))
        body.append(f'<tr class="{esc(cls)}">{cells}</tr>' if cls else f"<tr>{cells}</tr>")
    return Html(f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>")


def facts(pairs):
    """A definition list of (label, value) pairs, values escaped unless `Html`."""
    items = "".join(f"<dt>{esc(k)}</dt><dd>{v if isinstance(v, Html) else esc(v)}</dd>"
                    for k, v in pairs)
    return Html(f'<dl class="ks-facts">{items}</dl>')


def chip(verdict):
    """A small coloured verdict label."""
    word = esc(verdict)
    return Html(f'<span class="ks-chip ks-{word}">{word}</span>')


@functools.cache
def view_css():
    """The report stylesheet (templates/ksaudit/static/ksaudit.css) scoped to `.ks-view`.

    Every selector gets the ``.ks-view`` prefix (``:root`` and ``body`` become the view
    itself); page-level rules and print rules are left out.  Derived from the one
    stylesheet, so the report and the notebook outputs cannot drift apart.
    """
    from ksaudit.report.resources import CSS_PATH

    text = re.sub(r"/\*.*?\*/", "", CSS_PATH.read_text(encoding="utf-8"), flags=re.S)
    text = re.sub(r"@media[^{]*\{(?:[^{}]*\{[^{}]*\})*[^{}]*\}", "", text)
    rules = []
    for selectors, body in re.findall(r"([^{}]+)\{([^{}]*)\}", text):
        scoped = [_scope(sel.strip()) for sel in selectors.split(",")]
        scoped = [sel for sel in scoped if sel]
        if scoped:
            rules.append(f"{', '.join(scoped)} {{ {' '.join(body.split())} }}")
    return "\n".join(rules)


def _scope(selector):
    if selector in (":root", "body"):
        return f".{VIEW_CLASS}"
    if selector in _PAGE_SELECTORS or selector.startswith(".jp-"):
        return ""
    return f".{VIEW_CLASS} {selector}"
