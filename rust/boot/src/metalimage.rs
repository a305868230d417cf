//! `metalimage`, PID 1 of the imaging initrd (network boot), stage by
//! stage. Brings up the boot NIC (`ip=` from iPXE, else DHCP), fetches
//! the MAC's HostConfig and the disk image over HTTP(S), writes and
//! verifies the disk with its partition tables committed last, stores the
//! HostConfig on the new ESP, then kexecs USR-A's payload exactly as
//! metalos-bootloader would ([`crate::slotboot`]). What the kernel command
//! line asks for is [`metalos_contract::cmdline::ImagingArgs`].
//!
//! * [`signed`]: the signed netboot manifest vouching for the image and
//!   the HostConfig;
//! * [`target`]: which disk receives the image;
//! * [`stream`]: the image streamed onto the disk with progress, read back.

pub mod signed;
pub mod stream;
pub mod target;

use crate::emergency::Policy;
use crate::{modules, slotboot, sys};
use anyhow::{bail, Context, Result};
use metalos_config::HostConfig;
use metalos_contract::cmdline::ImagingArgs;
use metalos_contract::netboot::{MANIFEST_FILE, SIGNATURE_FILE};
use metalos_contract::paths::InitrdPath;
use metalos_disk::blockdev::{self, Disk};
use metalos_disk::esp_partition::{EspHandle, FIRST_BOOT_FLAG, HOST_CONFIG};
use metalos_disk::gpt::Gpt;
use metalos_disk::slots;
use metalos_net::http::{expand_url, HttpClient, HttpOptions};
use metalos_net::setup::NetworkState;
use std::fs::File;
use std::path::Path;
use std::time::Duration;

/// The program name on the console.
pub const PROG: &str = "metalimage";
/// The CA bundle the imaging initrd carries (images/imaging-initrd.toml).
const CA_BUNDLE: &str = "/etc/ssl/certs/ca-certificates.crt";

/// The HostConfig as fetched (stored on the ESP byte for byte) and parsed.
struct FetchedHostConfig {
    bytes: Vec<u8>,
    config: HostConfig,
}

/// metalimage's `run` for [`crate::emergency::pid1_main`]: returns only on
/// failure (success is a kexec).
pub fn run(cmdline: &str, policy: &mut Policy) -> Result<()> {
    sys::mount_api_filesystems().context("mounting /proc, /sys, /dev, /run")?;
    sys::say(PROG, "started");
    // Checked before anything is touched: without them there is nothing to do.
    let params = ImagingArgs::parse(cmdline)?;
    modules::load_all().context("loading the initrd's kernel modules")?;
    let net = bring_up_network(cmdline)?;
    let client = http_client(&params)?;
    // With a key in the initrd: the signed manifest must vouch for the
    // image and (below) the HostConfig before the disk is touched.
    let signed = signed_manifest(&client, &params)?;
    let host_config = fetch_host_config(&client, &params, &net, signed.as_ref(), policy)?;
    let (disk, file) = open_target(&host_config.config, &params)?;
    let esp = write_disk(&client, &params, &disk, &file, &host_config.bytes)?;
    let size = metalos_disk::device::size(&file)?;
    let (mut gpt, _) = Gpt::read(&file, size).context("reading the new GPT")?;
    let (slot, changed) = slots::choose_slot(&mut gpt)?;
    if changed {
        slots::write_synced(&gpt, &file).context("recording the boot attempt")?;
    }
    let first_boot = esp.exists(FIRST_BOOT_FLAG);
    slotboot::boot_slot(
        PROG,
        &disk,
        &gpt,
        &slot,
        Some(&host_config.config),
        first_boot,
        cmdline,
    )
}

/// The boot NIC configured from the command line (`ip=`, else DHCP).
fn bring_up_network(cmdline: &str) -> Result<NetworkState> {
    let net = metalos_net::cmdline::parse(cmdline)
        .context("network settings on the kernel command line")?;
    let state = metalos_net::setup::configure(&net, &Default::default())
        .context("bringing up the network")?;
    sys::say(
        PROG,
        &format!(
            "network: {} ({}) {}/{}{} via {}, DNS {:?}",
            state.nic.name,
            state.nic.mac,
            state.address,
            state.prefix_len,
            state
                .gateway
                .map(|g| format!(" gateway {g}"))
                .unwrap_or_default(),
            if state.lease.is_some() { "DHCP" } else { "ip=" },
            state.dns_servers
        ),
    );
    Ok(state)
}

/// The HTTP(S) client, trusting the initrd's CA bundle; says so when HTTPS
/// will wait for the kernel's random number generator.
fn http_client(params: &ImagingArgs) -> Result<HttpClient> {
    let https = [&params.host_config_url, &params.image_url]
        .iter()
        .any(|u| u.starts_with("https://"));
    if https && !sys::kernel_rng_ready() {
        // TLS blocks in getrandom(2) until the kernel RNG is seeded: say so
        // rather than sit silent (a machine with RDRAND or an RNG device
        // is seeded within a second).
        sys::say(
            PROG,
            "waiting for the kernel's random number generator (HTTPS needs it)",
        );
    }
    Ok(HttpClient::new(HttpOptions {
        ca_bundle: Path::new(CA_BUNDLE).exists().then(|| CA_BUNDLE.into()),
        ..Default::default()
    })?)
}

