//! Seeds of the DHCP targets: replies captured from dnsmasq 2.90 (the
//! server of the netboot and netns tests) with the netns tests' options,
//! the same replies rebuilt byte for byte ([`dnsmasq_reply`]) with
//! variations, and the client's own DISCOVER/REQUEST.
//!
//! The captures (`rust/fuzzing/seeds/net/dnsmasq-*`) answer a client with
//! MAC [`MAC`] and xid [`XID`]: dnsmasq with `--dhcp-range=10.77.1.100,
//! 10.77.1.199,255.255.255.0,1h`, router, DNS server and domain options as
//! in rust/net/tests/netns.rs, `--dhcp-host=52:54:00:12:34:56,node1` and
//! the PXE / UEFI HTTP Boot / iPXE `--dhcp-boot` rules of
//! rust/vmtest/src/netns.rs, in two private network namespaces.

use std::net::Ipv4Addr;

use super::capture::capture;
use super::dhcp::{frame, MAC, XID};
use crate::seeds::Seed;

/// The captured datagrams, by file name.
const CAPTURED: &[(&str, &[u8])] = &[
    capture!("dnsmasq-plain-offer"),
    capture!("dnsmasq-plain-ack"),
    capture!("dnsmasq-plain-nak"),
    capture!("dnsmasq-pxe-offer"),
    capture!("dnsmasq-pxe-ack"),
    capture!("dnsmasq-pxeprl-offer"),
    capture!("dnsmasq-pxeprl-ack"),
    capture!("dnsmasq-http-offer"),
    capture!("dnsmasq-http-ack"),
    capture!("dnsmasq-ipxe-offer"),
    capture!("dnsmasq-ipxe-ack"),
];

/// A captured datagram by file name.
#[cfg(test)]
pub fn captured(name: &str) -> &'static [u8] {
    CAPTURED
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, d)| *d)
        .unwrap_or_else(|| panic!("no capture {name}"))
}

const OFFER: u8 = 2;
const ACK: u8 = 5;
const NAK: u8 = 6;
const SERVER: [u8; 4] = [10, 77, 1, 1];
const LEASED: [u8; 4] = [10, 77, 1, 158];

/// A BOOTREPLY to [`MAC`]/[`XID`] laid out as dnsmasq writes it: broadcast
/// flag echoed, `file` in the header, `options` in the given order, an
/// end option and zero padding to the BOOTP minimum of 300 bytes.
pub fn dnsmasq_reply(
    yiaddr: [u8; 4],
    siaddr: [u8; 4],
    file: &str,
    options: &[(u8, &[u8])],
) -> Vec<u8> {
    let mut d = vec![0u8; 236];
    d[..4].copy_from_slice(&[2, 1, 6, 0]);
    d[4..8].copy_from_slice(&XID.to_be_bytes());
    d[10] = 0x80; // broadcast
    d[16..20].copy_from_slice(&yiaddr);
    d[20..24].copy_from_slice(&siaddr);
    d[28..34].copy_from_slice(&MAC.octets());
    d[108..108 + file.len()].copy_from_slice(file.as_bytes());
    d.extend_from_slice(&[99, 130, 83, 99]);
    for (code, value) in options {
        d.push(*code);
        d.push(u8::try_from(value.len()).expect("option of at most 255 bytes"));
        d.extend_from_slice(value);
    }
    d.push(255);
    if d.len() < 300 {
        d.resize(300, 0);
    }
    d
}

/// Variations of a dnsmasq OFFER/ACK.
#[derive(Clone, Copy)]
pub struct Lease<'a> {
    /// Option 53.
    pub kind: u8,
    /// Option 12.
    pub hostname: Option<&'a str>,
    /// Option 67 (NUL-terminated, placed after 51 as dnsmasq does when the
    /// client asks for it).
    pub bootfile_option: Option<&'a str>,
    /// Option 60 (`HTTPClient` for UEFI HTTP Boot).
    pub vendor_class: Option<&'a str>,
    /// The `file` header field (`--dhcp-boot` without option 67 asked).
    pub file: &'a str,
    /// Option 3.
    pub routers: &'a [[u8; 4]],
    /// Option 6.
    pub dns: &'a [[u8; 4]],
    /// Option 51 and T1/T2 (58/59 at 50 % and 87.5 %).
    pub lease_secs: u32,
}

impl Default for Lease<'_> {
    fn default() -> Self {
        Lease {
            kind: OFFER,
            hostname: Some("node1"),
            bootfile_option: None,
            vendor_class: None,
            file: "",
            routers: &[SERVER],
            dns: &[SERVER],
            lease_secs: 3600,
        }
    }
}

