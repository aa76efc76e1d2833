#!/usr/bin/env python3
"""Reads the raw rows run.sh appends (TSV: section, case, client, rep, wall, user, sys, maxrss_kb, chunks, note)
and prints one markdown table per section with medians over the repetitions."""
import statistics, sys
from collections import OrderedDict

rows = [l.rstrip("\n").split("\t") for l in open(sys.argv[1]) if l.strip()]
groups = OrderedDict()
for r in rows:
    groups.setdefault((r[0], r[1], r[2]), []).append(r)
med = lambda xs: statistics.median(xs)
sections = OrderedDict()
for (sec, case, client), rs in groups.items():
    wall = med([float(r[4]) for r in rs]); cpu = med([float(r[5]) + float(r[6]) for r in rs])
    rss = med([float(r[7]) for r in rs]) / 1024; chunks = med([float(r[8]) for r in rs])
    notes = "; ".join(sorted({r[9] for r in rs if len(r) > 9 and r[9]}))
    sections.setdefault(sec, []).append((case, client, len(rs), wall, cpu, rss, chunks, notes))
for sec, items in sections.items():
    print(f"\n### {sec}\n")
    if sec == "bigfiles":
        print("| step | runs | wall s | CPU s | peak RSS MiB | note |\n|---|---|---|---|---|---|")
        for case, client, n, wall, cpu, rss, chunks, notes in items:
            print(f"| {case} {client} | {n} | {wall:.3f} | {cpu:.2f} | {rss:.0f} | {notes} |")
        continue
    print("| case | client | runs | wall s | CPU s (user+sys) | peak RSS MiB | chunks | chunks/s (wall) | CPU µs/chunk | RSS KiB/stream | note |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for case, client, n, wall, cpu, rss, chunks, notes in items:
        streams = int(case.split("=")[1]) if sec == "slow" else 0
        per = f"{rss * 1024 / streams:.1f}" if streams else ""
        print(f"| {case} | {client} | {n} | {wall:.2f} | {cpu:.2f} | {rss:.0f} | {int(chunks)} | {chunks / wall:,.0f} | "
              f"{cpu / chunks * 1e6:.2f} | {per} | {notes} |")
