//! The poll loop: receive a burst, process it, transmit, recycle what was not
//! sent. One per core; it owns its port queues, its data path and its counters.
//!
//! One-arm: a single port carries both directions. Two-arm: clients are on
//! the public port and backends on the private one; translated inbound
//! packets leave by the private port, translated return packets and answers
//! (ARP, ICMP echo) by the public one, or by the port they came from.
//!
//! With several workers, a packet whose connection another worker owns is
//! handed to that worker through the rings of [`Handoff`], and each turn of
//! the loop also processes what the others handed over.

use crate::dataplane::counters::{DropReason, Event, SharedCounters};
use crate::dataplane::flow::Dir;
use crate::dataplane::fragment::Hold;
use crate::dataplane::handoff::{Handed, Handoff};
use crate::dataplane::neighbour::{self, Arm};
use crate::dataplane::{Dataplane, Verdict};
use crate::ports::{Burst, PacketBuf, Port, BURST};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// Bursts between two publications of the counters.
const PUBLISH_EVERY: u32 = 256;

/// Flow-table buckets swept (expired entries freed) per burst received,
/// at each publication: under full load a table for a million connections
/// (2^19 buckets) is gone round in 2^18 bursts, about a second.
const SWEEP_PER_BURST: usize = 2;

/// Flow-table buckets swept per turn of the loop without packets: a quiet
/// appliance goes round a table for a million connections in 2^15 turns,
/// milliseconds, while a packet that arrives waits for at most 16 buckets.
const SWEEP_IDLE: usize = 16;

pub struct Worker<P: Port> {
    pub dp: Dataplane,
    /// The public port (the only one in one-arm).
    pub port: P,
    /// The private port, in two-arm.
    pub private: Option<P>,
    shared: Arc<SharedCounters>,
    since_publish: u32,
    /// The rings to and from the other workers, and this worker's number.
    handoff: Option<(Arc<Handoff<P::Buf>>, usize)>,
    /// No more receiving from the ports (they ran dry, or the worker was
    /// told to stop): only what other workers hand over is processed.
    finished: bool,
    /// Fragments ahead of their first fragment ([`Verdict::Hold`]).
    held: Hold<P::Buf>,
    /// The frames the neighbour cache asks this worker to send (one
    /// worker sends them all).
    neighbour: Option<Arc<neighbour::Link>>,
}

/// Which of a worker's ports.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Side {
    Public,
    Private,
}

impl<P: Port> Worker<P> {
    /// A one-arm worker.
    pub fn new(dp: Dataplane, port: P, shared: Arc<SharedCounters>) -> Worker<P> {
        Worker {
            held: Hold::new(&dp.fragment_limits()),
            dp,
            port,
            private: None,
            shared,
            since_publish: 0,
            handoff: None,
            finished: false,
            neighbour: None,
        }
    }

    /// A two-arm worker: clients on `public`, backends on `private`.
    pub fn two_arm(dp: Dataplane, public: P, private: P, shared: Arc<SharedCounters>) -> Worker<P> {
        Worker {
            held: Hold::new(&dp.fragment_limits()),
            dp,
            port: public,
            private: Some(private),
            shared,
            since_publish: 0,
            handoff: None,
            finished: false,
            neighbour: None,
        }
    }

    /// Makes this worker number `worker` of the group that shares
    /// `handoff`: it hands the packets of connections it does not own to
    /// their owners, and processes what they hand it. Every worker of the
    /// group must run (each [`Worker::run`] waits for all of them to finish
    /// receiving, so that no handed packet is left behind).
    pub fn set_handoff(&mut self, handoff: Arc<Handoff<P::Buf>>, worker: usize) {
        self.dp.set_workers(handoff.workers());
        self.handoff = Some((handoff, worker));
    }

    /// Connects this worker to the neighbour cache: what it sees of ARP and
    /// Neighbor Discovery goes there through `link`, and if `sends`, it
    /// sends the frames the cache queues (requests, solicitations,
    /// announcements).
    pub fn set_neighbour_link(&mut self, link: Arc<neighbour::Link>, sends: bool) {
        self.dp.set_neighbour_link(link.clone());
        if sends {
            self.neighbour = Some(link);
        }
    }

