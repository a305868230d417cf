//! The privileged "namespace tier": a NIC on a private L2 segment (a
//! [`NetnsLab`]) instead of QEMU user networking, for what slirp cannot
//! do — firmware PXE and UEFI HTTP Boot with DHCP answers chosen by client
//! class, a real DHCP server for the guest's own client, HTTPS servers.
//!
//! # How
//!
//! QEMU runs inside an **anonymous** network + PID + mount namespace:
//!
//! ```text
//! unshare --net --pid --fork --kill-child --mount-proc -- \
//!     /bin/sh <machine dir>/netns-setup.sh qemu-system-x86_64 …
//! ```
//!
//! The setup script (written into the machine directory, so it can be read
//! and re-run by hand) creates bridge `br0` with [`SERVER`]`/24` (STP
//! forward delay 0) and the ULA `fd77:1::1/64` (router advertisements, so
//! iPXE and OVMF do not wait for IPv6), one tap `tapN` per lab NIC `N`,
//! starts `dnsmasq` (DHCP, optional TFTP, boot answers by client class, no
//! DNS), optionally `busybox httpd` on [`SERVER`]`:80` and
//! `openssl s_server -WWW` on [`SERVER`]`:443`, and then `exec`s QEMU, which
//! opens the taps. The namespace has no uplink: the guest reaches only
//! [`SERVER`]. Every lab uses the same addresses, so machines of parallel
//! tests do not interfere.
//!
//! QEMU (PID 1 of the new PID namespace after the `exec`) takes every
//! helper down with it when it exits, and `--kill-child` kills it when the
//! `unshare` process dies (the harness kills `unshare` like it kills QEMU),
//! so nothing outlives a machine: no names, no sweeps, no `ip netns del`.
//! The console, agent and QMP Unix sockets work across namespaces.
//!
//! # Files (in the machine directory)
//!
//! `netns-setup.sh`, `dnsmasq.log` (every DHCP exchange, `--log-dhcp`),
//! `dnsmasq.leases`, `httpd.log`, `https.log`; the setup script's own
//! messages go to `qemu.log`.
//!
//! Needs root (bridges, taps and `/dev/net/tun`): building a machine with
//! a lab NIC fails — it does not skip — when not run as root.

use crate::error::{Result, VmError};
use crate::paths::{find_program, HTTPD_BUSYBOX};
use crate::quote::shell_quote as sh;
use std::path::{Path, PathBuf};

/// The lab server's address: the bridge, DHCP, TFTP, HTTP and HTTPS.
pub const SERVER: &str = "10.77.1.1";

/// First and last address dnsmasq leases (in `10.77.1.0/24`).
pub const DHCP_RANGE: (&str, &str) = ("10.77.1.100", "10.77.1.199");

/// QEMU arguments that turn off OVMF's PXE boot options (IPv4 and IPv6),
/// so that with a NIC without option ROM ([`crate::Nic::no_option_rom`])
/// OVMF goes straight to UEFI HTTP Boot.
pub const OVMF_NO_PXE: [&str; 4] = [
    "-fw_cfg",
    "name=opt/org.tianocore/IPv4PXESupport,string=n",
    "-fw_cfg",
    "name=opt/org.tianocore/IPv6PXESupport,string=n",
];

/// An HTTPS file server (`openssl s_server -WWW`): GET of files below
/// `root`, HTTP/1.0, one connection at a time (a missing file is answered
/// `200` with an error text, not 404).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpsServer {
    /// Directory served.
    pub root: PathBuf,
    /// Server certificate (PEM; chain allowed).
    pub cert: PathBuf,
    /// Its private key (PEM).
    pub key: PathBuf,
}

/// The private segment of a machine's lab NICs (see the module docs).
/// Built with [`NetnsLab::new`] and the methods below.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NetnsLab {
    /// Run no DHCP server at all (DHCP failure tests).
    pub no_dhcp: bool,
    /// Boot file for clients with user class `iPXE` (a script URL).
    pub ipxe_script_url: Option<String>,
    /// Boot file for firmware PXE (client arch 7 or 9), fetched by TFTP.
    pub pxe_boot_file: Option<String>,
    /// URL answered to UEFI HTTP Boot clients (client arch 16, vendor
    /// class `HTTPClient`).
    pub http_boot_url: Option<String>,
    /// Root of dnsmasq's TFTP server.
    pub tftp_root: Option<PathBuf>,
    /// Root of `busybox httpd` on [`SERVER`]`:80`.
    pub http_root: Option<PathBuf>,
    /// HTTPS server on [`SERVER`]`:443`.
    pub https: Option<HttpsServer>,
    /// Join the segment of a running machine (the pid of its namespace
    /// launcher, [`crate::Machine::launcher_pid`]) instead of making one:
    /// same bridge, DHCP and servers; this lab's own servers are ignored.
    pub join_pid: Option<u32>,
    /// Name prefix of this machine's taps (`tap` unless joining: taps on
    /// one bridge need distinct names).
    pub tap_prefix: Option<String>,
    /// More servers started in the namespace after the built-in ones:
    /// (name, argv); output goes to `<machine dir>/<name>.log`.
    pub daemons: Vec<(String, Vec<String>)>,
    /// More addresses on the bridge (CIDR), e.g. `169.254.169.254/32` for
    /// an emulated cloud metadata service.
    pub addresses: Vec<String>,
}

