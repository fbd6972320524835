//! Ethernet ports and their queues.
//!
//! DPDK 22.11's `rte_eth_rx_burst` and `rte_eth_tx_burst` index the port's
//! queue array without checks, and a queue must not be polled by two threads
//! at once. So [`EthPort::start`] is the only way to a [`Queue`]: it hands out
//! each queue of the port exactly once, and refuses a port this process has
//! already started. A queue keeps its port open; the port is stopped and
//! closed when its handle and all its queues are gone.

use super::eal::Eal;
use super::error::{errno_of, DpdkError, PortCall, Returns};
use super::mbuf::Mbuf;
use super::mempool::Mempool;
use crate::ports::{Burst, Port, BURST};
use dpdk_sys as sys;
use std::collections::BTreeSet;
use std::ffi::{c_char, c_uint, CStr};
use std::marker::PhantomData;
use std::ptr::NonNull;
use std::sync::{Arc, Mutex};

/// Ports started by this process and not yet closed.
static STARTED: Mutex<BTreeSet<u16>> = Mutex::new(BTreeSet::new());

/// Marks `port` started; false if it already was.
fn claim(port: u16) -> bool {
    STARTED
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .insert(port)
}

fn release(port: u16) {
    STARTED
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .remove(&port);
}

/// A started port, shared by its handle and its queues; stops and closes the
/// port when the last of them goes.
struct Started<'pool> {
    id: u16,
    name: String,
    rss: bool,
    /// The receive rings are filled from this pool.
    _pool: PhantomData<&'pool Mempool>,
}

impl Drop for Started<'_> {
    fn drop(&mut self) {
        // SAFETY: the port was started by us, and no queue of it is left to
        // poll it (each queue holds this value).
        let _ = unsafe { sys::rte_eth_dev_stop(self.id) };
        // SAFETY: as above; closing releases the rings and the mbufs in
        // them while the pool is still alive ('pool).
        let _ = unsafe { sys::rte_eth_dev_close(self.id) };
        release(self.id);
    }
}

/// A started Ethernet port: its name and counters. Its queues are the
/// [`Queue`]s `start` returned with it.
pub struct EthPort<'pool> {
    started: Arc<Started<'pool>>,
}

/// Undoes a half-done `start`: releases the claim, and closes the port if it
/// was configured.
struct Unwind {
    id: u16,
    configured: bool,
}

impl Drop for Unwind {
    fn drop(&mut self) {
        if self.configured {
            // SAFETY: the port is ours (claimed) and no queue of it was
            // handed out; stopping a port that did not start is harmless.
            let _ = unsafe { sys::rte_eth_dev_stop(self.id) };
            // SAFETY: as above.
            let _ = unsafe { sys::rte_eth_dev_close(self.id) };
        }
        release(self.id);
    }
}

