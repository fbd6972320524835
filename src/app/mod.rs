//! The commands natrix runs: replay, bench, generate and top.

pub mod bench;
pub mod generate;
pub mod replay;
pub mod summary;
pub mod top;
