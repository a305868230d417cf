//! `metalos inspect`: disk images, UKIs and initrds.

use anyhow::{bail, Context, Result};
use clap::Args;
use metalos_image::inspect::{inspect_disk, looks_like_disk, render_disk};
use metalos_uki::Uki;
use serde_json::{json, Value};
use std::path::PathBuf;

/// Arguments of `metalos inspect`.
#[derive(Args)]
pub struct InspectArgs {
    /// A disk image, a UKI (EFI program) or an initrd (cpio, plain or zstd, possibly concatenated).
    path: PathBuf,
    /// Print JSON instead of text.
    #[arg(long)]
    json: bool,
}

/// Runs `metalos inspect`.
pub fn run(args: InspectArgs) -> Result<()> {
    let path = &args.path;
    let file =
        std::fs::File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    if looks_like_disk(&file) {
        let report = inspect_disk(&file)
            .with_context(|| format!("{}: cannot read the partition table", path.display()))?;
        return emit(args.json, serde_json::to_value(&report)?, || {
            render_disk(&report)
        });
    }
    drop(file);
    let bytes = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    if bytes.starts_with(b"MZ") {
        let uki = Uki::parse(&bytes)
            .with_context(|| format!("{}: not a valid PE image", path.display()))?;
        let (value, text) = describe_uki(&uki, &bytes);
        return emit(args.json, value, || text);
    }
    if bytes.starts_with(b"070701") || bytes.starts_with(&metalos_initrd::compress::ZSTD_MAGIC) {
        let entries = metalos_initrd::cpio::read_archives(&bytes)
            .with_context(|| format!("{}: not a valid initrd", path.display()))?;
        let (value, text) = describe_initrd(&entries);
        return emit(args.json, value, || text);
    }
    bail!(
        "{}: not a recognised artifact (expected a GPT disk image, a UKI or an initrd)",
        path.display()
    )
}

fn emit(as_json: bool, value: Value, text: impl FnOnce() -> String) -> Result<()> {
    if as_json {
        println!("{}", serde_json::to_string_pretty(&value)?);
    } else {
        print!("{}", text());
    }
    Ok(())
}

fn describe_uki(uki: &Uki, bytes: &[u8]) -> (Value, String) {
    use metalos_image::secureboot::{signature_json, signature_text};
    use std::fmt::Write;
    let sections: Vec<Value> = uki
        .summaries()
        .iter()
        .map(|s| {
            json!({
                "name": s.name, "vma": s.virtual_address, "virtual_size": s.virtual_size,
                "raw_offset": s.raw_offset, "raw_size": s.raw_size, "sha256": s.sha256_hex(),
            })
        })
        .collect();
    let value = json!({
        "kind": if uki.is_uki() { "uki" } else { "pe" },
        "sections": sections,
        "cmdline": uki.cmdline(),
        "os_release": uki.osrel(),
        "uname": uki.uname(),
        "authenticode": signature_json(bytes),
    });
    let mut t = String::new();
    let _ = writeln!(
        t,
        "{}: {} sections",
        if uki.is_uki() { "UKI" } else { "PE image" },
        uki.summaries().len()
    );
    let _ = writeln!(t, "Authenticode: {}", signature_text(bytes));
    let _ = writeln!(
        t,
        "  {:<10} {:>10} {:>10} {:>10}  sha256",
        "section", "vma", "vsize", "raw size"
    );
    for s in uki.summaries() {
        let _ = writeln!(
            t,
            "  {:<10} {:#10x} {:>10} {:>10}  {}",
            s.name,
            s.virtual_address,
            s.virtual_size,
            s.raw_size,
            &s.sha256_hex()[..16]
        );
    }
    if let Some(c) = uki.cmdline() {
        let _ = writeln!(t, "cmdline: {}", c.trim_end_matches('\0'));
    }
    if let Some(u) = uki.uname() {
        let _ = writeln!(t, "uname: {}", u.trim_end_matches('\0'));
    }
    if let Some(o) = uki.osrel() {
        let _ = writeln!(t, "os-release:");
        for line in o.lines() {
            let _ = writeln!(t, "  {line}");
        }
    }
    (value, t)
}

fn describe_initrd(entries: &[metalos_initrd::cpio::Entry]) -> (Value, String) {
    use std::fmt::Write;
    let archives = entries.iter().map(|e| e.archive + 1).max().unwrap_or(0);
    let list: Vec<Value> = entries
        .iter()
        .map(|e| {
            json!({
                "archive": e.archive, "path": e.name, "mode": format!("{:o}", e.mode),
                "size": e.size, "target": e.link_target,
                "device": e.is_device().then(|| format!("{}:{}", e.rdev_major, e.rdev_minor)),
            })
        })
        .collect();
    let value = json!({ "kind": "initrd", "archives": archives, "entries": list });
    let mut t = String::new();
    let _ = writeln!(
        t,
        "initrd: {} entries in {archives} archive(s)",
        entries.len()
    );
    for e in entries {
        let extra = match (&e.link_target, e.is_device()) {
            (Some(target), _) => format!(" -> {target}"),
            (None, true) => format!(" (device {}:{})", e.rdev_major, e.rdev_minor),
            _ => String::new(),
        };
        let _ = writeln!(
            t,
            "  [{}] {:>7o} {:>10} {}{extra}",
            e.archive, e.mode, e.size, e.name
        );
    }
    (value, t)
}
