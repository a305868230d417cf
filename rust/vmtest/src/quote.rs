//! Quoting rules of the harness: POSIX shell words (the logged QEMU
//! command line, the namespace setup script) and QEMU `key=value,…`
//! option values.

/// Quotes `s` for a POSIX shell if needed (the logged command line, the
/// namespace setup script).
pub(crate) fn shell_quote(s: &str) -> String {
    if !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./=:,@+%".contains(c))
    {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

/// Escapes a value for a QEMU `key=value,…` option (`,` → `,,`).
pub fn escape(value: &str) -> String {
    value.replace(',', ",,")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shell_quoting() {
        assert_eq!(shell_quote("-m"), "-m");
        assert_eq!(shell_quote("console=ttyS0 quiet"), "'console=ttyS0 quiet'");
        assert_eq!(shell_quote("it's"), r"'it'\''s'");
    }

    #[test]
    fn escape_commas() {
        assert_eq!(escape("/a,b/c"), "/a,,b/c");
    }
}
