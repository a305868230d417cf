//! Unified Kernel Image (UKI) bundler and reader for MetalOS.
//!
//! A UKI is systemd-stub (a PE/COFF EFI application) with the kernel,
//! initrd, command line, os-release and kernel release appended as PE
//! sections. [`build_uki`] appends them the way systemd's `ukify` does (own
//! in-place writer: the stub's bytes are kept, see [`writer`]); [`Uki`]
//! reads any PE image back and lists or returns its sections.
//!
//! ```no_run
//! use metalos_uki::{build_uki, Uki, UkiSections};
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let stub = std::fs::read("/usr/lib/systemd/boot/efi/linuxx64.efi.stub")?;
//! let kernel = std::fs::read("vmlinuz")?;
//! let uki = build_uki(&stub, &UkiSections {
//!     linux: &kernel,
//!     cmdline: Some(b"console=ttyS0"),
//!     ..Default::default()
//! })?;
//! assert_eq!(Uki::parse(&uki)?.cmdline().as_deref(), Some("console=ttyS0"));
//! # Ok(()) }
//! ```
//!
//! Modules: [`pe`] (the PE/COFF header parser, also used by
//! `metalos-secureboot`), [`writer`] ([`build_uki`], [`add_sections`]),
//! [`replace`] ([`replace_section`]), `layout` (section placement shared by
//! the writer and replace), [`reader`] ([`Uki`]), [`bzimage`] (the kernel
//! release from a bzImage) and [`error`].
//!
//! Not supported: signing, SBAT merging (the stub's `.sbat` is kept as is),
//! `.splash`/`.dtb`/`.ucode`/`.pcrsig`/`.pcrpkey` (possible through
//! [`add_sections`] with [`NewSection`]), PE addons and multi-profile UKIs.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod bzimage;
pub mod error;
mod layout;
pub mod pe;
pub mod reader;
pub mod replace;
pub mod writer;

pub use bzimage::bzimage_release;
pub use error::{Result, UkiError};
pub use pe::{PeInfo, SectionHeader};
pub use reader::{SectionSummary, Uki};
pub use replace::{replace_cmdline, replace_section};
pub use writer::{add_sections, build_uki, NewSection, UkiInputs, UkiSections};