/// A dnsmasq OFFER or ACK of 10.77.1.158/24 (options 53, 54, 51, [67],
/// 58, 59, 1, 28, [12], [60], 15, 6, 3 in dnsmasq's order).
pub fn dnsmasq_lease(l: Lease) -> Vec<u8> {
    let flat = |ips: &[[u8; 4]]| ips.concat();
    let t1 = l.lease_secs / 2;
    let t2 = (u64::from(l.lease_secs) * 7 / 8) as u32;
    let bootfile = l.bootfile_option.map(|f| [f.as_bytes(), b"\0"].concat());
    let mut options: Vec<(u8, Vec<u8>)> = vec![
        (53, vec![l.kind]),
        (54, SERVER.to_vec()),
        (51, l.lease_secs.to_be_bytes().to_vec()),
    ];
    options.extend(bootfile.map(|f| (67, f)));
    options.extend([
        (58, t1.to_be_bytes().to_vec()),
        (59, t2.to_be_bytes().to_vec()),
        (1, vec![255, 255, 255, 0]),
        (28, vec![10, 77, 1, 255]),
    ]);
    options.extend(l.hostname.map(|h| (12, h.as_bytes().to_vec())));
    options.extend(l.vendor_class.map(|v| (60, v.as_bytes().to_vec())));
    options.extend([
        (15, b"metalos.test".to_vec()),
        (6, flat(l.dns)),
        (3, flat(l.routers)),
    ]);
    let options: Vec<(u8, &[u8])> = options.iter().map(|(c, v)| (*c, v.as_slice())).collect();
    dnsmasq_reply(LEASED, SERVER, l.file, &options)
}

/// dnsmasq's NAK of a REQUEST for an address it cannot give.
pub fn dnsmasq_nak() -> Vec<u8> {
    dnsmasq_reply(
        [0; 4],
        [0; 4],
        "",
        &[(53, &[NAK]), (54, &SERVER), (56, b"address not available")],
    )
}

/// Our DISCOVER and REQUEST (as sent to dnsmasq).
fn client_messages() -> Vec<Vec<u8>> {
    use metalos_net::dhcp;
    let discover = dhcp::encode(&dhcp::discover(XID, MAC, 0)).expect("encodes");
    let request = dhcp::encode(&dhcp::request(
        XID,
        MAC,
        1,
        Ipv4Addr::from(LEASED),
        Ipv4Addr::from(SERVER),
    ))
    .expect("encodes");
    vec![discover, request]
}

