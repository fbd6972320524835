//! natrix on DPDK: a safe wrapper over the EAL, mempools, mbufs, ports and
//! their queues (the DPDK [`Port`](crate::ports::Port)), jobs on lcores, and
//! telemetry commands. The appliance built from them (`natrix run`) is in
//! `app::run`.
//!
//! This module imports only `ports` (the Port trait it implements) and the
//! `dpdk-sys` bindings, where every DPDK declaration comes from.
//!
//! `unsafe` lives here and in the bindings only. The types carry what DPDK
//! leaves to the programmer: a port hands out each of its queues once
//! ([`EthPort::start`]); the mempool outlives the ports and mbufs that use it
//! (lifetimes, see [`mempool`]); a job launched on an lcore is `Send` and
//! waited for ([`lcore::scope`]). Every unsafe block says why it holds.

#![allow(unsafe_code)]

pub mod eal;
pub mod error;
pub mod ethdev;
pub mod lcore;
pub mod mbuf;
pub mod mempool;
pub mod telemetry;

pub use eal::Eal;
pub use error::{DpdkError, Errno, PortCall};
pub use ethdev::{EthPort, PortStats, Queue};
pub use lcore::{Lcore, LcoreScope};
pub use mbuf::Mbuf;
pub use mempool::Mempool;