impl NetnsLab {
    /// A segment with a DHCP server (leases in [`DHCP_RANGE`], router
    /// [`SERVER`], no DNS) and nothing else.
    pub fn new() -> NetnsLab {
        NetnsLab::default()
    }

    /// A lab whose NICs join the segment of the running machine whose
    /// launcher is `pid` (several machines on one L2 network); its taps are
    /// named `<tap_prefix>N`.
    pub fn join(pid: u32, tap_prefix: &str) -> NetnsLab {
        NetnsLab {
            join_pid: Some(pid),
            tap_prefix: Some(tap_prefix.to_string()),
            ..NetnsLab::default()
        }
    }

    /// The tap name of NIC `index`.
    pub fn tap_name(&self, index: usize) -> String {
        format!("{}{index}", self.tap_prefix.as_deref().unwrap_or("tap"))
    }

    /// Starts `argv` in the namespace once the bridge is up (a server the
    /// guests reach at [`SERVER`], e.g. etcd or a FleetLock server);
    /// `name` names its log, `<machine dir>/<name>.log`. It must stay up:
    /// one that exits at once fails the setup.
    pub fn daemon(mut self, name: &str, argv: &[&str]) -> NetnsLab {
        self.daemons.push((
            name.to_string(),
            argv.iter().map(|a| a.to_string()).collect(),
        ));
        self
    }

    /// Adds `cidr` (e.g. `169.254.169.254/32`) to the bridge, so a daemon
    /// can listen there (guests reach it through their default route).
    pub fn address(mut self, cidr: &str) -> NetnsLab {
        self.addresses.push(cidr.to_string());
        self
    }

    /// Runs no DHCP server (router advertisements stay on).
    pub fn no_dhcp(mut self) -> NetnsLab {
        self.no_dhcp = true;
        self
    }

    /// Answers iPXE (user class `iPXE`) with the script at `url`.
    pub fn ipxe_script(mut self, url: &str) -> NetnsLab {
        self.ipxe_script_url = Some(url.to_string());
        self
    }

    /// Answers firmware PXE (not iPXE) with `file` on the TFTP server
    /// (set [`NetnsLab::tftp_root`] too).
    pub fn pxe_boot_file(mut self, file: &str) -> NetnsLab {
        self.pxe_boot_file = Some(file.to_string());
        self
    }

    /// Answers UEFI HTTP Boot with `url` (e.g. `http://10.77.1.1/imaging.efi`).
    pub fn uefi_http_boot(mut self, url: &str) -> NetnsLab {
        self.http_boot_url = Some(url.to_string());
        self
    }

    /// Serves `root` over TFTP (dnsmasq).
    pub fn tftp_root(mut self, root: impl Into<PathBuf>) -> NetnsLab {
        self.tftp_root = Some(root.into());
        self
    }

    /// Serves `root` over HTTP on [`SERVER`]`:80` (`busybox httpd`).
    pub fn http_dir(mut self, root: impl Into<PathBuf>) -> NetnsLab {
        self.http_root = Some(root.into());
        self
    }

    /// Serves `root` over HTTPS on [`SERVER`]`:443` with `cert` and `key`.
    pub fn https_dir(
        mut self,
        root: impl Into<PathBuf>,
        cert: impl Into<PathBuf>,
        key: impl Into<PathBuf>,
    ) -> NetnsLab {
        self.https = Some(HttpsServer {
            root: root.into(),
            cert: cert.into(),
            key: key.into(),
        });
        self
    }