    /// Sends the frames the neighbour cache queued, from the port each
    /// names, in buffers the port gives ([`Port::alloc`]), padded to the
    /// 60 bytes of a minimal Ethernet frame. They count as originated
    /// packets and as `neighbour-sent` events; a frame the port has no
    /// buffer for as `neighbour-no-buffer`. Returns whether it sent any.
    #[inline(never)]
    fn send_neighbour(&mut self) -> bool {
        let Some(link) = self.neighbour.take() else {
            return false;
        };
        let two_arm = self.private.is_some();
        let mut to_public: Burst<P::Buf> = Burst::new();
        let mut to_private: Burst<P::Buf> = Burst::new();
        let mut any = false;
        while let Some(o) = link.next_outgoing() {
            any = true;
            if to_public.is_full() || to_private.is_full() {
                self.flush_resets(&mut to_public, &mut to_private);
            }
            let side = match o.arm {
                Arm::Private if two_arm => Side::Private,
                _ => Side::Public,
            };
            let len = (o.len as usize).max(60);
            let Some(mut buf) = self.port_mut(side).alloc(len) else {
                self.dp.counters.event(Event::NeighbourNoBuffer);
                continue;
            };
            buf.data_mut()[..len].copy_from_slice(&o.frame[..len]);
            self.dp.counters.originated += 1;
            self.dp.counters.event(Event::NeighbourSent);
            match side {
                Side::Public => to_public.push(buf),
                Side::Private => to_private.push(buf),
            }
        }
        self.flush_resets(&mut to_public, &mut to_private);
        self.neighbour = Some(link);
        any
    }

    /// Takes the worker apart (to carry its data path over to another
    /// port). Fragments it still holds are dropped as `fragment-no-first`.
    pub fn into_parts(mut self) -> (Dataplane, P) {
        self.drop_held();
        (self.dp, self.port)
    }

    /// One turn of the loop over every port. Returns the packets received.
    #[inline]
    pub fn poll(&mut self) -> usize {
        let mut n = 0;
        if !self.finished {
            n += self.poll_side(Side::Public);
            if self.private.is_some() {
                n += self.poll_side(Side::Private);
            }
        }
        if self.handoff.is_some() {
            n += self.poll_handed();
        }
        if n > 0 {
            self.since_publish += 1;
            // Under full load every PUBLISH_EVERY bursts; below it (a burst
            // not full) there is time to spare, so at once.
            if self.since_publish >= PUBLISH_EVERY || n < BURST {
                self.dp.sweep(self.since_publish as usize * SWEEP_PER_BURST);
                self.send_resets();
                if self.neighbour.as_ref().is_some_and(|l| l.has_outgoing()) {
                    self.send_neighbour();
                }
                self.publish();
            }
        } else {
            self.idle();
        }
        n
    }

    /// A turn of the loop without packets: the clock still runs, so expired
    /// connections are swept and leave the published count, and counters
    /// not yet published (a full burst before the silence) are.
    #[inline(never)]
    fn idle(&mut self) {
        let now = self.port.clock();
        self.dp.refresh();
        self.dp.set_clock(now);
        if self.held.due(now) {
            self.expire_held(now);
            self.since_publish += 1;
        }
        let freed = self.dp.sweep(SWEEP_IDLE);
        let mut reset = self.send_resets();
        if self.neighbour.as_ref().is_some_and(|l| l.has_outgoing()) {
            reset |= self.send_neighbour();
        }
        if self.since_publish > 0 || reset {
            self.publish();
        } else if freed > 0 {
            self.shared.publish_active(self.dp.active_connections());
        }
    }

    #[inline(always)]
    fn port_mut(&mut self, side: Side) -> &mut P {
        match (side, self.private.as_mut()) {
            (Side::Private, Some(p)) => p,
            _ => &mut self.port,
        }
    }

