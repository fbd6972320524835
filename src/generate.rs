//! `natrix gen`: realistic traffic for a configuration, as a capture.

use crate::capture::{self, CaptureError, Frame};
use crate::config::Config;
use std::path::Path;

/// What to generate.
#[derive(Clone, Debug)]
pub struct GenOptions {
    /// TCP connections per TCP frontend, UDP exchanges per UDP frontend.
    pub connections: u32,
    /// Distinct client addresses.
    pub clients: u32,
    /// Data segments each way per TCP connection.
    pub segments: u32,
    pub seed: u64,
    /// Stray packets per 100 connections.
    pub stray_percent: u32,
}

impl Default for GenOptions {
    fn default() -> Self {
        GenOptions {
            connections: 1000,
            clients: 100,
            segments: 2,
            seed: 1,
            stray_percent: 5,
        }
    }
}

/// Generates the frames, in capture order.
pub fn generate(_config: &Config, _opts: &GenOptions) -> Vec<Frame> {
    Vec::new()
}

/// Generates and writes a capture; returns the number of frames.
pub fn write(config: &Config, opts: &GenOptions, path: &Path) -> Result<usize, CaptureError> {
    let frames = generate(config, opts);
    let mut w = capture::Writer::create(path)?;
    for f in &frames {
        w.write(f.timestamp, &f.data)?;
    }
    w.finish()?;
    Ok(frames.len())
}
