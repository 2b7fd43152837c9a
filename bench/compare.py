#!/usr/bin/env python3
"""Summaries for bench/run-compare.sh (standard library only).

  compare.py verdict [--p99-limit-ms 1000] RUN.json...
      Is one server clean at one room size? Exit 0 (clean) or 1 (prints why not).
  compare.py summary OUT_DIR
      Reads OUT_DIR/meta.json and OUT_DIR/<server>-<subscribers>-run<i>.json, writes
      OUT_DIR/summary.json and prints the comparison table (medians over the runs, ratios
      ivschat/NATS and ivschat/floor).

A size is clean for a server when, over its runs, the medians show no lost delivery, no
out-of-order delivery, no failed connection, and a p99 latency within the limit. "Lost" is
what had not arrived when the bench closed (after its drain), so a server that falls ever
further behind shows up as loss too. Sends refused by ivschat-server (429: the generator
fell behind its schedule and then burst) are shown but do not make a size unclean.

Latency columns: p50/p99/max are send→read (until the generator read the delivery); "acc p99"
is send→accepted (ivschat-server's own SendTime: the request read and checked); "arr p99" and
"arr max" are send→arrival (the kernel's receive timestamp: the delivery was in the
generator's socket). The verdict uses send→read, the stricter.
"""

import argparse
import json
import os
import re
import statistics
import sys

RUN_FILE = re.compile(r"^(ivschat|nats|floor|centrifugo|sockudo)-(\d+)-run(\d+)\.json$")
NAMES = {"ivschat": "ivschat-server", "nats": "NATS (WebSocket)", "floor": "floor (tokio+tungstenite)",
         "centrifugo": "Centrifugo", "sockudo": "Sockudo (Pusher)"}

# (key, JSON pointer) of the figures taken per run; medians are reported.
FIELDS = [
    ("p50_ms", "/latency_ms/p50"),
    ("p90_ms", "/latency_ms/p90"),
    ("p99_ms", "/latency_ms/p99"),
    ("p999_ms", "/latency_ms/p999"),
    ("p9999_ms", "/latency_ms/p9999"),
    ("max_ms", "/latency_ms/max"),
    # Send→arrival in the generator's socket (kernel receive timestamp): without the time the
    # delivery then waited for the generator to read it.
    ("arrival_p50_ms", "/arrival_latency_ms/p50"),
    ("arrival_p99_ms", "/arrival_latency_ms/p99"),
    ("arrival_max_ms", "/arrival_latency_ms/max"),
    # Send→the server's own SendTime (ivschat only): the request read and accepted.
    ("accepted_p99_ms", "/accepted_latency_ms/p99"),
    ("accepted_max_ms", "/accepted_latency_ms/max"),
    ("deliveries_per_s", "/deliveries/per_second"),
    ("expected", "/deliveries/expected"),
    ("lost", "/deliveries/lost"),
    ("lost_pct", "/deliveries/lost_pct"),
    ("out_of_order", "/deliveries/out_of_order"),
    ("duplicates", "/deliveries/duplicates"),
    ("sent_per_s", "/sent/per_second"),
    ("refused", "/sent/refused_measured"),
    ("send_lag_mean_ms", "/sent/send_lag_mean_ms"),
    ("send_lag_max_ms", "/sent/send_lag_max_ms"),
    ("connected", "/connect/ok"),
    ("connect_failed", "/connect/failed"),
    ("connect_s", "/connect/seconds"),
    ("connect_per_s", "/connect/per_second"),
    ("server_closes", "/closes/by_server_total"),
    ("rss_per_conn_kib", "/server_rss_per_connection_kib"),
    ("rss_connected_kib", "/server_memory_kib/connected"),
    ("rss_growth_kib", "/server_rss_growth_during_measure_kib"),
    ("server_cpu_pct", "/cpu_measure/server_pct_of_core"),
    ("generator_cpu_pct", "/cpu_measure/generator_pct_of_core"),
    ("others_cpu_pct", "/cpu_measure/others_pct_of_core"),
    ("machine_busy_pct", "/cpu_measure/machine_busy_pct"),
    ("server_threads", "/server_threads"),
]


def pointer(doc, path):
    for part in path.strip("/").split("/"):
        if not isinstance(doc, dict) or part not in doc:
            return None
        doc = doc[part]
    return doc


