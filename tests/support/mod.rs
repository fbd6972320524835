//! What the integration tests share; each test file that needs it says
//! `mod support;` and uses the parts it needs:
//!
//! - [`appliance`]: `natrix run` on DPDK's net_null device with a control
//!   socket of its own, for the tests that talk to a running appliance;
//! - [`eal`]: the DPDK EAL argument lists that work on this machine without
//!   hugepages or NICs;
//! - [`fixtures`]: the configurations the tests run on (`examples/*.toml` and
//!   `tests/fixtures/*.toml`);
//! - [`net_pcap`]: `natrix run` over DPDK's net_pcap, a capture in and the
//!   queues' captures out;
//! - [`oracle`]: what every burst must satisfy (counters, checksums, only
//!   what a rule allows is sent), shared with the fuzzer in `fuzz/`;
//! - [`siit`]: SIIT's configuration, IPv6 and IPv4 frames built with
//!   etherparse, and workers that hand frames to their owner;
//! - [`translation`]: packets described and built with etherparse (never with
//!   natrix's own code), the rewrites expected of them, and a harness that runs
//!   frames through one `Dataplane` and checks its counters;
//! - [`tshark`]: tshark's verdict on the checksums of a capture.
//!
//! A test file uses only some of it; the rest is dead code there.

#![allow(dead_code)]

pub mod appliance;
pub mod eal;
pub mod fixtures;
pub mod net_pcap;
pub mod oracle;
pub mod siit;
pub mod translation;
pub mod tshark;
