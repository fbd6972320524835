#!/usr/bin/env bash
# The natrix network-namespace lab: a client, the appliance and three HTTP
# backends, wired as a two-arm deployment with veth pairs and a bridge,
# dual-stack (IPv4 and IPv6).
#
#   scripts/netns-lab.sh up       build the lab (tears down a previous one first)
#   scripts/netns-lab.sh down     remove everything; never fails if already down
#   scripts/netns-lab.sh status   list what exists
#   scripts/netns-lab.sh config   print the natrix configuration for the lab
#   scripts/netns-lab.sh command  print the natrix and client commands to run
#   scripts/netns-lab.sh backend-stop N   stop be N's servers (its health
#                                         probes fail: connection refused)
#   scripts/netns-lab.sh backend-start N  start them again; returns once they
#                                         answer
#   scripts/netns-lab.sh backend-replace N  replace be N's interface with one of
#                                         a new MAC (as a replaced server or NIC),
#                                         which announces itself (arp_notify)
#
# PREFIX (default "nx") starts every namespace and interface name, so several
# labs can coexist; keep it at most 11 characters (interface names are limited
# to 15). Everything lives in namespaces the script creates; the only
# addresses used are in 198.18.0.0/15 and, for IPv6, in 2001:2::/48 (RFC
# 5180, the IPv6 benchmarking range).
#
# ROUTER_MTU (with `up`; unset by default) puts a router namespace between
# the client and natrix, whose link toward the client has that MTU (576 to
# 1500; the client's end stays at 1500). The router takes the client's place
# on natrix's public segment (198.18.1.2 and 2001:2:0:1::2, the same MAC, so
# natrix's configuration does not change); the client moves behind it:
#
#   ${P}client eth0 198.18.2.2/24 mtu 1500 -- eth1 198.18.2.1/24 mtu ROUTER_MTU
#              2001:2:0:2::2/64                  2001:2:0:2::1/64
#                                   ${P}rt  eth0 198.18.1.2/24 ------ ${P}pub
#                                            2001:2:0:1::2/64
#
# A backend's full-size segment toward the client then makes the router send
# ICMP "fragmentation needed" (IPv4) or ICMPv6 "Packet Too Big" (IPv6) to the
# frontend address, which natrix must pass to the connection's backend (path
# MTU discovery, RFC 1191 and RFC 8201). IPv6 crosses the router only when
# ROUTER_MTU is at least 1280 (IPv6's minimum link MTU, RFC 8200 section 5).
#
#   ${P}client  eth0 198.18.1.2/24 ------ ${P}pub  \
#               2001:2:0:1::2/64                    ${P}lb: natrix owns both ends
#   ${P}sw      bridge ${P}br: ${P}slb -- ${P}priv /  (no IP, kernel silent)
#                              ${P}smg -- ${P}mgmt 198.19.1.2/24 (${P}lb's kernel)
#                                              2001:2:1:1::2/64
#                              ${P}s1  -- eth0 of ${P}be1 198.19.1.11/24 2001:2:1:1::11/64
#                              ${P}s2  -- eth0 of ${P}be2 198.19.1.12/24 2001:2:1:1::12/64
#                              ${P}s3  -- eth0 of ${P}be3 198.19.1.13/24 2001:2:1:1::13/64
#
# natrix: frontends 198.18.1.10 and 2001:2:0:1::10 (answered to ARP and
# Neighbor Solicitations by natrix on the client's segment), own addresses
# 198.18.1.1 and 2001:2:0:1::1 (public), 198.19.1.1 and 2001:2:1:1::1 (the
# backends' default gateways).
#
# ${P}mgmt is the management leg: the kernel of ${P}lb, where natrix's
# management thread sends its health probes from, reaches the backends on it
# directly. The backends answer 198.19.1.2 and 2001:2:1:1::2 on-link, so
# probe traffic never crosses natrix (their default routes, for client
# traffic, stay natrix).
#
# IPv6 is on only where the lab needs it (the client's and the backends'
# eth0, the router's eth0 and eth1, ${P}mgmt, and every loopback). Its
# addresses are added with `nodad` (usable at once); no interface sends
# router solicitations or accepts router advertisements, and only the
# router's have link-local addresses (see enable_ipv6). natrix answers the
# kernels' Neighbor Solicitations for its own and the frontend's addresses;
# its configuration still names the backends' MACs. A kernel without a
# link-local address still sends MLDv2 reports when it joins a group (a new
# address's solicited-node group), from ::: natrix counts them as
# martian-source drops.
set -euo pipefail

