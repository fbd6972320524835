//! natrix: a poll-mode layer-4 NAT load balancer.
#![deny(unsafe_code)]

pub mod bench;
pub mod capture;
pub mod config;
pub mod control;
pub mod dataplane;
#[cfg(feature = "dpdk")]
pub mod dpdk;
pub mod flow;
pub mod generate;
pub mod health;
pub mod metrics;
pub mod mgmt;
pub mod port;
pub mod replay;
pub mod select;
pub mod snapshot;
pub mod stats;
#[cfg(feature = "dpdk")]
pub mod telemetry;
pub mod top;
pub mod types;
pub mod wire;
pub mod worker;
