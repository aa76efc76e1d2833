#!/usr/bin/env python3
"""Reads the raw rows run.sh appends (TSV: section, case, client, rep, wall, user, sys, maxrss_kb, chunks, note)
and prints one markdown table per section with medians over the repetitions, then the firehose's
ratios: choreo's CPU per chunk against each peer on the same stream, and choreo's CPU for the
same jobs and words against its own figure on the OpenAI streams (the formats' event counts differ,
so across formats the ratio is of CPU seconds, not per chunk)."""
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

fire = {(case, client): (cpu, chunks) for case, client, n, wall, cpu, rss, chunks, notes in sections.get("firehose", [])}
if fire:
    cases = list(OrderedDict.fromkeys(case for case, _ in fire))
    peers = list(OrderedDict.fromkeys(client for _, client in fire if client != "choreo"))
    bases = [c for c in ("K=256", "K=256+obf") if (c, "choreo") in fire]
    print("\n### firehose ratios (choreo ÷ …; CPU per chunk on the same stream, CPU seconds across formats)\n")
    print("| case | choreo CPU s | " + " | ".join(f"÷ {p}" for p in peers) + " | " + " | ".join(f"÷ choreo {b}" for b in bases) + " |")
    print("|---" * (2 + len(peers) + len(bases)) + "|")
    for case in cases:
        if (case, "choreo") not in fire: continue
        cpu, chunks = fire[(case, "choreo")]
        per = lambda key: fire[key][0] / fire[key][1]
        cells = [f"{cpu / chunks / per((case, p)):.3f}" if (case, p) in fire else "" for p in peers]
        cells += [f"{cpu / fire[(b, 'choreo')][0]:.2f}" if case.split()[0].split("+")[0] == b.split("+")[0] else "" for b in bases]
        print(f"| {case} | {cpu:.2f} | " + " | ".join(cells) + " |")
