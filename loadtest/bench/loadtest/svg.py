"""Tiny dependency-free SVG line charts for the load-test report. Each axis fits its data: the
range of the values with a little headroom (from zero for counts and rates, and whenever the data
come near zero), ticks at 1/2/2.5/5 × 10ⁿ steps, and the unit on the axis; milliseconds above 10 s
are shown in seconds."""

import math
from html import escape

COLORS = {"routeq": "#1f77b4", "direct": "#ff7f0e"}


def nice_step(span, ticks):
    """The 1/2/2.5/5 × 10ⁿ step that divides `span` into the number of intervals nearest (by ratio)
    to `ticks`."""
    raw = span / max(1, ticks)
    if raw <= 0 or not math.isfinite(raw):
        return 1.0
    mag = 10 ** math.floor(math.log10(raw))
    steps = [m * mag for m in (1, 2, 2.5, 5, 10)]
    return min(steps, key=lambda st: abs(math.log(span / st / ticks)))


def axis(lo, hi, ticks=5, headroom=0.06, zero=True):
    """(low, high, [tick values]) of an axis for data in [lo, hi]. It starts at zero when `zero` is
    set or the data come near zero (below a quarter of their maximum); otherwise just below the
    data. The ends sit `headroom` of the span beyond the data; ticks are multiples of a nice step
    inside that range."""
    if lo > hi:
        lo, hi = hi, lo
    from_zero = lo >= 0 and (zero or lo <= hi / 4)
    base = 0.0 if from_zero else lo
    span = hi - base
    if span <= 0:  # flat data: a window of its own size (or 1) around it
        span = abs(hi) or 1.0
        headroom = 1.0 if from_zero else 0.5
    hi_axis = hi + span * headroom
    lo_axis = 0.0 if from_zero else lo - span * headroom
    if lo >= 0:
        lo_axis = max(0.0, lo_axis)
    step = nice_step(hi_axis - lo_axis, ticks)
    first = math.ceil(lo_axis / step - 1e-9) * step
    vals, k = [], 0
    while first + k * step <= hi_axis + 1e-9 * step:
        vals.append(first + k * step)
        k += 1
    return lo_axis, hi_axis, vals


def label(v, step):
    """A tick label with as many decimals as the step needs."""
    d = next((d for d in range(7) if abs(round(step, d) - step) <= step * 1e-6), 6)
    return f"{v:.{d}f}"


def _scaled(panel):
    """Panels in ms whose values pass 10 s are drawn in s (their reference line too)."""
    ys = [y for _, _, _, pts in panel["series"] for _, y in pts if y is not None]
    line = panel.get("line")
    if panel["unit"] == "ms" and ys and max(ys) > 10000:
        series = [(lbl, c, d, [(x, None if y is None else y / 1000) for x, y in pts]) for lbl, c, d, pts in panel["series"]]
        return "s", series, (line[0], line[1] / 1000, line[2]) if line else None
    return panel["unit"], panel["series"], line


