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
//! * `metalos-fuzz-tool seeds` — writes the seed corpora from real artifacts.
//!
//! Modules, from the ground up:
//! * [`target`] — the [`Target`] type;
//! * [`seeds`] — the [`seeds::Seed`] type and where seed material comes
//!   from ([`seeds::SeedSources`]);
//! * [`disk`], [`net`], [`formats`], [`config`] — the targets, grouped by
//!   concern, each with its `TARGETS` and the seeds of its targets;
//! * [`corpus`] — gathers every group's seeds and the regression inputs
//!   into the seed corpora;
//! * [`report`] — libFuzzer logs to the README table;
//! * [`runner`] — runs the cargo-fuzz binaries side by side.

pub mod config;
pub mod corpus;
pub mod disk;
pub mod formats;
pub mod net;
pub mod report;
pub mod runner;
pub mod seeds;
pub mod target;

pub use target::Target;

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
