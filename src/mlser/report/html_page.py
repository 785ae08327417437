"""A self-contained HTML page from the small Markdown subset our tables are written in
(headings, paragraphs, pipe tables, **bold**, *italic*), so that the Snakemake report,
which shows HTML inline, shows the same tables as the .md files."""

from __future__ import annotations

import html
import re

STYLE = (
    "<style>body{font-family:sans-serif;font-size:13px;margin:12px}"
    "table{border-collapse:collapse;margin-bottom:12px}"
    "th,td{padding:2px 8px;border-bottom:1px solid #ddd;vertical-align:top}"
    "th{border-bottom:2px solid #444}td.r,th.r{text-align:right}"
    "h2,h3{margin:14px 0 6px}p{max-width:70em}</style>"
)


def _inline(text: str) -> str:
    text = html.escape(text.replace("\\|", "|"))
    text = re.sub(r"\*\*(.+?)\*\*", r"<b>\1</b>", text)
    return re.sub(r"(?<![\w*])\*(\S(?:.*?\S)?)\*(?![\w*])", r"<i>\1</i>", text)


def _cells(line: str) -> list[str]:
    # split on pipes that are not escaped
    parts = re.split(r"(?<!\\)\|", line.strip())
    return [p.strip() for p in parts[1:-1]]


def markdown_page(markdown: str, title: str) -> str:
    """``markdown`` (headings, paragraphs, pipe tables) as one HTML page."""
    out = [
        "<!DOCTYPE html><html><head><meta charset='utf-8'>",
        f"<title>{html.escape(title)}</title>{STYLE}</head><body>",
    ]
    lines = markdown.splitlines()
    i = 0
    while i < len(lines):
        line = lines[i]
        if line.startswith("#"):
            level = min(len(line) - len(line.lstrip("#")), 6)
            out.append(f"<h{level}>{_inline(line.lstrip('#').strip())}</h{level}>")
        elif line.startswith("|"):
            head = _cells(line)
            aligns = [c.endswith(":") for c in _cells(lines[i + 1])] if i + 1 < len(lines) else []
            i += 2
            out.append("<table><thead><tr>")
            out += [
                f"<th{' class=r' if a else ''}>{_inline(h)}</th>"
                for h, a in zip(head, aligns, strict=False)
            ]
            out.append("</tr></thead><tbody>")
            while i < len(lines) and lines[i].startswith("|"):
                cells = _cells(lines[i])
                out.append(
                    "<tr>"
                    + "".join(
                        f"<td{' class=r' if a else ''}>{_inline(c)}</td>"
                        for c, a in zip(cells, aligns, strict=False)
                    )
                    + "</tr>"
                )
                i += 1
            out.append("</tbody></table>")
            continue
        elif line.strip():
            out.append(f"<p>{_inline(line)}</p>")
        i += 1
    out += ["</body></html>", ""]
    return "\n".join(out)