def chart(panels, title, width=940, panel_h=190, x_unit="s", x_title="time since the run started"):
    """panels: list of dicts {title, unit, series: [(label, color, dash, [(x, y), ...])], zero?,
    line?: (label, y, color)}. All panels share one x axis (the longest series); each has its own y
    axis. A reference line (a threshold) is drawn when it lies within 1.5 × the data's maximum
    (the axis then reaches it); beyond that the axis keeps fitting the data and the legend names
    the line's value instead."""
    left, right, top, gap = 75, 200, 40, 60
    h = top + len(panels) * (panel_h + gap) + 5
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{h}" '
        f'font-family="sans-serif" font-size="11">',
        f'<rect width="{width}" height="{h}" fill="white"/>',
        f'<text x="{left}" y="22" font-size="15" font-weight="bold">{escape(title)}</text>',
    ]
    xs = [x for p in panels for _, _, _, pts in p["series"] for x, y in pts if y is not None]
    x_lo, x_hi, x_ticks = axis(0.0, max(xs) if xs else 1.0, ticks=10, headroom=0.02, zero=True)
    x_step = x_ticks[1] - x_ticks[0] if len(x_ticks) > 1 else 1.0
    pw = width - left - right
    sx = lambda x: left + (x - x_lo) / (x_hi - x_lo) * pw  # noqa: E731
    for i, p in enumerate(panels):
        unit, series, line = _scaled(p)
        y0 = top + i * (panel_h + gap) + 15
        ys = [y for _, _, _, pts in series for _, y in pts if y is not None]
        zero = p.get("zero", unit not in ("ms", "s", "MB"))
        legend = [(name, color, dash) for name, color, dash, _ in series]
        draw_line = line is not None and (not ys or line[1] <= 1.5 * max(ys))
        if draw_line:
            ys.append(line[1])
        if line is not None:
            where = "" if draw_line else " (above)"
            legend.append((f"{line[0]} {round(line[1], 1):g} {unit}{where}", line[2], True))
        y_lo, y_hi, y_ticks = axis(min(ys) if ys else 0.0, max(ys) if ys else 1.0, ticks=5, zero=zero)
        y_step = y_ticks[1] - y_ticks[0] if len(y_ticks) > 1 else 1.0
        sy = lambda y: y0 + panel_h - (y - y_lo) / (y_hi - y_lo) * panel_h  # noqa: E731
        out.append(f'<text x="{left}" y="{y0 - 5}" font-weight="bold">{escape(p["title"])}</text>')
        out.append(f'<rect x="{left}" y="{y0}" width="{pw}" height="{panel_h}" fill="none" stroke="#999"/>')
        for v in y_ticks:
            yy = sy(v)
            out.append(f'<line x1="{left}" x2="{left + pw}" y1="{yy:.1f}" y2="{yy:.1f}" stroke="#eee"/>')
            out.append(f'<text x="{left - 5}" y="{yy + 4:.1f}" text-anchor="end">{label(v, y_step)}</text>')
        for v in x_ticks:
            xx = sx(v)
            out.append(f'<line x1="{xx:.1f}" x2="{xx:.1f}" y1="{y0 + panel_h}" y2="{y0 + panel_h + 4}" stroke="#999"/>')
            out.append(f'<text x="{xx:.1f}" y="{y0 + panel_h + 15}" text-anchor="middle">{label(v, x_step)}</text>')
        out.append(f'<text x="{left + pw}" y="{y0 + panel_h + 30}" text-anchor="end" fill="#555">'
                   f'{escape(x_title)}, {escape(x_unit)}</text>')
        cy = y0 + panel_h / 2
        out.append(f'<text x="{left - 50}" y="{cy}" transform="rotate(-90 {left - 50},{cy})" text-anchor="middle">'
                   f'{escape(unit)}</text>')
        for j, (name, color, dash) in enumerate(legend):
            ly = y0 + 12 + j * 15
            da = ' stroke-dasharray="5,3"' if dash else ""
            out.append(f'<line x1="{left + pw + 10}" x2="{left + pw + 30}" y1="{ly}" y2="{ly}" stroke="{color}" stroke-width="2"{da}/>')
            out.append(f'<text x="{left + pw + 35}" y="{ly + 4}">{escape(name)}</text>')
        for name, color, dash, pts in series:
            da = ' stroke-dasharray="5,3"' if dash else ""
            d = " ".join(f"{sx(x):.1f},{sy(y):.1f}" for x, y in pts if y is not None)
            if d:
                out.append(f'<polyline points="{d}" fill="none" stroke="{color}" stroke-width="1.6"{da}/>')
        if draw_line:
            yy = sy(line[1])
            out.append(f'<line x1="{left}" x2="{left + pw}" y1="{yy:.1f}" y2="{yy:.1f}" stroke="{line[2]}" '
                       f'stroke-width="1.2" stroke-dasharray="2,3"/>')
    out.append("</svg>")
    return "\n".join(out)