P="${PREFIX:-nx}"
if ! [[ "$P" =~ ^[a-z][a-z0-9]{0,10}$ ]]; then
    echo "netns-lab.sh: PREFIX must be 1 to 11 lower-case letters and digits, starting with a letter (got '$P')" >&2
    exit 2
fi
RUN="/run/natrix-lab-$P"
ROUTER_MTU="${ROUTER_MTU:-}"
if [ -n "$ROUTER_MTU" ] && ! { [[ "$ROUTER_MTU" =~ ^[0-9]{3,4}$ ]] && ((ROUTER_MTU >= 576 && ROUTER_MTU <= 1500)); }; then
    echo "netns-lab.sh: ROUTER_MTU must be 576 to 1500 (got '$ROUTER_MTU')" >&2
    exit 2
fi

# Fixed, locally administered MAC addresses (02:4e:58 is "NX").
MAC_NATRIX="02:4e:58:00:00:01"   # ${P}pub and ${P}priv: appliance.mac
MAC_CLIENT="02:4e:58:01:00:02"   # client eth0 (appliance.gateway4 resolves to it)
MAC_BE=("02:4e:58:02:00:0b" "02:4e:58:02:00:0c" "02:4e:58:02:00:0d")
MAC_BE_NEW=("02:4e:58:02:01:0b" "02:4e:58:02:01:0c" "02:4e:58:02:01:0d") # backend-replace
MAC_BR="02:4e:58:03:00:ff"       # the bridge in ${P}sw
MAC_SLB="02:4e:58:03:00:01"      # bridge port toward ${P}priv
MAC_SBE=("02:4e:58:03:00:0b" "02:4e:58:03:00:0c" "02:4e:58:03:00:0d")
MAC_MGMT="02:4e:58:04:00:02"     # ${P}mgmt: the lb namespace's kernel
MAC_SMG="02:4e:58:03:00:02"      # bridge port toward ${P}mgmt
MAC_CLIENT_R="02:4e:58:01:00:03" # client eth0 behind the router (ROUTER_MTU)
MAC_RT_C="02:4e:58:05:00:01"     # ${P}rt eth1, toward the client

CLIENT_IP="198.18.1.2"
FRONTEND_IP="198.18.1.10"
PUBLIC_IP="198.18.1.1"
PRIVATE_IP="198.19.1.1"
MGMT_IP="198.19.1.2"
BE_IP=("198.19.1.11" "198.19.1.12" "198.19.1.13")
BE_PORT=8080
# The backends' second HTTP port: the pool of a SIIT frontend cannot share
# the IPv4 pool's endpoints (a backend endpoint serves one frontend).
SIIT_PORT=8064
# Behind the router (ROUTER_MTU): the client's segment.
CLIENT_IP_R="198.18.2.2"
ROUTER_IP_C="198.18.2.1"

# IPv6, from 2001:2::/48 (RFC 5180): the public /64, the client's /64 behind
# the router, and the private /64.
CLIENT_IP6="2001:2:0:1::2"
FRONTEND_IP6="2001:2:0:1::10"
PUBLIC_IP6="2001:2:0:1::1"
PRIVATE_IP6="2001:2:1:1::1"
MGMT_IP6="2001:2:1:1::2"
BE_IP6=("2001:2:1:1::11" "2001:2:1:1::12" "2001:2:1:1::13")
CLIENT_IP6_R="2001:2:0:2::2"
ROUTER_IP6_C="2001:2:0:2::1"
# The backends' UDP echo, on their IPv6 addresses only (UDP port 7 of their
# IPv4 addresses stays closed: see the IPv4 `echo` NAT rule).
ECHO_PORT=7

# Every namespace the lab may have (the router only with ROUTER_MTU): `down`
# removes each that exists.
NAMESPACES=("${P}client" "${P}lb" "${P}sw" "${P}be1" "${P}be2" "${P}be3" "${P}rt")

die() {
    echo "netns-lab.sh: $*" >&2
    exit 1
}

need_root() {
    [ "$(id -u)" -eq 0 ] || die "must run as root"
}

