//! First-boot provisioning in metalinit: gather the Ignition configs, bring
//! the network up only if a resource needs it, apply everything to the
//! mounted sysroot (two-phase, journalled: a failure leaves the root as it
//! was), and record what ran in `/var/lib/metalos/provisioning.json`.
//!
//! Sources, merged in Ignition's order (later wins):
//! 1. base configs shipped in the image,
//!    `/usr/lib/metalos/provisioning/base.d/*.ign`, in file-name order;
//! 2. the OEM partition's `base/*.ign` (`oem:///base/…`), in file-name order;
//! 3. the platform's base configs,
//!    `/usr/lib/metalos/provisioning/base.platform.d/<platform>/*.ign`,
//!    where `<platform>` is the machine's [`platform`] (docs/platforms.md);
//! 4. the user config: `ignition.config.url=` (or `metalos.config_url=`)
//!    on the kernel command line, else the OEM partition's `config.ign`,
//!    else the config or URL staged by `metalos reset
//!    --provisioning-file/--config-url` on the state subvolume, else the
//!    platform provider's (qemu fw_cfg, OpenStack config drive or metadata
//!    service, EC2 user data; `metalos_platform`), else the HostConfig's
//!    `provisioning` object. An empty user config is ignored, as Ignition
//!    does.
//!
//! `provisioning.json` records the platform and what gave it.

use crate::sys;
use anyhow::{Context, Result};
use metalos_config::hostconfig::HostConfig;
use metalos_disk::oem::OemContents;
use metalos_ignition::apply::{self, ApplyOptions, Input};
use metalos_ignition::config::Resource;
use metalos_ignition::resource::{fetch, HttpFetcher, HttpPolicy};
use metalos_net::cmdline::{IpConfig, NetCmdline, StaticConfig};
use metalos_platform::fetch::FetchContext;
use metalos_platform::id::{Platform, PlatformId};
use std::net::IpAddr;
use std::path::Path;
use std::sync::Arc;

const PROG: &str = "metalinit";
/// Base configs inside the sysroot (on the read-only /usr slot).
pub const BASE_DIR: &str = "usr/lib/metalos/provisioning/base.d";
/// Per-platform base configs inside the sysroot: `<platform>/*.ign` below.
pub const BASE_PLATFORM_DIR: &str = "usr/lib/metalos/provisioning/base.platform.d";
/// How configs read from the OEM partition are named (Flatcar's `oem://`).
const OEM_SCHEME: &str = "oem:///";
/// The provisioning record inside the sysroot.
pub const RECORD: &str = "var/lib/metalos/provisioning.json";
/// The CA bundle the setup initrd carries.
const CA_BUNDLE: &str = "/etc/ssl/certs/ca-certificates.crt";

/// Whether `metalos.first_boot=VALUE` asks for provisioning (set, and not
/// empty, `0`, `no` or `off`).
pub fn first_boot_requested(cmdline: &str) -> bool {
    sys::cmdline_value(cmdline, "metalos.first_boot")
        .is_some_and(|v| !matches!(v, "" | "0" | "no" | "off"))
}

/// The user config URL on the command line, if any.
pub fn config_url(cmdline: &str) -> Option<&str> {
    sys::cmdline_value(cmdline, "ignition.config.url")
        .or_else(|| sys::cmdline_value(cmdline, "metalos.config_url"))
        .filter(|u| !u.is_empty())
}