def load(path):
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def median(values):
    values = [v for v in values if isinstance(v, (int, float))]
    return statistics.median(values) if values else None


def aggregate(docs):
    """Medians (and a few maxima) over the runs of one server at one size."""
    m = {key: median([pointer(d, path) for d in docs]) for key, path in FIELDS}
    m["lost_max"] = max((pointer(d, "/deliveries/lost") or 0 for d in docs), default=None)
    m["server_closes_max"] = max(
        (pointer(d, "/closes/by_server_total") or 0 for d in docs), default=None
    )
    # The latency distribution: the median of each percentile over the runs.
    curves = [pointer(d, "/latency_ms/percentiles") or [] for d in docs]
    curves = [c for c in curves if c]
    if curves:
        m["percentiles"] = [
            [q, median([c[i][1] for c in curves if i < len(c)])] for i, (q, _) in enumerate(curves[0])
        ]
    else:
        m["percentiles"] = []
    closes = {}
    for d in docs:
        for reason, n in (pointer(d, "/closes/by_server") or {}).items():
            closes[reason] = closes.get(reason, 0) + n
    m["server_close_reasons"] = closes
    return m


def verdict_of(m, runs, p99_limit_ms):
    """(clean, reason) for one server at one size."""
    if runs == 0 or m.get("p99_ms") is None:
        return False, "no result (did the server start?)"
    problems = []
    if (m["connect_failed"] or 0) > 0:
        problems.append(f"{m['connect_failed']:.0f} connections failed (median)")
    if (m["lost"] or 0) > 0:
        problems.append(f"lost {m['lost']:.0f} deliveries (median, {m['lost_pct']:.3f}%)")
    if (m["out_of_order"] or 0) > 0:
        problems.append(f"{m['out_of_order']:.0f} out of order (median)")
    if m["p99_ms"] > p99_limit_ms:
        problems.append(f"p99 {m['p99_ms']:.0f} ms > {p99_limit_ms:.0f} ms")
    if (m["expected"] or 0) == 0:
        problems.append("nothing was sent")
    return (not problems), "; ".join(problems) or "clean"


def cmd_verdict(args):
    docs = [d for d in (load(p) for p in args.files) if d is not None]
    clean, reason = verdict_of(aggregate(docs), len(docs), args.p99_limit_ms)
    print(f"{reason} ({len(docs)} run(s))")
    return 0 if clean else 1


def fmt(v, digits=1):
    if v is None:
        return "n/a"
    return f"{v:,.{digits}f}"


def ratio(a, b):
    if a is None or b is None or b == 0:
        return None
    return a / b


