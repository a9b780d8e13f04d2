#!/usr/bin/env python3
"""What is live on the heap at its peak, by where it was allocated, from a dhat profile.

    valgrind --tool=dhat --dhat-out-file=dhat.json target/release/seed-server ...
    benches/dhat_peak.py dhat.json                      # grouped by the first frame of ours
    benches/dhat_peak.py dhat.json 'rivetkit_runtime' 2 # another pattern, two frames deep

Each row: bytes and blocks live at the global peak (dhat's t-gmax), and the frames that name
them: the first frames matching PATTERN (default: our crates, tokio, hyper, SQLite), outside
the allocator itself. Divide by the number of actors alive at the peak for a per-actor cost.
"""
import collections
import json
import re
import sys

PATTERN = r"rivetkit|seed::|sqlite3|tokio::|hyper|tungstenite|axum"


def main():
    profile = json.load(open(sys.argv[1]))
    pattern = re.compile(sys.argv[2] if len(sys.argv) > 2 else PATTERN)
    depth = int(sys.argv[3]) if len(sys.argv) > 3 else 1
    frames = profile["ftbl"]
    live_bytes = collections.Counter()
    live_blocks = collections.Counter()
    for point in profile["pps"]:
        if not point.get("gb"):
            continue
        stack = [re.sub(r"^0x[0-9A-Fa-f]+: ", "", frames[i]) for i in point["fs"]]
        ours = [frame for frame in stack if pattern.search(frame) and not frame.startswith("alloc::")]
        name = " <- ".join(frame[:140] for frame in ours[:depth]) or (stack[0][:140] if stack else "?")
        live_bytes[name] += point["gb"]
        live_blocks[name] += point.get("gbk", 0)
    print(f"live at the peak: {sum(live_bytes.values()):,} bytes")
    for name, size in live_bytes.most_common(40):
        print(f"{size:>12,} {live_blocks[name]:>8,}  {name}")


if __name__ == "__main__":
    try:
        main()
    except BrokenPipeError:
        pass
