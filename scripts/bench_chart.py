#!/usr/bin/env python3
"""The side-by-side ratios of a `make bench` load run, as a table and an SVG chart.

    scripts/bench_chart.py [target/bench-load.csv] [docs/bench-ratios.svg]
    scripts/bench_chart.py --size [target/bench-size.csv] [docs/bench-size.svg]

Reads every run of the load bench (the CSV it writes beside its report: label, pipeline, ops,
secs, rps, p50_ms, p99_ms, server_us_per_op) and the report itself (target/bench-load.md, for
the wake-up latency, the making-room flow and the memory tables), takes medians, and computes
each target of issues 13, 14 and 15 as a ratio against its anchor measured in the same run.
Prints the targets as a markdown table and draws them as horizontal bars on a log scale, each
with its goal, to the SVG. With --size, draws the cost-against-size run of `cargo bench --bench
size` instead: memory per alert, one read's and one write's server time, against the number of
alerts, for each layout (three log-log panels). Standard library only.
"""

import csv
import math
import re
import statistics
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def medians(csv_path):
    """(label, pipeline) -> median server µs/op, median ops/s; probes left out."""
    runs = {}
    with open(csv_path, newline="") as f:
        for row in csv.DictReader(f):
            if "(probe)" in row["label"]:
                continue
            key = (row["label"], int(row["pipeline"]))
            runs.setdefault(key, []).append(
                (float(row["server_us_per_op"]), float(row["rps"]))
            )
    return {
        k: (statistics.median(v[0] for v in vs), statistics.median(v[1] for v in vs))
        for k, vs in runs.items()
    }


def table_rows(md, header_start):
    """The rows (lists of cells) of the markdown table whose header starts with `header_start`."""
    lines = md.splitlines()
    for i, line in enumerate(lines):
        if line.startswith(header_start):
            rows = []
            for l in lines[i + 2 :]:
                if not l.startswith("|"):
                    break
                rows.append([c.strip() for c in l.strip().strip("|").split("|")])
            return rows
    return []


def num(cell):
    m = re.search(r"[-\d.]+", cell.replace(",", ""))
    return float(m.group()) if m else float("nan")


def rate(cell):
    """An ops/s cell of the flow table: 9.3k, 479, 1.2M."""
    v = num(cell)
    if cell.endswith("k"):
        v *= 1e3
    elif cell.endswith("M"):
        v *= 1e6
    return v


def targets(med, md):
    """(issue, target, ratio, goal, higher_is_better, how) for every target found."""
    out = []

    def us(label, p=16):
        return med.get((label, p), (float("nan"), 0))[0]

    def add(issue, name, ratio, goal, higher, how):
        if not math.isnan(ratio):
            out.append((issue, name, ratio, goal, higher, how))

    add(15, "ALERT.ADD / XADD, server µs", us("ALERT.ADD new Native") / us("XADD 300 B MAXLEN ~ 10000 Native"),
        1.2, False, "P=16")
    add(15, "Lua / ALERT.ADD, server µs", us("ALERT.ADD new Lua") / us("ALERT.ADD new Native"), 15, True, "P=16")
    add(15, "Lua / LRU.EVICT (10 keys), server µs",
        us("LRU.EVICT 10 keys (with QUOTA) Lua") / us("LRU.EVICT 10 keys (with QUOTA) Native"), 4, True, "P=16")
    add(15, "Lua / ALERT.RANGE 100 high of 100k, server µs",
        us("ALERT.RANGE 100 newest high of 100k Lua") / us("ALERT.RANGE 100 newest high of 100k Native"),
        30, True, "P=16")
    add(15, "QUOTA.INCR / INCRBYFLOAT, server µs", us("QUOTA.INCR Native") / us("INCRBYFLOAT Native"),
        1.0, False, "P=16")
    add(15, "LRU.TOUCH / ZADD, server µs", us("LRU.TOUCH (100k tracked) Native") / us("ZADD (100k members) Native"),
        1.0, False, "P=16")
    add(15, "RANGE COUNT 10 SOURCE 0.1% / unfiltered, of 1M",
        us("ALERT.RANGE COUNT 10 SOURCE 0.1% of 1M Native") / us("ALERT.RANGE COUNT 10 unfiltered of 1M Native"),
        3, False, "P=16")
    mem = {r[0]: num(r[1]) for r in table_rows(md, "| layout |")}
    if "native ALERT.ADD (dedup on)" in mem and "XADD (one field)" in mem:
        add(15, "memory per alert / XADD's", mem["native ALERT.ADD (dedup on)"] / mem["XADD (one field)"],
            1.0, False, "303-byte documents")
    add(13, "ALERT.READ 100 / ALERT.RANGE 100, of 100k",
        us("ALERT.READ 100 changes of 100k Native") / us("ALERT.RANGE 100 newest of 100k Native"),
        1.0, False, "P=16")
    wake = {r[0]: (num(r[1]), num(r[2])) for r in table_rows(md, "| path | p50 ms |")}
    if "ALERT.ADD -> ALERT.READ BLOCK" in wake and "XADD -> XREAD BLOCK" in wake:
        a, x = wake["ALERT.ADD -> ALERT.READ BLOCK"], wake["XADD -> XREAD BLOCK"]
        add(13, "wake-up p50 / XADD->XREAD's", a[0] / x[0], 1.0, False, f"{a[0]:.3} vs {x[0]:.3} ms")
        add(13, "wake-up p99 / XADD->XREAD's", a[1] / x[1], 1.0, False, f"{a[1]:.3} vs {x[1]:.3} ms")
    flow = table_rows(md, "| tracked entries | impl |")
    native = [r for r in flow if r[0] == "16 B" and r[1].startswith("QUOTA.INCR")]
    loop = [r for r in flow if r[0] == "16 B" and r[1].startswith("seeds")]
    if native and loop:
        add(14, "making room: EVICT / seeds' loop, ops/s", rate(native[0][2]) / rate(loop[0][2]), 10, True,
            "16-byte entries, P=1")
        add(14, "making room: EVICT p99 / 1 ms", num(native[0][4]) / 1.0, 1.0, False, f"{native[0][4]} ms")
    return out


