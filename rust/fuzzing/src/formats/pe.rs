//! `pe` and `uki_roundtrip`: PE images as the UKI tools (`metalos_uki`)
//! and the Secure Boot code (`metalos_secureboot`) read them — the stub,
//! kernels and UKIs the build takes from Debian or the user, and signed
//! images whose certificate table is parsed.

use crate::seeds::{Seed, SeedSources};
use metalos_secureboot::pe::{attach_signature, pad_for_signing, strip_signature, PeLayout};
pub use metalos_uki::writer::minimal_stub;
use metalos_uki::writer::{add_sections, NewSection};
use metalos_uki::{bzimage_release, replace_cmdline, Uki};

/// Target `pe`: every PE reader of the project on the input.
pub fn pe(data: &[u8]) {
    let _ = metalos_uki::pe::size_of_image(data);
    let _ = metalos_uki::pe::described_len(data);
    let _ = bzimage_release(data);
    if let Ok(uki) = Uki::parse(data) {
        let summaries = uki.summaries();
        // `section` finds the first of a name (the stub's rule).
        for (i, s) in summaries.iter().enumerate() {
            if summaries.iter().position(|o| o.name == s.name) != Some(i) {
                continue;
            }
            let bytes = uki.section(&s.name);
            assert!(
                bytes.is_some_and(|b| b.len() <= s.raw_size as usize),
                "{s:?}"
            );
        }
        let _ = (
            uki.linux(),
            uki.cmdline(),
            uki.osrel(),
            uki.uname(),
            uki.is_uki(),
        );
        let _ = format!("{:?}", uki.info());
    }
    if let Ok(layout) = PeLayout::parse(data) {
        let _ = layout.digest(data);
        if let Ok(Some(p7)) = layout.first_signature(data) {
            walk_der(p7, 0);
        }
    }
    let _ = metalos_secureboot::authenticode(data);
    let _ = strip_signature(data);
}

/// Parses DER TLVs recursively (bounded depth), as the signature reader does.
fn walk_der(mut input: &[u8], depth: usize) {
    while let Ok((tlv, rest)) = metalos_secureboot::der::Tlv::parse(input) {
        if depth < 16 {
            if let Ok(children) = tlv.children() {
                for c in children {
                    walk_der(c.raw, depth + 1);
                }
            }
        }
        if rest.len() >= input.len() {
            break;
        }
        input = rest;
    }
}

/// Target `uki_roundtrip`: the input as a stub. When the writer accepts
/// it, the UKI it makes reads back with the sections given (and the
/// stub's own untouched), writing is deterministic, replacing the command
/// line changes only that section, and a signed image's signature
/// survives strip → attach.
pub fn uki_roundtrip(data: &[u8]) {
    signature_roundtrip(data);
    let linux = b"MZ not really a kernel";
    let new = [
        NewSection::data(".cmdline", b"console=ttyS0"),
        NewSection::kernel(linux),
    ];
    let Ok(out) = add_sections(data, &new) else {
        return;
    };
    assert_eq!(
        add_sections(data, &new).ok().as_ref(),
        Some(&out),
        "not deterministic"
    );
    let stub = Uki::parse(data).expect("the writer accepted the stub");
    let uki = Uki::parse(&out).expect("the writer's UKI parses");
    assert_eq!(uki.section(".cmdline"), Some(&b"console=ttyS0"[..]));
    assert_eq!(uki.section(".linux"), Some(&linux[..]));
    for s in stub.summaries() {
        assert_eq!(
            uki.section(&s.name),
            stub.section(&s.name),
            "stub section {} changed",
            s.name
        );
    }
    let replaced = replace_cmdline(&out, b"quiet").expect("replacing .cmdline of our UKI");
    let again = Uki::parse(&replaced).expect("the replaced UKI parses");
    assert_eq!(again.section(".cmdline"), Some(&b"quiet"[..]));
    assert_eq!(again.section(".linux"), Some(&linux[..]));
}

fn signature_roundtrip(data: &[u8]) {
    let Ok(layout) = PeLayout::parse(data) else {
        return;
    };
    let Ok(Some(p7)) = layout.first_signature(data) else {
        return;
    };
    let Ok(mut unsigned) = strip_signature(data) else {
        return;
    };
    pad_for_signing(&mut unsigned);
    let signed = attach_signature(&unsigned, p7).expect("attaching to a stripped image");
    let relaid = PeLayout::parse(&signed).expect("a re-signed image parses");
    let p7_again = relaid.first_signature(&signed).expect("its table reads");
    assert_eq!(p7_again, Some(p7), "the signature changed");
    let mut stripped = strip_signature(&signed).expect("strips again");
    pad_for_signing(&mut stripped);
    assert_eq!(stripped, unsigned, "strip after attach differs");
}

/// Seeds: Debian's systemd-stub (the inputs manifest), the default
/// image's UKIs and a signed one when built, each cut to the target's
/// `max_len`; always a UKI made here from a minimal stub.
pub fn seeds(src: &SeedSources) -> anyhow::Result<Vec<Seed>> {
    let max = 64 << 10;
    let mut out = vec![];
    let mut add = |name: &str, bytes: &[u8]| {
        out.extend(Seed::head_for(&["pe", "uki_roundtrip"], name, bytes, max))
    };
    if let Some(stub) = src.stub_path() {
        if let Ok(bytes) = std::fs::read(&stub) {
            add("systemd-stub", &bytes);
        }
    }
    for rel in ["artifacts/bootloader.efi", "artifacts/imaging.efi"] {
        if let Ok(bytes) = std::fs::read(src.build.join(rel)) {
            add(&rel.replace('/', "_"), &bytes);
        }
    }
    let stub = minimal_stub();
    add("minimal-stub", &stub);
    if let Ok(uki) = add_sections(&stub, &[NewSection::data(".osrel", b"ID=metalos\n")]) {
        add("minimal-uki", &uki);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_minimal_uki_reads_back_its_sections() {
        let stub = minimal_stub();
        let uki = add_sections(&stub, &[NewSection::data(".osrel", b"ID=x\n")]).unwrap();
        assert_eq!(
            Uki::parse(&uki).unwrap().section(".osrel"),
            Some(&b"ID=x\n"[..])
        );
        pe(&uki);
        uki_roundtrip(&uki);
    }

    #[test]
    fn damaged_images_are_errors_not_panics() {
        let stub = minimal_stub();
        let mut inputs = vec![
            vec![],
            b"MZ".to_vec(),
            stub[..0x100].to_vec(),
            stub[..0x1ff].to_vec(),
        ];
        let mut far_header = stub.clone();
        far_header[0x3c..0x40].copy_from_slice(&u32::MAX.to_le_bytes());
        inputs.push(far_header);
        let mut many_sections = stub.clone();
        many_sections[0x86..0x88].copy_from_slice(&u16::MAX.to_le_bytes());
        inputs.push(many_sections);
        let mut huge_raw = stub.clone();
        let size_of_raw = 0x80 + 4 + 20 + 240 + 16;
        huge_raw[size_of_raw..size_of_raw + 4].copy_from_slice(&u32::MAX.to_le_bytes());
        inputs.push(huge_raw);
        for input in &inputs {
            assert!(Uki::parse(input).is_err() || input.len() == stub.len());
            pe(input);
            uki_roundtrip(input);
        }
    }
}