def cmd_summary(args):
    out = args.out_dir
    meta = load(os.path.join(out, "meta.json")) or {}
    p99_limit = float(meta.get("p99_limit_ms", 1000))
    groups = {}
    for name in sorted(os.listdir(out)):
        match = RUN_FILE.match(name)
        if not match:
            continue
        doc = load(os.path.join(out, name))
        if doc is None:
            continue
        key = (match.group(1), int(match.group(2)))
        groups.setdefault(key, []).append((int(match.group(3)), name, doc))
    servers = meta.get("servers") or sorted({s for s, _ in groups})
    sizes = sorted({n for _, n in groups})
    results = []
    for server in servers:
        for n in sizes:
            runs = sorted(groups.get((server, n), []))
            if not runs:
                continue
            m = aggregate([d for _, _, d in runs])
            clean, reason = verdict_of(m, len(runs), p99_limit)
            results.append(
                {
                    "server": server,
                    "subscribers": n,
                    "runs": len(runs),
                    "files": [name for _, name, _ in runs],
                    "median": m,
                    "clean": clean,
                    "verdict": reason,
                }
            )
    by = {(r["server"], r["subscribers"]): r for r in results}
    largest_clean = {}
    for server in servers:
        largest_clean[server] = None
        for n in sizes:
            r = by.get((server, n))
            if r is None or not r["clean"]:
                break
            largest_clean[server] = n
    ratios = []
    for n in sizes:
        iv = by.get(("ivschat", n))
        if iv is None:
            continue
        for other in ("nats", "floor", "centrifugo", "sockudo"):
            o = by.get((other, n))
            if o is None:
                continue
            ratios.append(
                {
                    "subscribers": n,
                    "of": f"ivschat/{other}",
                    **{
                        key: ratio(iv["median"][key], o["median"][key])
                        for key in ("p50_ms", "p99_ms", "max_ms", "deliveries_per_s", "rss_per_conn_kib", "server_cpu_pct", "connect_per_s")
                    },
                }
            )
    summary = {
        "meta": meta,
        "p99_limit_ms": p99_limit,
        "servers": servers,
        "sizes": sizes,
        "results": results,
        "largest_clean": largest_clean,
        "ratios": ratios,
    }
    with open(os.path.join(out, "summary.json"), "w") as f:
        json.dump(summary, f, indent=2)
        f.write("\n")

    scenario = meta.get("scenario", "?")
    print(f"== {scenario}: medians over {meta.get('runs', '?')} run(s) per server and size ({out})")
    print(f"   load: {meta.get('load_flags', '?')}")
    print(f"   ivschat-server {meta.get('ivschat_server', '?')}; {meta.get('nats_server', '?')}")
    peers = [meta[name] for name in ("centrifugo", "sockudo") if meta.get(name)]
    if peers:
        print(f"   peers: {'; '.join(peers)}")
    header = (
        f"{'server':<10} {'subs':>7} {'runs':>4} {'p50 ms':>9} {'p99 ms':>9} {'max ms':>9} "
        f"{'acc p99':>9} {'arr p99':>9} {'arr max':>9} {'deliv/s':>11} {'lost':>8} {'ooo':>5} {'refused':>7} {'KiB/conn':>9} {'srv CPU%':>8} {'gen CPU%':>8} {'others%':>7} {'conn/s':>7}  verdict"
    )
    print(header)
    print("-" * len(header))
    for n in sizes:
        for server in servers:
            r = by.get((server, n))
            if r is None:
                continue
            m = r["median"]
            print(
                f"{server:<10} {n:>7} {r['runs']:>4} {fmt(m['p50_ms']):>9} {fmt(m['p99_ms']):>9} "
                f"{fmt(m['max_ms']):>9} {fmt(m['accepted_p99_ms']):>9} {fmt(m['arrival_p99_ms']):>9} {fmt(m['arrival_max_ms']):>9} {fmt(m['deliveries_per_s'], 0):>11} {fmt(m['lost'], 0):>8} "
                f"{fmt(m['out_of_order'], 0):>5} {fmt(m['refused'], 0):>7} {fmt(m['rss_per_conn_kib']):>9} {fmt(m['server_cpu_pct'], 0):>8} "
                f"{fmt(m['generator_cpu_pct'], 0):>8} {fmt(m['others_cpu_pct'], 0):>7} {fmt(m['connect_per_s'], 0):>7}  {r['verdict']}"
            )
    if ratios:
        print()
        print(f"{'ratio':<18} {'subs':>7} {'p50':>7} {'p99':>7} {'max':>7} {'deliv/s':>8} {'KiB/conn':>9} {'srv CPU':>8} {'conn/s':>7}")
        for q in ratios:
            x = lambda k: fmt(q[k], 2) + "×" if q[k] is not None else "n/a"
            print(
                f"{q['of']:<18} {q['subscribers']:>7} {x('p50_ms'):>7} {x('p99_ms'):>7} {x('max_ms'):>7} "
                f"{x('deliveries_per_s'):>8} {x('rss_per_conn_kib'):>9} {x('server_cpu_pct'):>8} {x('connect_per_s'):>7}"
            )
    if scenario == "saturation":
        print()
        for server in servers:
            n = largest_clean[server]
            first_bad = next(
                (r for r in results if r["server"] == server and not r["clean"]), None
            )
            tail = f"; at {first_bad['subscribers']}: {first_bad['verdict']}" if first_bad else ""
            print(f"largest clean room  {server:<10} {n if n is not None else 'none'}{tail}")
    return 0


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    v = sub.add_parser("verdict")
    v.add_argument("--p99-limit-ms", type=float, default=1000.0)
    v.add_argument("files", nargs="+")
    s = sub.add_parser("summary")
    s.add_argument("out_dir")
    args = parser.parse_args()
    return cmd_verdict(args) if args.command == "verdict" else cmd_summary(args)


if __name__ == "__main__":
    sys.exit(main())
