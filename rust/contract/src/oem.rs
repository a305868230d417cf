//! The OEM partition's identity: its GPT label, the platform id token and
//! `oem-release` ([`OemRelease`]), written by the image build and read by
//! metalos-bootloader, metalinit and `metalos inspect`.
//!
//! `oem-release` follows os-release(5) syntax: `KEY=VALUE` lines, values
//! optionally in double quotes (with `\"`, `\\`, `\$`, `` \` `` escapes) or
//! single quotes, `#` comments and blank lines. `ID=` is required and is
//! the platform id; other keys (Flatcar's `HOME_URL=`, …) are allowed and
//! ignored.

/// GPT partition name (and FAT volume label) of the OEM partition.
pub const OEM_PARTITION_LABEL: &str = "OEM";
/// Longest platform id accepted.
pub const MAX_ID_LEN: usize = 64;
/// Largest `oem-release` a reader accepts (real ones are ~100 bytes).
pub const MAX_RELEASE_LEN: u64 = 64 << 10;

/// Checks a platform (OEM) id: 1 to [`MAX_ID_LEN`] characters of
/// `a-z`, `0-9`, `.`, `_`, `-`, starting with a letter or digit — os-release's
/// `ID=` alphabet, safe as a kernel argument and as a directory name
/// (`base.platform.d/<id>`). The error says why.
pub fn check_id(id: &str) -> Result<(), String> {
    let ok_char = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit() || "._-".contains(c);
    let first_ok = id
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit());
    if id.len() > MAX_ID_LEN || !first_ok || !id.chars().all(ok_char) {
        return Err(format!(
            "{id:?} is not a platform id (1 to {MAX_ID_LEN} characters of a-z, 0-9, '.', '_', '-', \
             starting with a letter or digit, e.g. \"qemu\")"
        ));
    }
    Ok(())
}

/// Why an `oem-release` cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OemReleaseError {
    /// The bytes are not UTF-8.
    #[error("not UTF-8 text")]
    NotUtf8,
    /// A line is not `KEY=VALUE`, or its quoting is broken.
    #[error("line {line}: {problem}")]
    BadLine {
        /// 1-based line number.
        line: usize,
        /// What is wrong.
        problem: String,
    },
    /// There is no `ID=` line, or it is empty.
    #[error("no ID= line")]
    MissingId,
    /// `ID=` is not a valid platform id ([`check_id`]).
    #[error("ID={0}")]
    BadId(String),
}

/// The fields of `oem-release` MetalOS writes and reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OemRelease {
    /// `ID=`: the platform id ([`check_id`]).
    pub id: String,
    /// `VERSION_ID=`: the image version (the `/usr` os-release's).
    pub version_id: Option<String>,
    /// `NAME=`: a human-readable name.
    pub name: Option<String>,
}

impl OemRelease {
    /// The file's text: `ID=`, then `VERSION_ID=` and `NAME=` when set,
    /// values quoted when they need it.
    pub fn render(&self) -> String {
        let mut out = format!("ID={}\n", quote(&self.id));
        if let Some(v) = &self.version_id {
            out.push_str(&format!("VERSION_ID={}\n", quote(v)));
        }
        if let Some(n) = &self.name {
            // NAME is always quoted, as os-release files usually write it.
            out.push_str(&format!("NAME=\"{}\"\n", escape(n)));
        }
        out
    }

    /// Parses the file (the last assignment of a key wins, as a shell's).
    pub fn parse(bytes: &[u8]) -> Result<Self, OemReleaseError> {
        let text = std::str::from_utf8(bytes).map_err(|_| OemReleaseError::NotUtf8)?;
        let (mut id, mut version_id, mut name) = (None, None, None);
        for (i, raw) in text.lines().enumerate() {
            let line = raw.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let bad = |problem: String| OemReleaseError::BadLine {
                line: i + 1,
                problem,
            };
            let (key, value) = line
                .split_once('=')
                .filter(|(k, _)| is_key(k))
                .ok_or_else(|| bad(format!("{line:?} is not KEY=VALUE")))?;
            let value = unquote(value).map_err(bad)?;
            match key {
                "ID" => id = Some(value),
                "VERSION_ID" => version_id = Some(value),
                "NAME" => name = Some(value),
                _ => {}
            }
        }
        let id = id
            .filter(|v| !v.is_empty())
            .ok_or(OemReleaseError::MissingId)?;
        check_id(&id).map_err(OemReleaseError::BadId)?;
        Ok(Self {
            id,
            version_id,
            name,
        })
    }
}

fn is_key(k: &str) -> bool {
    !k.is_empty()
        && k.chars()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
}

