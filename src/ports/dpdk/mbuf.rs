//! One packet buffer, owned: freed on drop, or given to the NIC by transmit.

use super::mempool::Mempool;
use crate::ports::PacketBuf;
use dpdk_sys as sys;
use std::marker::PhantomData;
use std::ptr::NonNull;

/// A received mbuf of a pool that outlives it (see [`Mempool`]). Only a
/// [`Queue`](super::Queue) makes these.
pub struct Mbuf<'pool> {
    ptr: NonNull<sys::rte_mbuf>,
    _pool: PhantomData<&'pool Mempool>,
}

// SAFETY: an mbuf has exactly one owner (this value) until it is transmitted
// or freed; moving the value to another thread moves that ownership, and
// freeing from any lcore is allowed by the mempool.
unsafe impl Send for Mbuf<'_> {}

impl<'pool> Mbuf<'pool> {
    /// Takes ownership of an mbuf the driver handed over.
    ///
    /// # Safety
    /// `ptr` is a single owned mbuf of a pool that lives for 'pool, with
    /// `data_len` bytes of packet data at `buf_addr + data_off`.
    #[inline(always)]
    pub(super) unsafe fn from_raw(ptr: NonNull<sys::rte_mbuf>) -> Mbuf<'pool> {
        Mbuf {
            ptr,
            _pool: PhantomData,
        }
    }

    /// Gives up ownership (to the driver, by transmit) without freeing.
    #[inline(always)]
    pub(super) fn into_raw(self) -> *mut sys::rte_mbuf {
        let p = self.ptr.as_ptr();
        std::mem::forget(self);
        p
    }

    #[inline(always)]
    pub(super) fn as_ptr(&self) -> *mut sys::rte_mbuf {
        self.ptr.as_ptr()
    }

    /// Sets the length of a single-segment packet (its data then starts
    /// where it did, with whatever bytes the buffer held). False, and
    /// nothing changed, if the mbuf is chained or `len` does not fit in its
    /// buffer.
    #[inline(always)]
    pub fn set_len(&mut self, len: u16) -> bool {
        // SAFETY: we own the mbuf, exclusively through &mut self.
        let m = unsafe { self.ptr.as_mut() };
        if m.nb_segs != 1 || u32::from(m.data_off) + u32::from(len) > u32::from(m.buf_len) {
            return false;
        }
        m.data_len = len;
        m.pkt_len = u32::from(len);
        true
    }
}

impl Drop for Mbuf<'_> {
    fn drop(&mut self) {
        // SAFETY: we own the mbuf and its pool is alive ('pool); it is freed
        // exactly once, here.
        unsafe { sys::rte_pktmbuf_free(self.ptr.as_ptr()) }
    }
}

impl PacketBuf for Mbuf<'_> {
    #[inline(always)]
    fn data(&self) -> &[u8] {
        // SAFETY: we own the mbuf (see `from_raw`) and borrow it for &self.
        let m = unsafe { self.ptr.as_ref() };
        // SAFETY: its first segment holds data_len bytes at buf_addr +
        // data_off (`set_len` keeps that true), borrowed for &self.
        unsafe {
            std::slice::from_raw_parts(
                m.buf_addr.cast::<u8>().add(m.data_off as usize),
                m.data_len as usize,
            )
        }
    }

    #[inline(always)]
    fn data_mut(&mut self) -> &mut [u8] {
        // SAFETY: as in `data`; we own the mbuf.
        let m = unsafe { self.ptr.as_ref() };
        // SAFETY: as in `data`, with exclusive access through &mut self.
        unsafe {
            std::slice::from_raw_parts_mut(
                m.buf_addr.cast::<u8>().add(m.data_off as usize),
                m.data_len as usize,
            )
        }
    }

    /// `rte_pktmbuf_adj` for a single segment, on the mbuf's fields.
    #[inline(always)]
    fn adj(&mut self, n: usize) -> bool {
        // SAFETY: we own the mbuf, exclusively through &mut self.
        let m = unsafe { self.ptr.as_mut() };
        if m.nb_segs != 1 || n > usize::from(m.data_len) {
            return false;
        }
        let n16 = n as u16;
        m.data_off += n16;
        m.data_len -= n16;
        m.pkt_len -= u32::from(n16);
        true
    }

    /// `rte_pktmbuf_prepend` for a single segment, on the mbuf's fields.
    #[inline(always)]
    fn prepend(&mut self, n: usize) -> bool {
        // SAFETY: we own the mbuf, exclusively through &mut self.
        let m = unsafe { self.ptr.as_mut() };
        if m.nb_segs != 1 || n > usize::from(m.data_off) {
            return false;
        }
        let n16 = n as u16;
        m.data_off -= n16;
        m.data_len += n16;
        m.pkt_len += u32::from(n16);
        true
    }
}