ensure_tools() {
    local need=()
    command -v ip >/dev/null 2>&1 || need+=(iproute2)
    command -v ethtool >/dev/null 2>&1 || need+=(ethtool)
    command -v curl >/dev/null 2>&1 || need+=(curl)
    command -v python3 >/dev/null 2>&1 || need+=(python3)
    if ((${#need[@]})); then
        echo "netns-lab.sh: installing ${need[*]}" >&2
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -qq
        apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
    fi
}

ns_exists() {
    [ -e "/run/netns/$1" ]
}

# Runs a command in a namespace.
nsx() {
    local ns="$1"
    shift
    ip netns exec "$ns" "$@"
}

# IPv6 off on every interface but loopback, until `enable_ipv6` turns it on
# for one.
quiet_namespace() {
    local ns="$1"
    nsx "$ns" sysctl -qw net.ipv6.conf.all.disable_ipv6=1
    nsx "$ns" sysctl -qw net.ipv6.conf.default.disable_ipv6=1
    nsx "$ns" sysctl -qw net.ipv6.conf.lo.disable_ipv6=0
    nsx "$ns" sysctl -qw net.ipv4.ip_forward=0
    nsx "$ns" sysctl -qw net.ipv6.conf.all.forwarding=0
}

# IPv6 on one interface (still down), with as little chatter as IPv6
# allows: no duplicate address detection, no router solicitation, router
# advertisements ignored, and no link-local address (so no MLD report but
# from ::) unless the third argument is "link-local": a router needs one,
# as Linux sends a Neighbor Solicitation for a packet it forwards only from
# a link-local address. Its other addresses are added with `nodad`.
enable_ipv6() {
    local ns="$1" dev="$2" gen=1 key
    if [ "${3:-}" = link-local ]; then
        gen=0
    fi
    for key in "addr_gen_mode=$gen" accept_ra=0 router_solicitations=0 accept_dad=0 dad_transmits=0 disable_ipv6=0; do
        nsx "$ns" sysctl -qw "net.ipv6.conf.$dev.$key"
    done
}

# Per-interface: IPv6 off (`enable_ipv6` turns it on where needed), offloads
# that af_packet cannot see through off
# (checksums left to the NIC, segmentation and receive coalescing).
prepare_if() {
    local ns="$1" dev="$2" mac="$3"
    ip -n "$ns" link set dev "$dev" address "$mac"
    nsx "$ns" sysctl -qw "net.ipv6.conf.$dev.disable_ipv6=1"
    nsx "$ns" ethtool -K "$dev" tx off rx off gso off gro off tso off >/dev/null
}

# A veth pair created directly in its two namespaces (no name in the root
# namespace, so nothing can collide there).
veth() {
    local ns_a="$1" dev_a="$2" mac_a="$3" ns_b="$4" dev_b="$5" mac_b="$6"
    ip -n "$ns_a" link add name "$dev_a" type veth peer name "$dev_b" netns "$ns_b"
    prepare_if "$ns_a" "$dev_a" "$mac_a"
    prepare_if "$ns_b" "$dev_b" "$mac_b"
}

write_server() {
    cat >"$RUN/server.py" <<'EOF'
# A small threaded HTTP server that says which backend it is, on each of
# ADDRESS... (IPv4 or IPv6) and each of PORTS (comma-separated), each its
# own socket, and a UDP echo on ECHO_PORT of each IPv6 address:
#   python3 server.py NAME PORTS ECHO_PORT ADDRESS...
# Every request is logged as "CLIENT ..." (the client's address as the
# server saw it, IPv4 or IPv6), every datagram echoed as "udp CLIENT LENGTH".
#   GET /                    "backend NAME"
#   GET /bytes/N             N bytes
#   GET /drip/COUNT/SIZE/GAP COUNT chunks of SIZE bytes, GAP seconds apart
#   GET /hold                a line, then waits for the client to send, close
#                            or reset, and logs which ("hold ADDR reset")
import http.server
import socket
import socketserver
import sys
import threading
import time

name, echo_port = sys.argv[1], int(sys.argv[3])
ports = [int(p) for p in sys.argv[2].split(",")]
addresses = sys.argv[4:]
body = ("backend %s\n" % name).encode()
BLOCK = b"natrix lab payload 0123456789abcdefghijklmnopqrstuvwxyz!\n" * 1024


def log(line):
    sys.stderr.write(line + "\n")
    sys.stderr.flush()


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.0"

    def head(self, length):
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        if length is not None:
            self.send_header("Content-Length", str(length))
        self.end_headers()
        self.wfile.flush()

    def data(self, n):
        while n > 0:
            part = BLOCK[: min(n, len(BLOCK))]
            self.wfile.write(part)
            n -= len(part)
        self.wfile.flush()

    def do_GET(self):
        parts = self.path.strip("/").split("/")
        try:
            if parts[0] == "bytes" and len(parts) == 2:
                n = int(parts[1])
                self.head(n)
                self.data(n)
                return
            if parts[0] == "drip" and len(parts) == 4:
                count, size, gap = int(parts[1]), int(parts[2]), float(parts[3])
                self.head(count * size)
                for i in range(count):
                    if i:
                        time.sleep(gap)
                    self.data(size)
                return
            if parts == ["hold"]:
                self.head(None)
                self.wfile.write(b"holding\n")
                self.wfile.flush()
                try:
                    got = self.connection.recv(1)
                    outcome = "data" if got else "eof"
                except ConnectionResetError:
                    outcome = "reset"
                except OSError as e:
                    outcome = "error %s" % e.errno
                log("hold %s %s" % (self.client_address[0], outcome))
                return
        except ValueError:
            self.send_error(400)
            return
        self.head(len(body))
        self.wfile.write(body)

    def log_message(self, fmt, *args):
        sys.stderr.write("%s %s\n" % (self.client_address[0], fmt % args))
        sys.stderr.flush()


class Server(http.server.ThreadingHTTPServer):
    request_queue_size = 1024
    daemon_threads = True

    def server_bind(self):
        # HTTPServer.server_bind looks the address up in DNS (getfqdn): skip
        # that, the lab namespaces have no resolver.
        socketserver.TCPServer.server_bind(self)
        self.server_name, self.server_port = self.server_address[:2]


class Server6(Server):
    address_family = socket.AF_INET6


def echo(sock):
    while True:
        try:
            data, peer = sock.recvfrom(65535)
            sock.sendto(data, peer)
        except OSError as e:
            log("udp error %s" % e.errno)
            continue
        log("udp %s %d" % (peer[0], len(data)))


# Every socket is bound before any serves: once one answers, all do.
servers, echoes = [], []
for address in addresses:
    for port in ports:
        kind = Server6 if ":" in address else Server
        servers.append(kind((address, port), Handler))
    if ":" in address:
        u = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
        u.bind((address, echo_port))
        echoes.append(u)
threads = [threading.Thread(target=s.serve_forever, daemon=True) for s in servers]
threads += [threading.Thread(target=echo, args=(u,), daemon=True) for u in echoes]
for t in threads:
    t.start()
for t in threads:
    t.join()
EOF
}

start_backend() {
    local i="$1" ns="${P}be$1" ip="${BE_IP[$(($1 - 1))]}" ip6="${BE_IP6[$(($1 - 1))]}"
    # setsid and ip netns exec both exec in place, so $! is the server's pid.
    # Appends: a restarted server (backend-start) keeps the earlier log.
    ip netns exec "$ns" setsid python3 "$RUN/server.py" "be$i" "$BE_PORT,$SIIT_PORT" "$ECHO_PORT" "$ip" "$ip6" \
        </dev/null >>"$RUN/be$i.log" 2>&1 &
    echo $! >"$RUN/be$i.pid"
}

# Stops be N's server and waits until it is gone (its port then refuses).
stop_backend() {
    local i="$1" pid _
    [ -f "$RUN/be$i.pid" ] || return 0
    pid="$(cat "$RUN/be$i.pid")"
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 1 50); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    kill -9 "$pid" 2>/dev/null || true
    rm -f "$RUN/be$i.pid"
}

# Replaces be N's interface (the veth pair to the bridge) with one of a new
# MAC, as a replaced server or NIC would come up: its server keeps running
# (bound to its address, which comes back), connections in flight are cut,
# and once the link is up the new interface announces itself with a
# gratuitous ARP (what `arping -U` or the kernel's arp_notify send; the
# kernel's own may go out before the veth carries frames), which natrix's
# neighbour cache takes.
replace_backend() {
    local i="$1" ns="${P}be$1" ip="${BE_IP[$(($1 - 1))]}" mac="${MAC_BE_NEW[$(($1 - 1))]}" _
    ip -n "$ns" link del eth0
    veth "$ns" eth0 "$mac" "${P}sw" "${P}s$i" "${MAC_SBE[$((i - 1))]}"
    ip -n "${P}sw" link set dev "${P}s$i" master "${P}br"
    ip -n "${P}sw" link set dev "${P}s$i" up
    ip -n "$ns" addr add "$ip/24" dev eth0
    ip -n "$ns" link set dev eth0 up
    ip -n "$ns" route add default via "$PRIVATE_IP" dev eth0
    for _ in $(seq 1 50); do
        ip -n "$ns" -o link show dev eth0 | grep -q 'state UP' && break
        sleep 0.1
    done
    nsx "$ns" python3 - "$mac" "$ip" <<'PY'
# A gratuitous ARP (RFC 5227 section 3's announcement) on eth0.
import socket, sys
mac = bytes.fromhex(sys.argv[1].replace(":", ""))
ip = socket.inet_aton(sys.argv[2])
frame = b"\xff" * 6 + mac + b"\x08\x06" + b"\x00\x01\x08\x00\x06\x04\x00\x01"
frame += mac + ip + b"\x00" * 6 + ip
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
s.bind(("eth0", 0))
s.send(frame.ljust(60, b"\x00"))
PY
}

# The backend number argument of backend-stop and backend-start.
backend_arg() {
    case "${1:-}" in
    1 | 2 | 3) echo "$1" ;;
    *) die "backend number 1, 2 or 3 expected (got '${1:-}')" ;;
    esac
}