/// Network settings for provisioning: the HostConfig's primary (or first)
/// interface with a static IPv4 address, else the command line's (DHCP
/// unless `ip=` says otherwise).
pub fn network_settings(cmdline: &str, host: Option<&HostConfig>) -> Result<NetCmdline> {
    let mut net = metalos_net::cmdline::parse(cmdline)
        .context("network settings on the kernel command line")?;
    let Some(h) = host else { return Ok(net) };
    let mut ifaces: Vec<_> = h.network.interfaces.iter().collect();
    ifaces.sort_by_key(|i| !i.primary);
    for iface in ifaces {
        let Some((addr, prefix)) = iface.addresses.iter().find_map(|c| match c.addr {
            IpAddr::V4(a) => Some((a, c.prefix)),
            IpAddr::V6(_) => None,
        }) else {
            continue;
        };
        let dns: Vec<_> = h
            .network
            .dns
            .iter()
            .filter_map(|d| match d {
                IpAddr::V4(a) => Some(*a),
                IpAddr::V6(_) => None,
            })
            .collect();
        net.boot_mac = Some(iface.mac.to_string().parse().context("HostConfig MAC")?);
        net.ip = Some(IpConfig::Static(StaticConfig {
            address: addr,
            prefix_len: prefix,
            gateway: match iface.gateway {
                Some(IpAddr::V4(g)) => Some(g),
                _ => None,
            },
            hostname: None,
            interface: None,
            dns_servers: dns.clone(),
        }));
        net.dns_servers = dns;
        break;
    }
    Ok(net)
}

/// Brings the network up at most once.
struct Network<'a> {
    cmdline: &'a str,
    host: Option<&'a HostConfig>,
    up: bool,
}

impl Network<'_> {
    fn ensure(&mut self) -> Result<()> {
        if self.up {
            return Ok(());
        }
        let net = network_settings(self.cmdline, self.host)?;
        let state = metalos_net::setup::configure(&net, &Default::default())
            .context("bringing up the network for provisioning")?;
        sys::say(
            PROG,
            &format!(
                "provisioning network: {} ({}) {}/{}",
                state.nic.name, state.nic.mac, state.address, state.prefix_len
            ),
        );
        self.up = true;
        Ok(())
    }
}

/// `*.ign` in `sysroot/rel` (none when the directory is missing), in
/// file-name order, each named `/rel/NAME`.
fn ign_files(sysroot: &Path, rel: &str) -> Result<Vec<Input>> {
    let dir = sysroot.join(rel);
    let mut names: Vec<_> = match std::fs::read_dir(&dir) {
        Ok(rd) => rd
            .filter_map(|e| e.ok())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n.ends_with(".ign"))
            .collect(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
        Err(e) => return Err(e).with_context(|| format!("reading {}", dir.display())),
    };
    names.sort();
    names
        .into_iter()
        .map(|n| {
            let path = dir.join(&n);
            Ok(Input {
                name: format!("/{rel}/{n}"),
                bytes: std::fs::read(&path)
                    .with_context(|| format!("reading {}", path.display()))?,
            })
        })
        .collect()
}

/// The machine's platform (docs/platforms.md): `metalos.oem.id=` (which
/// metalos-bootloader writes from the OEM partition or the HostConfig),
/// `flatcar.oem.id=`, `coreos.oem.id=`, `ignition.platform.id=`, else the
/// OEM partition's id, else `qemu` when DMI says so, else `metal`. An
/// unknown id is an error naming it and the known ids.
pub fn platform(cmdline: &str, oem: Option<&OemContents>) -> Result<PlatformId> {
    let image_id = oem.and_then(|o| o.release.as_ref()).map(|r| r.id.as_str());
    metalos_platform::id::platform_id(cmdline, image_id, &metalos_platform::id::dmi_from_sysfs)
        .map_err(|e| anyhow::anyhow!("{e}"))
}

/// `base.platform.d/<platform>/*.ign` of the image, in file-name order.
pub fn platform_base_configs(sysroot: &Path, platform: &str) -> Result<Vec<Input>> {
    ign_files(sysroot, &format!("{BASE_PLATFORM_DIR}/{platform}"))
}

/// The base configs in merge order: the image's `base.d`, the OEM
/// partition's `base/*.ign`, then the image's configs for `platform`.
pub fn base_inputs(
    sysroot: &Path,
    oem: Option<&OemContents>,
    platform: Option<&str>,
) -> Result<Vec<Input>> {
    let mut inputs = ign_files(sysroot, BASE_DIR)?;
    for f in oem.map(|o| o.base_configs.as_slice()).unwrap_or_default() {
        inputs.push(Input {
            name: format!("{OEM_SCHEME}{}", f.path),
            bytes: f.bytes.clone(),
        });
    }
    if let Some(p) = platform {
        inputs.extend(platform_base_configs(sysroot, p)?);
    }
    Ok(inputs)
}