/// Seeds for `dhcp` (framed exchanges) and `dhcp_roundtrip` (datagrams).
pub fn seeds() -> Vec<Seed> {
    let ack = |l: Lease| dnsmasq_lease(Lease { kind: ACK, ..l });
    let plain = Lease::default();
    let mut no_server_id = dnsmasq_lease(plain);
    no_server_id[243] = 0; // option 54 → a pad and junk the parser skips
    let built: Vec<(&str, Vec<u8>)> = vec![
        ("built-plain-offer", dnsmasq_lease(plain)),
        ("built-plain-ack", ack(plain)),
        ("built-nak", dnsmasq_nak()),
        (
            "built-minimal-offer",
            dnsmasq_lease(Lease {
                hostname: None,
                routers: &[],
                dns: &[],
                ..plain
            }),
        ),
        (
            "built-many-routers-ack",
            ack(Lease {
                routers: &[[10, 77, 1, 2], [10, 77, 1, 3], [10, 77, 1, 4]],
                dns: &[[10, 77, 1, 53], [1, 1, 1, 1], [8, 8, 8, 8], [9, 9, 9, 9]],
                lease_secs: u32::MAX,
                ..plain
            }),
        ),
        (
            "built-pxe-offer",
            dnsmasq_lease(Lease {
                bootfile_option: Some("ipxe.efi"),
                ..plain
            }),
        ),
        (
            "built-http-ack",
            ack(Lease {
                vendor_class: Some("HTTPClient"),
                file: "http://10.77.1.1/imaging.efi",
                ..plain
            }),
        ),
        ("built-offer-options-cut", no_server_id),
        (
            "built-offer-no-server-id",
            dnsmasq_reply(
                LEASED,
                SERVER,
                "",
                &[
                    (53, &[OFFER]),
                    (51, &[0, 0, 14, 16]),
                    (1, &[255, 255, 0, 0]),
                ],
            ),
        ),
    ];
    let mut datagrams: Vec<(String, Vec<u8>)> = CAPTURED
        .iter()
        .map(|(n, d)| (n.to_string(), d.to_vec()))
        .collect();
    datagrams.extend(built.iter().map(|(n, d)| (n.to_string(), d.clone())));
    let [discover, request] = <[Vec<u8>; 2]>::try_from(client_messages()).expect("two");
    datagrams.push(("client-discover".into(), discover.clone()));
    datagrams.push(("client-request".into(), request.clone()));

    let mut out: Vec<Seed> = datagrams
        .iter()
        .map(|(name, data)| Seed {
            target: "dhcp_roundtrip",
            name: name.clone(),
            data: data.clone(),
        })
        .collect();
    let get = |name: &str| -> Vec<u8> {
        datagrams
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, d)| d.clone())
            .expect("known datagram")
    };
    let exchanges: &[(&str, &[&str])] = &[
        (
            "dnsmasq-plain",
            &["dnsmasq-plain-offer", "dnsmasq-plain-ack"],
        ),
        ("dnsmasq-pxe", &["dnsmasq-pxe-offer", "dnsmasq-pxe-ack"]),
        (
            "dnsmasq-pxeprl",
            &["dnsmasq-pxeprl-offer", "dnsmasq-pxeprl-ack"],
        ),
        ("dnsmasq-http", &["dnsmasq-http-offer", "dnsmasq-http-ack"]),
        ("dnsmasq-ipxe", &["dnsmasq-ipxe-offer", "dnsmasq-ipxe-ack"]),
        (
            "dnsmasq-nak-restart",
            &[
                "dnsmasq-plain-offer",
                "dnsmasq-plain-nak",
                "dnsmasq-plain-offer",
                "dnsmasq-plain-ack",
            ],
        ),
        (
            "own-broadcasts-then-lease",
            &[
                "client-discover",
                "dnsmasq-plain-offer",
                "client-request",
                "dnsmasq-plain-ack",
            ],
        ),
        ("built-minimal", &["built-minimal-offer", "built-plain-ack"]),
        (
            "built-many-routers",
            &["built-plain-offer", "built-many-routers-ack"],
        ),
        ("built-pxe-http", &["built-pxe-offer", "built-http-ack"]),
        (
            "built-options-cut",
            &["built-offer-options-cut", "built-plain-ack"],
        ),
        (
            "built-siaddr-server",
            &["built-offer-no-server-id", "built-plain-ack"],
        ),
    ];
    for (name, parts) in exchanges {
        let parts: Vec<Vec<u8>> = parts.iter().map(|p| get(p)).collect();
        let refs: Vec<&[u8]> = parts.iter().map(Vec::as_slice).collect();
        out.push(Seed {
            target: "dhcp",
            name: name.to_string(),
            data: frame(&refs),
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::super::dhcp::{dhcp, dhcp_roundtrip};
    use super::*;

    #[test]
    fn rebuilt_replies_are_byte_identical_to_dnsmasqs() {
        let plain = Lease::default();
        let ack = Lease { kind: ACK, ..plain };
        let cases: Vec<(&str, Vec<u8>)> = vec![
            ("dnsmasq-plain-offer", dnsmasq_lease(plain)),
            ("dnsmasq-plain-ack", dnsmasq_lease(ack)),
            ("dnsmasq-plain-nak", dnsmasq_nak()),
            (
                "dnsmasq-pxe-offer",
                dnsmasq_lease(Lease {
                    file: "ipxe.efi",
                    ..plain
                }),
            ),
            (
                "dnsmasq-pxe-ack",
                dnsmasq_lease(Lease {
                    file: "ipxe.efi",
                    ..ack
                }),
            ),
            (
                "dnsmasq-pxeprl-offer",
                dnsmasq_lease(Lease {
                    bootfile_option: Some("ipxe.efi"),
                    ..plain
                }),
            ),
            (
                "dnsmasq-http-ack",
                dnsmasq_lease(Lease {
                    file: "http://10.77.1.1/imaging.efi",
                    vendor_class: Some("HTTPClient"),
                    ..ack
                }),
            ),
            (
                "dnsmasq-ipxe-offer",
                dnsmasq_lease(Lease {
                    file: "http://10.77.1.1/boot.ipxe",
                    ..plain
                }),
            ),
        ];
        for (name, built) in cases {
            assert_eq!(built, captured(name), "{name}");
        }
    }

    #[test]
    fn dnsmasq_exchange_yields_the_lease() {
        let offer = captured("dnsmasq-plain-offer");
        let ack = captured("dnsmasq-plain-ack");
        let lease = metalos_net::dhcp::negotiate_replayed(&[offer, ack], MAC, XID).unwrap();
        assert_eq!(lease.address.to_string(), "10.77.1.158");
        assert_eq!(lease.prefix_len, 24);
        assert_eq!(lease.hostname.as_deref(), Some("node1"));
        assert_eq!(lease.domain.as_deref(), Some("metalos.test"));
        dhcp(&frame(&[offer, ack]));
    }

    #[test]
    fn targets_run_over_seeds_and_broken_inputs() {
        for seed in seeds() {
            (crate::find(seed.target).unwrap().run)(&seed.data);
            // Cut short and with a flipped byte.
            (crate::find(seed.target).unwrap().run)(&seed.data[..seed.data.len() / 2]);
            let mut flipped = seed.data.clone();
            let n = flipped.len() / 3;
            flipped[n] ^= 0xff;
            (crate::find(seed.target).unwrap().run)(&flipped);
        }
        dhcp(b"");
        dhcp_roundtrip(b"");
        dhcp_roundtrip(&[0u8; 300]);
    }
}