def met(t):
    _, _, ratio, goal, higher, _ = t
    return ratio >= goal if higher else ratio <= goal


def markdown(ts):
    lines = ["| issue | target | measured | goal | |", "|---|---|---:|---:|---|"]
    for t in ts:
        issue, name, ratio, goal, higher, how = t
        sign = "≥" if higher else "≤"
        lines.append(
            f"| {issue} | {name} ({how}) | {ratio:.2f}× | {sign} {goal:g}× | {'met' if met(t) else 'not met'} |"
        )
    return "\n".join(lines)


def svg(ts, title):
    width, left, right, row, top = 880, 330, 40, 26, 56
    height = top + row * len(ts) + 44
    lo, hi = 0.1, 100.0
    span = width - left - right

    def x(v):
        v = min(max(v, lo), hi)
        return left + span * (math.log10(v) - math.log10(lo)) / (math.log10(hi) - math.log10(lo))

    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'font-family="sans-serif" font-size="12">',
        f'<rect width="{width}" height="{height}" fill="white"/>',
        f'<text x="{width / 2}" y="22" text-anchor="middle" font-size="14" font-weight="bold">{title}</text>',
        f'<text x="{width / 2}" y="40" text-anchor="middle" fill="#555">ratio against its anchor, same run '
        "(log scale); black tick: the goal; green: met, orange: not met</text>",
    ]
    for v in (0.1, 0.3, 1, 3, 10, 30, 100):
        out.append(
            f'<line x1="{x(v):.1f}" y1="{top - 6}" x2="{x(v):.1f}" y2="{top + row * len(ts)}" '
            f'stroke="#ddd"/><text x="{x(v):.1f}" y="{top + row * len(ts) + 16}" '
            f'text-anchor="middle" fill="#555">{v:g}×</text>'
        )
    for i, t in enumerate(ts):
        issue, name, ratio, goal, higher, _ = t
        y = top + i * row
        color = "#3a9d5d" if met(t) else "#e08a2e"
        x0, x1 = x(1.0), x(ratio)
        out.append(
            f'<text x="{left - 8}" y="{y + 15}" text-anchor="end">#{issue} {name}</text>'
            f'<rect x="{min(x0, x1):.1f}" y="{y + 4}" width="{max(abs(x1 - x0), 1):.1f}" height="{row - 10}" '
            f'fill="{color}"/>'
            f'<line x1="{x(goal):.1f}" y1="{y + 1}" x2="{x(goal):.1f}" y2="{y + row - 3}" stroke="black" '
            f'stroke-width="2"/>'
            f'<text x="{max(x0, x1) + 4:.1f}" y="{y + 15}" fill="#222">{ratio:.2f}×</text>'
        )
    out.append("</svg>")
    return "\n".join(out) + "\n"


SIZE_COLORS = {"native": "#2a7ab9", "Lua ZSET+HASH": "#e08a2e", "XADD": "#777777"}


