//! The network parameters of a kernel command line.
//!
//! * `BOOTIF=01-aa-bb-cc-dd-ee-ff` (PXELINUX/iPXE style, ARP type 01 then the
//!   hyphenated MAC) or `metalos.mac=aa:bb:cc:dd:ee:ff`: the boot NIC.
//! * `ip=ADDR::GW:MASK[:HOSTNAME[:IFACE[:AUTOCONF[:DNS0[:DNS1]]]]]`: the
//!   kernel's nfsroot-style static configuration, as an iPXE script writes it
//!   with `ip=${net0/ip}::${net0/gateway}:${net0/netmask}`. `ip=dhcp` (also
//!   `on`, `any`) asks for DHCP; `ip=off`/`ip=none` for no configuration.
//! * `metalos.dns=IP[,IP...]`: DNS servers (asked before any from `ip=` or
//!   DHCP).
//!
//! A parameter given twice takes its last value, as the kernel does.

use std::net::Ipv4Addr;

use crate::mac::MacAddr;

/// A command-line parameter this module understands but whose value is wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("kernel command line: {param}={value:?}: {reason}")]
pub struct CmdlineError {
    /// The parameter name (`ip`, `BOOTIF`, `metalos.mac`, `metalos.dns`).
    pub param: String,
    /// Its value as given.
    pub value: String,
    /// What is wrong with it.
    pub reason: String,
}

/// A static IPv4 configuration (from `ip=` or from a DHCP lease).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StaticConfig {
    /// The interface address.
    pub address: Ipv4Addr,
    /// The prefix length of the subnet (24 for 255.255.255.0).
    pub prefix_len: u8,
    /// The default gateway; `None` means no default route.
    pub gateway: Option<Ipv4Addr>,
    /// The host name field of `ip=`, if given.
    pub hostname: Option<String>,
    /// The device field of `ip=`, if given (a kernel interface name).
    pub interface: Option<String>,
    /// The DNS server fields of `ip=`, if given.
    pub dns_servers: Vec<Ipv4Addr>,
}

impl StaticConfig {
    /// The subnet mask (`255.255.255.0` for prefix 24).
    pub fn netmask(&self) -> Ipv4Addr {
        prefix_to_netmask(self.prefix_len)
    }
}

/// How the command line asks for the address to be configured.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IpConfig {
    /// `ip=dhcp` (or `on`/`any`, or autoconf `dhcp` with no address).
    Dhcp,
    /// `ip=ADDR::GW:MASK...`.
    Static(StaticConfig),
    /// `ip=off` or `ip=none`: leave the network alone.
    Off,
}

/// The network parameters found on a kernel command line.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NetCmdline {
    /// The boot NIC's MAC from `metalos.mac=` or `BOOTIF=`.
    pub boot_mac: Option<MacAddr>,
    /// The `ip=` parameter; `None` when absent (callers default to DHCP).
    pub ip: Option<IpConfig>,
    /// DNS servers from `metalos.dns=`.
    pub dns_servers: Vec<Ipv4Addr>,
}

/// Parses the network parameters of a kernel command line (as read from
/// `/proc/cmdline`). Unrelated words are ignored. `BOOTIF=` and
/// `metalos.mac=` naming different MACs is an error.
pub fn parse(cmdline: &str) -> Result<NetCmdline, CmdlineError> {
    let mut out = NetCmdline::default();
    let mut bootif = None;
    let mut metalos_mac = None;
    for word in cmdline.split_whitespace() {
        let Some((key, value)) = word.split_once('=') else {
            continue;
        };
        let value = value.trim_matches('"');
        match key {
            "BOOTIF" => bootif = Some((parse_bootif(value)?, value)),
            "metalos.mac" => {
                let mac = value
                    .parse::<MacAddr>()
                    .map_err(|e| err("metalos.mac", value, e.to_string()))?;
                metalos_mac = Some((mac, value));
            }
            "ip" => out.ip = Some(parse_ip(value)?),
            "metalos.dns" => out.dns_servers = parse_dns(value)?,
            _ => {}
        }
    }
    out.boot_mac = match (bootif, metalos_mac) {
        (Some((a, a_text)), Some((b, _))) if a != b => {
            return Err(err(
                "BOOTIF",
                a_text,
                format!("names MAC {a}, but metalos.mac= names {b}"),
            ))
        }
        (_, Some((mac, _))) | (Some((mac, _)), None) => Some(mac),
        (None, None) => None,
    };
    Ok(out)
}

