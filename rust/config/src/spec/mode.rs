//! Permission bits written as octal strings (`mode = "0755"`).

/// Parses a mode string like `"0755"`.
pub fn parse_mode(text: &str) -> Result<u16, String> {
    let digits = text.strip_prefix("0o").unwrap_or(text);
    u16::from_str_radix(digits, 8)
        .ok()
        .filter(|m| *m <= 0o7777)
        .ok_or_else(|| format!("{text:?} is not an octal mode such as \"0755\""))
}