lab_up() {
    ns_exists "${P}be1" && [ -d "$RUN" ] || die "lab $P is not up"
}

# Waits until be N's server answers on IPv4 and IPv6 (its UDP echo was bound
# before it started serving).
wait_backend() {
    local i="$1" ns="${P}be$1" ip="${BE_IP[$(($1 - 1))]}" ip6="${BE_IP6[$(($1 - 1))]}" _
    for _ in $(seq 1 100); do
        if nsx "$ns" curl -sf --max-time 1 -o /dev/null "http://$ip:$BE_PORT/" &&
            nsx "$ns" curl -gsf --max-time 1 -o /dev/null "http://[$ip6]:$BE_PORT/"; then
            return 0
        fi
        sleep 0.1
    done
    die "backend be$i ($ip:$BE_PORT, [$ip6]:$BE_PORT) does not answer; see $RUN/be$i.log"
}

print_commands() {
    cat <<EOF
natrix:
  scripts/netns-lab.sh config > /tmp/$P-lab.toml   # same as examples/lab.toml
  ip netns exec ${P}lb natrix run --config /tmp/$P-lab.toml -- -l 0-1 --no-huge -m 512 --no-pci --no-shconf --file-prefix $P --vdev net_af_packet0,iface=${P}pub --vdev net_af_packet1,iface=${P}priv
then, from the client:
  ip netns exec ${P}client curl http://$FRONTEND_IP/
  ip netns exec ${P}client ab -n 3000 -c 30 http://$FRONTEND_IP/
over IPv6:
  ip netns exec ${P}client curl -6 -g 'http://[$FRONTEND_IP6]/'
  ip netns exec ${P}client ab -n 3000 -c 30 'http://[$FRONTEND_IP6]/'
  ip netns exec ${P}client python3 -c "import socket; s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM); s.connect(('$FRONTEND_IP6', $ECHO_PORT)); s.send(b'hi'); print(s.recvfrom(9))"
be1's ICMP port unreachable (UDP port 7 of its IPv4 address: nothing listens), translated by natrix:
  ip netns exec ${P}client python3 -c "import socket; s = socket.socket(2, 2); s.connect(('$FRONTEND_IP', 7)); s.send(b'hi'); s.recv(9)"
large and slow answers: http://$FRONTEND_IP/bytes/N, /drip/COUNT/SIZE/GAP, /hold (and on [$FRONTEND_IP6])
backend access logs: $RUN/be{1,2,3}.log (health probes come from $MGMT_IP and $MGMT_IP6)
make be2 fail its health probes, and recover:
  scripts/netns-lab.sh backend-stop 2
  scripts/netns-lab.sh backend-start 2
  natrix stats --control SOCK    # with natrix run --control SOCK
EOF
}