/// Parses a `BOOTIF=` value: `01-aa-bb-cc-dd-ee-ff` (the `01-` is the ARP
/// hardware type, Ethernet). A colon-separated MAC is accepted too.
pub fn parse_bootif(value: &str) -> Result<MacAddr, CmdlineError> {
    if value.contains(':') {
        return value
            .parse()
            .map_err(|e: crate::mac::InvalidMac| err("BOOTIF", value, e.to_string()));
    }
    match value.split_once('-') {
        Some((hw_type, rest)) if value.len() == 20 => {
            if hw_type != "01" {
                return Err(err(
                    "BOOTIF",
                    value,
                    format!("hardware type {hw_type} is not 01 (Ethernet)"),
                ));
            }
            rest.parse()
        }
        _ => Err(crate::mac::InvalidMac {
            value: value.to_string(),
            hyphens_allowed: true,
        }),
    }
    .map_err(|_| err("BOOTIF", value, "expected 01-aa-bb-cc-dd-ee-ff".into()))
}

/// Parses an `ip=` value (see the module documentation).
pub fn parse_ip(value: &str) -> Result<IpConfig, CmdlineError> {
    match value {
        "dhcp" | "on" | "any" => return Ok(IpConfig::Dhcp),
        "off" | "none" => return Ok(IpConfig::Off),
        "" => return Err(err("ip", value, "empty value".into())),
        _ => {}
    }
    let fields: Vec<&str> = value.split(':').collect();
    let field = |i: usize| fields.get(i).copied().unwrap_or("");
    let (address, gateway, netmask) = (field(0), field(2), field(3));
    let autoconf = field(6);
    if address.is_empty() {
        return match autoconf {
            "dhcp" | "on" | "any" => Ok(IpConfig::Dhcp),
            "off" | "none" => Ok(IpConfig::Off),
            _ => Err(err(
                "ip",
                value,
                "no client address (first field); use ip=dhcp for DHCP".into(),
            )),
        };
    }
    let address: Ipv4Addr = address.parse().map_err(|_| {
        err(
            "ip",
            value,
            format!("client address {address:?} is not an IPv4 address"),
        )
    })?;
    let gateway = match gateway {
        "" => None,
        g => match g.parse::<Ipv4Addr>() {
            Ok(ip) if ip.is_unspecified() => None,
            Ok(ip) => Some(ip),
            Err(_) => {
                return Err(err(
                    "ip",
                    value,
                    format!("gateway {g:?} is not an IPv4 address"),
                ))
            }
        },
    };
    if netmask.is_empty() {
        return Err(err(
            "ip",
            value,
            "no netmask (fourth field), expected ADDR::GW:NETMASK".into(),
        ));
    }
    let prefix_len = parse_netmask(netmask)
        .ok_or_else(|| err("ip", value, format!("netmask {netmask:?} is not valid")))?;
    let mut dns_servers = Vec::new();
    for (i, name) in [(7, "first DNS server"), (8, "second DNS server")] {
        let text = field(i);
        if !text.is_empty() {
            dns_servers.push(text.parse().map_err(|_| {
                err(
                    "ip",
                    value,
                    format!("{name} {text:?} is not an IPv4 address"),
                )
            })?);
        }
    }
    let non_empty = |s: &str| (!s.is_empty()).then(|| s.to_string());
    Ok(IpConfig::Static(StaticConfig {
        address,
        prefix_len,
        gateway,
        hostname: non_empty(field(4)),
        interface: non_empty(field(5)),
        dns_servers,
    }))
}

