//! The packet buffer pool.
//!
//! Its lifetime is explicit, and checked by the compiler rather than by a
//! count at run time: [`Mempool`] frees the pool when dropped, and everything
//! that holds buffers of the pool borrows it: an [`EthPort<'pool>`] (whose
//! receive rings are filled from it), its [`Queue<'pool>`]s and every
//! [`Mbuf<'pool>`]. So the pool cannot be dropped while a port or a buffer
//! uses it. A reference count (an `Arc` in each mbuf) would say the same at
//! a cost on every packet; a lifetime costs nothing. Jobs on lcores that
//! hold queues are launched in [`lcore::scope`](super::lcore::scope), which
//! waits for them, so they need no `'static`.
//!
//! [`EthPort<'pool>`]: super::EthPort
//! [`Queue<'pool>`]: super::Queue
//! [`Mbuf<'pool>`]: super::Mbuf

use super::eal::Eal;
use super::error::{rte_errno, DpdkError};
use dpdk_sys as sys;
use std::ffi::CString;
use std::ptr::NonNull;

/// A packet mbuf pool, freed on drop.
pub struct Mempool {
    ptr: NonNull<sys::rte_mempool>,
}

// SAFETY: DPDK mempools are multi-producer multi-consumer safe; the pointer is
// used to allocate from any thread and, at drop, to free the pool once.
unsafe impl Send for Mempool {}
// SAFETY: as above: every operation through a shared reference is thread-safe.
unsafe impl Sync for Mempool {}

impl Mempool {
    /// Creates a pool of `mbufs` buffers of `RTE_MBUF_DEFAULT_BUF_SIZE` on
    /// NUMA `socket`.
    pub fn new(_eal: &Eal, name: &str, mbufs: u32, socket: i32) -> Result<Mempool, DpdkError> {
        let cname = CString::new(name).map_err(|_| DpdkError::NulInPoolName(name.into()))?;
        // SAFETY: EAL is initialised (the &Eal proves it); the name is copied.
        let p = unsafe {
            sys::rte_pktmbuf_pool_create(
                cname.as_ptr(),
                mbufs,
                256.min(mbufs / 8),
                0,
                sys::RTE_MBUF_DEFAULT_BUF_SIZE as u16,
                socket,
            )
        };
        NonNull::new(p)
            .map(|ptr| Mempool { ptr })
            .ok_or_else(|| DpdkError::PoolCreate {
                name: name.into(),
                mbufs,
                errno: rte_errno(),
            })
    }

    pub(super) fn as_ptr(&self) -> *mut sys::rte_mempool {
        self.ptr.as_ptr()
    }
}

impl Drop for Mempool {
    fn drop(&mut self) {
        // SAFETY: the pool is ours and freed once, here. Nothing uses it any
        // more: the ports, queues and mbufs that did borrowed it, so they are
        // gone (a port's rings are released when it is closed).
        unsafe { sys::rte_mempool_free(self.ptr.as_ptr()) }
    }
}
