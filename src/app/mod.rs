//! The commands natrix runs: run (the appliance on DPDK), replay, bench,
//! generate and top.

pub mod bench;
pub mod generate;
pub mod replay;
#[cfg(feature = "dpdk")]
pub mod run;
pub mod summary;
pub mod top;