def size_svg(rows):
    """Three log-log panels (bytes per alert, read µs, write µs) against the alerts held."""
    metrics = [
        ("bytes_per_alert", "memory per alert (bytes)"),
        ("read_us", "read: newest 100 high (server µs)"),
        ("write_us", "write: one alert (server µs)"),
    ]
    layouts = [l for l in SIZE_COLORS if any(r["layout"] == l for r in rows)]
    sizes = sorted({int(r["alerts"]) for r in rows})
    pw, ph, pad, top = 300, 240, 60, 70
    width, height = pad + len(metrics) * (pw + pad), top + ph + 70

    def lx(n, x0):
        lo, hi = math.log10(sizes[0]), math.log10(sizes[-1])
        return x0 + (pw * (math.log10(n) - lo) / (hi - lo) if hi > lo else pw / 2)

    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'font-family="sans-serif" font-size="12">',
        f'<rect width="{width}" height="{height}" fill="white"/>',
        f'<text x="{width / 2}" y="22" text-anchor="middle" font-size="14" font-weight="bold">'
        "Vigil: cost against size (cargo bench --bench size)</text>",
    ]
    for k, layout in enumerate(layouts):
        x = pad + k * 170
        out.append(
            f'<rect x="{x}" y="34" width="14" height="4" fill="{SIZE_COLORS[layout]}"/>'
            f'<text x="{x + 20}" y="40">{layout}</text>'
        )
    for m, (key, label) in enumerate(metrics):
        x0 = pad + m * (pw + pad)
        vals = [float(r[key]) for r in rows if float(r[key]) > 0]
        lo = 10 ** math.floor(math.log10(min(vals)))
        hi = 10 ** math.ceil(math.log10(max(vals)))

        def ly(v):
            return top + ph - ph * (math.log10(max(v, lo)) - math.log10(lo)) / (
                math.log10(hi) - math.log10(lo)
            )

        out.append(
            f'<text x="{x0 + pw / 2}" y="{top - 10}" text-anchor="middle">{label}</text>'
            f'<rect x="{x0}" y="{top}" width="{pw}" height="{ph}" fill="none" stroke="#bbb"/>'
        )
        d = lo
        while d <= hi * 1.0001:
            out.append(
                f'<line x1="{x0}" y1="{ly(d):.1f}" x2="{x0 + pw}" y2="{ly(d):.1f}" stroke="#eee"/>'
                f'<text x="{x0 - 4}" y="{ly(d) + 4:.1f}" text-anchor="end" fill="#555">{d:g}</text>'
            )
            d *= 10
        for n in sizes:
            out.append(
                f'<text x="{lx(n, x0):.1f}" y="{top + ph + 16}" text-anchor="middle" fill="#555">'
                f"{n:,}</text>"
            )
        for layout in layouts:
            pts = sorted(
                (int(r["alerts"]), float(r[key])) for r in rows if r["layout"] == layout
            )
            path = " ".join(f"{lx(n, x0):.1f},{ly(v):.1f}" for n, v in pts)
            color = SIZE_COLORS[layout]
            out.append(f'<polyline points="{path}" fill="none" stroke="{color}" stroke-width="2"/>')
            for n, v in pts:
                out.append(f'<circle cx="{lx(n, x0):.1f}" cy="{ly(v):.1f}" r="3" fill="{color}"/>')
        out.append(
            f'<text x="{x0 + pw / 2}" y="{top + ph + 36}" text-anchor="middle" fill="#555">'
            "alerts in the stream</text>"
        )
    out.append("</svg>")
    return "\n".join(out) + "\n"


def size_main(args):
    csv_path = Path(args[0]) if args else ROOT / "target/bench-size.csv"
    svg_path = Path(args[1]) if len(args) > 1 else ROOT / "docs/bench-size.svg"
    with open(csv_path, newline="") as f:
        rows = list(csv.DictReader(f))
    print("| alerts | layout | bytes / alert | read µs | write µs |")
    print("|---:|---|---:|---:|---:|")
    for r in rows:
        print(
            f"| {int(r['alerts']):,} | {r['layout']} | {float(r['bytes_per_alert']):.0f} | "
            f"{float(r['read_us']):.1f} | {float(r['write_us']):.1f} |"
        )
    svg_path.write_text(size_svg(rows))
    print(f"\nchart: {svg_path}", file=sys.stderr)


def main():
    if sys.argv[1:2] == ["--size"]:
        size_main(sys.argv[2:])
        return
    csv_path = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "target/bench-load.csv"
    svg_path = Path(sys.argv[2]) if len(sys.argv) > 2 else ROOT / "docs/bench-ratios.svg"
    md_path = csv_path.with_suffix(".md")
    md = md_path.read_text() if md_path.exists() else ""
    ts = targets(medians(csv_path), md)
    print(markdown(ts))
    date = re.search(r"- date: (.*)", md)
    title = "Vigil: each target against its anchor" + (f" ({date.group(1)})" if date else "")
    svg_path.write_text(svg(ts, title))
    print(f"\nchart: {svg_path}", file=sys.stderr)


if __name__ == "__main__":
    main()
