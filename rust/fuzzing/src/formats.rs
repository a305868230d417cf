//! Fuzz targets of the file formats the build tools and the PID 1
//! programs read: cpio initrds, PE images and UKIs (systemd-stub, kernels,
//! Authenticode signatures), update-bundle and netboot manifests, and
//! detached signatures.

mod cpio;
mod manifest;
pub mod pe;
mod signature;

use crate::seeds::{Seed, SeedSources};
use crate::target::Target;
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_seed_runs_through_its_target() {
        let repo = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        let src = SeedSources {
            build: repo.join("out/default"),
            inputs: repo.join(".cache/inputs/inputs.json"),
            repo: repo.clone(),
        };
        let seeds = seeds(&src).unwrap();
        for t in TARGETS {
            assert!(
                seeds.iter().any(|s| s.target == t.name),
                "no seed for {}",
                t.name
            );
        }
        for s in &seeds {
            (crate::find(s.target).unwrap().run)(&s.data);
        }
    }

    #[test]
    fn the_minimal_stub_takes_sections() {
        let stub = pe::minimal_stub();
        let uki = metalos_uki::writer::add_sections(
            &stub,
            &[metalos_uki::writer::NewSection::data(".osrel", b"ID=x\n")],
        )
        .unwrap();
        assert_eq!(
            metalos_uki::Uki::parse(&uki).unwrap().section(".osrel"),
            Some(&b"ID=x\n"[..])
        );
        uki_roundtrip(&stub);
    }
}