/// Fetches and verifies `<base>/manifest.json(.sig)` when the initrd has
/// `/etc/metalos/signing.pub`, and checks the command line's image against
/// it; without the key says `unverified` once and returns `None`.
fn signed_manifest(
    client: &HttpClient,
    params: &ImagingArgs,
) -> Result<Option<signed::SignedManifest>> {
    let key_path = Path::new(InitrdPath::SIGNING_KEY.as_str());
    if !key_path.exists() {
        sys::say(
            PROG,
            "unverified: this imaging initrd has no signing key (built without --keys);              the image and HostConfig are checked only against the command line",
        );
        return Ok(None);
    }
    let key = metalos_signing::VerifyingKey::load(key_path)?;
    let base = signed::base_url(&params.image_url)?;
    let fetch = |name: &str| {
        let url = format!("{base}/{name}");
        client.get_bytes(&url, 4 << 20).with_context(|| {
            format!(
                "fetching {url} (the bundle must be signed: key {})",
                key.fingerprint()
            )
        })
    };
    let manifest = fetch(MANIFEST_FILE)?;
    let sig = fetch(SIGNATURE_FILE)?;
    let m = signed::verify_manifest(&key, base, &manifest, &sig)?;
    m.check_params(params)?;
    sys::say(
        PROG,
        &format!(
            "{base}/{}: signature verified (key {}); the image is the signed one",
            MANIFEST_FILE,
            key.fingerprint()
        ),
    );
    Ok(Some(m))
}

/// The boot NIC's HostConfig, checked against the signed manifest when
/// there is one; its emergency policy applies from here on.
fn fetch_host_config(
    client: &HttpClient,
    params: &ImagingArgs,
    net: &NetworkState,
    signed: Option<&signed::SignedManifest>,
    policy: &mut Policy,
) -> Result<FetchedHostConfig> {
    let url = expand_url(&params.host_config_url, net.nic.mac);
    let bytes = client
        .get_bytes(&url, 1 << 20)
        .context("fetching the HostConfig")?;
    if let Some(m) = signed {
        m.check_file(&url, &bytes)
            .context("the HostConfig is not the signed one")?;
        sys::say(
            PROG,
            &format!("HostConfig {url}: sha256 matches the signed manifest"),
        );
    }
    let text =
        std::str::from_utf8(&bytes).with_context(|| format!("HostConfig {url} is not UTF-8"))?;
    let config =
        HostConfig::from_json(text).with_context(|| format!("HostConfig {url} is invalid"))?;
    policy.apply_host_config(&config);
    sys::say(
        PROG,
        &format!("HostConfig {url}: host {}", config.identity.hostname),
    );
    Ok(FetchedHostConfig { bytes, config })
}

/// The disk the HostConfig's root-disk rule names, open for writing.
fn open_target(host_config: &HostConfig, params: &ImagingArgs) -> Result<(Disk, File)> {
    if blockdev::wait_for_disks(Duration::from_secs(10)).is_empty() {
        bail!("no disks found after loading the storage drivers");
    }
    let disk = target::choose_target(&host_config.root_disk, &target::candidates())?;
    sys::say(
        PROG,
        &format!("imaging {} from {}", disk.dev.display(), params.image_url),
    );
    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(&disk.dev)
        .with_context(|| format!("opening {}", disk.dev.display()))?;
    Ok((disk, file))
}

/// Streams the image onto `disk`, stores `host_config` on its ESP, then
/// commits the partition tables and has the kernel re-read them.
fn write_disk(
    client: &HttpClient,
    params: &ImagingArgs,
    disk: &Disk,
    file: &File,
    host_config: &[u8],
) -> Result<EspHandle> {
    let (_, body) = client
        .get_reader(&params.image_url)
        .context("fetching the disk image")?;
    let (staged, stats) = stream::write_image(PROG, file, body, params)?;
    let gpt = staged.table()?;
    let esp = EspHandle::find(disk, &gpt).context("the image has no ESP")?;
    esp.write(HOST_CONFIG, host_config)
        .context("writing the HostConfig onto the ESP")?;
    staged
        .commit(file)
        .context("writing the partition tables")?;
    let secs = (stats.write_time + stats.verify_time)
        .as_secs_f64()
        .max(0.001);
    sys::say(
        PROG,
        &format!(
            "imaged {} in {secs:.1} s ({:.1} MiB/s; {} MiB received): partition tables written",
            disk.dev.display(),
            params.image_size as f64 / secs / 1048576.0,
            stats.compressed >> 20
        ),
    );
    blockdev::reread_partitions(file).context("re-reading the new partition table")?;
    Ok(esp)
}

#[cfg(test)]
mod tests;
