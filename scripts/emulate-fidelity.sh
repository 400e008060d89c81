#!/usr/bin/env bash
# emulate-fidelity.sh: does `mptcp emulate` reproduce the simulator's paths?
# For each path, the same transfer twice: our stack's plain TCP (CUBIC) in
# the simulator (`mptcp sim --tcp`), and the kernel's TCP (CUBIC, iperf3)
# over the path emulated between two namespaces. Prints one table row per
# path: both goodputs, their difference, the kernel's smoothed RTT, and how
# late the emulator wrote its deliveries against the model's instants.
#
# Usage (as root, iperf3 installed):
#   scripts/emulate-fidelity.sh [--bytes SIZE] [--runs N] [--mptcp BIN] [PATH...]
# Each figure is the mean of N runs (default 3; seeds 1..N for the
# simulator and for the emulator's random streams).
# PATH in `mptcp sim` syntax (default: a clean, a lossy and an LTE-like
# trace path; the traces are generated, deterministic, into a temp dir and
# named lte.up / lte.down in PATH as @DIR@/lte.up). Namespaces are named
# emufid-<pid>-l/-r and removed on exit, whatever happens.

set -euo pipefail

BYTES=64MiB
RUNS=3
MPTCP=${MPTCP:-target/release/mptcp}
PATHS=()
while [ $# -gt 0 ]; do
    case "$1" in
        --bytes) BYTES=$2; shift 2 ;;
        --runs) RUNS=$2; shift 2 ;;
        --mptcp) MPTCP=$2; shift 2 ;;
        -h|--help) sed -n '2,14p' "$0"; exit 0 ;;
        *) PATHS+=("$1"); shift ;;
    esac
done

DIR=$(mktemp -d)
L=emufid-$$-l
R=emufid-$$-r
EMU_PID=
cleanup() {
    [ -n "$EMU_PID" ] && kill "$EMU_PID" 2>/dev/null && wait "$EMU_PID" 2>/dev/null || true
    ip netns del "$L" 2>/dev/null || true
    ip netns del "$R" 2>/dev/null || true
    rm -rf "$DIR"
}
trap cleanup EXIT

# An LTE-like trace: 10 s, the rate a random walk between LO and HI Mbit/s,
# redrawn every 100 ms; one line per 1500-byte delivery opportunity.
lte_trace() { # SEED LO HI
    awk -v seed="$1" -v lo="$2" -v hi="$3" 'BEGIN {
        srand(seed); rate = (lo + hi) / 2; acc = 0
        for (ms = 1; ms <= 10000; ms++) {
            if (ms % 100 == 1) {
                rate += (rand() - 0.5) * (hi - lo) / 3
                if (rate < lo) rate = lo; if (rate > hi) rate = hi
            }
            acc += rate * 1e6 / 8 / 1500 / 1000
            while (acc >= 1) { print ms; acc -= 1 }
        }
    }'
}
lte_trace 7 4 24 > "$DIR/lte.up"
lte_trace 11 8 40 > "$DIR/lte.down"

if [ ${#PATHS[@]} -eq 0 ]; then
    PATHS=("50mbit/10ms" "50mbit/10ms/0.2%" "trace/30ms,trace=@DIR@/lte.up+@DIR@/lte.down")
fi

ip netns add "$L"
ip netns add "$R"
ip -n "$L" link set lo up
ip -n "$R" link set lo up

printf '%-52s %10s %10s %7s %9s %s\n' path "sim Mbit/s" "kernel" diff "srtt ms" "emulator lateness"
# One kernel transfer over PATH with emulator seed SEED: "Mbit/s srtt_ms",
# and the emulator's lateness line in $DIR/late.
kernel_run() { # PATH SEED
    "$MPTCP" emulate --left "$L" --right "$R" --path "$1" --seed "$2" > "$DIR/emu.out" 2>&1 &
    EMU_PID=$!
    for _ in $(seq 100); do grep -q '^ready' "$DIR/emu.out" && break; sleep 0.1; done
    ip netns exec "$R" iperf3 -s -1 -B 10.240.0.2 > "$DIR/server.log" 2>&1 &
    local server=$!
    for _ in $(seq 100); do
        ip netns exec "$R" ss -ltn | grep -q '10.240.0.2:5201' && break; sleep 0.1
    done
    ip netns exec "$L" iperf3 -c 10.240.0.2 -C cubic -n "$BYTES" -J > "$DIR/client.json" || true
    wait "$server" || true
    kill -INT "$EMU_PID"; wait "$EMU_PID" || true; EMU_PID=
    sed -n 's/^lateness: [0-9]* deliveries, //p' "$DIR/emu.out" | cut -d';' -f1 > "$DIR/late"
    python3 -c '
import json, sys
j = json.load(open(sys.argv[1]))
if "error" in j: sys.exit("iperf3: " + j["error"])
rx = j["end"]["sum_received"]["bits_per_second"] / 1e6
rtt = j["end"]["streams"][0]["sender"].get("mean_rtt", 0) / 1000
print("%.2f %.1f" % (rx, rtt))' "$DIR/client.json"
}

mean() { awk '{ s += $1; n++ } END { printf "%.2f", s / n }'; }

for spec in "${PATHS[@]}"; do
    path=${spec//@DIR@/$DIR}
    sims=() kernels=() rtts=()
    for seed in $(seq "$RUNS"); do
        sims+=("$("$MPTCP" sim --tcp --cc cubic --path "$path" --bytes "$BYTES" --seed "$seed" |
            awk '/^goodput/ { print $2 }')")
        read -r k r < <(kernel_run "$path" "$seed")
        kernels+=("$k") rtts+=("$r")
    done
    sim=$(printf '%s\n' "${sims[@]}" | mean)
    kernel=$(printf '%s\n' "${kernels[@]}" | mean)
    srtt=$(printf '%s\n' "${rtts[@]}" | mean)
    late=$(cat "$DIR/late")
    diff=$(awk -v a="$sim" -v b="$kernel" 'BEGIN { printf "%+.1f%%", (b - a) / a * 100 }')
    printf '%-52s %10s %10s %7s %9s %s\n' "$spec" "$sim" "$kernel" "$diff" "$srtt" "$late"
    echo "    runs: sim ${sims[*]}; kernel ${kernels[*]}" >&2
done