    /// Checks the privileges, the programs and the served paths.
    pub fn validate(&self) -> Result<()> {
        // SAFETY: geteuid has no preconditions.
        if unsafe { libc::geteuid() } != 0 {
            return Err(VmError::Config(
                "a NIC on a NetnsLab (network-namespace tier) needs root: creating the \
                 namespace, bridge and taps needs CAP_NET_ADMIN/CAP_SYS_ADMIN and /dev/net/tun; \
                 run this test as root"
                    .into(),
            ));
        }
        let mut programs = if self.join_pid.is_some() {
            vec!["nsenter", "ip"]
        } else {
            vec!["unshare", "ip", "dnsmasq"]
        };
        if self.https.is_some() {
            programs.push("openssl");
        }
        for p in programs {
            if find_program(p).is_none() {
                return Err(VmError::Missing(format!(
                    "{p} is needed for the network-namespace tier (packages: util-linux, \
                     iproute2, dnsmasq-base, openssl) but is not on PATH or in /usr/sbin"
                )));
            }
        }
        if self.http_root.is_some() && !Path::new(HTTPD_BUSYBOX).is_file() {
            return Err(VmError::Missing(format!(
                "{HTTPD_BUSYBOX} (busybox-static) is needed for NetnsLab::http_dir"
            )));
        }
        let dir = |what: &str, p: &Option<PathBuf>| -> Result<()> {
            match p {
                Some(p) if !p.is_dir() => Err(VmError::Config(format!(
                    "NetnsLab {what} {} is not a directory",
                    p.display()
                ))),
                _ => Ok(()),
            }
        };
        dir("TFTP root", &self.tftp_root)?;
        dir("HTTP root", &self.http_root)?;
        if let Some(h) = &self.https {
            dir("HTTPS root", &Some(h.root.clone()))?;
            for (what, f) in [("certificate", &h.cert), ("key", &h.key)] {
                if !f.is_file() {
                    return Err(VmError::Config(format!(
                        "NetnsLab HTTPS {what} {} does not exist",
                        f.display()
                    )));
                }
            }
        }
        if self.pxe_boot_file.is_some() && self.tftp_root.is_none() {
            return Err(VmError::Config(
                "NetnsLab::pxe_boot_file needs NetnsLab::tftp_root".into(),
            ));
        }
        Ok(())
    }

    /// The `unshare` command that runs `setup_script` and then QEMU:
    /// program and arguments to put before QEMU's own.
    pub(crate) fn launcher(&self, setup_script: &Path) -> (PathBuf, Vec<String>) {
        if let Some(pid) = self.join_pid {
            let nsenter = find_program("nsenter").unwrap_or_else(|| "nsenter".into());
            let args = vec![
                format!("--net=/proc/{pid}/ns/net"),
                "--".into(),
                "/bin/sh".into(),
                setup_script.display().to_string(),
            ];
            return (nsenter, args);
        }
        let unshare = find_program("unshare").unwrap_or_else(|| "unshare".into());
        let args = [
            "--net",
            "--pid",
            "--fork",
            "--kill-child",
            "--mount-proc",
            "--",
            "/bin/sh",
        ]
        .into_iter()
        .map(String::from)
        .chain([setup_script.display().to_string()])
        .collect();
        (unshare, args)
    }

    /// The setup script for a machine directory `dir` whose lab NICs are
    /// `taps` (NIC indexes: tap `tapN` for NIC `N`). Its arguments are the
    /// QEMU command line, which it `exec`s at the end.
    pub fn setup_script(&self, dir: &Path, taps: &[usize]) -> String {
        if self.join_pid.is_some() {
            return self.join_script(taps);
        }
        let mut s = self.bridge_setup(taps);
        // dnsmasq daemonizes once its sockets are bound; option errors fail here.
        s += &self
            .dnsmasq_args(dir)
            .iter()
            .map(|a| sh(a))
            .collect::<Vec<_>>()
            .join(" ");
        s += "\n";
        s += &self.server_setup(dir);
        s += "say \"ready: br0 $(ip -brief addr show br0 | tr -s ' ')\"\n";
        s += "exec \"$@\"\n";
        s
    }

    /// The script of a lab that joins a running machine's segment: only
    /// its taps.
    fn join_script(&self, taps: &[usize]) -> String {
        let mut s = String::from(
            "#!/bin/sh\n\
             # metalos-vmtest: joins a running machine's network namespace (see\n\
             # rust/vmtest/src/netns.rs); its arguments are the QEMU command line.\n\
             set -eu\n",
        );
        s += &self.tap_lines(taps);
        s += "exec \"$@\"\n";
        s
    }

    /// Creates tap `<prefix>N` for each NIC `N` of `taps`, on the bridge.
    fn tap_lines(&self, taps: &[usize]) -> String {
        taps.iter()
            .map(|t| {
                let tap = self.tap_name(*t);
                format!("ip tuntap add dev {tap} mode tap\nip link set {tap} master br0 up\n")
            })
            .collect()
    }