    #[inline(always)]
    fn poll_side(&mut self, side: Side) -> usize {
        let mut rx: Burst<P::Buf> = Burst::new();
        let port = self.port_mut(side);
        port.rx_burst(&mut rx);
        let n = rx.len();
        if n == 0 {
            return 0;
        }
        let now = port.clock();
        self.handle(&mut rx, side, now);
        n
    }

    /// Processes what the other workers handed over, a burst at a time, each
    /// burst with one clock and from one side. Returns how many.
    #[inline(never)]
    fn poll_handed(&mut self) -> usize {
        // Taken out while the bursts are handled (nothing handed over is
        // handed on), put back at the end.
        let Some((handoff, me)) = self.handoff.take() else {
            return 0;
        };
        let mut total = 0;
        for from in (0..handoff.workers()).filter(|&w| w != me) {
            let mut next = handoff.pop(from, me);
            while let Some(first) = next.take() {
                let (clock, public_arm) = (first.clock, first.public_arm);
                let mut rx: Burst<P::Buf> = Burst::new();
                rx.push(first.buf);
                while rx.len() < BURST {
                    match handoff.pop(from, me) {
                        Some(p) if p.clock == clock && p.public_arm == public_arm => rx.push(p.buf),
                        other => {
                            next = other;
                            break;
                        }
                    }
                }
                total += rx.len();
                let side = if public_arm || self.private.is_none() {
                    Side::Public
                } else {
                    Side::Private
                };
                self.dp.set_handed(true);
                self.handle(&mut rx, side, clock);
                self.dp.set_handed(false);
            }
        }
        self.handoff = Some((handoff, me));
        total
    }

    /// Processes a burst received on `side` at clock second `now` and sends
    /// each packet where its verdict says.
    #[inline(always)]
    fn handle(&mut self, rx: &mut Burst<P::Buf>, side: Side, now: u32) {
        self.dp.refresh();
        self.dp.set_clock(now);
        let public_arm = side == Side::Public && self.private.is_some();
        self.dp.set_public_arm(public_arm);
        self.dp.set_arm(match side {
            Side::Public => Arm::Public,
            Side::Private => Arm::Private,
        });
        if self.held.due(now) {
            self.expire_held(now);
        }
        let mut verdicts = [Verdict::Drop(DropReason::NoService); BURST];
        self.dp.process(rx, &mut verdicts);
        self.route(rx, &verdicts, side, now, public_arm);
        if self.dp.has_released() {
            self.release_held(side, now, public_arm);
        }
    }

    /// Sends each packet of `rx` (received on `side`) where its verdict says.
    #[inline(always)]
    fn route(
        &mut self,
        rx: &mut Burst<P::Buf>,
        verdicts: &[Verdict; BURST],
        side: Side,
        now: u32,
        public_arm: bool,
    ) {
        let mut to_public: Burst<P::Buf> = Burst::new();
        let mut to_private: Burst<P::Buf> = Burst::new();
        let mut dropped: Burst<P::Buf> = Burst::new();
        let two_arm = self.private.is_some();
        for (buf, v) in rx.drain(..).zip(verdicts.iter()) {
            match (v, side) {
                (Verdict::Drop(_), _) => dropped.push(buf),
                (Verdict::Hold(slot), _) => {
                    if let Some(buf) = self.hold(buf, *slot, now) {
                        dropped.push(buf);
                    }
                }
                (Verdict::Handoff(to), _) => {
                    if let Some(buf) = self.hand_off(*to as usize, buf, now, public_arm) {
                        dropped.push(buf);
                    }
                }
                (Verdict::ToPrivate, _) if two_arm => to_private.push(buf),
                (Verdict::Reply, Side::Private) => to_private.push(buf),
                _ => to_public.push(buf),
            }
        }
        self.send(Side::Public, &mut to_public);
        if two_arm {
            self.send(Side::Private, &mut to_private);
        }
        if !dropped.is_empty() {
            self.port_mut(side).recycle(&mut dropped);
        }
    }