impl<'pool> EthPort<'pool> {
    /// Configures and starts port `id` with `queues` queue pairs (RSS on IP,
    /// TCP and UDP where the device offers it, promiscuous mode), receiving
    /// into `pool`. Returns the port and its queues 0..`queues`, each once.
    pub fn start(
        eal: &Eal,
        id: u16,
        queues: u16,
        pool: &'pool Mempool,
    ) -> Result<(EthPort<'pool>, Vec<Queue<'pool>>), DpdkError> {
        let name = port_name(id);
        let fail = |call| {
            let name = name.clone();
            move |errno| DpdkError::Port {
                port: id,
                name,
                call,
                errno,
            }
        };
        if !claim(id) {
            return Err(DpdkError::PortInUse { port: id, name });
        }
        let mut unwind = Unwind {
            id,
            configured: false,
        };

        // SAFETY: rte_eth_dev_info is plain data; all-zero is a valid value.
        let mut info: sys::rte_eth_dev_info = unsafe { std::mem::zeroed() };
        // SAFETY: EAL is initialised; `info` is ours to fill. An invalid id
        // is refused with -ENODEV.
        let rc = unsafe { sys::rte_eth_dev_info_get(id, &mut info) };
        errno_of(rc, Returns::NegErrno).map_err(fail(PortCall::InfoGet))?;
        if queues > info.max_rx_queues || queues > info.max_tx_queues {
            return Err(DpdkError::TooFewQueues {
                port: id,
                name,
                max_rx: info.max_rx_queues,
                max_tx: info.max_tx_queues,
                wanted: queues,
            });
        }

        // SAFETY: rte_eth_conf is plain data, and bindgen's NewType enums
        // make every all-zero field valid (the defaults of the C API).
        let mut conf: sys::rte_eth_conf = unsafe { std::mem::zeroed() };
        let rss_hf = (sys::RTE_ETH_RSS_IP | sys::RTE_ETH_RSS_TCP | sys::RTE_ETH_RSS_UDP)
            & info.flow_type_rss_offloads;
        let rss = queues > 1 && rss_hf != 0;
        if rss {
            conf.rxmode.mq_mode = sys::rte_eth_rx_mq_mode::RTE_ETH_MQ_RX_RSS;
            conf.rx_adv_conf.rss_conf.rss_hf = rss_hf;
        }
        // SAFETY: the port is valid (info_get succeeded) and ours; `conf`
        // outlives the call, which copies it.
        let rc = unsafe { sys::rte_eth_dev_configure(id, queues, queues, &conf) };
        errno_of(rc, Returns::NegErrno).map_err(fail(PortCall::Configure))?;
        unwind.configured = true;

        let (mut rxd, mut txd): (u16, u16) = (1024, 1024);
        // SAFETY: the port is configured; DPDK adjusts the two counts in place.
        let rc = unsafe { sys::rte_eth_dev_adjust_nb_rx_tx_desc(id, &mut rxd, &mut txd) };
        errno_of(rc, Returns::NegErrno).map_err(fail(PortCall::AdjustDescriptors))?;
        // SAFETY: reads the port's NUMA socket.
        let socket = unsafe { sys::rte_eth_dev_socket_id(id) }.max(0) as c_uint;
        for q in 0..queues {
            // SAFETY: q < the configured queue count; default queue
            // configuration (NULL); `pool` lives for 'pool, longer than the
            // port (see `Started`).
            let rc = unsafe {
                sys::rte_eth_rx_queue_setup(id, q, rxd, socket, std::ptr::null(), pool.as_ptr())
            };
            errno_of(rc, Returns::NegErrno).map_err(fail(PortCall::RxQueueSetup(q)))?;
            // SAFETY: as above, for the transmit queue.
            let rc = unsafe { sys::rte_eth_tx_queue_setup(id, q, txd, socket, std::ptr::null()) };
            errno_of(rc, Returns::NegErrno).map_err(fail(PortCall::TxQueueSetup(q)))?;
        }
        // SAFETY: every queue is set up.
        let rc = unsafe { sys::rte_eth_dev_start(id) };
        errno_of(rc, Returns::NegErrno).map_err(fail(PortCall::Start))?;
        // Virtual devices may not support it; natrix filters by address itself.
        // SAFETY: the port is started.
        let _ = unsafe { sys::rte_eth_promiscuous_enable(id) };

        // From here `Started` owns the close and the claim.
        std::mem::forget(unwind);
        let started = Arc::new(Started {
            id,
            name,
            rss,
            _pool: PhantomData,
        });
        let hz = eal.tsc_hz().max(1);
        let handed = (0..queues)
            .map(|queue| Queue {
                port: id,
                queue,
                tsc_hz: hz,
                pool,
                _started: started.clone(),
            })
            .collect();
        Ok((EthPort { started }, handed))
    }

    /// The port id.
    pub fn id(&self) -> u16 {
        self.started.id
    }

    /// The device name (`net_null0`, `0000:01:00.0`, ...).
    pub fn name(&self) -> &str {
        &self.started.name
    }

    /// Whether RSS spreads received packets over the queues.
    pub fn rss(&self) -> bool {
        self.started.rss
    }

    /// The port's hardware counters (zero where the device cannot tell).
    pub fn stats(&self) -> PortStats {
        // SAFETY: rte_eth_stats is plain data; all-zero is a valid value.
        let mut s: sys::rte_eth_stats = unsafe { std::mem::zeroed() };
        // SAFETY: the port is started (we hold it); DPDK fills `s`.
        if unsafe { sys::rte_eth_stats_get(self.started.id, &mut s) } != 0 {
            return PortStats::default();
        }
        PortStats {
            ipackets: s.ipackets,
            opackets: s.opackets,
            imissed: s.imissed,
            ierrors: s.ierrors,
            oerrors: s.oerrors,
            rx_nombuf: s.rx_nombuf,
        }
    }
}

