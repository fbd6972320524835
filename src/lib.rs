//! natrix: a poll-mode layer-4 NAT load balancer.
#![deny(unsafe_code)]

pub mod config;
pub mod select;
pub mod types;
pub mod wire;
pub mod capture;
pub mod dataplane;
pub mod flow;
pub mod port;
pub mod replay;
pub mod snapshot;
pub mod stats;
pub mod worker;
pub mod bench;
