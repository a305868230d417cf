//! Small network value types used by the HostConfig: [`Cidr`] (the MAC
//! address type is `metalos_contract::MacAddr`).

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// An interface address with its prefix length, e.g. `10.0.0.5/24` or
/// `2001:db8::5/64`.
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Cidr {
    /// The address.
    pub addr: IpAddr,
    /// The prefix length: 0..=32 for IPv4, 0..=128 for IPv6.
    pub prefix: u8,
}

impl Cidr {
    /// Parses `ADDRESS/PREFIX`; the message explains what is wrong.
    pub fn parse(text: &str) -> Result<Self, String> {
        let bad = || {
            format!(
                "{text:?} is not an address in CIDR notation (e.g. 10.0.0.5/24 or 2001:db8::5/64)"
            )
        };
        let (addr, prefix) = text.split_once('/').ok_or_else(bad)?;
        let addr: IpAddr = addr.parse().map_err(|_| bad())?;
        if prefix.is_empty() || prefix.len() > 3 || !prefix.bytes().all(|b| b.is_ascii_digit()) {
            return Err(bad());
        }
        let prefix: u8 = prefix.parse().map_err(|_| bad())?;
        let cidr = Self { addr, prefix };
        cidr.check().map_err(|e| format!("{text:?}: {e}"))?;
        Ok(cidr)
    }

    /// Whether the prefix length fits the address family (a `Cidr` built
    /// in code, not parsed, may break this).
    pub fn check(&self) -> Result<(), String> {
        let max = if self.addr.is_ipv4() { 32 } else { 128 };
        if self.prefix > max {
            return Err(format!(
                "prefix length {} is out of range (0..={max} for {})",
                self.prefix,
                if self.addr.is_ipv4() { "IPv4" } else { "IPv6" }
            ));
        }
        Ok(())
    }
}

impl FromStr for Cidr {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

impl Serialize for Cidr {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Cidr {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        Self::parse(&text).map_err(serde::de::Error::custom)
    }
}

/// Serde helpers for an optional UUID stored as its hyphenated string
/// (the workspace's `uuid` has no serde feature).
pub(crate) mod opt_uuid {
    use serde::{Deserialize, Deserializer, Serializer};
    use uuid::Uuid;

    pub fn serialize<S: Serializer>(v: &Option<Uuid>, s: S) -> Result<S::Ok, S::Error> {
        match v {
            Some(u) => s.collect_str(&u.hyphenated()),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Uuid>, D::Error> {
        let text = String::deserialize(d)?;
        Uuid::parse_str(&text).map(Some).map_err(|_| {
            serde::de::Error::custom(format!(
                "{text:?} is not a UUID (expected e.g. 6d6e5f1c-0b7a-4c44-9d1e-3f0c8a2b4e51)"
            ))
        })
    }
}
