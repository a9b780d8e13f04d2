#!/usr/bin/env python3
"""Turns benches/engine.sh's results.jsonl into a Markdown table: our envoy against the official
one on the same Rivet Engine, and the embedded server, per row (the fastest of the repeats)."""
import json
import sys

HOSTS = ["engine-ours", "engine-official", "embedded"]
ROWS = [
    ("http-1actor-c1", "HTTP action, 1 actor, c=1"),
    ("http-1actor-c16", "HTTP action, 1 actor, c=16"),
    ("http-1actor-c64", "HTTP action, 1 actor, c=64"),
    ("http-manyactors-c1", "HTTP action, many actors, c=1"),
    ("http-manyactors-c16", "HTTP action, many actors, c=16"),
    ("http-manyactors-c64", "HTTP action, many actors, c=64"),
    ("ws-w1", "WebSocket actions, 1 connection, 1 in flight"),
    ("ws-w32", "WebSocket actions, 1 connection, 32 in flight"),
    ("create", "create (get-or-create a new key), one at a time"),
    ("first-action", "first action on a just-created actor, one at a time"),
    ("cold-wake", "cold wake: first action on a sleeping actor, one at a time"),
]
# Rows measured per actor, one at a time: the latency is the figure, lower is better.
LATENCY_ROWS = {"create", "first-action", "cold-wake"}


def load(path):
    best = {}
    for line in open(path):
        line = line.strip()
        if not line:
            continue
        r = json.loads(line)
        host, _, row = r.get("label", "").partition("/")
        old = best.get((host, row))
        if old is None or old.get("failed") or (not r.get("failed") and better(row, r, old)):
            best[(host, row)] = r
    return best


def figure(row, r):
    """The row's figure (higher is better for throughput rows, lower for latency rows)."""
    if row == "create":
        return r.get("per_actor_ms")
    if row in LATENCY_ROWS:
        return r.get("p50_ms")
    return r.get("rps")


def better(row, new, old):
    a, b = figure(row, new), figure(row, old)
    if a is None:
        return False
    if b is None:
        return True
    return a < b if row in LATENCY_ROWS else a > b


def cell(row, r):
    if not r or r.get("failed"):
        return "failed"
    if row == "create":
        return f"{r['per_actor_ms']:.1f} ms"
    if row in LATENCY_ROWS:
        s = f"p50 {r['p50_ms']:.1f} ms, p99 {r['p99_ms']:.1f} ms"
    else:
        s = f"{int(r['rps']):,}/s, p50 {r['p50_ms']:.2f} ms"
    if r.get("errors"):
        s += f" ({r['errors']} errors)"
    return s


def ratio(row, ours, theirs):
    a, b = (figure(row, ours or {}), figure(row, theirs or {}))
    if not a or not b or (ours or {}).get("failed") or (theirs or {}).get("failed"):
        return "—"
    return f"{(b / a if row in LATENCY_ROWS else a / b):.2f}×"


def main():
    best = load(sys.argv[1])
    print(f"{sys.argv[2]} s measured per row, fastest of {sys.argv[3]} interleaved runs; "
          "ratios > 1 mean our envoy is better (faster or lower latency).\n")
    print("| row | engine + our envoy | engine + official envoy | ours / official | embedded | engine (ours) / embedded |")
    print("|---|---:|---:|---:|---:|---:|")
    for row, title in ROWS:
        ours, official, embedded = (best.get((h, row)) for h in HOSTS)
        print(f"| {title} | {cell(row, ours)} | {cell(row, official)} | {ratio(row, ours, official)} "
              f"| {cell(row, embedded)} | {ratio(row, ours, embedded)} |")


main()