    /// The script's header, the bridge with its addresses, and the taps.
    fn bridge_setup(&self, taps: &[usize]) -> String {
        let mut s = String::from(
            "#!/bin/sh\n\
             # metalos-vmtest: network-namespace setup (see rust/vmtest/src/netns.rs).\n\
             # Runs as PID 1 of new net/PID/mount namespaces; its arguments are\n\
             # the QEMU command line, exec'd at the end.\n\
             set -eu\n\
             say() { echo \"metalos-vmtest netns: $*\" >&2; }\n\
             ip link set lo up\n\
             ip link add br0 type bridge\n\
             ip link set br0 type bridge forward_delay 0\n",
        );
        s += &format!("ip addr add {SERVER}/24 dev br0\n");
        s += "ip addr add fd77:1::1/64 dev br0 nodad\n";
        for a in &self.addresses {
            s += &format!("ip addr add {} dev br0\n", sh(a));
        }
        s += "ip link set br0 up\n";
        s += &self.tap_lines(taps);
        s
    }

    /// dnsmasq's command line: router advertisements always, DHCP with
    /// the boot answers unless [`NetnsLab::no_dhcp`], TFTP if configured.
    fn dnsmasq_args(&self, dir: &Path) -> Vec<String> {
        let mut dnsmasq: Vec<String> = vec![
            "dnsmasq".into(),
            "--conf-file=/dev/null".into(),
            "--port=0".into(),
            "--user=root".into(),
            "--group=root".into(),
            "--interface=br0".into(),
            "--bind-interfaces".into(),
            format!("--pid-file={}", dir.join("dnsmasq.pid").display()),
            format!("--log-facility={}", dir.join("dnsmasq.log").display()),
            "--log-dhcp".into(),
            format!("--dhcp-leasefile={}", dir.join("dnsmasq.leases").display()),
            "--enable-ra".into(),
            "--dhcp-range=fd77:1::,ra-only,64,1h".into(),
        ];
        if !self.no_dhcp {
            dnsmasq.extend(self.dhcp_args());
        }
        if let Some(root) = &self.tftp_root {
            dnsmasq.extend([
                "--enable-tftp".into(),
                format!("--tftp-root={}", root.display()),
            ]);
        }
        dnsmasq
    }

    /// dnsmasq's DHCP options: the lease range, the router, and boot
    /// answers by client class (iPXE, firmware PXE, UEFI HTTP Boot).
    fn dhcp_args(&self) -> Vec<String> {
        let (first, last) = DHCP_RANGE;
        let mut a: Vec<String> = vec![
            "--dhcp-authoritative".into(),
            "--no-ping".into(),
            format!("--dhcp-range={first},{last},255.255.255.0,1h"),
            format!("--dhcp-option=option:router,{SERVER}"),
            "--dhcp-match=set:efi64,option:client-arch,7".into(),
            "--dhcp-match=set:efi64,option:client-arch,9".into(),
            "--dhcp-match=set:efihttp,option:client-arch,16".into(),
            "--dhcp-userclass=set:ipxe,iPXE".into(),
        ];
        if let Some(url) = &self.ipxe_script_url {
            a.push(format!("--dhcp-boot=tag:ipxe,{url}"));
        }
        if let Some(file) = &self.pxe_boot_file {
            a.push(format!("--dhcp-boot=tag:!ipxe,tag:efi64,{file},,{SERVER}"));
        }
        if let Some(url) = &self.http_boot_url {
            a.extend([
                "--dhcp-option-force=tag:efihttp,option:vendor-class,HTTPClient".into(),
                format!("--dhcp-boot=tag:!ipxe,tag:efihttp,{url}"),
            ]);
        }
        a
    }

