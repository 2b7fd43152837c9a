#!/usr/bin/env python3
"""Plots of a bench/run-compare.sh summary (matplotlib).

  plot.py OUT/summary.json [--format svg|png]

Writes, next to the summary:
  latency-percentiles-<subscribers>.<fmt>  latency distribution per server (median of each
                                           percentile over the runs), one file per room size
  memory-per-connection.<fmt>              server RSS per connection (per size when several)
  throughput-vs-subscribers.<fmt>          deliveries/s per server (when several sizes)
  p99-vs-subscribers.<fmt>                 p99 latency per server (when several sizes)
"""

import argparse
import json
import os
import textwrap

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.ticker import FixedLocator, FuncFormatter  # noqa: E402

COLORS = {"ivschat": "#d62728", "nats": "#1f77b4", "floor": "#7f7f7f", "centrifugo": "#2ca02c", "sockudo": "#9467bd"}
LABELS = {"ivschat": "ivschat-server", "nats": "NATS (WebSocket)", "floor": "floor (tokio+tungstenite)",
          "centrifugo": "Centrifugo", "sockudo": "Sockudo (Pusher)"}


def label(server):
    return LABELS.get(server, server)


def save(fig, out_dir, name, fmt):
    path = os.path.join(out_dir, f"{name}.{fmt}")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    print(f"wrote {path}")


def subtitle(summary):
    meta = summary.get("meta", {})
    load = textwrap.fill(f"{meta.get('scenario', '')}: {meta.get('load_flags', '')}", 100)
    return f"{load}\nmedians of {meta.get('runs', '?')} run(s); {meta.get('machine', '')}"


def percentile_plot(summary, results, n, out_dir, fmt):
    """HdrHistogram-style: x = 1/(1-q) on a log axis, so the tail gets room."""
    fig, ax = plt.subplots(figsize=(8, 5))
    ticks = [50.0, 90.0, 99.0, 99.9, 99.99, 99.999]
    top = 100.0 - 1e-4
    for r in results:
        # From the 10th percentile: the minimum says little and squashes the log scale.
        points = [(q, ms) for q, ms in r["median"].get("percentiles", []) if ms is not None and q >= 10.0]
        if not points:
            continue
        xs = [1.0 / (1.0 - min(q, top) / 100.0) for q, _ in points]
        ys = [ms for _, ms in points]
        ax.plot(xs, ys, marker="o", markersize=3, color=COLORS.get(r["server"]), label=label(r["server"]))
    ax.set_xscale("log")
    ax.xaxis.set_major_locator(FixedLocator([1.0 / (1.0 - t / 100.0) for t in ticks] + [1.0 / (1.0 - top / 100.0)]))
    ax.xaxis.set_major_formatter(
        FuncFormatter(lambda x, _: "max" if x > 5e5 else f"{100.0 * (1.0 - 1.0 / x):g}%")
    )
    ax.xaxis.set_minor_locator(FixedLocator([]))
    ax.set_yscale("log")
    ax.set_xlabel("percentile")
    ax.set_ylabel("send → receive latency (ms)")
    ax.set_title(f"Latency distribution, 1 room × {n:,} subscribers\n{subtitle(summary)}", fontsize=9)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    save(fig, out_dir, f"latency-percentiles-{n}", fmt)


def by_server(results, key):
    series = {}
    for r in results:
        value = r["median"].get(key)
        if value is not None:
            series.setdefault(r["server"], []).append((r["subscribers"], value, r["clean"]))
    return series


def line_plot(summary, results, key, ylabel, title, name, out_dir, fmt, log_y=False, limit=None):
    fig, ax = plt.subplots(figsize=(8, 5))
    for server, points in by_server(results, key).items():
        points.sort()
        xs = [p[0] for p in points]
        ys = [p[1] for p in points]
        ax.plot(xs, ys, marker="o", color=COLORS.get(server), label=label(server))
        # Sizes that failed the verdict (loss, reordering, p99 over the limit) are hollow.
        bad = [(x, y) for x, y, clean in points if not clean]
        if bad:
            ax.scatter([b[0] for b in bad], [b[1] for b in bad], s=90, facecolors="none",
                       edgecolors="black", zorder=3)
    if limit is not None:
        ax.axhline(limit, color="black", linestyle="--", linewidth=1, label=f"limit {limit:g} ms")
    ax.set_xscale("log", base=2)
    sizes = summary.get("sizes", [])
    ax.xaxis.set_major_locator(FixedLocator(sizes))
    ax.xaxis.set_major_formatter(FuncFormatter(lambda x, _: f"{x / 1000:g}k"))
    ax.xaxis.set_minor_locator(FixedLocator([]))
    if log_y:
        ax.set_yscale("log")
    ax.set_xlabel("subscribers in the room")
    ax.set_ylabel(ylabel)
    ax.set_title(f"{title}\n{subtitle(summary)} (hollow: not clean)", fontsize=9)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    save(fig, out_dir, name, fmt)


def memory_bars(summary, results, out_dir, fmt):
    sizes = summary.get("sizes", [])
    servers = summary.get("servers", [])
    fig, ax = plt.subplots(figsize=(8, 5))
    width = 0.8 / max(len(servers), 1)
    for j, server in enumerate(servers):
        xs, ys = [], []
        for i, n in enumerate(sizes):
            r = next((r for r in results if r["server"] == server and r["subscribers"] == n), None)
            value = r and r["median"].get("rss_per_conn_kib")
            if value is not None:
                xs.append(i + (j - (len(servers) - 1) / 2) * width)
                ys.append(value)
        bars = ax.bar(xs, ys, width=width, color=COLORS.get(server), label=label(server))
        ax.bar_label(bars, fmt="%.1f", fontsize=8)
    ax.set_xticks(range(len(sizes)))
    ax.set_xticklabels([f"{n:,}" for n in sizes])
    ax.set_xlabel("subscribers in the room")
    ax.set_ylabel("server RSS per connection (KiB)")
    ax.set_title(f"Server memory per connection (all connected, before any message)\n{subtitle(summary)}", fontsize=9)
    ax.grid(True, axis="y", alpha=0.3)
    ax.legend()
    save(fig, out_dir, "memory-per-connection", fmt)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("summary")
    parser.add_argument("--format", choices=["svg", "png"], default="svg")
    args = parser.parse_args()
    with open(args.summary) as f:
        summary = json.load(f)
    out_dir = os.path.dirname(os.path.abspath(args.summary))
    results = summary.get("results", [])
    for n in summary.get("sizes", []):
        percentile_plot(summary, [r for r in results if r["subscribers"] == n], n, out_dir, args.format)
    memory_bars(summary, results, out_dir, args.format)
    if len(summary.get("sizes", [])) > 1:
        line_plot(summary, results, "deliveries_per_s", "deliveries/s (measured window)",
                  "Throughput vs room size", "throughput-vs-subscribers", out_dir, args.format)
        line_plot(summary, results, "p99_ms", "p99 latency (ms)", "p99 latency vs room size",
                  "p99-vs-subscribers", out_dir, args.format, log_y=True,
                  limit=summary.get("p99_limit_ms"))


if __name__ == "__main__":
    main()
