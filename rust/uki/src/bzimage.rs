//! Reading the Linux bzImage setup header.

/// The kernel release stored in a bzImage's setup header
/// (`kernel_version` pointer at 0x20e), e.g. `6.1.0-28-cloud-amd64`.
pub fn bzimage_release(kernel: &[u8]) -> Option<String> {
    if kernel.get(0x202..0x206)? != b"HdrS" {
        return None;
    }
    let ptr = u16::from_le_bytes([*kernel.get(0x20e)?, *kernel.get(0x20f)?]) as usize + 0x200;
    let text = kernel.get(ptr..ptr.checked_add(256)?.min(kernel.len()))?;
    let end = text.iter().position(|b| *b == 0 || *b == b' ')?;
    std::str::from_utf8(&text[..end])
        .ok()
        .map(str::to_string)
        .filter(|s| !s.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn release_from_setup_header() {
        let mut k = vec![0u8; 0x1000];
        k[0x202..0x206].copy_from_slice(b"HdrS");
        k[0x20e..0x210].copy_from_slice(&0x300u16.to_le_bytes());
        k[0x500..0x520].copy_from_slice(b"6.1.0-9-cloud-amd64 (debian) #1\0");
        assert_eq!(bzimage_release(&k).as_deref(), Some("6.1.0-9-cloud-amd64"));
        assert_eq!(bzimage_release(&[0u8; 16]), None);
    }
}
