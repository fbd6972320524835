//! `app`: the programs natrix runs, one module per command: the appliance on
//! DPDK (`run`), `replay`, `bench`, `generate`, `top`, and the summary they
//! print (`summary`).
//!
//! May import: every layer below (`wire`, `ports`, `dataplane`, `config`,
//! `control`). Only `main.rs` imports `app`.

pub mod bench;
pub mod client;
pub mod demo;
pub mod generate;
pub mod replay;
#[cfg(feature = "dpdk")]
pub mod run;
pub mod summary;
pub mod top;

/// What a command returns; `natrix` prints the error as `natrix: <error>`.
pub type CommandResult = Result<(), Box<dyn std::error::Error>>;
