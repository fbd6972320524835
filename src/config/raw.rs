//! The file as written: serde structs that mirror the TOML.
//!
//! Unknown keys are rejected here, by serde. Every value that validation can
//! reject is `Spanned`, so that its error can name the line.

use serde::Deserialize;
use std::ops::Range;
use toml::Spanned;

/// A byte range of the text.
pub(super) type Span = Range<usize>;

#[derive(Deserialize)]
#[serde(deny_unknown_fields, expecting = "a table")]
pub(super) struct RawConfig {
    pub(super) appliance: Option<Spanned<RawAppliance>>,
    pub(super) ports: Option<Spanned<RawPorts>>,
    #[serde(default)]
    pub(super) frontend: Vec<Spanned<RawFrontend>>,
    #[serde(default)]
    pub(super) pool: Vec<Spanned<RawPool>>,
    #[serde(default)]
    pub(super) rule: Vec<Spanned<RawRule>>,
    #[serde(default)]
    pub(super) nat_rule: Vec<Spanned<RawNatRule>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, expecting = "a table")]
pub(super) struct RawPorts {
    pub(super) topology: Option<Spanned<String>>,
    pub(super) public: Option<Spanned<i64>>,
    pub(super) private: Option<Spanned<i64>>,
    pub(super) workers: Option<Spanned<i64>>,
    pub(super) mbufs: Option<Spanned<i64>>,
    pub(super) public_addresses: Option<Vec<Spanned<String>>>,
    pub(super) private_addresses: Option<Vec<Spanned<String>>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, expecting = "a table")]
pub(super) struct RawAppliance {
    pub(super) mac: Option<Spanned<String>>,
    pub(super) addresses: Option<Vec<Spanned<String>>>,
    pub(super) gateway_mac: Option<Spanned<String>>,
    pub(super) gateway4: Option<Spanned<String>>,
    pub(super) gateway6: Option<Spanned<String>>,
    pub(super) flow_table_size: Option<Spanned<i64>>,
    pub(super) transitory_timeout: Option<Spanned<i64>>,
    pub(super) fragment_table_size: Option<Spanned<i64>>,
    pub(super) fragment_hold_packets: Option<Spanned<i64>>,
    pub(super) fragment_hold_bytes: Option<Spanned<i64>>,
    pub(super) fragment_timeout: Option<Spanned<i64>>,
    pub(super) seed: Option<Spanned<i64>>,
    pub(super) siit_addresses: Option<Vec<Spanned<String>>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, expecting = "a table")]
pub(super) struct RawFrontend {
    pub(super) name: Option<Spanned<String>>,
    pub(super) address: Option<Spanned<String>>,
    pub(super) port: Option<Spanned<i64>>,
    pub(super) protocol: Option<Spanned<String>>,
    pub(super) siit: Option<Spanned<bool>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, expecting = "a table")]
pub(super) struct RawPool {
    pub(super) name: Option<Spanned<String>>,
    pub(super) next_hop_mac: Option<Spanned<String>>,
    pub(super) next_hop: Option<Spanned<String>>,
    #[serde(default)]
    pub(super) backend: Vec<Spanned<RawBackend>>,
    pub(super) health: Option<Spanned<RawHealth>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, expecting = "a table")]
pub(super) struct RawHealth {
    pub(super) protocol: Option<Spanned<String>>,
    pub(super) port: Option<Spanned<i64>>,
    pub(super) path: Option<Spanned<String>>,
    pub(super) interval: Option<Spanned<i64>>,
    /// Seconds; an integer or a float (like 0.5).
    pub(super) timeout: Option<Spanned<f64>>,
    pub(super) unhealthy_threshold: Option<Spanned<i64>>,
    pub(super) healthy_threshold: Option<Spanned<i64>>,
    pub(super) down_connections: Option<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, expecting = "a table")]
pub(super) struct RawBackend {
    pub(super) address: Option<Spanned<String>>,
    pub(super) port: Option<Spanned<i64>>,
    pub(super) weight: Option<Spanned<i64>>,
    pub(super) mac: Option<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, expecting = "a table")]
pub(super) struct RawRule {
    pub(super) frontend: Option<Spanned<String>>,
    pub(super) pool: Option<Spanned<String>>,
    pub(super) mode: Option<Spanned<String>>,
    pub(super) idle_timeout: Option<Spanned<i64>>,
    pub(super) transitory_timeout: Option<Spanned<i64>>,
    pub(super) syn_timeout: Option<Spanned<i64>>,
    pub(super) tcp_reset_on_idle: Option<Spanned<bool>>,
    pub(super) maglev_table_size: Option<Spanned<i64>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, expecting = "a table")]
pub(super) struct RawNatRule {
    pub(super) frontend: Option<Spanned<String>>,
    pub(super) address: Option<Spanned<String>>,
    pub(super) port: Option<Spanned<i64>>,
    pub(super) mac: Option<Spanned<String>>,
}