fn fetcher() -> Result<Arc<HttpFetcher>> {
    let ca = Path::new(CA_BUNDLE).exists().then(|| CA_BUNDLE.into());
    let resolver = Some(metalos_net::dns::Resolver::from_defaults());
    Ok(Arc::new(
        HttpFetcher::new(ca, resolver).context("setting up HTTP")?,
    ))
}

/// Where the user config comes from.
#[derive(Debug)]
pub enum UserSource {
    /// Fetched from this URL.
    Url(String),
    /// These bytes.
    Config(Input),
}

/// The user config's first sources, in order: the command line's URL, the
/// OEM partition's `config.ign`, the config staged by `metalos reset
/// --provisioning-file`, the URL staged by `--config-url`. After them come
/// the platform provider and the HostConfig's `provisioning` object
/// ([`run`]).
pub fn user_source(
    cmdline: &str,
    sysroot: &Path,
    oem: Option<&OemContents>,
) -> Result<Option<UserSource>> {
    use metalos_reset::layout::{CONFIG_URL, USER_CONFIG};
    if let Some(url) = config_url(cmdline) {
        return Ok(Some(UserSource::Url(url.to_string())));
    }
    if let Some(f) = oem.and_then(|o| o.user_config.as_ref()) {
        return Ok(Some(UserSource::Config(Input {
            name: format!("{OEM_SCHEME}{}", f.path),
            bytes: f.bytes.clone(),
        })));
    }
    let staged = sysroot.join(USER_CONFIG);
    match std::fs::read(&staged) {
        Ok(bytes) => {
            let name = format!("/{USER_CONFIG}");
            return Ok(Some(UserSource::Config(Input { name, bytes })));
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e).with_context(|| format!("reading {}", staged.display())),
    }
    if let Ok(url) = std::fs::read_to_string(sysroot.join(CONFIG_URL)) {
        if !url.trim().is_empty() {
            return Ok(Some(UserSource::Url(url.trim().to_string())));
        }
    }
    Ok(None)
}

/// Runs first-boot provisioning against `sysroot`, with what the OEM
/// partition holds (`None`: no OEM partition, or a blank one).
pub fn run(
    cmdline: &str,
    host: Option<&HostConfig>,
    sysroot: &Path,
    oem: Option<&OemContents>,
) -> Result<()> {
    let mut network = Network {
        cmdline,
        host,
        up: false,
    };
    let platform = platform(cmdline, oem)?;
    sys::say(
        PROG,
        &format!(
            "platform: {} ({})",
            platform.platform.name(),
            platform.source
        ),
    );
    let mut inputs = base_inputs(sysroot, oem, Some(platform.platform.name()))?;
    let user = match user_source(cmdline, sysroot, oem)? {
        Some(UserSource::Url(url)) => Some(fetch_user_config(&url, &mut network)?),
        Some(UserSource::Config(input)) => Some(input),
        None => match provider_config(cmdline, platform.platform, &mut network)? {
            Some(input) => Some(input),
            None => host_provisioning(host)?,
        },
    };
    let user_provided = match user {
        Some(u) if metalos_ignition::parse::is_empty(&u.bytes) => {
            sys::say(
                PROG,
                &format!("provisioning: the user config {} is empty, ignored", u.name),
            );
            false
        }
        Some(u) => {
            inputs.push(u);
            true
        }
        None => false,
    };
    if inputs.is_empty() {
        sys::say(
            PROG,
            "provisioning: no Ignition config (no base config, no user config)",
        );
        return write_record(sysroot, &[], user_provided, &platform);
    }
    let mut options = ApplyOptions::default();
    let names: Vec<&str> = inputs.iter().map(|i| i.name.as_str()).collect();
    sys::say(PROG, &format!("provisioning from {}", names.join(", ")));
    let parsed = apply::parse_inputs(&inputs, &options).map_err(explain)?;
    if apply::needs_network(&parsed) {
        network.ensure()?;
    }
    options.fetcher = Some(fetcher()?);
    let prepared = apply::prepare(&inputs, parsed, &options).map_err(explain)?;
    for w in &prepared.warnings {
        sys::say(PROG, &format!("provisioning warning: {w}"));
    }
    let ops = apply::plan(sysroot, &prepared, &options).map_err(explain)?;
    apply::write(sysroot, &ops, &options).map_err(explain)?;
    sys::say(
        PROG,
        &format!("provisioning applied: {} change(s)", ops.len()),
    );
    write_record(sysroot, &prepared.sources, user_provided, &platform)
}

