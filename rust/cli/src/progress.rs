//! Per-step progress lines on stderr (silenced by `--quiet`).

use std::time::Instant;

/// Prints `[  1.2s] step` lines unless quiet.
pub struct Progress {
    quiet: bool,
    start: Instant,
}

impl Progress {
    /// A progress printer.
    pub fn new(quiet: bool) -> Self {
        Self {
            quiet,
            start: Instant::now(),
        }
    }

    /// Reports that `step` begins.
    pub fn step(&self, step: &str) {
        if !self.quiet {
            eprintln!("[{:>6.1}s] {step}", self.start.elapsed().as_secs_f64());
        }
    }
}
