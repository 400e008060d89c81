#!/usr/bin/env bash
# mptcp-lab.sh: a network namespace where the Linux kernel's MPTCP talks to
# our userspace stack over TUN devices, to try the stack out by hand. It is
# the layout of `mptcp_tun::lab::TunLab` (the Rust labs used by the tests).
#
# Usage (as root):
#   scripts/mptcp-lab.sh up     [--paths N] [--name NS] [--signal] [--checksum]
#                               [--emulate PATH]...
#   scripts/mptcp-lab.sh status [--name NS]
#   scripts/mptcp-lab.sh down   [--name NS]
#
# up creates namespace NS (default: mptcp-lab) holding N (default 2, at most
# 64) persistent TUN devices mptcp0, mptcp1, ... Path i:
#   kernel side  10.200.i.1/24 and fd00:200:i::1/64 (i in hex in IPv6)
#   our stack    10.200.i.2    and fd00:200:i::2 (behind the TUN device)
# plus: source-based policy routing (traffic from the kernel's path-i
# address leaves by mptcp<i>: rule pref 1000+i, table 100+i), rp_filter off,
# no IPv6 link-local address on the TUNs (the kernel sends nothing into
# them on its own), MPTCP limits "subflows 8 add_addr_accepted 8".
#   --signal    adds an MPTCP "signal" endpoint (ADD_ADDR) for every path
#               from 1 on, so the kernel as a server announces them
#   --checksum  sets net.mptcp.checksum_enabled=1 (DSS checksums)
#   --emulate PATH  (repeatable; one per path, sets N) puts an emulated
#               path (`mptcp emulate`, PATH in `mptcp sim`'s syntax, e.g.
#               50mbit/10ms/0.3% or trace/30ms,trace=FILE) between the kernel
#               and our stack. Then the kernel is alone in NS, at 10.240.i.2
#               and fd00:240:i::2 on device emu<i>, and our stack runs in
#               NS-ours, where the TUN devices mptcp<i> are (10.200.i.1 the
#               namespace's side, 10.200.i.2 ours) and what our stack sends
#               from 10.200.i.2 is forwarded over emulated path i; the kernel
#               reaches 10.200.i.2 over path i. The emulator runs in the
#               background until `down` (log: /run/mptcp-lab-NS.emulate.log);
#               it is $MPTCP, else `mptcp` on PATH, else target/release/mptcp.
# Until a process attaches to a TUN device it shows NO-CARRIER and what the
# kernel sends into it is dropped; addresses, routes and sockets work.
# Nothing is sent outside the namespace; the host is not touched.
#
# status shows the namespace's devices, addresses, rules, MPTCP endpoints
# and limits, the non-zero MPTcpExt counters and the processes inside.
#
# down stops the processes still running in the namespace, deletes the
# TUN devices and the namespace. Absent namespace: nothing to do, exit 0.
# up on an existing namespace fails (run down first). If up fails half-way
# it removes what it made.

set -euo pipefail

NAME=mptcp-lab
PATHS=2
SIGNAL=0
CHECKSUM=0
EMULATE=()
PROG=$(basename "$0")

die() {
    echo "$PROG: $*" >&2
    exit 1
}

usage() {
    sed -n '2,/^$/{s/^# \{0,1\}//;/^set -euo/d;p}' "$0"
}