/// Parses a `metalos.dns=` value: comma-separated IPv4 addresses. Empty
/// means none (what iPXE's `${dns}` expands to without a DNS server).
pub fn parse_dns(value: &str) -> Result<Vec<Ipv4Addr>, CmdlineError> {
    value
        .split(',')
        .filter(|s| !s.is_empty())
        .map(|s| {
            s.parse().map_err(|_| {
                err(
                    "metalos.dns",
                    value,
                    format!("{s:?} is not an IPv4 address"),
                )
            })
        })
        .collect()
}

/// Parses a dotted netmask (`255.255.255.0`) or a prefix length (`24`);
/// `None` when it is neither or not contiguous.
pub fn parse_netmask(text: &str) -> Option<u8> {
    if let Ok(len) = text.parse::<u8>() {
        return (len <= 32).then_some(len);
    }
    let mask = u32::from(text.parse::<Ipv4Addr>().ok()?);
    let len = mask.leading_ones();
    (mask.checked_shl(len).unwrap_or(0) == 0).then_some(len as u8)
}

/// The netmask for a prefix length (lengths over 32 are treated as 32).
pub fn prefix_to_netmask(prefix_len: u8) -> Ipv4Addr {
    let len = u32::from(prefix_len.min(32));
    Ipv4Addr::from(u32::MAX.checked_shl(32 - len).unwrap_or(0))
}

