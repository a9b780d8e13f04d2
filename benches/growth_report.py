#!/usr/bin/env python3
"""Markdown tables of benches/growth.sh: results.jsonl in, tables on stdout.

Per-action costs are the server's figures over the measured window divided by the actions (or
events) measured in it: CPU = server cores / rate; bytes = `wchar` (what the server handed to
`write`, the SQLite WAL and checkpoints) and `write_bytes` (what reached the block layer) of
/proc/{pid}/io, over the requests.
"""
import json
import sys

rows = {}
for line in open(sys.argv[1]):
    line = line.strip()
    if line:
        row = json.loads(line)
        rows[row["label"]] = row


def get(label):
    return rows.get(label, {})


def num(x, digits=0):
    if x is None or x == "":
        return "—"
    return f"{x:,.{digits}f}"


def size_name(n):
    n = int(n)
    if n >= 1 << 20:
        return f"{n / (1 << 20):g} MiB"
    if n >= 1024:
        return f"{n / 1024:g} KiB"
    return f"{n} B"


def rate(r):
    if not r or r.get("failed"):
        return "failed"
    return num(r.get("rps"))


def lat(r):
    if not r or r.get("failed"):
        return "—"
    return f"{r.get('p50_ms'):.3f} / {r.get('p99_ms'):.3f}"


def cpu_us(r, per=None):
    """Server CPU per action (or per `per` events per second), in µs."""
    per = per if per is not None else r.get("rps")
    if not r or not per or r.get("server_cores") is None:
        return "—"
    return num(r["server_cores"] / per * 1e6, 1)


def per_request(r, key):
    if not r or not r.get("requests") or r.get(key) is None:
        return "—"
    return num(r[key] / r["requests"])


def mib(kib):
    return "—" if kib in (None, "") else f"{float(kib) / 1024:,.1f}"


def labels(prefix):
    """The N of every `prefix/N/…` label, in the order they were measured."""
    seen = []
    for label in rows:
        parts = label.split("/")
        if parts[0] == prefix and parts[1] not in seen:
            seen.append(parts[1])
    return seen


def errors(*rs):
    total = sum(int(r.get("errors", 0)) for r in rs if r)
    firsts = [r["first_error"] for r in rs if r and r.get("first_error")]
    return str(total) + (f" ({firsts[0][:80]})" if firsts else "")