cmd_up() {
    need_root
    ensure_tools
    cmd_down
    # Anything failing from here on leaves no half-built lab behind.
    UP_DONE=0
    trap 'if [ "$UP_DONE" != 1 ]; then echo "netns-lab.sh: up failed; tearing down" >&2; cmd_down; fi' EXIT
    mkdir -p "$RUN"

    local ns
    for ns in "${NAMESPACES[@]}"; do
        if [ "$ns" = "${P}rt" ] && [ -z "$ROUTER_MTU" ]; then
            continue
        fi
        ip netns add "$ns"
        quiet_namespace "$ns"
        ip -n "$ns" link set lo up
    done

    if [ -z "$ROUTER_MTU" ]; then
        # Public side: the appliance's public port <-> the client.
        veth "${P}lb" "${P}pub" "$MAC_NATRIX" "${P}client" eth0 "$MAC_CLIENT"
    else
        # The router in the client's place on the public segment, the
        # client behind it on a link of ROUTER_MTU (router's end).
        veth "${P}lb" "${P}pub" "$MAC_NATRIX" "${P}rt" eth0 "$MAC_CLIENT"
        veth "${P}rt" eth1 "$MAC_RT_C" "${P}client" eth0 "$MAC_CLIENT_R"
        nsx "${P}rt" sysctl -qw net.ipv4.ip_forward=1
        ip -n "${P}rt" link set dev eth1 mtu "$ROUTER_MTU"
        ip -n "${P}rt" addr add "$CLIENT_IP/24" dev eth0
        ip -n "${P}rt" addr add "$ROUTER_IP_C/24" dev eth1
        if ((ROUTER_MTU >= 1280)); then
            nsx "${P}rt" sysctl -qw net.ipv6.conf.all.forwarding=1
            enable_ipv6 "${P}rt" eth0 link-local
            enable_ipv6 "${P}rt" eth1 link-local
            ip -n "${P}rt" addr add "$CLIENT_IP6/64" dev eth0 nodad
            ip -n "${P}rt" addr add "$ROUTER_IP6_C/64" dev eth1 nodad
        fi
        ip -n "${P}rt" link set dev eth0 up
        ip -n "${P}rt" link set dev eth1 up
    fi
    # Private side: a bridge in ${P}sw joins the appliance and the backends.
    ip -n "${P}sw" link add name "${P}br" type bridge stp_state 0 forward_delay 0 mcast_snooping 0
    ip -n "${P}sw" link set dev "${P}br" address "$MAC_BR"
    nsx "${P}sw" sysctl -qw "net.ipv6.conf.${P}br.disable_ipv6=1"
    veth "${P}lb" "${P}priv" "$MAC_NATRIX" "${P}sw" "${P}slb" "$MAC_SLB"
    ip -n "${P}sw" link set dev "${P}slb" master "${P}br"
    # Management leg: the lb namespace's kernel on the backends' segment.
    veth "${P}lb" "${P}mgmt" "$MAC_MGMT" "${P}sw" "${P}smg" "$MAC_SMG"
    ip -n "${P}sw" link set dev "${P}smg" master "${P}br"
    local i
    for i in 1 2 3; do
        veth "${P}be$i" eth0 "${MAC_BE[$((i - 1))]}" "${P}sw" "${P}s$i" "${MAC_SBE[$((i - 1))]}"
        ip -n "${P}sw" link set dev "${P}s$i" master "${P}br"
    done

    # The appliance's interfaces: up, no addresses, no ARP; natrix owns them.
    ip -n "${P}lb" link set dev "${P}pub" arp off up
    ip -n "${P}lb" link set dev "${P}priv" arp off up

    ip -n "${P}sw" link set dev "${P}br" up
    ip -n "${P}sw" link set dev "${P}slb" up
    ip -n "${P}sw" link set dev "${P}smg" up

    # The management leg has the lb namespace's only addresses; no route
    # beyond its /24 and /64 (the backends' segment).
    enable_ipv6 "${P}lb" "${P}mgmt"
    ip -n "${P}lb" addr add "$MGMT_IP/24" dev "${P}mgmt"
    ip -n "${P}lb" addr add "$MGMT_IP6/64" dev "${P}mgmt" nodad
    ip -n "${P}lb" link set dev "${P}mgmt" up
    for i in 1 2 3; do
        ip -n "${P}sw" link set dev "${P}s$i" up
    done

    enable_ipv6 "${P}client" eth0
    if [ -z "$ROUTER_MTU" ]; then
        ip -n "${P}client" addr add "$CLIENT_IP/24" dev eth0
        ip -n "${P}client" addr add "$CLIENT_IP6/64" dev eth0 nodad
        ip -n "${P}client" link set dev eth0 up
    else
        ip -n "${P}client" addr add "$CLIENT_IP_R/24" dev eth0
        ip -n "${P}client" link set dev eth0 up
        ip -n "${P}client" route add default via "$ROUTER_IP_C" dev eth0
        if ((ROUTER_MTU >= 1280)); then
            ip -n "${P}client" addr add "$CLIENT_IP6_R/64" dev eth0 nodad
            ip -n "${P}client" -6 route add default via "$ROUTER_IP6_C" dev eth0
        fi
    fi

    write_server
    for i in 1 2 3; do
        enable_ipv6 "${P}be$i" eth0
        ip -n "${P}be$i" addr add "${BE_IP[$((i - 1))]}/24" dev eth0
        ip -n "${P}be$i" addr add "${BE_IP6[$((i - 1))]}/64" dev eth0 nodad
        ip -n "${P}be$i" link set dev eth0 up
        ip -n "${P}be$i" route add default via "$PRIVATE_IP" dev eth0
        ip -n "${P}be$i" -6 route add default via "$PRIVATE_IP6" dev eth0
        start_backend "$i"
    done
    for i in 1 2 3; do
        wait_backend "$i"
    done
    # The probes' path: each backend answers the lb namespace's kernel.
    for i in 1 2 3; do
        nsx "${P}lb" curl -sf --max-time 2 -o /dev/null "http://${BE_IP[$((i - 1))]}:$BE_PORT/" ||
            die "backend be$i does not answer $MGMT_IP over ${P}mgmt"
        nsx "${P}lb" curl -gsf --max-time 2 -o /dev/null "http://[${BE_IP6[$((i - 1))]}]:$BE_PORT/" ||
            die "backend be$i does not answer $MGMT_IP6 over ${P}mgmt"
    done
    UP_DONE=1

    if [ -n "$ROUTER_MTU" ]; then
        echo "netns-lab.sh: lab $P is up, the client ($CLIENT_IP_R) behind router ${P}rt (MTU $ROUTER_MTU toward the client)"
    else
        echo "netns-lab.sh: lab $P is up"
    fi
    print_commands
}