    /// Starts the HTTP and HTTPS servers, if any, in the background.
    fn server_setup(&self, dir: &Path) -> String {
        let q = |p: &Path| sh(&p.display().to_string());
        let d = |name: &str| q(&dir.join(name));
        // A helper that died at once (port taken, bad certificate) fails the setup.
        let mut s = String::from(
            "check() { sleep 0.3; kill -0 \"$1\" 2>/dev/null || { say \"$2 exited at once:\"; cat \"$3\" >&2; exit 1; }; }\n",
        );
        if let Some(root) = &self.http_root {
            s += &format!(
                "{HTTPD_BUSYBOX} httpd -f -vv -p {SERVER}:80 -h {} >{} 2>&1 &\n",
                q(root),
                d("httpd.log")
            );
            s += &format!("check $! 'busybox httpd' {}\n", d("httpd.log"));
        }
        if let Some(h) = &self.https {
            s += &format!(
                "(cd {} && exec openssl s_server -WWW -accept {SERVER}:443 -cert {} -key {}) \
                 </dev/null >{} 2>&1 &\n",
                q(&h.root),
                q(&h.cert),
                q(&h.key),
                d("https.log")
            );
            s += &format!("check $! 'openssl s_server' {}\n", d("https.log"));
        }
        for (name, argv) in &self.daemons {
            let log = d(&format!("{name}.log"));
            let cmd: Vec<String> = argv.iter().map(|a| sh(a)).collect();
            s += &format!("{} </dev/null >{log} 2>&1 &\n", cmd.join(" "));
            s += &format!("check $! {} {log}\n", sh(name));
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn script_sets_up_the_segment_and_execs_qemu() {
        let lab = NetnsLab::new()
            .uefi_http_boot("http://10.77.1.1/imaging.efi")
            .ipxe_script("http://10.77.1.1/boot.ipxe")
            .http_dir("/srv/a b")
            .https_dir("/srv/s", "/c.pem", "/k.pem")
            .daemon("etcd", &["etcd", "--data-dir", "/tmp/e d"])
            .address("169.254.169.254/32");
        let s = lab.setup_script(Path::new("/logs/m"), &[0, 2]);
        for want in [
            "ip link set br0 type bridge forward_delay 0",
            "ip addr add 10.77.1.1/24 dev br0",
            "ip link set tap0 master br0 up",
            "ip link set tap2 master br0 up",
            "--conf-file=/dev/null --port=0",
            "--log-facility=/logs/m/dnsmasq.log",
            "--no-ping",
            "--enable-ra",
            "--dhcp-option-force=tag:efihttp,option:vendor-class,HTTPClient",
            "'--dhcp-boot=tag:!ipxe,tag:efihttp,http://10.77.1.1/imaging.efi'",
            "--dhcp-boot=tag:ipxe,http://10.77.1.1/boot.ipxe",
            "httpd -f -vv -p 10.77.1.1:80 -h '/srv/a b' >/logs/m/httpd.log",
            "(cd /srv/s && exec openssl s_server -WWW -accept 10.77.1.1:443 -cert /c.pem -key /k.pem)",
            "ip addr add 169.254.169.254/32 dev br0\n",
            "etcd --data-dir '/tmp/e d' </dev/null >/logs/m/etcd.log 2>&1 &\ncheck $! etcd /logs/m/etcd.log",
        ] {
            assert!(s.contains(want), "missing {want:?} in\n{s}");
        }
        assert!(!s.contains("tap1"), "{s}");
        assert!(s.ends_with("exec \"$@\"\n"), "{s}");
    }

    #[test]
    fn no_dhcp_keeps_router_advertisements_only() {
        let s = NetnsLab::new()
            .no_dhcp()
            .setup_script(Path::new("/d"), &[0]);
        assert!(s.contains("ra-only"), "{s}");
        assert!(!s.contains("10.77.1.100"), "{s}");
        assert!(!s.contains("httpd"), "{s}");
    }

    #[test]
    fn a_joining_lab_only_adds_its_taps() {
        let lab = NetnsLab::join(4242, "tapb");
        let s = lab.setup_script(Path::new("/d"), &[0]);
        assert!(
            s.contains("ip tuntap add dev tapb0 mode tap\nip link set tapb0 master br0 up\n"),
            "{s}"
        );
        assert!(
            !s.contains("dnsmasq") && !s.contains("br0 type bridge"),
            "{s}"
        );
        let (program, args) = lab.launcher(Path::new("/d/netns-setup.sh"));
        assert!(program.ends_with("nsenter"), "{program:?}");
        assert_eq!(args[0], "--net=/proc/4242/ns/net");
    }

    #[test]
    fn launcher_wraps_in_unshare() {
        let (_, args) = NetnsLab::new().launcher(Path::new("/d/netns-setup.sh"));
        assert_eq!(
            args.join(" "),
            "--net --pid --fork --kill-child --mount-proc -- /bin/sh /d/netns-setup.sh"
        );
    }

    #[test]
    fn missing_paths_are_named() {
        // Only meaningful as root (the root check comes first).
        // SAFETY: geteuid has no preconditions.
        if unsafe { libc::geteuid() } != 0 {
            let err = NetnsLab::new().validate().unwrap_err().to_string();
            assert!(err.contains("needs root"), "{err}");
            return;
        }
        let err = NetnsLab::new()
            .http_dir("/nonexistent/www")
            .validate()
            .unwrap_err()
            .to_string();
        assert!(err.contains("/nonexistent/www"), "{err}");
    }
}
