//! Raw FFI bindings to DPDK 22.11 for natrix.
//!
//! * The exported C API (EAL, ethdev, mbuf pools, rings, telemetry, vdev,
//!   `rte_eth_from_rings`) comes from bindgen over `wrapper.h`; see
//!   `build.rs` for the allowlists.
//! * DPDK's fast path (`rte_eth_rx_burst`, `rte_pktmbuf_alloc`,
//!   `rte_errno`, ...) is `static inline` C with no symbol to link against.
//!   `src/shim.c` exports each as `natrix_<name>`, and this crate declares
//!   those under their DPDK names (see [`shim`]), so callers write
//!   `dpdk_sys::rte_eth_rx_burst(...)` as they would in C.
//!
//! Everything here is `unsafe` and mirrors the C API one to one.

// Generated code: its accessors (bitfields, incomplete arrays) hold unsafe
// blocks without SAFETY comments and unsafe operations in unsafe functions.
#[allow(
    unsafe_op_in_unsafe_fn,
    clippy::undocumented_unsafe_blocks,
    non_upper_case_globals,
    non_camel_case_types,
    non_snake_case,
    dead_code,
    improper_ctypes,
    unnecessary_transmutes,
    clippy::all,
    clippy::pedantic
)]
mod bindings {
    include!(concat!(env!("OUT_DIR"), "/bindings.rs"));
}

pub mod shim;

pub use bindings::*;
pub use shim::*;
