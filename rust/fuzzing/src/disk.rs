//! Fuzz targets of the disk formats PID 1 and the image tools read: the
//! GPT (and gptprio), the FAT32 ESP, the `/usr` slot (probe, verity
//! superblock, slot descriptor, verity check) and squashfs/erofs
//! superblocks. Large disks are described compactly by the input
//! ([`vdisk::VirtualDisk`]).

mod fat;
mod fatmeta;
mod gpt;
mod seeds;
mod slot;
#[cfg(test)]
mod tests;
pub mod vdisk;

use crate::target::Target;
pub use fat::fat;
pub use gpt::{gpt, gpt_roundtrip};
pub use seeds::seeds;
pub use slot::{slot_descriptor_roundtrip, slot_payload, squashfs};

/// The targets of this module.
pub const TARGETS: &[Target] = &[
    Target {
        name: "gpt",
        run: gpt,
        pid1: true,
        about: "GPT header + entries (both copies, 512/4096-byte sectors), gptprio slot choice",
        max_len: 48 << 10,
    },
    Target {
        name: "gpt_roundtrip",
        run: gpt_roundtrip,
        pid1: false,
        about: "GPT decode → write_primary/write_backup → decode (equal, byte-identical)",
        max_len: 48 << 10,
    },
    Target {
        name: "fat",
        run: fat,
        pid1: true,
        about: "FAT32 ESP (lamfat): list, read small files, host-config.json, first_boot",
        max_len: 64 << 10,
    },
    Target {
        name: "slot_payload",
        run: slot_payload,
        pid1: true,
        about: "/usr slot: fs probe, slot descriptor + signature, verity superblock and check, payload hashes",
        max_len: 24 << 10,
    },
    Target {
        name: "slot_descriptor_roundtrip",
        run: slot_descriptor_roundtrip,
        pid1: false,
        about: "slot descriptor decode → encode (unsigned, signed) → decode",
        max_len: 4096,
    },
    Target {
        name: "squashfs",
        run: squashfs,
        pid1: false,
        about: "squashfs/erofs superblock probe and the slot size derived from it",
        max_len: 4096,
    },
];
