# Shell functions the benchmark scripts share: `source "$ROOT/benches/lib.sh"`.

# free_port: a TCP port free on 127.0.0.1 now.
free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# rss_kib PID: the resident set of process PID, in KiB.
rss_kib() { awk '/^VmRSS/ {print $2}' "/proc/$1/status"; }

# awake_actors METRICS_URL: the awake actors, per a server's Prometheus gauge.
awake_actors() {
  curl -fs "$1" | awk '/^rivetkit_actors\{.*state="awake"/ {n += $2} END {print n + 0}'
}