    /// Holds fragment `buf` for its first fragment (datagram `slot`), or
    /// gives it back (counted `fragment-hold-full`) if the hold area is full.
    #[inline(never)]
    fn hold(&mut self, buf: P::Buf, slot: u16, now: u32) -> Option<P::Buf> {
        match self.held.put(buf, slot, now) {
            Ok(()) => {
                self.dp.counters.event(Event::FragmentHeld);
                None
            }
            Err(buf) => {
                self.dp.unhold(slot, 1);
                self.dp.counters.drop(DropReason::FragmentHoldFull);
                Some(buf)
            }
        }
    }

    /// Sends the fragments held for the first fragments of the last burst,
    /// rewritten as those were, after them.
    #[inline(never)]
    fn release_held(&mut self, side: Side, now: u32, public_arm: bool) {
        while let Some(slot) = self.dp.take_released() {
            loop {
                let mut bufs: Burst<P::Buf> = Burst::new();
                let more = self.held.take(slot, &mut bufs);
                if bufs.is_empty() {
                    break;
                }
                let mut verdicts = [Verdict::Drop(DropReason::FragmentNoFirst); BURST];
                self.dp.release(slot, &mut bufs, &mut verdicts);
                self.route(&mut bufs, &verdicts, side, now, public_arm);
                if !more {
                    break;
                }
            }
        }
    }

    /// Drops the held fragments whose first fragment did not come in time
    /// (`fragment-no-first`).
    #[inline(never)]
    fn expire_held(&mut self, now: u32) {
        loop {
            let mut bufs: Burst<P::Buf> = Burst::new();
            let mut slots = arrayvec::ArrayVec::new();
            let more = self.held.expire(now, &mut bufs, &mut slots);
            for slot in slots {
                self.dp.unhold(slot, 1);
            }
            self.dp.counters.drops[DropReason::FragmentNoFirst as usize] += bufs.len() as u64;
            self.port.recycle(&mut bufs);
            if !more {
                break;
            }
        }
    }

    /// Drops every held fragment (`fragment-no-first`): the run is over.
    fn drop_held(&mut self) {
        while !self.held.is_empty() {
            let mut bufs: Burst<P::Buf> = Burst::new();
            self.held.drain(&mut bufs);
            self.dp.counters.drops[DropReason::FragmentNoFirst as usize] += bufs.len() as u64;
            self.port.recycle(&mut bufs);
        }
    }

    /// Hands `buf` to worker `to`, or gives it back (counted `handoff-full`)
    /// if that worker's ring is full. Out of line: with one worker (and on
    /// NICs that deliver to the owner) it is never called.
    #[inline(never)]
    fn hand_off(&mut self, to: usize, buf: P::Buf, clock: u32, public_arm: bool) -> Option<P::Buf> {
        let mut handed = Handed {
            buf,
            clock,
            public_arm,
        };
        let pushed = loop {
            let Some((handoff, me)) = &self.handoff else {
                break Err(handed.buf);
            };
            match handoff.push(*me, to, handed) {
                Ok(()) => break Ok(()),
                Err(back) if handoff.is_lossless() => {
                    // Wait for room, doing the work handed to this worker
                    // meanwhile: the owner may be waiting on this worker.
                    handed = back;
                    if self.poll_handed() == 0 {
                        std::hint::spin_loop();
                    }
                }
                Err(back) => break Err(back.buf),
            }
        };
        match pushed {
            Ok(()) => {
                self.dp.counters.event(Event::HandedOff);
                None
            }
            Err(buf) => {
                self.dp.counters.drop(DropReason::HandoffFull);
                Some(buf)
            }
        }
    }

    #[inline(always)]
    fn send(&mut self, side: Side, tx: &mut Burst<P::Buf>) {
        if tx.is_empty() {
            return;
        }
        let want = tx.len();
        let port = self.port_mut(side);
        port.tx_burst(tx);
        let unsent = tx.len();
        if unsent > 0 {
            port.recycle(tx);
        }
        self.dp.counters.tx += (want - unsent) as u64;
        self.dp.counters.drops[DropReason::TxFull as usize] += unsent as u64;
    }

