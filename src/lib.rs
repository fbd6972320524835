//! natrix: a poll-mode layer-4 NAT load balancer.
#![deny(unsafe_code)]

pub mod config;
pub mod select;
pub mod types;
pub mod wire;
