#!/usr/bin/env python3
"""Issue 24's targets table from one bench/run-targets.sh output directory.

Reads OUT/instructions/summary.json (bench/run-instructions.sh) and OUT/{fanout,rooms,
saturation}/summary.json (bench/run-compare.sh) and prints, per target: ours, the floor, each
peer, ours/floor, met or not, and the command. A part that was skipped or failed shows n/a.
"""
import json
import os
import sys

PEERS = ["nats", "centrifugo", "sockudo"]


def load(path):
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def medians(summary, size=None):
    """server → median figures at `size` (default: the first size)."""
    if not summary:
        return {}
    size = size or (summary.get("sizes") or [None])[0]
    return {r["server"]: dict(r["median"], clean=r["clean"]) for r in summary["results"] if r["subscribers"] == size}


def fmt(v, unit="", digits=1):
    if v is None:
        return "n/a"
    if isinstance(v, str):
        return v
    return f"{v:,.{digits}f}{unit}"


def main(out):
    rows = []
    fan = load(os.path.join(out, "fanout", "summary.json"))
    rooms = load(os.path.join(out, "rooms", "summary.json"))
    sat = load(os.path.join(out, "saturation", "summary.json"))
    ins = load(os.path.join(out, "instructions", "summary.json"))
    servers = ["ivschat", "floor"] + PEERS

    f = medians(fan)
    if f:
        p99 = {s: f.get(s, {}).get("p99_ms") for s in servers}
        ours, floor = p99["ivschat"], p99["floor"]
        others = [v for s, v in p99.items() if s != "ivschat" and v is not None]
        clean = f.get("ivschat", {}).get("clean", False)
        met = ours is not None and clean and all(ours <= v for v in others)
        size = (fan.get("sizes") or [0])[0]
        rows.append((f"{size:,}-member fan-out p99 (ms), no loss, in order", p99, ours / floor if ours and floor else None,
                     "≤1.0× floor, ≤ peers", met, "bench/run-compare.sh fanout"))
        conn = {s: f.get(s, {}).get("connect_per_s") for s in servers}
        ours, floor = conn["ivschat"], conn["floor"]
        busy = {s: f.get(s, {}).get("others_cpu_pct") for s in servers}
        rows.append(("  others' CPU during those runs (% of a core)", busy, None, "(noise)", None, "bench/run-compare.sh fanout"))
        rows.append(("connect rate (handshakes/s, tokens minted ahead)", conn, ours / floor if ours and floor else None,
                     "≥0.9× floor", bool(ours and floor and ours >= 0.9 * floor), "bench/run-compare.sh fanout"))
    s = sat and sat.get("largest_clean")
    if s:
        largest = {k: s.get(k) for k in servers}
        ours = largest["ivschat"] or 0
        others = [v or 0 for k, v in largest.items() if k != "ivschat" and k in s]
        top = max(sat.get("sizes") or [0])
        # A server clean at every size tried has no measured limit: "≥ the largest size".
        shown = {k: (None if k not in s else (f"≥{v:,}" if v == top else (f"{v:,}" if v else "none"))) for k, v in largest.items()}
        floor = largest["floor"]
        rows.append(("saturation: largest clean room", shown, ours / floor if ours and floor else None,
                     "≥ floor, ≥ peers", bool(largest["ivschat"]) and all(ours >= v for v in others),
                     "bench/run-compare.sh saturation"))
    r = medians(rooms)
    if r:
        size = (rooms.get("sizes") or [0])[0]
        p99 = {k: r.get(k, {}).get("p99_ms") for k in servers}
        ours, floor = p99["ivschat"], p99["floor"]
        rows.append((f"100 rooms, {size:,} connections, 10 msg/s each: p99 (ms)", p99, ours / floor if ours and floor else None,
                     "≤10 ms", bool(ours is not None and ours <= 10 and r["ivschat"]["clean"]), "bench/run-compare.sh rooms"))
        acc = r.get("ivschat", {}).get("accepted_p99_ms")
        rows.append(("  of which send→accepted p99 (ms)", {"ivschat": acc}, None, "(profiled)", None, "bench/run-compare.sh rooms"))
    if ins:
        per = {k: ins.get(k, {}).get("per_delivery") for k in servers}
        ours, floor = per["ivschat"], per["floor"]
        rows.append(("instructions per delivery (callgrind)", per, ours / floor if ours and floor else None,
                     "(cost figure)", None, "bench/run-instructions.sh"))
        hs = {k: ins.get(k, {}).get("per_connection") for k in servers}
        ours, floor = hs["ivschat"], hs["floor"]
        rows.append(("instructions per handshake (callgrind)", hs, ours / floor if ours and floor else None,
                     "(cost figure)", None, "bench/run-instructions.sh"))
        sc = {k: (ins.get(k, {}).get("native") or {}).get("syscalls_per_delivery") for k in servers}
        if any(v is not None for v in sc.values()):
            ours, floor = sc["ivschat"], sc["floor"]
            rows.append(("system calls per delivery (perf stat, native)", sc, ours / floor if ours and floor else None,
                         "(cost figure)", None, "bench/run-instructions.sh"))
            cpu = {k: (ins.get(k, {}).get("native") or {}).get("cpu_us_per_delivery") for k in servers}
            ours, floor = cpu["ivschat"], cpu["floor"]
            rows.append(("server CPU µs per delivery (perf stat, native)", cpu, ours / floor if ours and floor else None,
                         "(cost figure)", None, "bench/run-instructions.sh"))
        hc = {k: (ins.get(k, {}).get("native_handshake") or {}).get("cpu_us_per_handshake") for k in servers}
        if any(v is not None for v in hc.values()):
            ours, floor = hc["ivschat"], hc["floor"]
            rows.append(("server CPU µs per handshake (perf stat, native)", hc, ours / floor if ours and floor else None,
                         "(cost figure)", None, "bench/run-instructions.sh"))
        for op, c in (ins.get("ivschat", {}).get("control_plane") or {}).items():
            rows.append((f"instructions per {op} request", {"ivschat": c["per_request"]}, None,
                         "(cost figure)", None, "bench/run-instructions.sh"))
    # Measured apart (same binary, tagged room against untagged): BENCHMARKS.md, "History and
    # presence on and off"; run-targets.sh does not run it.
    rows.append(("history and presence on: within 10 %", {}, None, "≤1.1×", None,
                 "bench/run-fanout.sh fanout-10k --mint-ahead --room-tag … (BENCHMARKS.md)"))

    shown = [k for k in servers if any(row[1].get(k) is not None for row in rows)]
    head = f"{'target':<50} " + " ".join(f"{k:>11}" for k in shown) + f" {'ours/floor':>10} {'goal':>22} {'met':>5}  command"
    print(head)
    print("-" * len(head))
    for name, values, ratio, goal, met, command in rows:
        digits = 0 if "instructions" in name or "rate" in name or "CPU during" in name else (3 if "per delivery (perf" in name else 1)
        cells = " ".join(f"{fmt(values.get(k), digits=digits):>11}" for k in shown)
        met_s = "n/a" if met is None else ("yes" if met else "NO")
        print(f"{name:<50} {cells} {fmt(ratio, '×', 2):>10} {goal:>22} {met_s:>5}  {command}")


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else "."))
