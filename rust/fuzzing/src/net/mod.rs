//! Fuzz targets for what the in-initrd network stack and the PID 1
//! programs read from the network and the kernel command line: DHCP
//! replies, DNS replies, HTTP responses, kernel command lines.
//!
//! Real captures used as seeds live in `rust/fuzzing/seeds/net/`
//! (dnsmasq's DHCP and DNS replies, python http.server responses).

use crate::seeds::{Seed, SeedSources};
use crate::target::Target;

mod capture;
mod cmdline;
mod dhcp;
mod dhcp_seeds;
mod dns;
mod http;

pub use cmdline::cmdline;
pub use dhcp::{dhcp, dhcp_roundtrip, frame, frames, MAC, XID};
pub use dhcp_seeds::{dnsmasq_lease, dnsmasq_nak, dnsmasq_reply};
pub use dns::dns;
pub use http::{http, NEXT_CONNECTION};

/// The targets of this module.
pub const TARGETS: &[Target] = &[
    Target {
        name: "dhcp",
        run: dhcp,
        pid1: true,
        about: "DHCP replies through metalimage's client exchange to a lease",
        max_len: 2048,
    },
    Target {
        name: "dhcp_roundtrip",
        run: dhcp_roundtrip,
        pid1: false,
        about: "DHCP datagram: decode → encode → decode, client reads alike",
        max_len: 1500,
    },
    Target {
        name: "http",
        run: http,
        pid1: false,
        about: "HTTP responses through HttpClient (status, length, chunked, retries)",
        max_len: 4096,
    },
    Target {
        name: "dns",
        run: dns,
        pid1: false,
        about: "DNS replies to the stub resolver's A query (CNAME chasing)",
        max_len: 512,
    },
    Target {
        name: "cmdline",
        run: cmdline,
        pid1: true,
        about: "kernel command lines: ip=/BOOTIF/verity/UUIDs/imaging + compositions",
        max_len: 2048,
    },
];

/// Seeds for this module's targets (all built in or captured: no
/// artifact needed).
pub fn seeds(_src: &SeedSources) -> anyhow::Result<Vec<Seed>> {
    let mut out = dhcp_seeds::seeds();
    out.extend(dns::seeds());
    out.extend(http::seeds());
    out.extend(cmdline::seeds());
    Ok(out)
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_target_is_registered_and_seeded() {
        let src = crate::seeds::SeedSources {
            repo: ".".into(),
            build: "/nonexistent".into(),
            inputs: "/nonexistent".into(),
        };
        let seeds = super::seeds(&src).unwrap();
        for t in super::TARGETS {
            assert!(crate::find(t.name).is_some(), "{}", t.name);
            let n = seeds.iter().filter(|s| s.target == t.name).count();
            assert!(n >= 5, "{}: {n} seeds", t.name);
            for s in seeds.iter().filter(|s| s.target == t.name) {
                assert!(
                    s.data.len() <= t.max_len,
                    "{} {}: {} bytes",
                    t.name,
                    s.name,
                    s.data.len()
                );
            }
        }
    }
}