parse_options() {
    while [[ $# -gt 0 ]]; do
        case $1 in
        --paths) [[ $# -ge 2 ]] || die "--paths needs a number"; PATHS=$2; shift 2 ;;
        --paths=*) PATHS=${1#*=}; shift ;;
        --name) [[ $# -ge 2 ]] || die "--name needs a name"; NAME=$2; shift 2 ;;
        --name=*) NAME=${1#*=}; shift ;;
        --signal) SIGNAL=1; shift ;;
        --checksum) CHECKSUM=1; shift ;;
        --emulate) [[ $# -ge 2 ]] || die "--emulate needs a path"; EMULATE+=("$2"); shift 2 ;;
        --emulate=*) EMULATE+=("${1#*=}"); shift ;;
        -h | --help) usage; exit 0 ;;
        *) die "unknown option '$1' (see $PROG --help)" ;;
        esac
    done
    [[ $PATHS =~ ^[0-9]+$ ]] && ((PATHS >= 1 && PATHS <= 64)) \
        || die "--paths must be 1 to 64, not '$PATHS'"
    if ((${#EMULATE[@]})); then
        PATHS=${#EMULATE[@]}
    fi
    [[ $NAME =~ ^[A-Za-z0-9_][A-Za-z0-9_.-]*$ ]] || die "bad namespace name '$NAME'"
}

need_root() {
    [[ $(id -u) -eq 0 ]] || die "needs root (network namespaces, TUN devices)"
    command -v ip >/dev/null || die "needs iproute2 (ip)"
}

ns_exists() {
    ip netns list | awk '{print $1}' | grep -qxF -- "$NAME"
}

nsip() {
    ip -n "$NAME" "$@"
}

# With --emulate: our stack's namespace, the emulator's pid file and log.
OURS_SUFFIX=-ours
ours() { echo "$NAME$OURS_SUFFIX"; }
emu_pidfile() { echo "/run/mptcp-lab-$NAME.emulate.pid"; }
emu_log() { echo "/run/mptcp-lab-$NAME.emulate.log"; }

mptcp_bin() {
    if [[ -n ${MPTCP:-} ]]; then
        echo "$MPTCP"
    elif command -v mptcp >/dev/null; then
        command -v mptcp
    else
        local built
        built="$(cd "$(dirname "$0")/.." && pwd)/target/release/mptcp"
        [[ -x $built ]] || die "no mptcp binary (set MPTCP, or cargo build --release -p mptcp-cli)"
        echo "$built"
    fi
}

# IPv6 group of path i (hex).
hex() {
    printf '%x' "$1"
}

setup_path() {
    local i=$1 dev="mptcp$1" t=$((100 + $1)) pref=$((1000 + $1)) h
    h=$(hex "$i")
    nsip tuntap add dev "$dev" mode tun multi_queue
    nsip link set "$dev" addrgenmode none
    nsip link set "$dev" up
    nsip addr add "10.200.$i.1/24" dev "$dev"
    nsip addr add "fd00:200:$h::1/64" dev "$dev" nodad
    nsip rule add from "10.200.$i.1" table "$t" pref "$pref"
    nsip route add "10.200.$i.0/24" dev "$dev" table "$t"
    nsip route add default dev "$dev" table "$t"
    nsip -6 rule add from "fd00:200:$h::1" table "$t" pref "$pref"
    nsip -6 route add "fd00:200:$h::/64" dev "$dev" table "$t"
    nsip -6 route add default dev "$dev" table "$t"
    if ((SIGNAL && i >= 1)); then
        nsip mptcp endpoint add "10.200.$i.1" dev "$dev" signal
    fi
}

# Path i with --emulate: the TUN device in our namespace, forwarded into
# the emulator's path i (its table 2400+i there); the kernel's routes back.
setup_emulated_path() {
    local i=$1 dev="mptcp$1" o h
    o=$(ours)
    h=$(hex "$i")
    ip -n "$o" tuntap add dev "$dev" mode tun multi_queue
    ip -n "$o" link set "$dev" addrgenmode none
    ip -n "$o" link set "$dev" up
    ip -n "$o" addr add "10.200.$i.1/24" dev "$dev"
    ip -n "$o" addr add "fd00:200:$h::1/64" dev "$dev" nodad
    ip -n "$o" rule add from "10.200.$i.0/24" table $((2400 + i)) pref $((2300 + i))
    ip -n "$o" -6 rule add from "fd00:200:$h::/64" table $((2400 + i)) pref $((2300 + i))
    nsip route add "10.200.$i.0/24" dev "emu$i"
    nsip -6 route add "fd00:200:$h::/64" dev "emu$i" 2>/dev/null \
        || echo "$PROG: path $i carries no IPv6 (MTU below 1280)" >&2
    if ((SIGNAL && i >= 1)); then
        nsip mptcp endpoint add "10.240.$i.2" dev "emu$i" signal
    fi
}

start_emulator() {
    local bin args=() p
    bin=$(mptcp_bin)
    for p in "${EMULATE[@]}"; do
        args+=(--path "$p")
    done
    setsid "$bin" emulate --left "$(ours)" --right "$NAME" "${args[@]}" \
        </dev/null >"$(emu_log)" 2>&1 &
    echo $! >"$(emu_pidfile)"
    local n
    for ((n = 0; n < 100; n++)); do
        grep -q '^ready' "$(emu_log)" && return 0
        kill -0 "$(cat "$(emu_pidfile)")" 2>/dev/null || break
        sleep 0.1
    done
    cat "$(emu_log)" >&2
    die "mptcp emulate did not start"
}

stop_emulator() {
    local pidfile pid n
    pidfile=$(emu_pidfile)
    [[ -f $pidfile ]] || return 0
    pid=$(cat "$pidfile")
    if kill -INT "$pid" 2>/dev/null; then
        for ((n = 0; n < 50; n++)); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.1
        done
        kill -KILL "$pid" 2>/dev/null || true
    fi
    rm -f "$pidfile"
}

undo_up() {
    echo "$PROG: setting up $NAME failed; removing it" >&2
    stop_emulator
    ip netns del "$(ours)" 2>/dev/null || true
    ip netns del "$NAME" 2>/dev/null || true
}

cmd_up() {
    need_root
    ! ns_exists || die "namespace $NAME exists already (run: $PROG down --name $NAME)"
    ip netns add "$NAME"
    trap undo_up ERR
    nsip link set lo up
    ip netns exec "$NAME" sysctl -q -w net.ipv4.conf.all.rp_filter=0 \
        net.ipv4.conf.default.rp_filter=0 net.mptcp.enabled=1
    if ((CHECKSUM)); then
        ip netns exec "$NAME" sysctl -q -w net.mptcp.checksum_enabled=1
    fi
    local i
    if ((${#EMULATE[@]})); then
        ! ip netns list | awk '{print $1}' | grep -qxF -- "$(ours)" \
            || die "namespace $(ours) exists already"
        ip netns add "$(ours)"
        ip -n "$(ours)" link set lo up
        ip netns exec "$(ours)" sysctl -q -w net.ipv4.ip_forward=1 \
            net.ipv6.conf.all.forwarding=1 net.ipv4.conf.all.rp_filter=0 \
            net.ipv4.conf.default.rp_filter=0
        start_emulator
        for ((i = 0; i < PATHS; i++)); do
            setup_emulated_path "$i"
        done
    else
        for ((i = 0; i < PATHS; i++)); do
            setup_path "$i"
        done
    fi
    nsip mptcp limits set subflows 8 add_addr_accepted 8
    trap - ERR
    print_help
}

print_help() {
    local i tuns="" tuns6=""
    for ((i = 0; i < PATHS; i++)); do
        tuns+=" --tun mptcp$i=10.200.$i.2"
        tuns6+=" --tun mptcp$i=fd00:200:$(hex "$i")::2"
    done
    local x="ip netns exec $NAME" y="ip netns exec $NAME" extras="" k=10.200 k6=200 ki=1
    if ((${#EMULATE[@]})); then
        y="ip netns exec $(ours)"
        k=10.240 k6=240 ki=2
        extras+="Emulated paths (mptcp emulate, log $(emu_log)):"$'\n'
        for ((i = 0; i < PATHS; i++)); do
            extras+="  path $i: ${EMULATE[$i]}"$'\n'
        done
        extras+="Our stack runs in $(ours) (NO-CARRIER there until it attaches)."$'\n'
    fi
    if ((SIGNAL)); then
        extras+="The kernel announces (signal) $k.i.$ki for i >= 1."$'\n'
    fi
    if ((CHECKSUM)); then
        extras+="DSS checksums are on (net.mptcp.checksum_enabled=1)."$'\n'
    fi
    cat <<EOF
Lab $NAME is up: $PATHS path(s), kernel at $k.i.$ki / fd00:$k6:i::$ki, our stack at 10.200.i.2 / fd00:200:i::2.
${extras}Devices show NO-CARRIER (state DOWN) until our stack attaches to them.

Kernel as server, our stack as client (two terminals):
  $x mptcpize run iperf3 -s -B $k.0.$ki
  $y mptcp perf client $k.0.$ki$tuns

Our stack relaying stdin/stdout against a kernel MPTCP HTTP server:
  $x mptcpize run python3 -m http.server --bind $k.0.$ki 8000
  printf 'GET / HTTP/1.0\\r\\n\\r\\n' | $y mptcp connect $k.0.$ki:8000$tuns

Kernel as client, our stack as server:
  $y mptcp perf server$tuns
  $x mptcpize run iperf3 -c 10.200.0.2
  (let the kernel client open subflows on the other paths:
   ip -n $NAME mptcp endpoint add $k.1.$ki dev $([[ $k = 10.240 ]] && echo emu1 || echo mptcp1) subflow)

IPv6: use [fd00:$k6:0::$ki] and$tuns6
Watch:  $x nstat -saz 'MPTcp*'   |   $x ss -Mni   |   $x tcpdump -ni $([[ $k = 10.240 ]] && echo emu0 || echo mptcp0)
Status: $0 status --name $NAME        Tear down: $0 down --name $NAME
EOF
}

cmd_status() {
    need_root
    if ! ns_exists; then
        echo "namespace $NAME: absent (start it: $PROG up --name $NAME)"
        exit 1
    fi
    echo "== namespace $NAME"
    echo "-- devices and addresses (a TUN is DOWN until a process attaches)"
    nsip -br addr show
    echo "-- policy routing"
    nsip rule show | grep -v -e 'lookup local' -e 'lookup main' -e 'lookup default' || true
    nsip -6 rule show | grep -v -e 'lookup local' -e 'lookup main' -e 'lookup default' || true
    echo "-- MPTCP"
    ip netns exec "$NAME" sysctl net.mptcp.enabled net.mptcp.checksum_enabled
    nsip mptcp limits show
    nsip mptcp endpoint show
    echo "-- non-zero MPTcpExt counters"
    ip netns exec "$NAME" cat /proc/net/netstat | awk '
        $1 == "MPTcpExt:" { if (!n) { split($0, k); n = NF } else {
            for (i = 2; i <= NF; i++) if ($i != 0) printf "%s=%s ", k[i], $i } }
        END { print "" }'
    if [[ -f $(emu_pidfile) ]]; then
        echo "-- emulator (pid $(cat "$(emu_pidfile)")), our stack's namespace $(ours)"
        head -n -1 "$(emu_log)" | grep '^path' || true
        ip -n "$(ours)" -br addr show | grep mptcp || true
    fi
    echo "-- processes inside"
    local pids
    pids=$(ip netns pids "$NAME" | paste -sd, -)
    if [[ -n $pids ]]; then
        ps -o pid=,args= -p "$pids" || true
    else
        echo "(none)"
    fi
}

cmd_down() {
    need_root
    if ! ns_exists; then
        echo "namespace $NAME: absent, nothing to do"
        return 0
    fi
    local pid dev ns
    stop_emulator
    for ns in "$(ours)" "$NAME"; do
        ip netns list | awk '{print $1}' | grep -qxF -- "$ns" || continue
        for pid in $(ip netns pids "$ns"); do
            [[ $pid -ne $$ ]] && kill "$pid" 2>/dev/null || true
        done
        for dev in $(ip -n "$ns" -o link show type tun 2>/dev/null | awk -F': ' '{print $2}'); do
            ip -n "$ns" link del "$dev" 2>/dev/null || true
        done
        ip netns del "$ns"
        echo "namespace $ns: removed"
    done
}

main() {
    [[ $# -ge 1 ]] || { usage >&2; exit 2; }
    local command=$1
    shift
    case $command in
    up) parse_options "$@"; cmd_up ;;
    status) parse_options "$@"; cmd_status ;;
    down) parse_options "$@"; cmd_down ;;
    -h | --help | help) usage ;;
    *) usage >&2; exit 2 ;;
    esac
}

main "$@"
