//! DPDK failures as Rust errors. Every FFI result of this wrapper becomes a
//! [`DpdkError`] here, in one place: `errno_of` reads a failed call's error
//! number, and [`Errno`] turns it into `rte_strerror`'s text when displayed.

use dpdk_sys as sys;
use std::ffi::{c_int, CStr};
use std::fmt;

/// A DPDK error number (an `errno` value or one of DPDK's own `E_RTE_*`),
/// displayed as `rte_strerror`'s text and the number.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Errno(pub i32);

impl fmt::Display for Errno {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // SAFETY: rte_strerror returns a pointer to a static or thread-local
        // NUL-terminated string, valid until the next call on this thread;
        // it is copied before anything else runs here.
        let reason = unsafe {
            let p = sys::rte_strerror(self.0);
            (!p.is_null()).then(|| CStr::from_ptr(p).to_string_lossy().into_owned())
        };
        match reason {
            Some(r) if !r.is_empty() => write!(f, "{r} (error {})", self.0),
            _ => write!(f, "error {}", self.0),
        }
    }
}

/// How a DPDK call reports failure.
#[derive(Clone, Copy)]
pub(super) enum Returns {
    /// A negative errno (`rte_eth_*`, `rte_eal_remote_launch`).
    NegErrno,
    /// -1 with the reason in `rte_errno` (`rte_eal_init`).
    MinusOneAndRteErrno,
}

/// The error number of a call that returned `rc`, or `Ok(rc)` when it
/// succeeded (`rc >= 0`).
pub(super) fn errno_of(rc: c_int, how: Returns) -> Result<c_int, Errno> {
    if rc >= 0 {
        return Ok(rc);
    }
    Err(match how {
        Returns::NegErrno => Errno(-rc),
        Returns::MinusOneAndRteErrno => rte_errno(),
    })
}

/// The calling thread's `rte_errno`, for calls that return NULL or -1.
pub(super) fn rte_errno() -> Errno {
    // SAFETY: rte_errno reads a thread-local variable of the calling thread.
    Errno(unsafe { sys::rte_errno() })
}

/// A port call that can fail.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PortCall {
    InfoGet,
    Configure,
    AdjustDescriptors,
    RxQueueSetup(u16),
    TxQueueSetup(u16),
    Start,
}

/// Why a DPDK operation failed. The text users see is the same as natrix
/// printed before these were typed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DpdkError {
    /// An EAL argument holds a NUL byte.
    NulInArgument(String),
    /// `rte_eal_init` failed.
    EalInit(Errno),
    /// `rte_pktmbuf_pool_create` failed.
    PoolCreate {
        name: String,
        mbufs: u32,
        errno: Errno,
    },
    /// A mempool name holds a NUL byte.
    NulInPoolName(String),
    /// A port call failed.
    Port {
        port: u16,
        name: String,
        call: PortCall,
        errno: Errno,
    },
    /// The port has fewer queues than the workers need.
    TooFewQueues {
        port: u16,
        name: String,
        max_rx: u16,
        max_tx: u16,
        wanted: u16,
    },
    /// The port was already started by this process (its queues are out).
    PortInUse { port: u16, name: String },
    /// `rte_eal_remote_launch` failed.
    Launch { lcore: u32, errno: Errno },
    /// Jobs are launched from the main lcore only.
    NotMainLcore,
    /// `rte_telemetry_register_cmd` failed.
    TelemetryRegister { command: String, errno: Errno },
}

impl fmt::Display for DpdkError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DpdkError::NulInArgument(a) => write!(f, "EAL argument {a:?} contains a NUL byte"),
            DpdkError::EalInit(e) => {
                write!(f, "rte_eal_init (check the EAL arguments after --): {e}")
            }
            DpdkError::PoolCreate { name, mbufs, errno } => {
                write!(f, "rte_pktmbuf_pool_create({name}, {mbufs} mbufs): {errno}")
            }
            DpdkError::NulInPoolName(n) => write!(f, "mempool name {n:?} contains a NUL byte"),
            DpdkError::Port {
                port,
                name,
                call,
                errno,
            } => {
                write!(f, "port {port} ({name}): ")?;
                match call {
                    PortCall::InfoGet => f.write_str("rte_eth_dev_info_get")?,
                    PortCall::Configure => f.write_str("rte_eth_dev_configure")?,
                    PortCall::AdjustDescriptors => {
                        f.write_str("rte_eth_dev_adjust_nb_rx_tx_desc")?
                    }
                    PortCall::RxQueueSetup(q) => write!(f, "receive queue {q}")?,
                    PortCall::TxQueueSetup(q) => write!(f, "transmit queue {q}")?,
                    PortCall::Start => f.write_str("rte_eth_dev_start")?,
                }
                write!(f, ": {errno}")
            }
            DpdkError::TooFewQueues {
                port,
                name,
                max_rx,
                max_tx,
                wanted,
            } => write!(
                f,
                "port {port} ({name}) has at most {max_rx} receive and {max_tx} transmit queues; {wanted} workers need {wanted} of each"
            ),
            DpdkError::PortInUse { port, name } => {
                write!(f, "port {port} ({name}) is already started")
            }
            DpdkError::Launch { lcore, errno } => {
                write!(f, "rte_eal_remote_launch on lcore {lcore}: {errno}")
            }
            DpdkError::NotMainLcore => {
                f.write_str("lcore jobs can only be launched from the main lcore")
            }
            DpdkError::TelemetryRegister { command, errno } => {
                write!(f, "telemetry: cannot register {command}: error {}", errno.0)
            }
        }
    }
}

impl std::error::Error for DpdkError {}
