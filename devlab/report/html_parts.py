"""HTML building blocks shared by the report sections: provenance badges, number cells, tables."""

from __future__ import annotations

from html import escape


def src(source: str | None) -> str:
    """The provenance badge shown next to every number."""
    label = source or "unknown"
    return f'<span class="src {escape(label)}" title="source of this number">{escape(label)}</span>'


def num(value: float | int | None, digits: int = 3, unit: str = "") -> str:
    if value is None:
        return '<td class="num" data-v="">-</td>'
    text = f"{value:.{digits}f}" if isinstance(value, float) else str(value)
    return f'<td class="num" data-v="{value}">{text}{escape(unit)}</td>'


def table(headers: list[str], rows: list[str], *, sortable: bool = True, cls: str = "") -> str:
    head = "".join(f'<th class="{"sortable" if sortable else ""}">{escape(h)}</th>' for h in headers)
    return (f'<table class="{cls}"><thead><tr>{head}</tr></thead><tbody>{"".join(rows)}</tbody></table>'
            if rows else "")
