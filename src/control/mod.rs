//! The control plane: management, the control socket, health probes and metrics.

pub mod health;
pub mod metrics;
pub mod mgmt;
pub mod plane;
pub mod protocol;
pub mod socket;