fn err(param: &str, value: &str, reason: String) -> CmdlineError {
    CmdlineError {
        param: param.to_string(),
        value: value.to_string(),
        reason,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mac(s: &str) -> MacAddr {
        s.parse().unwrap()
    }

    #[test]
    fn ipxe_style_cmdline() {
        let c = parse(
            "imaging.efi console=ttyS0 BOOTIF=01-52-54-00-12-34-56 \
             ip=10.77.1.100::10.77.1.1:255.255.255.0 metalos.dns=10.77.1.1,10.77.1.2",
        )
        .unwrap();
        assert_eq!(c.boot_mac, Some(mac("52:54:00:12:34:56")));
        assert_eq!(
            c.ip,
            Some(IpConfig::Static(StaticConfig {
                address: "10.77.1.100".parse().unwrap(),
                prefix_len: 24,
                gateway: Some("10.77.1.1".parse().unwrap()),
                hostname: None,
                interface: None,
                dns_servers: vec![],
            }))
        );
        assert_eq!(
            c.dns_servers,
            vec![
                "10.77.1.1".parse::<Ipv4Addr>().unwrap(),
                "10.77.1.2".parse().unwrap()
            ]
        );
    }

    #[test]
    fn empty_gateway_means_no_route_and_full_form_is_read() {
        let IpConfig::Static(s) = parse_ip("10.0.0.5::0.0.0.0:255.255.0.0").unwrap() else {
            panic!()
        };
        assert_eq!((s.gateway, s.prefix_len), (None, 16));
        let IpConfig::Static(s) = parse_ip("10.0.0.5:::255.255.255.128").unwrap() else {
            panic!()
        };
        assert_eq!((s.gateway, s.prefix_len), (None, 25));
        assert_eq!(s.netmask(), "255.255.255.128".parse::<Ipv4Addr>().unwrap());
        let IpConfig::Static(s) =
            parse_ip("10.0.0.5:10.0.0.9:10.0.0.1:24:host1:eth0:off:1.1.1.1:8.8.8.8").unwrap()
        else {
            panic!()
        };
        assert_eq!(s.hostname.as_deref(), Some("host1"));
        assert_eq!(s.interface.as_deref(), Some("eth0"));
        assert_eq!(s.dns_servers.len(), 2);
        assert_eq!(s.prefix_len, 24);
    }

    #[test]
    fn dhcp_and_off_forms() {
        assert_eq!(parse_ip("dhcp").unwrap(), IpConfig::Dhcp);
        assert_eq!(parse_ip("on").unwrap(), IpConfig::Dhcp);
        assert_eq!(parse_ip(":::::eth0:dhcp").unwrap(), IpConfig::Dhcp);
        assert_eq!(parse_ip("off").unwrap(), IpConfig::Off);
        assert_eq!(parse("quiet").unwrap(), NetCmdline::default());
    }

    #[test]
    fn metalos_mac_and_last_value_wins() {
        let c = parse("metalos.mac=AA:BB:CC:DD:EE:01 ip=dhcp ip=off").unwrap();
        assert_eq!(c.boot_mac, Some(mac("aa:bb:cc:dd:ee:01")));
        assert_eq!(c.ip, Some(IpConfig::Off));
        let same = parse("BOOTIF=01-AA-bb-cc-dd-ee-01 metalos.mac=aa:bb:cc:dd:ee:01").unwrap();
        assert_eq!(same.boot_mac, Some(mac("aa:bb:cc:dd:ee:01")));
        let same = parse("BOOTIF=aa:bb:cc:dd:ee:01").unwrap();
        assert_eq!(same.boot_mac, Some(mac("aa:bb:cc:dd:ee:01")));
    }

    #[test]
    fn empty_dns_means_none() {
        // iPXE expands ${dns} to nothing when DHCP named no server.
        assert!(parse("metalos.dns=").unwrap().dns_servers.is_empty());
        assert_eq!(
            parse_dns("10.0.0.1,").unwrap(),
            vec![Ipv4Addr::new(10, 0, 0, 1)]
        );
    }

    #[test]
    fn malformed_values_name_the_parameter() {
        let cases = [
            ("BOOTIF=06-aa-bb-cc-dd-ee-ff", "BOOTIF", "hardware type 06"),
            ("BOOTIF=01-aa-bb-cc-dd-ee", "BOOTIF", "expected 01-"),
            ("BOOTIF=aa-bb-cc-dd-ee-ff", "BOOTIF", "expected 01-"),
            ("BOOTIF=aa:bb:cc:dd:ee", "BOOTIF", "not a MAC address"),
            ("metalos.mac=aa:bb", "metalos.mac", "not a MAC address"),
            (
                "ip=10.0.0.300::10.0.0.1:255.255.255.0",
                "ip",
                "client address",
            ),
            ("ip=10.0.0.3::10.0.0.x:255.255.255.0", "ip", "gateway"),
            ("ip=10.0.0.3::10.0.0.1", "ip", "no netmask"),
            ("ip=10.0.0.3::10.0.0.1:255.0.255.0", "ip", "netmask"),
            ("ip=10.0.0.3::10.0.0.1:33", "ip", "netmask"),
            ("ip=::10.0.0.1:255.255.255.0", "ip", "no client address"),
            ("ip=", "ip", "empty"),
            ("metalos.dns=10.0.0.1,x", "metalos.dns", "not an IPv4"),
            (
                "BOOTIF=01-aa-bb-cc-dd-ee-01 metalos.mac=aa:bb:cc:dd:ee:02",
                "BOOTIF",
                "metalos.mac= names aa:bb:cc:dd:ee:02",
            ),
        ];
        for (line, param, needle) in cases {
            let e = parse(line).unwrap_err();
            assert_eq!(e.param, param, "{line}");
            let msg = e.to_string();
            assert!(msg.contains(needle), "{line}: {msg}");
            assert!(
                msg.starts_with(&format!("kernel command line: {param}=")),
                "{msg}"
            );
        }
    }

    #[test]
    fn netmask_conversions() {
        assert_eq!(parse_netmask("255.255.255.0"), Some(24));
        assert_eq!(parse_netmask("0.0.0.0"), Some(0));
        assert_eq!(parse_netmask("255.255.255.255"), Some(32));
        assert_eq!(parse_netmask("255.255.254.0"), Some(23));
        assert_eq!(parse_netmask("255.0.255.0"), None);
        assert_eq!(prefix_to_netmask(0), Ipv4Addr::UNSPECIFIED);
        assert_eq!(prefix_to_netmask(32), Ipv4Addr::BROADCAST);
        assert_eq!(
            prefix_to_netmask(20),
            "255.255.240.0".parse::<Ipv4Addr>().unwrap()
        );
    }
}