cmd_down() {
    local i pid ns
    for i in 1 2 3; do
        if [ -f "$RUN/be$i.pid" ]; then
            pid="$(cat "$RUN/be$i.pid")"
            kill "$pid" 2>/dev/null || true
        fi
    done
    # Any other process left in a lab namespace (a natrix started by hand)
    # would keep the namespace alive: end it by its id.
    for ns in "${NAMESPACES[@]}"; do
        if ns_exists "$ns"; then
            for pid in $(ip netns pids "$ns" 2>/dev/null); do
                kill "$pid" 2>/dev/null || true
            done
        fi
    done
    for ns in "${NAMESPACES[@]}"; do
        if ns_exists "$ns"; then
            for i in $(seq 1 20); do
                if [ -z "$(ip netns pids "$ns" 2>/dev/null)" ]; then
                    break
                fi
                sleep 0.1
            done
            for pid in $(ip netns pids "$ns" 2>/dev/null); do
                kill -9 "$pid" 2>/dev/null || true
            done
            # Deleting a namespace destroys its veth ends, and with them the
            # peers (${P}mgmt goes with ${P}lb, ${P}smg with it).
            ip netns delete "$ns" 2>/dev/null || true
        fi
    done
    rm -rf "$RUN"
}

cmd_status() {
    local ns found=0 i pid
    for ns in "${NAMESPACES[@]}"; do
        if ns_exists "$ns"; then
            found=1
            echo "namespace $ns:"
            ip -n "$ns" -br link show | sed 's/^/  link /'
            ip -n "$ns" -br addr show | sed 's/^/  addr /'
            local pids
            pids="$(ip netns pids "$ns" | tr '\n' ' ')"
            if [ -n "$pids" ]; then
                echo "  pids $pids"
            fi
        fi
    done
    if [ -d "$RUN" ]; then
        found=1
        for i in 1 2 3; do
            if [ -f "$RUN/be$i.pid" ]; then
                pid="$(cat "$RUN/be$i.pid")"
                if kill -0 "$pid" 2>/dev/null; then
                    echo "backend be$i: pid $pid, $(grep -c '"GET ' "$RUN/be$i.log") requests logged ($(grep -c -e "^$MGMT_IP " -e "^$MGMT_IP6 " "$RUN/be$i.log") health probes), $(grep -c '^udp ' "$RUN/be$i.log") datagrams echoed"
                else
                    echo "backend be$i: pid $pid not running"
                fi
            elif [ -f "$RUN/be$i.log" ]; then
                echo "backend be$i: stopped (backend-stop $i)"
            fi
        done
    fi
    if [ "$found" -eq 0 ]; then
        echo "lab $P is down"
    fi
}

