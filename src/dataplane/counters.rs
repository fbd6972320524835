//! Per-worker counters: plain integers on the data path, published to atomics
//! between bursts and summed only when read.

use std::sync::atomic::{AtomicU64, Ordering};

macro_rules! reasons {
    ($(#[$m:meta])* $name:ident { $($(#[$vm:meta])* $var:ident = $s:literal,)* }) => {
        $(#[$m])*
        #[derive(Clone, Copy, PartialEq, Eq, Debug, Hash)]
        #[repr(u8)]
        pub enum $name { $($(#[$vm])* $var,)* }

        impl $name {
            /// Every variant, in counter order.
            pub const ALL: &'static [$name] = &[$($name::$var,)*];
            /// Number of variants (length of a counter array).
            pub const COUNT: usize = Self::ALL.len();

            /// The kebab-case name used in summaries, JSON and metrics.
            pub const fn name(self) -> &'static str {
                match self { $($name::$var => $s,)* }
            }

            pub fn from_name(s: &str) -> Option<Self> {
                Self::ALL.iter().copied().find(|r| r.name() == s)
            }
        }
    };
}

reasons! {
    /// Why a packet was not sent. Every dropped packet is counted under exactly one.
    DropReason {
        /// Frame shorter than an Ethernet header, or a VLAN tag cut off.
        MalformedEth = "malformed-eth",
        /// IPv4 or ARP frame addressed to another MAC than natrix's (ports
        /// run promiscuous), or broadcast other than ARP. `natrix run` only.
        NotOurMac = "not-our-mac",
        /// More than two VLAN tags.
        VlanUnsupported = "vlan-unsupported",
        /// Neither IPv4 nor ARP nor IPv6 (LLDP, 802.3 length frames, ...).
        UnsupportedEthertype = "unsupported-ethertype",
        /// IPv6 with an extension header natrix does not cross (ESP, AH,
        /// Mobility, HIP, Shim6, experimental), a Routing header with
        /// segments left, or No Next Header.
        Ipv6ExtHeader = "ipv6-ext-header",
        /// IPv6 extension headers cut short, more than 8 of them or 512
        /// bytes, a Hop-by-Hop header not first, nested Fragment headers, a
        /// first fragment without the whole chain, or a bad fragment length.
        MalformedIpv6Ext = "malformed-ipv6-ext",
        /// UDP over IPv6 with checksum 0, which RFC 8200 section 8.1 forbids.
        UdpZeroChecksum = "udp-zero-checksum",
        /// A Neighbor Solicitation with a hop limit other than 255, a code
        /// other than 0, cut short, or with a bad option (RFC 4861 7.1.1).
        MalformedNd = "malformed-nd",
        /// Neighbor Discovery natrix does not answer: solicitations for
        /// other addresses, duplicate address detection, advertisements,
        /// router and redirect messages.
        NdNotForUs = "nd-not-for-us",
        /// IPv4 header fails RFC 1812 5.2.2 checks (length, version, IHL, total length).
        MalformedIp = "malformed-ip",
        /// IPv4 header checksum does not verify.
        IpChecksum = "ip-checksum",
        /// Source address that cannot be a client: 0/8, 127/8, multicast, broadcast.
        MartianSource = "martian-source",
        /// Translated traffic to a destination no client can have: 0/8,
        /// 127/8, multicast 224/4, reserved 240/4, broadcast 255.255.255.255.
        MartianDestination = "martian-destination",
        /// Source is one of natrix's own addresses (a frontend or the
        /// appliance's): hairpinning is not supported.
        OwnSource = "own-source",
        /// A fragment of an ICMP or ICMPv6 message or of another protocol
        /// than TCP and UDP: natrix forwards only TCP and UDP fragments.
        IpFragment = "ip-fragment",
        /// A first fragment that does not hold its whole TCP or UDP header
        /// (RFC 1858's tiny fragment), or a fragment other than the last
        /// whose payload is not a multiple of 8 bytes (RFC 791).
        FragmentTooSmall = "fragment-too-small",
        /// A TCP fragment at offset 8 or 16, inside the TCP header (RFC 1858),
        /// an IPv6 fragment starting inside its first fragment's data (RFC
        /// 5722), or a second first fragment of a datagram translated otherwise.
        FragmentOverlap = "fragment-overlap",
        /// A fragment whose first fragment did not come within
        /// `appliance.fragment_timeout` (or before the run ended).
        FragmentNoFirst = "fragment-no-first",
        /// A fragment of a new datagram, and the worker's fragment table had
        /// no room for it (`appliance.fragment_table_size`).
        FragmentTableFull = "fragment-table-full",
        /// A fragment ahead of its first fragment, and the worker held as
        /// many as it may (`appliance.fragment_hold_packets`, `_bytes`).
        FragmentHoldFull = "fragment-hold-full",
        /// IP protocol other than TCP, UDP and ICMP.
        UnsupportedProtocol = "unsupported-protocol",
        /// TCP header cut off or with a bad data offset.
        MalformedTcp = "malformed-tcp",
        /// UDP header cut off or with a bad length.
        MalformedUdp = "malformed-udp",
        /// ICMP message cut off or with a bad checksum.
        MalformedIcmp = "malformed-icmp",
        /// ICMP other than an echo request to a local address or an error
        /// (destination unreachable, time exceeded, parameter problem) about
        /// a TCP or UDP packet of a frontend or backend.
        IcmpUnsupported = "icmp-unsupported",
        /// ICMP error from the client side about a connection natrix does not
        /// track (or no longer does), so no backend to send it to.
        IcmpNoFlow = "icmp-no-flow",
        /// ARP that is not an Ethernet/IPv4 request or reply.
        MalformedArp = "malformed-arp",
        /// ARP not asking for one of our addresses (replies, gratuitous, others').
        ArpNotForUs = "arp-not-for-us",
        /// TTL would reach zero (RFC 1812 5.3.1).
        TtlExpired = "ttl-expired",
        /// Matches no frontend and comes from no backend.
        NoService = "no-service",
        /// Two-arm: a packet from a backend's address and port (or an ICMP
        /// error about a packet to one) arrived on the public port.
        BackendOnPublic = "backend-on-public",
        /// TCP segment that is not a SYN, for no known connection (random and
        /// source-ip modes), while the table was not full lately (within the
        /// rule's idle timeout; then it is served by hash).
        NoFlow = "no-flow",
        /// The rule's pool has no backend that takes new connections.
        NoBackend = "no-backend",
        /// The connection's backend was removed from its pool.
        BackendRemoved = "backend-removed",
        /// The connection's backend failed its health probes, and its pool
        /// drops the connections of down backends (`down_connections = "drop"`).
        BackendDown = "backend-down",
        /// A new connection, and every backend of the pool that would take it is down.
        PoolDown = "pool-down",
        /// Frame larger than the port's buffers.
        Oversize = "oversize",
        /// Capture link type other than Ethernet.
        UnsupportedLinkType = "unsupported-link-type",
        /// The transmit queue did not take the packet.
        TxFull = "tx-full",
        /// From a backend's address and port, for no connection natrix
        /// tracks (nor one its rule's hash would give that backend): spoofed,
        /// or after the connection expired.
        ReturnNoFlow = "return-no-flow",
        /// The ring to the worker that owns the packet's connection was full.
        HandoffFull = "handoff-full",
        /// The next hop (the gateway toward the clients, a backend or its
        /// pool's next hop) has no MAC yet, or its neighbour entry failed:
        /// ARP or Neighbor Discovery has not resolved it.
        NeighbourUnresolved = "neighbour-unresolved",
        /// An IP fragment of a SIIT connection, either way: SIIT
        /// translates whole datagrams only.
        SiitFragment = "siit-fragment",
        /// A packet SIIT does not translate: an IPv4 header with options
        /// from a backend, or an IPv6 datagram too long for IPv4.
        SiitUntranslatable = "siit-untranslatable",
        /// A new SIIT connection, and each of the source ports it may take
        /// on this worker (`appliance.siit_addresses`) is held by a live one.
        SiitPortsExhausted = "siit-ports-exhausted",
        /// A new SIIT connection, and the flow table had no room for it
        /// (SIIT connections are not served by hash without an entry).
        SiitTableFull = "siit-table-full",
        /// A backend's packet to be translated to IPv6, in a buffer without
        /// 20 bytes of headroom.
        SiitNoHeadroom = "siit-no-headroom",
    }
}

reasons! {
    /// Things that happen to packets that are still sent.
    Event {
        /// A new connection entered the flow table.
        ConnectionCreated = "connection-created",
        /// A packet matched a connection in the flow table.
        FlowHit = "flow-hit",
        /// An idle-expired entry was reused for a new connection before the
        /// worker's sweep freed it.
        ExpiredReused = "expired-reused",
        /// A live transitory (half-open or closing) entry was evicted for a new connection.
        TransitoryEvicted = "transitory-evicted",
        /// No room in the flow table: the packet was served by hash without an entry.
        TableFull = "table-full",
        /// A mid-stream TCP segment served by the Maglev hash and given an entry.
        MidstreamHashed = "midstream-hashed",
        /// Inbound packets translated.
        Inbound = "inbound",
        /// Return packets translated.
        Return = "return",
        /// Inbound NAT rule (port forwarding) packets, both directions.
        NatRule = "nat-rule",
        /// ARP requests answered.
        ArpReplied = "arp-replied",
        /// Neighbor Solicitations for natrix's IPv6 addresses answered.
        NdAnswered = "nd-answered",
        /// ICMP and ICMPv6 echo requests answered.
        EchoReplied = "echo-replied",
        /// ICMP errors translated and passed on: from the client side to a
        /// connection's backend (path MTU discovery, unreachable clients), or
        /// from a backend to its client.
        IcmpErrorForwarded = "icmp-error-forwarded",
        /// Packets handed to the worker that owns their connection (counted
        /// received here, sent or dropped there).
        HandedOff = "handed-off",
        /// Packets handed over by another worker (received there).
        HandedIn = "handed-in",
        /// RSTs natrix sent for established connections of a
        /// `tcp_reset_on_idle` rule that reached their idle timeout: one to
        /// the client and one to the backend per connection.
        IdleReset = "idle-reset",
        /// Such RSTs not built: the port had no buffer to give.
        IdleResetNoBuffer = "idle-reset-no-buffer",
        /// First fragments of datagrams translated (or dropped), their
        /// rewrite recorded for the later fragments.
        FragmentFirst = "fragment-first",
        /// Later fragments rewritten as their first fragment was, and sent.
        FragmentForwarded = "fragment-forwarded",
        /// Fragments held for their first fragment.
        FragmentHeld = "fragment-held",
        /// Held fragments sent (or dropped with it) once their first came.
        FragmentReleased = "fragment-released",
        /// ARP messages and Neighbor Solicitations and Advertisements whose
        /// sender's address and MAC went to the neighbour cache (the packet
        /// itself is answered or dropped as before).
        NeighbourSeen = "neighbour-seen",
        /// Such sightings lost: the queue to the management thread was full.
        NeighbourSeenLost = "neighbour-seen-lost",
        /// Frames the management thread had this worker send: ARP requests,
        /// Neighbor Solicitations, gratuitous ARP and unsolicited Neighbor
        /// Advertisements (counted as originated packets).
        NeighbourSent = "neighbour-sent",
        /// Such frames not sent: the port had no buffer to give.
        NeighbourNoBuffer = "neighbour-no-buffer",
        /// Packets translated between IPv6 and IPv4 by SIIT, both ways
        /// (also counted as inbound, return or ICMP errors forwarded).
        SiitTranslated = "siit-translated",
    }
}

/// One worker's counters. Plain integers: only the owning worker writes them.
#[derive(Clone, Debug)]
pub struct Counters {
    pub rx: u64,
    pub tx: u64,
    /// Packets natrix built itself (idle RSTs), not received: so
    /// rx + originated == tx + dropped.
    pub originated: u64,
    pub drops: [u64; DropReason::COUNT],
    pub events: [u64; Event::COUNT],
    /// New connections per backend id.
    pub backend_connections: Vec<u64>,
    /// Packets sent to (inbound) or from (return) each backend id.
    pub backend_packets: Vec<u64>,
}

impl Default for Counters {
    fn default() -> Counters {
        Counters {
            rx: 0,
            tx: 0,
            originated: 0,
            drops: [0; DropReason::COUNT],
            events: [0; Event::COUNT],
            backend_connections: Vec::new(),
            backend_packets: Vec::new(),
        }
    }
}

impl Counters {
    #[inline(always)]
    pub fn drop(&mut self, r: DropReason) {
        self.drops[r as usize] += 1;
    }

    #[inline(always)]
    pub fn event(&mut self, e: Event) {
        self.events[e as usize] += 1;
    }

    pub fn dropped(&self) -> u64 {
        self.drops.iter().sum()
    }

    pub fn drop_count(&self, r: DropReason) -> u64 {
        self.drops[r as usize]
    }

    pub fn event_count(&self, e: Event) -> u64 {
        self.events[e as usize]
    }

    /// Grows the per-backend arrays to `n` backends (between bursts only).
    pub fn ensure_backends(&mut self, n: usize) {
        if self.backend_connections.len() < n {
            self.backend_connections.resize(n, 0);
            self.backend_packets.resize(n, 0);
        }
    }

    /// Adds another worker's counters into these.
    pub fn add(&mut self, o: &Counters) {
        self.rx += o.rx;
        self.tx += o.tx;
        self.originated += o.originated;
        for (a, b) in self.drops.iter_mut().zip(o.drops.iter()) {
            *a += b;
        }
        for (a, b) in self.events.iter_mut().zip(o.events.iter()) {
            *a += b;
        }
        self.ensure_backends(o.backend_connections.len());
        for (a, b) in self
            .backend_connections
            .iter_mut()
            .zip(&o.backend_connections)
        {
            *a += b;
        }
        for (a, b) in self.backend_packets.iter_mut().zip(&o.backend_packets) {
            *a += b;
        }
    }
}

/// Counters a worker publishes for readers on other threads. Each worker owns
/// one, written with relaxed stores between bursts; readers sum them.
#[repr(align(64))]
pub struct SharedCounters {
    rx: AtomicU64,
    tx: AtomicU64,
    originated: AtomicU64,
    drops: [AtomicU64; DropReason::COUNT],
    events: [AtomicU64; Event::COUNT],
    active_connections: AtomicU64,
    backend_connections: Box<[AtomicU64]>,
    backend_packets: Box<[AtomicU64]>,
}

impl SharedCounters {
    /// `max_backends` bounds the backend ids whose counters are published.
    pub fn new(max_backends: usize) -> SharedCounters {
        SharedCounters {
            rx: AtomicU64::new(0),
            tx: AtomicU64::new(0),
            originated: AtomicU64::new(0),
            drops: std::array::from_fn(|_| AtomicU64::new(0)),
            events: std::array::from_fn(|_| AtomicU64::new(0)),
            active_connections: AtomicU64::new(0),
            backend_connections: (0..max_backends).map(|_| AtomicU64::new(0)).collect(),
            backend_packets: (0..max_backends).map(|_| AtomicU64::new(0)).collect(),
        }
    }

    /// Publishes a worker's counters (called by that worker only).
    pub fn publish(&self, c: &Counters, active_connections: u64) {
        self.rx.store(c.rx, Ordering::Relaxed);
        self.tx.store(c.tx, Ordering::Relaxed);
        self.originated.store(c.originated, Ordering::Relaxed);
        for (a, v) in self.drops.iter().zip(c.drops.iter()) {
            a.store(*v, Ordering::Relaxed);
        }
        for (a, v) in self.events.iter().zip(c.events.iter()) {
            a.store(*v, Ordering::Relaxed);
        }
        self.active_connections
            .store(active_connections, Ordering::Relaxed);
        for (a, v) in self.backend_connections.iter().zip(&c.backend_connections) {
            a.store(*v, Ordering::Relaxed);
        }
        for (a, v) in self.backend_packets.iter().zip(&c.backend_packets) {
            a.store(*v, Ordering::Relaxed);
        }
    }

    /// Publishes the live connection count alone (called by that worker only).
    pub fn publish_active(&self, active_connections: u64) {
        self.active_connections
            .store(active_connections, Ordering::Relaxed);
    }

    /// Reads a copy.
    pub fn read(&self) -> (Counters, u64) {
        let c = Counters {
            rx: self.rx.load(Ordering::Relaxed),
            tx: self.tx.load(Ordering::Relaxed),
            originated: self.originated.load(Ordering::Relaxed),
            drops: std::array::from_fn(|i| self.drops[i].load(Ordering::Relaxed)),
            events: std::array::from_fn(|i| self.events[i].load(Ordering::Relaxed)),
            backend_connections: self
                .backend_connections
                .iter()
                .map(|a| a.load(Ordering::Relaxed))
                .collect(),
            backend_packets: self
                .backend_packets
                .iter()
                .map(|a| a.load(Ordering::Relaxed))
                .collect(),
        };
        (c, self.active_connections.load(Ordering::Relaxed))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_round_trip() {
        let mut seen = std::collections::HashSet::new();
        for r in DropReason::ALL {
            assert!(seen.insert(r.name()), "duplicate {}", r.name());
            assert_eq!(DropReason::from_name(r.name()), Some(*r));
        }
        for e in Event::ALL {
            assert!(seen.insert(e.name()), "duplicate {}", e.name());
        }
    }

    #[test]
    fn publish_and_read_back() {
        let mut c = Counters {
            rx: 10,
            tx: 7,
            ..Default::default()
        };
        c.drop(DropReason::NoService);
        c.drop(DropReason::NoService);
        c.drop(DropReason::TtlExpired);
        c.ensure_backends(3);
        c.backend_connections[2] = 5;
        let s = SharedCounters::new(4);
        s.publish(&c, 9);
        let (r, active) = s.read();
        assert_eq!(active, 9);
        assert_eq!(r.rx, 10);
        assert_eq!(r.dropped(), 3);
        assert_eq!(r.drop_count(DropReason::NoService), 2);
        assert_eq!(r.backend_connections, vec![0, 0, 5, 0]);
        let mut sum = Counters::default();
        sum.add(&r);
        sum.add(&r);
        assert_eq!(sum.tx, 14);
        assert_eq!(sum.backend_connections[2], 10);
    }
}