/// A port's device counters.
#[derive(Clone, Copy, Debug, Default)]
pub struct PortStats {
    pub ipackets: u64,
    pub opackets: u64,
    pub imissed: u64,
    pub ierrors: u64,
    pub oerrors: u64,
    pub rx_nombuf: u64,
}

fn port_name(id: u16) -> String {
    let mut buf = [0 as c_char; sys::RTE_ETH_NAME_MAX_LEN as usize];
    // SAFETY: the buffer is RTE_ETH_NAME_MAX_LEN bytes, as the API asks.
    let rc = unsafe { sys::rte_eth_dev_get_name_by_port(id, buf.as_mut_ptr()) };
    if rc != 0 {
        return format!("port{id}");
    }
    // SAFETY: DPDK wrote a NUL-terminated name into the buffer.
    unsafe { CStr::from_ptr(buf.as_ptr()) }
        .to_string_lossy()
        .into_owned()
}

/// One receive and transmit queue pair of a started port: the DPDK [`Port`].
/// There is one handle per queue (see [`EthPort::start`]), and receiving or
/// transmitting takes it by `&mut`: one thread at a time polls a queue. It
/// may move to another thread (an lcore's job).
pub struct Queue<'pool> {
    port: u16,
    queue: u16,
    tsc_hz: u64,
    /// The pool its receive ring is filled from; packets natrix builds
    /// itself ([`Port::alloc`]) come from it too.
    pool: &'pool Mempool,
    /// Keeps the port started while the queue exists.
    _started: Arc<Started<'pool>>,
}

impl Queue<'_> {
    /// The queue number.
    pub fn queue(&self) -> u16 {
        self.queue
    }
}

impl<'pool> Port for Queue<'pool> {
    type Buf = Mbuf<'pool>;

    #[inline(always)]
    fn rx_burst(&mut self, rx: &mut Burst<Mbuf<'pool>>) {
        let room = rx.remaining_capacity();
        let mut ptrs = [std::ptr::null_mut::<sys::rte_mbuf>(); BURST];
        // SAFETY: this handle alone owns (port, queue), a queue of a started
        // port; ptrs has room for `room` <= BURST mbufs.
        let n =
            unsafe { sys::rte_eth_rx_burst(self.port, self.queue, ptrs.as_mut_ptr(), room as u16) };
        for &p in &ptrs[..n as usize] {
            if let Some(m) = NonNull::new(p) {
                // SAFETY: the driver handed us this mbuf of `pool`, which
                // lives for 'pool.
                rx.push(unsafe { Mbuf::from_raw(m) });
            }
        }
    }

    #[inline(always)]
    fn tx_burst(&mut self, tx: &mut Burst<Mbuf<'pool>>) {
        let n = tx.len();
        let mut ptrs = [std::ptr::null_mut::<sys::rte_mbuf>(); BURST];
        for (p, m) in ptrs.iter_mut().zip(tx.iter()) {
            *p = m.as_ptr();
        }
        // SAFETY: this handle alone owns (port, queue); the first n pointers
        // are valid mbufs we own.
        let sent =
            unsafe { sys::rte_eth_tx_burst(self.port, self.queue, ptrs.as_mut_ptr(), n as u16) }
                as usize;
        // The driver now owns the first `sent` mbufs: give them up unfreed.
        for m in tx.drain(..sent.min(n)) {
            m.into_raw();
        }
    }

    fn alloc(&mut self, len: usize) -> Option<Mbuf<'pool>> {
        let len = u16::try_from(len).ok()?;
        // SAFETY: the pool lives for 'pool; allocation from a mempool is
        // safe from any thread (its per-lcore cache is the caller's own).
        let p = unsafe { sys::rte_pktmbuf_alloc(self.pool.as_ptr()) };
        // SAFETY: a fresh mbuf of `pool`, single-segment, owned by us alone,
        // with no data yet (data_len 0 at the default headroom).
        let mut m = unsafe { Mbuf::from_raw(NonNull::new(p)?) };
        // Too long for its buffer: dropping `m` frees it.
        m.set_len(len).then_some(m)
    }

    #[inline(always)]
    fn clock(&self) -> u32 {
        // SAFETY: reads the TSC.
        (unsafe { sys::rte_get_tsc_cycles() } / self.tsc_hz) as u32
    }
}
