//! Ethernet MAC addresses as they appear on kernel command lines, in sysfs
//! and in URLs.

use std::fmt;
use std::str::FromStr;

/// A 48-bit Ethernet MAC address.
///
/// Parses `aa:bb:cc:dd:ee:ff` and `aa-bb-cc-dd-ee-ff` (either case);
/// displays as lowercase `aa:bb:cc:dd:ee:ff`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct MacAddr(pub [u8; 6]);

/// A string that is not a MAC address.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{value:?} is not a MAC address (expected six hex bytes like aa:bb:cc:dd:ee:ff)")]
pub struct MacParseError {
    /// The rejected text.
    pub value: String,
}

impl MacAddr {
    /// The six bytes.
    pub fn octets(&self) -> [u8; 6] {
        self.0
    }

    /// Lowercase and hyphen-separated (`aa-bb-cc-dd-ee-ff`), the form iPXE's
    /// `${net0/mac:hexhyp}` produces and MetalOS uses in URLs.
    pub fn hyphenated(&self) -> String {
        self.join('-')
    }

    fn join(&self, sep: char) -> String {
        let mut s = String::with_capacity(17);
        for (i, b) in self.0.iter().enumerate() {
            if i > 0 {
                s.push(sep);
            }
            s.push_str(&format!("{b:02x}"));
        }
        s
    }
}

impl fmt::Display for MacAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.join(':'))
    }
}

impl FromStr for MacAddr {
    type Err = MacParseError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = || MacParseError {
            value: s.to_string(),
        };
        let sep = if s.contains(':') { ':' } else { '-' };
        let mut out = [0u8; 6];
        let mut parts = s.split(sep);
        for byte in out.iter_mut() {
            let part = parts.next().ok_or_else(err)?;
            // from_str_radix alone would take "+b".
            if part.len() != 2 || !part.bytes().all(|b| b.is_ascii_hexdigit()) {
                return Err(err());
            }
            *byte = u8::from_str_radix(part, 16).map_err(|_| err())?;
        }
        if parts.next().is_some() {
            return Err(err());
        }
        Ok(MacAddr(out))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_both_separators_and_displays_lowercase() {
        let a: MacAddr = "AA:bb:0c:dd:ee:ff".parse().unwrap();
        let b: MacAddr = "aa-BB-0c-dd-ee-ff".parse().unwrap();
        assert_eq!(a, b);
        assert_eq!(a.to_string(), "aa:bb:0c:dd:ee:ff");
        assert_eq!(a.hyphenated(), "aa-bb-0c-dd-ee-ff");
    }

    #[test]
    fn rejects_malformed() {
        for bad in [
            "",
            "aa:bb:cc:dd:ee",
            "aa:bb:cc:dd:ee:ff:00",
            "aa:bb:cc:dd:ee:fg",
            "a:bb:cc:dd:ee:ff",
            "aa:bb-cc:dd:ee:ff",
            "aa:+b:cc:dd:ee:01", // fuzzing finding (`cmdline`)
        ] {
            let e = bad.parse::<MacAddr>().unwrap_err();
            assert!(e.to_string().contains("not a MAC address"), "{bad}: {e}");
        }
    }
}