/// Characters a value may carry unquoted.
fn is_plain(c: char) -> bool {
    c.is_ascii_alphanumeric() || "._-+:/@,~".contains(c)
}

fn quote(v: &str) -> String {
    if !v.is_empty() && v.chars().all(is_plain) {
        v.to_string()
    } else {
        format!("\"{}\"", escape(v))
    }
}

fn escape(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    for c in v.chars() {
        if matches!(c, '"' | '\\' | '$' | '`') {
            out.push('\\');
        }
        // A value is one line: a newline would start a new assignment.
        out.push(if c == '\n' { ' ' } else { c });
    }
    out
}

/// A value: plain, `"double quoted"` (backslash escapes) or `'single quoted'`.
fn unquote(v: &str) -> Result<String, String> {
    if let Some(inner) = v.strip_prefix('\'') {
        return match inner.strip_suffix('\'') {
            Some(s) if !s.contains('\'') => Ok(s.to_string()),
            _ => Err(format!("{v:?}: unbalanced single quotes")),
        };
    }
    let Some(inner) = v.strip_prefix('"') else {
        if v.chars()
            .any(|c| c.is_whitespace() || "\"'\\$`".contains(c))
        {
            return Err(format!(
                "{v:?}: a value with spaces or quotes must be quoted"
            ));
        }
        return Ok(v.to_string());
    };
    let mut out = String::new();
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => match chars.next() {
                Some(e @ ('"' | '\\' | '$' | '`')) => out.push(e),
                Some(e) => {
                    out.push('\\');
                    out.push(e);
                }
                None => break,
            },
            '"' if chars.as_str().is_empty() => return Ok(out),
            _ if c == '"' => return Err(format!("{v:?}: text after the closing quote")),
            _ => out.push(c),
        }
    }
    Err(format!("{v:?}: unbalanced double quotes"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn release(id: &str) -> OemRelease {
        OemRelease {
            id: id.into(),
            version_id: Some("1.2.3".into()),
            name: Some("MetalOS OEM \"qemu\"".into()),
        }
    }

    #[test]
    fn renders_and_parses_back() {
        let r = release("qemu");
        let text = r.render();
        assert_eq!(
            text,
            "ID=qemu\nVERSION_ID=1.2.3\nNAME=\"MetalOS OEM \\\"qemu\\\"\"\n"
        );
        assert_eq!(OemRelease::parse(text.as_bytes()), Ok(r));
    }

    #[test]
    fn reads_flatcar_style_files() {
        let text = "# comment\nID=openstack\nVERSION_ID=3975.2.0\nNAME='OpenStack'\n\
                    HOME_URL=\"https://www.openstack.org/\"\nBUG_REPORT_URL=\"https://issues.flatcar.org\"\n";
        let r = OemRelease::parse(text.as_bytes()).unwrap();
        assert_eq!(r.id, "openstack");
        assert_eq!(r.version_id.as_deref(), Some("3975.2.0"));
        assert_eq!(r.name.as_deref(), Some("OpenStack"));
        assert_eq!(OemRelease::parse(b"ID=\"aws\"").unwrap().id, "aws");
    }

    #[test]
    fn problems_are_named() {
        let e = |t: &[u8]| OemRelease::parse(t).unwrap_err().to_string();
        assert_eq!(e(b"VERSION_ID=1\n"), "no ID= line");
        assert_eq!(e(b"ID=\n"), "no ID= line");
        assert_eq!(
            e(b"ID=qemu\nthis is not\n"),
            "line 2: \"this is not\" is not KEY=VALUE"
        );
        assert_eq!(
            e(b"ID=\"qemu\n"),
            "line 1: \"\\\"qemu\": unbalanced double quotes"
        );
        assert_eq!(
            e(b"NAME=a b\nID=x"),
            "line 1: \"a b\": a value with spaces or quotes must be quoted"
        );
        assert!(e(b"ID=QEMU").starts_with("ID=\"QEMU\" is not a platform id"));
        assert_eq!(e(b"\xff"), "not UTF-8 text");
    }

    #[test]
    fn ids() {
        for ok in ["qemu", "aws", "openstack", "x", "a.b_c-d", "0"] {
            assert!(check_id(ok).is_ok(), "{ok}");
        }
        let long = "a".repeat(MAX_ID_LEN + 1);
        for bad in [
            "",
            ".",
            "..",
            "-x",
            "Qemu",
            "a b",
            "a/b",
            "é",
            long.as_str(),
        ] {
            assert!(check_id(bad).is_err(), "{bad:?}");
        }
    }
}