sizes = labels("state")
if sizes:
    print("### State size: `increment` on a `bloated` actor (changes the count only)\n")
    print("| state | c=1 req/s | c=1 p50 / p99 ms | c=16, 1 actor req/s | p50 / p99 ms "
          "| c=16, 16 actors req/s | p50 / p99 ms | errors |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for size in sizes:
        c1, c16, c16x16 = (get(f"state/{size}/{k}") for k in ("c1", "c16", "c16x16"))
        print(f"| {size_name(size)} | {rate(c1)} | {lat(c1)} | {rate(c16)} | {lat(c16)} "
              f"| {rate(c16x16)} | {lat(c16x16)} | {errors(c1, c16, c16x16)} |")
    print("\nServer cost per action (CPU of the server process; bytes it wrote; other = CPU of "
          "every other process on the machine, cores):\n")
    print("| state | row | req/s | server CPU µs / action | written B / action (wchar) "
          "| to disk B / action (write_bytes) | server cores | other cores |")
    print("|---|---|---:|---:|---:|---:|---:|---:|")
    names = {"c1": "increment c=1", "c16": "increment c=16, 1 actor",
             "c16x16": "increment c=16, 16 actors", "grow": "grow c=1 (length changes)"}
    for key, name in names.items():
        for size in sizes:
            r = get(f"state/{size}/{key}")
            print(f"| {size_name(size)} | {name} | {rate(r)} | {cpu_us(r)} "
                  f"| {per_request(r, 'server_wchar')} | {per_request(r, 'server_write_bytes')} "
                  f"| {num(r.get('server_cores'), 2)} | {num(r.get('other_cores'), 2)} |")
    print()

counts = labels("actors")
if counts:
    print("### Actor count: `increment` on counters at c=16\n")
    print("| actors | create all (s, ms each) | one call each: req/s | p50 / p99 ms "
          "| timed c=16: req/s | p50 / p99 ms | server CPU µs / action | errors |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|")
    for n in counts:
        setup, once, c16 = (get(f"actors/{n}/{k}") for k in ("setup", "each-once", "c16"))
        created = (f"{setup['elapsed_s']:.1f} s, {setup['per_actor_ms']:.3f}"
                   if setup.get("elapsed_s") is not None else "failed")
        print(f"| {int(n):,} | {created} | {rate(once)} | {lat(once)} | {rate(c16)} | {lat(c16)} "
              f"| {cpu_us(c16)} | {errors(once, c16)} |")
    print("\nServer RSS (MiB) and awake actors after each step:\n")
    print("| actors | started | created | after one call each (awake) | after timed c=16 (awake) "
          "| all asleep (waited) |")
    print("|---:|---:|---:|---:|---:|---:|")
    for n in counts:
        started, created, once, c16, asleep = (
            get(f"actors/{n}/{k}")
            for k in ("started", "created", "each-once-done", "c16-done", "asleep"))
        slept = (f"{mib(asleep.get('rss_kib'))} ({num(asleep.get('waited_s'))} s)"
                 if asleep else "not measured")
        print(f"| {int(n):,} | {mib(started.get('rss_kib'))} | {mib(created.get('rss_kib'))} "
              f"| {mib(once.get('rss_kib'))} ({num(once.get('awake'))}) "
              f"| {mib(c16.get('rss_kib'))} ({num(c16.get('awake'))}) | {slept} |")
    print()

subs = labels("conns")
if subs:
    print("### Subscribers: one action in flight, each `count` event to N WebSockets\n")
    print("| subscribers | connect all (s) | events/s | delivery p50 / p99 ms | actions/s "
          "| events per subscriber (min–max) | server CPU µs / event | RSS before → with N "
          "open (MiB) | errors |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for n in subs:
        r, before = get(f"conns/{n}/fanout"), get(f"conns/{n}/before")
        actions = (num(r["actions"] / r["elapsed_s"]) if r.get("actions") is not None
                   and r.get("elapsed_s") else "—")
        print(f"| {int(n):,} | {num(r.get('connect_s'), 2)} | {rate(r)} | {lat(r)} | {actions} "
              f"| {r.get('events_per_subscriber_min', '—')}–{r.get('events_per_subscriber_max', '—')} "
              f"| {cpu_us(r)} | {mib(before.get('rss_kib'))} → {mib(r.get('server_rss_kib'))} "
              f"| {errors(r)} |")
    for n in subs:
        r = get(f"conns/{n}/broadcast")
        if not r:
            continue
        ok = (r.get("actions") == 1 and r.get("events_per_subscriber_min") == 1
              and r.get("events_per_subscriber_max") == 1 and not r.get("errors"))
        print(f"\nBroadcast check, {int(n):,} subscribers, one `increment`: "
              f"{'**every subscriber received the event once**' if ok else '**FAILED**'} "
              f"(events per subscriber {r.get('events_per_subscriber_min')}–"
              f"{r.get('events_per_subscriber_max')}, "
              f"{r.get('subscribers_without_events')} without; errors {errors(r)}); "
              f"connect {num(r.get('connect_s'), 2)} s; delivery p50 {r.get('p50_ms')} ms, "
              f"p99 {r.get('p99_ms')} ms, last {r.get('max_ms')} ms after the action was sent; "
              f"server RSS {mib(get(f'conns/{n}/between').get('rss_kib'))} MiB before, "
              f"{mib(r.get('server_rss_kib'))} MiB with them open.")
