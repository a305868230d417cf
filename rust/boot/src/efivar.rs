//! EFI variables exported by systemd-stub/systemd-boot (Boot Loader
//! Interface), read through efivarfs.

use uuid::Uuid;

/// Vendor GUID of the Boot Loader Interface variables.
pub const LOADER_GUID: &str = "4a67b082-0a4c-41cf-b6c7-440b29bb8c4f";

/// Reads an efivarfs file: 4 attribute bytes, then the value.
pub fn read(name: &str, vendor: &str) -> std::io::Result<Vec<u8>> {
    let data = std::fs::read(format!("/sys/firmware/efi/efivars/{name}-{vendor}"))?;
    data.get(4..)
        .map(<[u8]>::to_vec)
        .ok_or_else(|| std::io::Error::other(format!("{name} is truncated")))
}

/// Decodes a NUL-terminated UTF-16LE string.
pub fn utf16(value: &[u8]) -> String {
    let units: Vec<u16> = value
        .chunks_exact(2)
        .map(|c| u16::from_le_bytes([c[0], c[1]]))
        .take_while(|u| *u != 0)
        .collect();
    String::from_utf16_lossy(&units)
}

/// The partition GUID of the ESP the stub was loaded from.
pub fn loader_device_part_uuid() -> std::io::Result<Uuid> {
    let raw = read("LoaderDevicePartUUID", LOADER_GUID)?;
    let text = utf16(&raw);
    Uuid::parse_str(text.trim())
        .map_err(|e| std::io::Error::other(format!("LoaderDevicePartUUID {text:?}: {e}")))
}

/// Vendor GUID of the UEFI global variables (BootCurrent, Boot####).
pub const GLOBAL_GUID: &str = "8be4df61-93ca-11d2-aa0d-00e098032b8c";

/// The PCI (device, function) chain of the device path of the boot option
/// the firmware is running (`BootCurrent` → `Boot####`). Distinguishes
/// disks that carry identical images.
pub fn boot_current_pci_chain() -> std::io::Result<Vec<(u8, u8)>> {
    let current = read("BootCurrent", GLOBAL_GUID)?;
    let n = u16::from_le_bytes([
        *current.first().unwrap_or(&0),
        *current.get(1).unwrap_or(&0),
    ]);
    let option = read(&format!("Boot{n:04X}"), GLOBAL_GUID)?;
    Ok(load_option_pci_chain(&option))
}

/// Parses an `EFI_LOAD_OPTION` and returns the PCI nodes of its first
/// device path: `[(device, function), …]` from the root.
pub fn load_option_pci_chain(option: &[u8]) -> Vec<(u8, u8)> {
    let mut chain = vec![];
    let Some(len_bytes) = option.get(4..6) else {
        return chain;
    };
    let list_len = u16::from_le_bytes([len_bytes[0], len_bytes[1]]) as usize;
    // Skip attributes (4), list length (2) and the NUL-terminated UTF-16 description.
    let mut pos = 6;
    while let Some(unit) = option.get(pos..pos + 2) {
        pos += 2;
        if unit == [0, 0] {
            break;
        }
    }
    let end = (pos + list_len).min(option.len());
    while pos + 4 <= end {
        let (kind, sub) = (option[pos], option[pos + 1]);
        let len = u16::from_le_bytes([option[pos + 2], option[pos + 3]]) as usize;
        if len < 4 || kind == 0x7f {
            break;
        }
        if kind == 1 && sub == 1 && len >= 6 {
            // PCI node: function, then device.
            chain.push((option[pos + 5], option[pos + 4]));
        }
        pos += len;
    }
    chain
}

#[cfg(test)]
mod tests {
    #[test]
    fn pci_chain_of_a_load_option() {
        // attributes, path length, "A\0", PciRoot (ACPI 2/1), Pci(0x3,0x0), End.
        let mut opt = vec![1, 0, 0, 0];
        let path: Vec<u8> = [
            vec![2, 1, 12, 0, 0xd0, 0x41, 0x03, 0x0a, 0, 0, 0, 0],
            vec![1, 1, 6, 0, 0x00, 0x03],
            vec![0x7f, 0xff, 4, 0],
        ]
        .concat();
        opt.extend_from_slice(&(path.len() as u16).to_le_bytes());
        opt.extend_from_slice(&[b'A', 0, 0, 0]);
        opt.extend_from_slice(&path);
        assert_eq!(super::load_option_pci_chain(&opt), vec![(3, 0)]);
    }

    #[test]
    fn utf16_decoding() {
        let bytes: Vec<u8> = "AB-12\0"
            .encode_utf16()
            .flat_map(|u| u.to_le_bytes())
            .collect();
        assert_eq!(super::utf16(&bytes), "AB-12");
    }
}
