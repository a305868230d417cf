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

#[cfg(test)]
mod tests {
    #[test]
    fn utf16_decoding() {
        let bytes: Vec<u8> = "AB-12\0"
            .encode_utf16()
            .flat_map(|u| u.to_le_bytes())
            .collect();
        assert_eq!(super::utf16(&bytes), "AB-12");
    }
}
