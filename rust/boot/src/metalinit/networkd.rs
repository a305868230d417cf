//! The HostConfig's static addressing in the booted system: metalinit
//! writes one systemd-networkd unit per interface that has
//! `network.interfaces[].addresses`, under `/run/systemd/network/`
//! (carried into the rootfs by the switch-root, rewritten every boot, so
//! a changed HostConfig applies at the next boot). Units match the NIC by
//! MAC and sort before the image's DHCP default (`80-metalos-dhcp.network`),
//! which keeps serving every interface the HostConfig gives no address.
//! Images without systemd-networkd ignore the directory.

use anyhow::{Context, Result};
use metalos_config::hostconfig::{HostConfig, Interface};
use std::fmt::Write as _;
use std::path::Path;

/// Where the units go (the initrd's `/run` becomes the rootfs's).
pub const UNIT_DIR: &str = "/run/systemd/network";

/// The file name of `iface`'s unit.
pub fn unit_name(iface: &Interface) -> String {
    format!("10-metalos-{}.network", iface.name)
}

/// The units for `host`: (file name, contents), in HostConfig order.
/// Only interfaces with static addresses get one. DNS servers go on the
/// primary interface (on every static one when none is primary).
pub fn units(host: &HostConfig) -> Vec<(String, String)> {
    let net = &host.network;
    let has_primary = net
        .interfaces
        .iter()
        .any(|i| i.primary && !i.addresses.is_empty());
    net.interfaces
        .iter()
        .enumerate()
        .filter(|(_, i)| !i.addresses.is_empty())
        .map(|(n, i)| {
            let dns = if !has_primary || i.primary {
                &net.dns[..]
            } else {
                &[][..]
            };
            (unit_name(i), render(n, i, dns))
        })
        .collect()
}

fn render(index: usize, iface: &Interface, dns: &[std::net::IpAddr]) -> String {
    let mut s = format!(
        "# Written by metalinit from the HostConfig (network.interfaces[{index}], {}).\n\
         # Static addressing only: no DHCP, no router advertisements.\n\
         [Match]\nMACAddress={}\n\n[Network]\nDHCP=no\nIPv6AcceptRA=no\n",
        iface.name, iface.mac
    );
    for a in &iface.addresses {
        let _ = writeln!(s, "Address={a}");
    }
    if let Some(g) = iface.gateway {
        let _ = writeln!(s, "Gateway={g}");
    }
    for d in dns {
        let _ = writeln!(s, "DNS={d}");
    }
    s
}

/// Writes [`units`] into `dir` (created if missing; each file written
/// whole, then renamed). Returns how many were written.
pub fn write(host: &HostConfig, dir: &Path) -> Result<usize> {
    let units = units(host);
    if units.is_empty() {
        return Ok(0);
    }
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    for (name, text) in &units {
        let path = dir.join(name);
        let tmp = dir.join(format!(".{name}.tmp"));
        std::fs::write(&tmp, text).with_context(|| format!("writing {}", tmp.display()))?;
        std::fs::rename(&tmp, &path).with_context(|| format!("renaming to {}", path.display()))?;
    }
    Ok(units.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A HostConfig with `network` (a JSON object) and a fixed identity.
    fn host(json: &str) -> HostConfig {
        let network: serde_json::Value = serde_json::from_str(json).unwrap();
        let doc = serde_json::json!({
            "version": 1,
            "identity": {"hostname": "h", "machine-id": "0123456789abcdef0123456789abcdef"},
            "network": network["network"],
        });
        HostConfig::from_json(&doc.to_string()).unwrap()
    }

    #[test]
    fn static_interfaces_get_a_unit_dhcp_ones_do_not() {
        let h = host(
            r#"{"version":1,"network":{"dns":["10.0.0.53","2001:db8::53"],"interfaces":[
                {"mac":"52:54:00:00:00:01","name":"lan0","primary":true,
                 "addresses":["10.0.0.5/24","2001:db8::5/64"],"gateway":"10.0.0.1"},
                {"mac":"52:54:00:00:00:02","name":"lan1"},
                {"mac":"52:54:00:00:00:03","name":"stor0","addresses":["192.168.9.5/24"]}]}}"#,
        );
        let u = units(&h);
        assert_eq!(u.len(), 2);
        assert_eq!(u[0].0, "10-metalos-lan0.network");
        assert_eq!(
            u[0].1,
            "# Written by metalinit from the HostConfig (network.interfaces[0], lan0).\n\
             # Static addressing only: no DHCP, no router advertisements.\n\
             [Match]\nMACAddress=52:54:00:00:00:01\n\n[Network]\nDHCP=no\nIPv6AcceptRA=no\n\
             Address=10.0.0.5/24\nAddress=2001:db8::5/64\nGateway=10.0.0.1\n\
             DNS=10.0.0.53\nDNS=2001:db8::53\n"
        );
        assert_eq!(u[1].0, "10-metalos-stor0.network");
        assert!(u[1].1.contains("network.interfaces[2]"));
        assert!(
            !u[1].1.contains("DNS="),
            "DNS only on the primary: {}",
            u[1].1
        );
        assert!(!u[1].1.contains("Gateway="));
    }

    #[test]
    fn without_a_primary_every_static_interface_gets_the_dns() {
        let h = host(
            r#"{"version":1,"network":{"dns":["10.0.0.53"],"interfaces":[
                {"mac":"52:54:00:00:00:01","name":"a","addresses":["10.0.0.5/24"]},
                {"mac":"52:54:00:00:00:02","name":"b","addresses":["10.1.0.5/24"]}]}}"#,
        );
        assert!(units(&h).iter().all(|(_, t)| t.contains("DNS=10.0.0.53")));
    }

    #[test]
    fn writes_files_and_nothing_for_dhcp_only_hosts() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path().join("run/systemd/network");
        let dhcp = host(
            r#"{"version":1,"network":{"interfaces":[{"mac":"52:54:00:00:00:01","name":"lan0"}]}}"#,
        );
        assert_eq!(write(&dhcp, &d).unwrap(), 0);
        assert!(!d.exists());
        let h = host(
            r#"{"version":1,"network":{"interfaces":[{"mac":"52:54:00:00:00:01","name":"lan0","addresses":["10.0.0.5/24"]}]}}"#,
        );
        assert_eq!(write(&h, &d).unwrap(), 1);
        let text = std::fs::read_to_string(d.join("10-metalos-lan0.network")).unwrap();
        assert!(text.contains("Address=10.0.0.5/24"));
        assert_eq!(
            std::fs::read_dir(&d).unwrap().count(),
            1,
            "no temp file left"
        );
    }
}
