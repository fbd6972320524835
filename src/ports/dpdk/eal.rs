//! The Environment Abstraction Layer: initialised once per process; a
//! `&Eal` is the proof, asked for by everything that needs it.

use super::error::{errno_of, DpdkError, Returns};
use super::lcore::Lcore;
use dpdk_sys as sys;
use std::ffi::{c_char, c_int, c_uint, CString};
use std::sync::OnceLock;

/// The initialised EAL. `rte_eal_init` succeeds once per process, so there
/// is one of these, shared.
pub struct Eal {
    _private: (),
}

static EAL: OnceLock<Result<Eal, DpdkError>> = OnceLock::new();

impl Eal {
    /// Initialises the EAL with these arguments (the program name first is
    /// added here). Later calls return the first result.
    pub fn init(args: &[String]) -> Result<&'static Eal, DpdkError> {
        EAL.get_or_init(|| {
            let mut owned: Vec<CString> = vec![c"natrix".to_owned()];
            for a in args {
                owned.push(
                    CString::new(a.as_str()).map_err(|_| DpdkError::NulInArgument(a.clone()))?,
                );
            }
            // EAL may permute argv; give it a private array of pointers.
            let mut argv: Vec<*mut c_char> =
                owned.iter().map(|c| c.as_ptr() as *mut c_char).collect();
            // SAFETY: argv holds argc valid NUL-terminated strings that live
            // until the end of this closure; EAL copies what it keeps.
            let rc = unsafe { sys::rte_eal_init(argv.len() as c_int, argv.as_mut_ptr()) };
            errno_of(rc, Returns::MinusOneAndRteErrno).map_err(DpdkError::EalInit)?;
            Ok(Eal { _private: () })
        })
        .as_ref()
        .map_err(Clone::clone)
    }

    /// Ports the EAL probed.
    pub fn port_count(&self) -> u16 {
        // SAFETY: EAL is initialised; this only reads its device list.
        unsafe { sys::rte_eth_dev_count_avail() }
    }

    /// The lcores other than the main one, in order.
    pub fn worker_lcores(&self) -> Vec<Lcore> {
        let mut out = Vec::new();
        // SAFETY: EAL is initialised; rte_get_next_lcore only reads its config.
        let mut l = unsafe { sys::rte_get_next_lcore(u32::MAX as c_uint, 1, 0) };
        while l < sys::RTE_MAX_LCORE {
            out.push(Lcore::new(l));
            // SAFETY: as above.
            l = unsafe { sys::rte_get_next_lcore(l, 1, 0) };
        }
        out
    }

    /// TSC ticks per second.
    pub fn tsc_hz(&self) -> u64 {
        // SAFETY: EAL is initialised (it measured the TSC).
        unsafe { sys::rte_get_tsc_hz() }
    }

    /// The NUMA socket of the calling thread.
    pub fn socket_id(&self) -> i32 {
        // SAFETY: EAL is initialised; reads this thread's socket id.
        unsafe { sys::rte_socket_id() as i32 }
    }
}