cmd_config() {
    cat <<EOF
# natrix in the network-namespace lab (scripts/netns-lab.sh): a two-arm
# appliance between a client namespace and three HTTP backends, over IPv4
# and IPv6.
# Generated by \`scripts/netns-lab.sh config\`; natrix's MAC is the lab's
# fixed one, the same for every PREFIX (the others are resolved by ARP and
# Neighbor Discovery).

[appliance]
# natrix's one MAC, the source of all it sends: ${P}pub and ${P}priv carry it.
mac = "$MAC_NATRIX"
# Answered to ARP and Neighbor Solicitations: the public side, and the
# backends' default gateway, in each family.
addresses = ["$PUBLIC_IP", "$PRIVATE_IP", "$PUBLIC_IP6", "$PRIVATE_IP6"]
# The client (on-link): replies to clients go straight to it. natrix finds
# its MAC, and the backends', with ARP and Neighbor Discovery: no MAC here
# but natrix's own.
gateway4 = "$CLIENT_IP"
gateway6 = "$CLIENT_IP6"
flow_table_size = 65536
transitory_timeout = 10

# Two arms: clients on port 0 (net_af_packet0 on ${P}pub), backends on
# port 1 (net_af_packet1 on ${P}priv).
[ports]
topology = "two-arm"
public = 0
private = 1
workers = 1
# natrix's addresses on each port, and the prefixes it resolves next hops in.
public_addresses = ["$PUBLIC_IP/24", "$PUBLIC_IP6/64"]
private_addresses = ["$PRIVATE_IP/24", "$PRIVATE_IP6/64"]

[[frontend]]
name = "web"
address = "$FRONTEND_IP"
port = 80
protocol = "tcp"

[[pool]]
name = "web"

# Probes from natrix's management thread, through ${P}lb's kernel and
# ${P}mgmt ($MGMT_IP), never through natrix's ports: GET / every second
# must answer 200 within 0.5 s; two failures in a row take a backend down,
# one success brings it back.
[pool.health]
protocol = "http"
path = "/"
interval = 1
timeout = 0.5
unhealthy_threshold = 2
healthy_threshold = 1

[[pool.backend]]
address = "${BE_IP[0]}"
port = $BE_PORT

[[pool.backend]]
address = "${BE_IP[1]}"
port = $BE_PORT

[[pool.backend]]
address = "${BE_IP[2]}"
port = $BE_PORT

[[rule]]
frontend = "web"
pool = "web"
mode = "random"

# UDP port 7 is forwarded to be1, where nothing listens on it: be1's kernel
# answers with ICMP port unreachable, which natrix translates back to the
# client, whose kernel then reports "connection refused".
[[frontend]]
name = "echo"
address = "$FRONTEND_IP"
port = 7
protocol = "udp"

[[nat_rule]]
frontend = "echo"
address = "${BE_IP[0]}"
port = 7

# IPv6: the same web service on the IPv6 frontend, over the backends' IPv6
# addresses (their default gateway is natrix's $PRIVATE_IP6), probed over
# the management leg ($MGMT_IP6) the same way.
[[frontend]]
name = "web6"
address = "$FRONTEND_IP6"
port = 80
protocol = "tcp"

[[pool]]
name = "web6"

[pool.health]
protocol = "http"
path = "/"
interval = 1
timeout = 0.5
unhealthy_threshold = 2
healthy_threshold = 1

[[pool.backend]]
address = "${BE_IP6[0]}"
port = $BE_PORT

[[pool.backend]]
address = "${BE_IP6[1]}"
port = $BE_PORT

[[pool.backend]]
address = "${BE_IP6[2]}"
port = $BE_PORT

[[rule]]
frontend = "web6"
pool = "web6"
mode = "random"

# UDP port $ECHO_PORT of the IPv6 frontend: the backends' UDP echo (on their
# IPv6 addresses only), shared by the three; no health probes.
[[frontend]]
name = "echo6"
address = "$FRONTEND_IP6"
port = $ECHO_PORT
protocol = "udp"

[[pool]]
name = "echo6"

[[pool.backend]]
address = "${BE_IP6[0]}"
port = $ECHO_PORT

[[pool.backend]]
address = "${BE_IP6[1]}"
port = $ECHO_PORT

[[pool.backend]]
address = "${BE_IP6[2]}"
port = $ECHO_PORT

[[rule]]
frontend = "echo6"
pool = "echo6"
mode = "random"
EOF
}

case "${1:-}" in
up) cmd_up ;;
down)
    need_root
    cmd_down
    echo "netns-lab.sh: lab $P is down"
    ;;
status) cmd_status ;;
config) cmd_config ;;
command) print_commands ;;
backend-stop)
    need_root
    n="$(backend_arg "${2:-}")"
    lab_up
    stop_backend "$n"
    echo "netns-lab.sh: backend be$n stopped"
    ;;
backend-replace)
    need_root
    n="$(backend_arg "${2:-}")"
    lab_up
    replace_backend "$n"
    echo "netns-lab.sh: backend be$n has a new interface (${MAC_BE_NEW[$((n - 1))]})"
    ;;
backend-start)
    need_root
    n="$(backend_arg "${2:-}")"
    lab_up
    stop_backend "$n"
    start_backend "$n"
    wait_backend "$n"
    echo "netns-lab.sh: backend be$n started"
    ;;
*)
    echo "usage: [PREFIX=nx] [ROUTER_MTU=N] $0 up|down|status|config|command|backend-stop N|backend-start N|backend-replace N" >&2
    exit 2
    ;;
esac
