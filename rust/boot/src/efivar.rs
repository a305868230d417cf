//! EFI variables exported by systemd-stub/systemd-boot (Boot Loader
//! Interface), read through efivarfs.

use uuid::Uuid;

/// Vendor GUID of the Boot Loader Interface variables.
pub const LOADER_GUID: &str = "4a67b082-0a4c-41cf-b6c7-440b29bb8c4f";

/// Reads an efivarfs file: 4 attribute bytes, then the value.
pub fn read(name: &str, vendor: &str) -> Option<Vec<u8>> {
    let data = std::fs::read(format!("/sys/firmware/efi/efivars/{name}-{vendor}")).ok()?;
    data.get(4..).map(<[u8]>::to_vec)
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
pub fn loader_device_part_uuid() -> Option<Uuid> {
    let raw = read("LoaderDevicePartUUID", LOADER_GUID)?;
    Uuid::parse_str(utf16(&raw).trim()).ok()
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
