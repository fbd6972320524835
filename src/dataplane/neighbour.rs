//! Neighbour resolution, as the data path takes part in it: the records of
//! the ARP and Neighbor Discovery messages a worker sees, passed to the
//! management thread, and the frames (requests, solicitations, announcements)
//! the management thread asks a worker to send.
//!
//! Both ways go through bounded lock-free queues ([`ArrayQueue`]) of small
//! `Copy` records: a worker pushes or pops without a lock, an allocation, a
//! log or a format. The neighbour cache itself (`control::neighbour`) lives
//! on the management side.

use crate::wire::MacAddr;
use crossbeam::queue::ArrayQueue;
use std::net::IpAddr;

/// Which of the appliance's ports (one-arm: always `Public`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Arm {
    /// The port toward the clients (the only port in one-arm).
    Public,
    /// The port toward the backends (two-arm).
    Private,
}

impl Arm {
    /// `public` or `private`.
    pub fn name(self) -> &'static str {
        match self {
            Arm::Public => "public",
            Arm::Private => "private",
        }
    }
}

/// What kind of message told a worker a neighbour's MAC.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Seen {
    /// An ARP request (its sender), gratuitous ones included.
    ArpRequest,
    /// An ARP reply (its sender).
    ArpReply,
    /// A Neighbor Solicitation with a source link-layer address option.
    Solicitation,
    /// A Neighbor Advertisement with a target link-layer address option:
    /// its Solicited and Override flags (RFC 4861 section 4.4).
    Advertisement { solicited: bool, override_: bool },
}

/// One neighbour's address and MAC as a message on the wire gave them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Sighting {
    pub ip: IpAddr,
    pub mac: MacAddr,
    pub arm: Arm,
    pub seen: Seen,
}

/// Room for a whole ARP or Neighbor Discovery frame
/// ([`crate::wire::icmpv6::ND_FRAME_LEN`] is the largest, 86 bytes).
pub const OUTGOING_LEN: usize = 96;

/// A frame the management thread asks a worker to send.
#[derive(Clone, Copy, Debug)]
pub struct Outgoing {
    pub arm: Arm,
    pub len: u8,
    pub frame: [u8; OUTGOING_LEN],
}

impl Outgoing {
    /// A frame written by `emit` (which returns its length) for `arm`;
    /// `None` if `emit` fails.
    pub fn build<E>(
        arm: Arm,
        emit: impl FnOnce(&mut [u8]) -> Result<usize, E>,
    ) -> Option<Outgoing> {
        let mut frame = [0u8; OUTGOING_LEN];
        let len = emit(&mut frame).ok()?;
        Some(Outgoing {
            arm,
            len: u8::try_from(len).ok()?,
            frame,
        })
    }

    /// The frame's bytes.
    pub fn bytes(&self) -> &[u8] {
        &self.frame[..self.len as usize]
    }
}

/// Sightings each worker can queue before the management thread reads
/// them; more are counted as `neighbour-seen-lost`.
pub const SEEN_QUEUE: usize = 256;
/// Frames the management thread can queue for sending.
pub const OUTGOING_QUEUE: usize = 256;

/// The queues between the workers and the neighbour cache.
pub struct Link {
    seen: Vec<ArrayQueue<Sighting>>,
    out: ArrayQueue<Outgoing>,
}

impl Link {
    /// Queues for `workers` workers.
    pub fn new(workers: usize) -> Link {
        Link {
            seen: (0..workers.max(1))
                .map(|_| ArrayQueue::new(SEEN_QUEUE))
                .collect(),
            out: ArrayQueue::new(OUTGOING_QUEUE),
        }
    }

    /// Worker `worker` saw `s`; false if its queue is full (the sighting is
    /// lost, and the caller counts it).
    #[inline]
    pub fn seen(&self, worker: usize, s: Sighting) -> bool {
        self.seen.get(worker).is_some_and(|q| q.push(s).is_ok())
    }

    /// Every sighting queued so far, from every worker (management side).
    pub fn drain_seen(&self, mut f: impl FnMut(Sighting)) {
        for q in &self.seen {
            while let Some(s) = q.pop() {
                f(s);
            }
        }
    }

    /// Queues `o` for sending; false if the queue is full.
    pub fn send(&self, o: Outgoing) -> bool {
        self.out.push(o).is_ok()
    }

    /// The next frame to send (the sending worker's side).
    #[inline]
    pub fn next_outgoing(&self) -> Option<Outgoing> {
        self.out.pop()
    }

    /// Whether frames wait to be sent.
    #[inline]
    pub fn has_outgoing(&self) -> bool {
        !self.out.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    #[test]
    fn sightings_and_frames_pass_and_overflow_is_refused() {
        let link = Link::new(2);
        let s = Sighting {
            ip: IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)),
            mac: MacAddr([2, 0, 0, 0, 0, 1]),
            arm: Arm::Private,
            seen: Seen::ArpReply,
        };
        for _ in 0..SEEN_QUEUE {
            assert!(link.seen(1, s));
        }
        assert!(!link.seen(1, s));
        assert!(!link.seen(7, s));
        let mut n = 0;
        link.drain_seen(|got| {
            assert_eq!(got, s);
            n += 1
        });
        assert_eq!(n, SEEN_QUEUE);
        let o = Outgoing::build(Arm::Public, |b: &mut [u8]| {
            b[..3].copy_from_slice(&[1, 2, 3]);
            Ok::<_, ()>(3)
        })
        .unwrap();
        assert!(link.send(o));
        assert!(link.has_outgoing());
        assert_eq!(link.next_outgoing().unwrap().bytes(), &[1, 2, 3]);
        assert!(link.next_outgoing().is_none());
    }
}
