#!/usr/bin/env bash
# mptcp-lab.sh: a network namespace where the Linux kernel's MPTCP talks to
# our userspace stack over TUN devices, to try the stack out by hand. It is
# the layout of `mptcp_tun::lab::TunLab` (the Rust labs used by the tests).
#
# Usage (as root):
#   scripts/mptcp-lab.sh up     [--paths N] [--name NS] [--signal] [--checksum]
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
        -h | --help) usage; exit 0 ;;
        *) die "unknown option '$1' (see $PROG --help)" ;;
        esac
    done
    [[ $PATHS =~ ^[0-9]+$ ]] && ((PATHS >= 1 && PATHS <= 64)) \
        || die "--paths must be 1 to 64, not '$PATHS'"
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

# IPv6 group of path i (hex).
hex() {
    printf '%x' "$1"
}

setup_path() {
    local i=$1 dev="mptcp$1" t=$((100 + $1)) pref=$((1000 + $1)) h
    h=$(hex "$i")
    nsip tuntap add dev "$dev" mode tun
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

undo_up() {
    echo "$PROG: setting up $NAME failed; removing it" >&2
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
    for ((i = 0; i < PATHS; i++)); do
        setup_path "$i"
    done
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
    local x="ip netns exec $NAME" extras=""
    if ((SIGNAL)); then
        extras+="The kernel announces (signal) 10.200.i.1 for i >= 1."$'\n'
    fi
    if ((CHECKSUM)); then
        extras+="DSS checksums are on (net.mptcp.checksum_enabled=1)."$'\n'
    fi
    cat <<EOF
Lab $NAME is up: $PATHS path(s), kernel at 10.200.i.1 / fd00:200:i::1, our stack at .2 / ::2.
${extras}Devices show NO-CARRIER (state DOWN) until our stack attaches to them.

Kernel as server, our stack as client (two terminals):
  $x mptcpize run iperf3 -s -B 10.200.0.1
  $x mptcp perf client 10.200.0.1$tuns

Our stack relaying stdin/stdout against a kernel MPTCP HTTP server:
  $x mptcpize run python3 -m http.server --bind 10.200.0.1 8000
  printf 'GET / HTTP/1.0\\r\\n\\r\\n' | $x mptcp connect 10.200.0.1:8000$tuns

Kernel as client, our stack as server:
  $x mptcp perf server$tuns
  $x mptcpize run iperf3 -c 10.200.0.2
  (let the kernel client open subflows on the other paths:
   ip -n $NAME mptcp endpoint add 10.200.1.1 dev mptcp1 subflow)

IPv6: use [fd00:200:0::1] and$tuns6
Watch:  $x nstat -saz 'MPTcp*'   |   $x ss -Mni   |   $x tcpdump -ni mptcp0
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
    local pid dev
    for pid in $(ip netns pids "$NAME"); do
        [[ $pid -ne $$ ]] && kill "$pid" 2>/dev/null || true
    done
    for dev in $(nsip -o link show type tun 2>/dev/null | awk -F': ' '{print $2}'); do
        nsip link del "$dev" 2>/dev/null || true
    done
    ip netns del "$NAME"
    echo "namespace $NAME: removed"
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
