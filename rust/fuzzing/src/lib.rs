//! Fuzz targets for every decoder of bytes MetalOS did not write.
//!
//! Each target is a plain function `fn(&[u8])` that decodes the input
//! and checks the decoder's invariants (for formats with a writer:
//! decode → encode → decode is stable). It must never panic, hang or
//! allocate without bound on any input; a panic is a finding.
//!
//! The same functions run in three places:
//! * `fuzz/` — the cargo-fuzz (libFuzzer) workspace, one binary per target;
//! * `tests/fuzz_regressions.rs` — every minimized finding under
//!   `tests/fuzz-regressions/<target>/`, in `make test`, without a fuzzer;
//! * `fuzz-seeds` — writes the seed corpora from real artifacts.

pub mod config;
pub mod disk;
pub mod formats;
pub mod net;
pub mod report;
pub mod runner;
pub mod seeds;

/// One fuzz target.
#[derive(Clone, Copy)]
pub struct Target {
    /// Name of the cargo-fuzz binary and of its corpus/regression directories.
    pub name: &'static str,
    /// Runs one input.
    pub run: fn(&[u8]),
    /// Read by a PID 1 program at boot (bootloader, metalinit, metalimage):
    /// held to 10^7 executions instead of 10^6.
    pub pid1: bool,
    /// What it decodes, for `make fuzz` and the README table.
    pub about: &'static str,
    /// Largest input libFuzzer generates (`-max_len`): big enough for the
    /// real artifacts' seeds, small enough to keep executions fast.
    pub max_len: usize,
}

/// Every target, in the order `make fuzz` runs them.
pub fn targets() -> Vec<Target> {
    [
        disk::TARGETS,
        net::TARGETS,
        formats::TARGETS,
        config::TARGETS,
    ]
    .concat()
}

/// The target called `name`.
pub fn find(name: &str) -> Option<Target> {
    targets().into_iter().find(|t| t.name == name)
}