/// The kernel argument bounding the provider fetch, in seconds (default
/// [`metalos_platform::fetch::FETCH_TIMEOUT`]).
pub const PROVIDER_TIMEOUT_ARG: &str = "metalos.platform_timeout";

/// The provider fetch's bound: `metalos.platform_timeout=SECONDS`, else the
/// platform crate's default.
pub fn provider_timeout(cmdline: &str) -> Result<std::time::Duration> {
    match sys::cmdline_value(cmdline, PROVIDER_TIMEOUT_ARG) {
        None => Ok(metalos_platform::fetch::FETCH_TIMEOUT),
        Some(v) => v
            .parse::<u64>()
            .ok()
            .filter(|s| *s > 0)
            .map(std::time::Duration::from_secs)
            .with_context(|| {
                format!("{PROVIDER_TIMEOUT_ARG}={v}: not a positive number of seconds")
            }),
    }
}

/// The platform provider's user config (`None`: the provider has none),
/// with the network up first when the provider needs it.
fn provider_config(
    cmdline: &str,
    platform: Platform,
    network: &mut Network,
) -> Result<Option<Input>> {
    if platform == Platform::Metal {
        return Ok(None);
    }
    let timeout = provider_timeout(cmdline)?;
    if metalos_platform::providers::needs_network(platform) {
        network.ensure()?;
    }
    let mut ctx = FetchContext::new().map_err(|e| anyhow::anyhow!("{e}"))?;
    ctx.deadline = Some(std::time::Instant::now() + timeout);
    let found = metalos_platform::providers::user_config(platform, &ctx)
        .map_err(|e| anyhow::anyhow!("the {} provider's user config: {e}", platform.name()))?;
    Ok(found.map(|c| {
        sys::say(
            PROG,
            &format!(
                "user config from the {} provider: {}",
                platform.name(),
                c.source
            ),
        );
        Input {
            name: c.source,
            bytes: c.data,
        }
    }))
}

/// The HostConfig's `provisioning` object, the last user config source.
fn host_provisioning(host: Option<&HostConfig>) -> Result<Option<Input>> {
    Ok(match host.and_then(|h| h.provisioning.as_ref()) {
        Some(v) => Some(Input {
            name: "HostConfig provisioning".into(),
            bytes: serde_json::to_vec(v)?,
        }),
        None => None,
    })
}

/// Fetches the user config at `url`, bringing the network up unless it is
/// a `data:` URL.
fn fetch_user_config(url: &str, network: &mut Network) -> Result<Input> {
    if !url.starts_with("data:") {
        network.ensure()?;
    }
    let res = Resource {
        source: Some(url.to_string()),
        ..Default::default()
    };
    // Made after the network is up: the resolver takes its servers then.
    let fetcher = fetcher()?;
    let bytes = fetch(
        &res,
        "ignition.config.url",
        Some(fetcher.as_ref()),
        &HttpPolicy::default(),
    )
    .context("fetching the user config")?;
    Ok(Input {
        name: url.to_string(),
        bytes,
    })
}

/// Turns a provisioning error into one message listing every finding.
fn explain(e: metalos_ignition::Error) -> anyhow::Error {
    anyhow::anyhow!("provisioning failed (nothing was changed): {e}")
}

