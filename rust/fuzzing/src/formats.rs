//! Fuzz targets of the file formats the build tools and the PID 1
//! programs read: cpio initrds, PE images and UKIs (systemd-stub, kernels,
//! Authenticode signatures), update-bundle and netboot manifests, and
//! detached signatures.

mod cpio;
mod manifest;
mod pe;
mod signature;

use crate::seeds::{Seed, SeedSources};
use crate::Target;
pub use cpio::{cpio, cpio_roundtrip};
pub use manifest::manifest;
pub use pe::{pe, uki_roundtrip};
pub use signature::signature;

/// The targets of this module.
pub const TARGETS: &[Target] = &[
    Target {
        name: "cpio",
        run: cpio,
        pid1: false,
        about: "newc cpio archives (concatenated, compressed members) as the initrd reader unpacks them",
        max_len: 64 << 10,
    },
    Target {
        name: "cpio_roundtrip",
        run: cpio_roundtrip,
        pid1: false,
        about: "cpio decode → write → decode (same entries, byte-identical rewrite)",
        max_len: 64 << 10,
    },
    Target {
        name: "pe",
        run: pe,
        pid1: false,
        about: "PE/COFF images: headers, sections, UKI sections, Authenticode digest and signature table",
        max_len: 64 << 10,
    },
    Target {
        name: "uki_roundtrip",
        run: uki_roundtrip,
        pid1: false,
        about: "UKI decode → rebundle → decode (same sections)",
        max_len: 64 << 10,
    },
    Target {
        name: "manifest",
        run: manifest,
        pid1: false,
        about: "update-bundle, build and netboot manifests and the publish index",
        max_len: 16 << 10,
    },
    Target {
        name: "signature",
        run: signature,
        pid1: false,
        about: "detached signatures and PEM keys: parse and verify",
        max_len: 4096,
    },
];

/// Seeds for this module's targets.
pub fn seeds(src: &SeedSources) -> anyhow::Result<Vec<Seed>> {
    let mut out = cpio::seeds(src)?;
    out.extend(pe::seeds(src)?);
    out.extend(manifest::seeds(src)?);
    out.extend(signature::seeds(src)?);
    Ok(out)
}
