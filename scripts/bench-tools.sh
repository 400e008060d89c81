#!/usr/bin/env bash
# The command-line tool against the kernel's MPTCP sender, both fed by the
# same pipe, side by side in each round (needs root; issue 11's goal for
# the tools):
#
#   scripts/bench-tools.sh [--gib 2] [--runs 3]
#
# In a namespace made as `scripts/mptcp-lab.sh up --paths 1` (the kernel at
# 10.200.0.1, our stack at 10.200.0.2 behind the TUN device mptcp0):
#   tool  : producer | mptcp connect     -> a kernel MPTCP sink
#   kernel: producer | kernel MPTCP sender (a socket of protocol 262)
#                                         -> mptcp listen | a sink
#   pipe  : producer | a sink             (the pipe alone, no network)
# The producer writes GIB GiB of zeros 1 MiB at a time into a 1 MiB pipe;
# every sink reads 1 MiB at a time and times from its first byte to the
# end of the stream. Each row is the median of RUNS.
#
# The kernel's MPTCP sender is measured against our receiver: sending to
# its own receiver over veth, the kernel's MPTCP falls to about 0.2 Gbit/s
# after its first second on this machine (docs/performance.md).
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "$(id -u)" != 0 ]; then
  echo "bench-tools: needs root (network namespaces and TUN devices)" >&2
  exit 1
fi
GIB=2
RUNS=3
while [ $# -gt 0 ]; do
  case "$1" in
    --gib) GIB=$2; shift 2 ;;
    --runs) RUNS=$2; shift 2 ;;
    *) echo "bench-tools: unknown argument $1" >&2; exit 2 ;;
  esac
done
cargo build --release -q -p mptcp-cli
BIN=$PWD/target/release/mptcp
NS=mptcp-bench-tools-$$
WORK=$(mktemp -d)
cleanup() {
  ip netns pids "$NS" 2>/dev/null | xargs -r kill 2>/dev/null || true
  scripts/mptcp-lab.sh down --name "$NS" >/dev/null 2>&1 || true
  rm -rf "$WORK"
}
trap cleanup EXIT
scripts/mptcp-lab.sh up --paths 1 --name "$NS" >/dev/null

cat >"$WORK/producer.py" <<'PY'
import fcntl, os, sys
try:
    fcntl.fcntl(1, 1031, 1 << 20)  # F_SETPIPE_SZ
except OSError:
    pass
block = b"\0" * (1 << 20)
for _ in range(int(sys.argv[1]) * 1024):
    v = memoryview(block)
    while v:
        v = v[os.write(1, v):]
PY
# A sink: from a listening MPTCP socket at ADDR, or standard input ("-").
cat >"$WORK/sink.py" <<'PY'
import socket, sys, time
if sys.argv[1] == "-":
    read = lambda: sys.stdin.buffer.raw.read(1 << 20)
else:
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM, 262)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((sys.argv[1], 5201))
    s.listen(1)
    print("ready", flush=True)
    c, _ = s.accept()
    read = lambda: c.recv(1 << 20)
n, t = 0, None
while True:
    d = read()
    if not d:
        break
    if t is None:
        t = time.monotonic()
    n += len(d)
dt = time.monotonic() - t
print("%.3f" % (n * 8 / dt / 1e9), flush=True)
PY
# The kernel's MPTCP sender, fed by standard input.
cat >"$WORK/ksend.py" <<'PY'
import socket, sys, time
s = socket.socket(socket.AF_INET, socket.SOCK_STREAM, 262)
for _ in range(100):
    try:
        s.connect((sys.argv[1], 5201))
        break
    except OSError:
        time.sleep(0.05)
while True:
    d = sys.stdin.buffer.raw.read(1 << 20)
    if not d:
        break
    s.sendall(d)
s.shutdown(socket.SHUT_WR)
s.recv(1)
PY

in_ns() { ip netns exec "$NS" "$@"; }

tool() {
  in_ns python3 "$WORK/sink.py" 10.200.0.1 >"$WORK/out" &
  local sink=$!
  until grep -q ready "$WORK/out" 2>/dev/null; do sleep 0.05; done
  in_ns sh -c "python3 $WORK/producer.py $GIB | $BIN connect 10.200.0.1:5201 --tun mptcp0=10.200.0.2 >/dev/null"
  wait $sink
  tail -1 "$WORK/out"
}

kernel() {
  in_ns sh -c "$BIN listen 5201 --tun mptcp0=10.200.0.2 </dev/null | python3 $WORK/sink.py -" >"$WORK/out" &
  local sink=$!
  in_ns sh -c "python3 $WORK/producer.py $GIB | python3 $WORK/ksend.py 10.200.0.2"
  wait $sink
  tail -1 "$WORK/out"
}

pipe() {
  python3 "$WORK/producer.py" "$GIB" | python3 "$WORK/sink.py" -
}

median() { sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

declare -A rows
for _ in $(seq "$RUNS"); do
  for what in tool kernel pipe; do
    rows[$what]+="$($what) "
  done
done
echo "$GIB GiB per run, median of $RUNS (Gbit/s, timed by the sink)"
for what in tool kernel pipe; do
  m=$(echo "${rows[$what]}" | tr ' ' '\n' | grep . | median)
  printf "%-7s %7s   (runs: %s)\n" "$what" "$m" "${rows[$what]% }"
done
t=$(echo "${rows[tool]}" | tr ' ' '\n' | grep . | median)
k=$(echo "${rows[kernel]}" | tr ' ' '\n' | grep . | median)
awk -v t="$t" -v k="$k" 'BEGIN { printf "tool / kernel sender: %.2f\n", t / k }'
