"""Tiny dependency-free SVG line charts for the load-test report."""

from html import escape

COLORS = {"routeq": "#1f77b4", "direct": "#ff7f0e"}


def _nice(v):
    if v <= 0:
        return 1.0
    import math

    e = 10 ** math.floor(math.log10(v))
    for m in (1, 2, 2.5, 5, 10):
        if v <= m * e:
            return m * e
    return 10 * e


def chart(panels, title, width=900, panel_h=190):
    """panels: list of dicts {title, unit, series: [(label, color, dash, [(x, y), ...])]}."""
    left, right, top, gap = 70, 170, 40, 45
    h = top + len(panels) * (panel_h + gap)
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{h}" '
        f'font-family="sans-serif" font-size="11">',
        f'<rect width="{width}" height="{h}" fill="white"/>',
        f'<text x="{left}" y="22" font-size="15" font-weight="bold">{escape(title)}</text>',
    ]
    xmax = 1.0
    for p in panels:
        for _, _, _, pts in p["series"]:
            if pts:
                xmax = max(xmax, max(x for x, _ in pts))
    xmax = _nice(xmax)
    pw = width - left - right
    for i, p in enumerate(panels):
        y0 = top + i * (panel_h + gap) + 15
        ymax = 0.0
        for _, _, _, pts in p["series"]:
            for _, y in pts:
                ymax = max(ymax, y)
        ymax = _nice(ymax * 1.05 if ymax > 0 else 1)
        out.append(f'<text x="{left}" y="{y0 - 4}" font-weight="bold">{escape(p["title"])}</text>')
        out.append(f'<rect x="{left}" y="{y0}" width="{pw}" height="{panel_h}" fill="none" stroke="#999"/>')
        for k in range(6):
            yy = y0 + panel_h - k * panel_h / 5
            val = ymax * k / 5
            out.append(f'<line x1="{left}" x2="{left + pw}" y1="{yy:.1f}" y2="{yy:.1f}" stroke="#eee"/>')
            out.append(f'<text x="{left - 5}" y="{yy + 4:.1f}" text-anchor="end">{val:g}</text>')
        for k in range(11):
            xx = left + k * pw / 10
            out.append(f'<text x="{xx:.1f}" y="{y0 + panel_h + 13}" text-anchor="middle">{xmax * k / 10:g}</text>')
        out.append(f'<text x="{left - 55}" y="{y0 + panel_h / 2}" transform="rotate(-90 {left - 55},{y0 + panel_h / 2})" text-anchor="middle">{escape(p["unit"])}</text>')
        for j, (label, color, dash, pts) in enumerate(p["series"]):
            ly = y0 + 12 + j * 15
            da = ' stroke-dasharray="5,3"' if dash else ""
            out.append(f'<line x1="{left + pw + 10}" x2="{left + pw + 30}" y1="{ly}" y2="{ly}" stroke="{color}" stroke-width="2"{da}/>')
            out.append(f'<text x="{left + pw + 35}" y="{ly + 4}">{escape(label)}</text>')
            if not pts:
                continue
            d = " ".join(
                f"{left + x / xmax * pw:.1f},{y0 + panel_h - min(y, ymax) / ymax * panel_h:.1f}" for x, y in pts
            )
            out.append(f'<polyline points="{d}" fill="none" stroke="{color}" stroke-width="1.6"{da}/>')
    out.append(f'<text x="{left + pw / 2}" y="{h - 8}" text-anchor="middle">seconds since the run started</text>')
    out.append("</svg>")
    return "\n".join(out)