fn write_record(
    sysroot: &Path,
    sources: &[metalos_ignition::render::SourceRecord],
    user_provided: bool,
    platform: &PlatformId,
) -> Result<()> {
    let boot_id = std::fs::read_to_string("/proc/sys/kernel/random/boot_id").unwrap_or_default();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let path = sysroot.join(RECORD);
    let previous = std::fs::read(&path)
        .ok()
        .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok());
    let mut record = serde_json::json!({
        "result": "success",
        "provisioningBootID": boot_id.trim(),
        "provisioningTime": now,
        "userConfigProvided": user_provided,
        "platform": platform.platform.name(),
        "platformSource": platform.source.to_string(),
        "sources": sources.iter().map(|s| serde_json::json!({"source": s.source, "sha512": s.sha512})).collect::<Vec<_>>(),
    });
    if let Some(p) = previous {
        record["previousReport"] = p;
    }
    let tmp = path.with_extension("json.tmp");
    let mut text = serde_json::to_vec_pretty(&record)?;
    text.push(b'\n');
    std::fs::write(&tmp, &text).with_context(|| format!("writing {}", tmp.display()))?;
    std::fs::File::open(&tmp)?.sync_all()?;
    std::fs::rename(&tmp, &path).with_context(|| format!("writing {}", path.display()))?;
    // SAFETY: plain syscall.
    unsafe { libc::sync() };
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_boot_values() {
        assert!(first_boot_requested("metalos.first_boot=detected"));
        assert!(first_boot_requested("metalos.first_boot=1"));
        for v in ["", "0", "no", "off"] {
            assert!(
                !first_boot_requested(&format!("metalos.first_boot={v}")),
                "{v}"
            );
        }
        assert!(!first_boot_requested("quiet"));
    }

    #[test]
    fn provider_timeout_from_the_command_line() {
        assert_eq!(
            provider_timeout("quiet").unwrap(),
            metalos_platform::fetch::FETCH_TIMEOUT
        );
        assert_eq!(
            provider_timeout("metalos.platform_timeout=20").unwrap(),
            std::time::Duration::from_secs(20)
        );
        for bad in ["0", "x", "-1"] {
            let e = provider_timeout(&format!("metalos.platform_timeout={bad}")).unwrap_err();
            assert!(e.to_string().contains("metalos.platform_timeout"), "{e}");
        }
    }

    #[test]
    fn user_source_order() {
        use metalos_reset::layout::{CONFIG_URL, USER_CONFIG};
        let t = tempfile::tempdir().unwrap();
        let r = t.path();
        let name = |s: Option<UserSource>| match s {
            Some(UserSource::Url(u)) => format!("url {u}"),
            Some(UserSource::Config(i)) => format!("config {}", i.name),
            None => "none".into(),
        };
        assert_eq!(name(user_source("quiet", r, None).unwrap()), "none");
        std::fs::create_dir_all(r.join(CONFIG_URL).parent().unwrap()).unwrap();
        std::fs::write(r.join(CONFIG_URL), "http://staged/u.ign\n").unwrap();
        assert_eq!(
            name(user_source("quiet", r, None).unwrap()),
            "url http://staged/u.ign"
        );
        std::fs::write(r.join(USER_CONFIG), "{}").unwrap();
        assert_eq!(
            name(user_source("quiet", r, None).unwrap()),
            "config /var/lib/metalos/provisioning/user.ign"
        );
        assert_eq!(
            name(user_source("ignition.config.url=http://cmd", r, None).unwrap()),
            "url http://cmd"
        );
    }

    #[test]
    fn config_url_aliases() {
        assert_eq!(
            config_url("ignition.config.url=http://a/b.ign"),
            Some("http://a/b.ign")
        );
        assert_eq!(config_url("metalos.config_url=http://c"), Some("http://c"));
        assert_eq!(config_url("ignition.config.url="), None);
    }
}

#[cfg(test)]
#[path = "provision_oem_tests.rs"]
mod oem_tests;