    /// Sends the RSTs of the idle connections the sweep found
    /// (`tcp_reset_on_idle`): to each client from the public port, to each
    /// backend from the private port (the public one in one-arm), in
    /// buffers the ports give ([`Port::alloc`]). They count as originated
    /// packets, and as `idle-reset` events; a RST for which the port has no
    /// buffer as `idle-reset-no-buffer`. Returns whether it sent any.
    #[inline(never)]
    fn send_resets(&mut self) -> bool {
        if !self.dp.has_resets() {
            return false;
        }
        let two_arm = self.private.is_some();
        let mut to_public: Burst<P::Buf> = Burst::new();
        let mut to_private: Burst<P::Buf> = Burst::new();
        let mut unused: Burst<P::Buf> = Burst::new();
        while self.dp.has_resets() {
            // Room for both RSTs of a connection in either burst.
            if to_public.remaining_capacity() < 2 || to_private.remaining_capacity() < 2 {
                self.flush_resets(&mut to_public, &mut to_private);
            }
            let Some(r) = self.dp.take_reset() else {
                break;
            };
            for to in [Dir::Client, Dir::Backend] {
                let side = if to == Dir::Backend && two_arm {
                    Side::Private
                } else {
                    Side::Public
                };
                let Some(mut buf) = self.port_mut(side).alloc(r.frame_len()) else {
                    self.dp.counters.event(Event::IdleResetNoBuffer);
                    continue;
                };
                if !self.dp.write_reset(&r, to, buf.data_mut()) {
                    unused.push(buf);
                    self.port_mut(side).recycle(&mut unused);
                    continue;
                }
                self.dp.counters.originated += 1;
                self.dp.counters.event(Event::IdleReset);
                match side {
                    Side::Public => to_public.push(buf),
                    Side::Private => to_private.push(buf),
                }
            }
        }
        self.flush_resets(&mut to_public, &mut to_private);
        true
    }

    fn flush_resets(&mut self, to_public: &mut Burst<P::Buf>, to_private: &mut Burst<P::Buf>) {
        self.send(Side::Public, to_public);
        if self.private.is_some() {
            self.send(Side::Private, to_private);
        }
    }

    /// Publishes the counters for readers on other threads.
    pub fn publish(&mut self) {
        self.since_publish = 0;
        self.shared
            .publish(&self.dp.counters, self.dp.active_connections());
    }

    /// Whether every port is a finite source that has run dry.
    fn exhausted(&self) -> bool {
        self.port.is_exhausted() && self.private.as_ref().is_none_or(|p| p.is_exhausted())
    }

    /// Polls until `stop` is set or finite ports run dry, then publishes.
    /// With other workers ([`Worker::set_handoff`]), it then goes on
    /// processing what they hand over until every one of them has stopped
    /// receiving and the rings to it are empty.
    pub fn run(&mut self, stop: &AtomicBool) {
        loop {
            let n = self.poll();
            if self.finished {
                let all = self.handoff.as_ref().is_none_or(|(h, _)| h.all_finished());
                // After `all`, a last look: what was pushed before it is there.
                if all && n == 0 && self.poll() == 0 {
                    break;
                }
                if n == 0 {
                    std::hint::spin_loop();
                }
            } else if n == 0 {
                if self.exhausted() || stop.load(Ordering::Relaxed) {
                    self.finish();
                } else {
                    std::hint::spin_loop();
                }
            } else if self.since_publish == 0 && stop.load(Ordering::Relaxed) {
                self.finish();
            }
        }
        // The worker may be polled again (the benchmark's next phase); its
        // handoff group, if any, served this run only. What it holds will
        // not be sent.
        self.finished = false;
        self.drop_held();
        self.publish();
    }

    /// Stops receiving from the ports.
    fn finish(&mut self) {
        self.finished = true;
        if let Some((h, _)) = &self.handoff {
            h.finish();
        }
    }
}
