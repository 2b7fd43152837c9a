#!/usr/bin/env python3
"""Exclusive instructions per function of one callgrind dump (callgrind_annotate on these
release builds shows inlined async code as inclusive totals), divided by a unit count.

Usage: bench/callgrind_self.py CALLGRIND.OUT.N [UNITS [TOP]]   e.g. UNITS = deliveries
"""
import collections
import re
import sys

names = {}
cost = collections.Counter()
fn = None
skip_next = False
for line in open(sys.argv[1]):
    line = line.rstrip('\n')
    if line.startswith('fn='):
        m = re.match(r'fn=\((\d+)\)(?: (.*))?', line)
        if m.group(2): names[m.group(1)] = m.group(2)
        fn = names.get(m.group(1), m.group(1)); continue
    if line.startswith(('cfn=', 'cfi=', 'cob=')):
        m = re.match(r'c(?:fn)=\((\d+)\)(?: (.*))?', line)
        if m and m.group(2): names[m.group(1)] = m.group(2)
        continue
    if line.startswith('calls='):
        skip_next = True; continue
    if line and (line[0].isdigit() or line[0] in '+-*'):
        if skip_next: skip_next = False; continue
        parts = line.split()
        if len(parts) >= 2 and fn: cost[fn] += int(parts[1])
total = sum(cost.values())
div = float(sys.argv[2]) if len(sys.argv) > 2 else 1
print(f"total {total:,} ({total/div:,.0f} per unit)")
for f, c in cost.most_common(int(sys.argv[3]) if len(sys.argv) > 3 else 25):
    print(f"{c/div:10,.0f} {100*c/total:5.1f}%  {f[:120]}")
