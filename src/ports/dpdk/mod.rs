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
//!
//! What the compiler refuses (each of these compiles with the marked line
//! changed as its comment says):
//!
//! ```compile_fail,E0277
//! # use natrix::ports::dpdk::{lcore, Eal};
//! # fn f(eal: &Eal) {
//! let l = eal.worker_lcores()[0];
//! let job_state = std::rc::Rc::new(0); // a job must be Send: std::sync::Arc
//! lcore::scope(eal, |s| s.launch(l, move || drop(job_state)));
//! # }
//! ```
//!
//! ```compile_fail,E0373
//! # use natrix::ports::dpdk::{lcore, Eal};
//! # use std::sync::atomic::{AtomicBool, Ordering};
//! # fn f(eal: &Eal) {
//! let l = eal.worker_lcores()[0];
//! lcore::scope(eal, |s| {
//!     // A job borrows only what outlives the scope: declare this before it.
//!     let stop = AtomicBool::new(false);
//!     s.launch(l, || while !stop.load(Ordering::Relaxed) {}).unwrap();
//! });
//! # }
//! ```
//!
//! ```compile_fail,E0505
//! # use natrix::ports::dpdk::{Eal, EthPort, Mempool};
//! # fn f(eal: &Eal) -> Result<(), natrix::ports::dpdk::DpdkError> {
//! let pool = Mempool::new(eal, "pool", 1023, 0)?;
//! let (port, queues) = EthPort::start(eal, 0, 1, &pool)?;
//! drop(pool); // the pool outlives its ports and queues: drop it last
//! drop(queues);
//! # Ok(()) }
//! ```

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
