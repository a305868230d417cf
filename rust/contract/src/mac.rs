//! Ethernet MAC addresses, as HostConfigs, kernel command lines, sysfs and
//! URLs spell them.

use std::fmt;
use std::str::FromStr;

/// A 48-bit Ethernet MAC address; displays as lowercase `aa:bb:cc:dd:ee:ff`.
///
/// [`MacAddr::parse`] takes the colon form only (the HostConfig's
/// spelling); [`str::parse`] also takes `aa-bb-cc-dd-ee-ff` (iPXE's
/// `${net0/mac:hexhyp}`, URLs, `--host` arguments). Either case.
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct MacAddr(pub [u8; 6]);

/// A string that is not a MAC address.
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "{value:?} is not a MAC address (expected six hex pairs like 52:54:00:12:34:56{})",
    if *hyphens_allowed { " or 52-54-00-12-34-56" } else { "" }
)]
pub struct InvalidMac {
    /// The rejected text.
    pub value: String,
    /// Whether the hyphenated form would have been accepted.
    pub hyphens_allowed: bool,
}

impl MacAddr {
    /// Parses `aa:bb:cc:dd:ee:ff` (either case).
    pub fn parse(text: &str) -> Result<Self, InvalidMac> {
        Self::parse_with(text, ':').map_err(|_| InvalidMac {
            value: text.to_string(),
            hyphens_allowed: false,
        })
    }

    fn parse_with(text: &str, sep: char) -> Result<Self, ()> {
        let mut out = [0u8; 6];
        let mut parts = text.split(sep);
        for byte in out.iter_mut() {
            let part = parts.next().ok_or(())?;
            // from_str_radix alone would take "+b" (fuzzing finding, `cmdline`).
            if part.len() != 2 || !part.bytes().all(|b| b.is_ascii_hexdigit()) {
                return Err(());
            }
            *byte = u8::from_str_radix(part, 16).map_err(|_| ())?;
        }
        if parts.next().is_some() {
            return Err(());
        }
        Ok(MacAddr(out))
    }

    /// The six bytes.
    pub fn octets(&self) -> [u8; 6] {
        self.0
    }

    /// Lowercase and hyphen-separated (`aa-bb-cc-dd-ee-ff`), the form iPXE's
    /// `${net0/mac:hexhyp}` produces and MetalOS uses in URLs.
    pub fn hyphenated(&self) -> String {
        self.to_string().replace(':', "-")
    }

    /// True for a group (multicast/broadcast) address: low bit of the first octet.
    pub fn is_multicast(&self) -> bool {
        self.0[0] & 1 == 1
    }

    /// True for `00:00:00:00:00:00`.
    pub fn is_zero(&self) -> bool {
        self.0 == [0; 6]
    }
}

impl FromStr for MacAddr {
    type Err = InvalidMac;

    /// Colons or hyphens (one kind throughout), either case.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let sep = if s.contains(':') { ':' } else { '-' };
        Self::parse_with(s, sep).map_err(|_| InvalidMac {
            value: s.to_string(),
            hyphens_allowed: true,
        })
    }
}

impl fmt::Display for MacAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let b = self.0;
        write!(
            f,
            "{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
            b[0], b[1], b[2], b[3], b[4], b[5]
        )
    }
}

impl serde::Serialize for MacAddr {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for MacAddr {
    /// The HostConfig's spelling: colons only.
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        Self::parse(&text).map_err(serde::de::Error::custom)
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
        assert_eq!(MacAddr::parse("AA:bb:0c:dd:ee:ff"), Ok(a));
    }

    #[test]
    fn the_colon_form_alone_for_parse() {
        let e = MacAddr::parse("aa-bb-0c-dd-ee-ff").unwrap_err();
        assert_eq!(
            e.to_string(),
            "\"aa-bb-0c-dd-ee-ff\" is not a MAC address (expected six hex pairs like 52:54:00:12:34:56)"
        );
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
            assert!(e.to_string().contains("52-54-00-12-34-56"), "{bad}: {e}");
            assert!(MacAddr::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn serde_uses_the_colon_form() {
        let m: MacAddr = serde_json::from_str("\"52:54:00:12:34:56\"").unwrap();
        assert_eq!(serde_json::to_string(&m).unwrap(), "\"52:54:00:12:34:56\"");
        assert!(serde_json::from_str::<MacAddr>("\"52-54-00-12-34-56\"").is_err());
        assert!(m.octets()[0] == 0x52 && !m.is_multicast() && !m.is_zero());
    }
}
