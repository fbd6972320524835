//! natrix: a poll-mode layer-4 NAT load balancer.
#![deny(unsafe_code)]

pub mod app;
pub mod config;
pub mod control;
pub mod dataplane;
pub mod ports;
pub mod wire;
