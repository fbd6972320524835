//! `control`: the control plane. It builds and publishes the data path's
//! snapshots (`plane`), runs management (`mgmt`: statistics, changes,
//! reload), health probes (`health`), the control socket (`socket`) and its
//! typed protocol, and the Prometheus metrics listener (`metrics`).
//!
//! May import: `wire`, `ports`, `dataplane`, `config`. Never `app`.

pub mod health;
pub mod metrics;
pub mod mgmt;
pub mod neighbour;
pub mod plane;
pub mod protocol;
pub mod socket;
