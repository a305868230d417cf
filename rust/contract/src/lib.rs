//! What MetalOS's writers and readers must agree on, defined once.
//!
//! The build host writes disks, bundles and command lines that PID-1
//! programs and the update code read back later, often years apart and in
//! another binary. Every name, path and format both sides use lives here,
//! so a writer and its reader cannot drift:
//!
//! * [`paths`] — typed paths on the ESP ([`paths::EspPath`]), on the OEM
//!   partition ([`paths::OemPath`]), in initrds ([`paths::InitrdPath`]) and
//!   in `/usr` slots ([`paths::UsrPath`]);
//! * [`cmdline`] — the `metalos.*` kernel arguments, written and parsed in
//!   one place ([`cmdline::ImagingArgs`], [`cmdline::value`], [`cmdline::OEM_ID`]);
//! * [`oem`] — the OEM partition's label, platform ids and `oem-release`
//!   ([`oem::OemRelease`]);
//! * [`mac`] — the one [`mac::MacAddr`];
//! * [`update`] — the update bundle's `bundle.json` ([`update::UpdateManifest`]);
//! * [`netboot`] — a netboot bundle's `manifest.json` ([`netboot::NetbootManifest`]);
//! * [`graph`] — a release channel's update graph ([`graph::Graph`]).
//!
//! No I/O happens here: only types, constants, parsing and formatting.

pub mod cmdline;
pub mod graph;
pub mod mac;
pub mod netboot;
pub mod oem;
pub mod paths;
pub mod update;

pub use mac::MacAddr;

/// `true` for a sha256 as MetalOS writes it: 64 lower-case hex digits.
pub fn is_sha256_hex(hash: &str) -> bool {
    hash.len() == 64 && hash.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}
