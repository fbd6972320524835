//! The burst fuzzer's oracle is the one the tests use
//! (tests/support/oracle.rs), so that CI's short run on stable Rust and the
//! long libFuzzer runs check the same things.

#[path = "../../tests/support/oracle.rs"]
mod oracle;

pub use oracle::{check, frames, input};
