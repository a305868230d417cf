//! `metalimage`: PID 1 of the imaging initrd (network boot). Brings up the
//! boot NIC (`ip=` from iPXE, else DHCP), fetches the MAC's HostConfig and
//! the disk image over HTTP(S), writes and verifies the disk with its
//! partition tables committed last, stores the HostConfig on the new ESP,
//! then kexecs USR-A's payload exactly as metalos-bootloader would.
//! Stray argv (iPXE passes the image name) is ignored.

use anyhow::{bail, Context, Result};
use metalos_boot::emergency::{pid1_main, Policy};
use metalos_boot::esp::{EspHandle, FIRST_BOOT_FLAG};
use metalos_boot::imaging::{self, signed};
use metalos_boot::{blockdev, modules, slotboot, slots, sys};
use metalos_config::HostConfig;
use metalos_contract::cmdline::ImagingArgs;
use metalos_contract::netboot::{MANIFEST_FILE, SIGNATURE_FILE};
use metalos_contract::paths::InitrdPath;
use metalos_net::http::{expand_url, HttpClient, HttpOptions};
use std::path::Path;
use std::time::Duration;

const PROG: &str = "metalimage";
/// The CA bundle the imaging initrd carries (images/imaging-initrd.toml).
const CA_BUNDLE: &str = "/etc/ssl/certs/ca-certificates.crt";
/// Where the HostConfig goes on the new ESP.
const HOST_CONFIG: &str = metalos_contract::paths::EspPath::HOST_CONFIG.as_str();

fn main() {
    pid1_main(PROG, run);
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

fn run(cmdline: &str, policy: &mut Policy) -> Result<()> {
    sys::mount_api_filesystems().context("mounting /proc, /sys, /dev, /run")?;
    sys::say(PROG, "started");
    // Checked before anything is touched: without them there is nothing to do.
    let params = ImagingArgs::parse(cmdline)?;
    modules::load_all().context("loading the initrd's kernel modules")?;

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
    let client = HttpClient::new(HttpOptions {
        ca_bundle: Path::new(CA_BUNDLE).exists().then(|| CA_BUNDLE.into()),
        ..Default::default()
    })?;

    // With a key in the initrd: the signed manifest must vouch for the
    // image and (below) the HostConfig before the disk is touched.
    let signed = signed_manifest(&client, &params)?;

    let url = expand_url(&params.host_config_url, state.nic.mac);
    let bytes = client
        .get_bytes(&url, 1 << 20)
        .context("fetching the HostConfig")?;
    if let Some(m) = &signed {
        m.check_file(&url, &bytes)
            .context("the HostConfig is not the signed one")?;
        sys::say(
            PROG,
            &format!("HostConfig {url}: sha256 matches the signed manifest"),
        );
    }
    let text =
        std::str::from_utf8(&bytes).with_context(|| format!("HostConfig {url} is not UTF-8"))?;
    let host_config =
        HostConfig::from_json(text).with_context(|| format!("HostConfig {url} is invalid"))?;
    policy.apply_host_config(&host_config);
    sys::say(
        PROG,
        &format!("HostConfig {url}: host {}", host_config.identity.hostname),
    );

    if blockdev::wait_for_disks(Duration::from_secs(10)).is_empty() {
        bail!("no disks found after loading the storage drivers");
    }
    let disk = imaging::choose_target(&host_config.root_disk, &imaging::candidates())?;
    sys::say(
        PROG,
        &format!("imaging {} from {}", disk.dev.display(), params.image_url),
    );
    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(&disk.dev)
        .with_context(|| format!("opening {}", disk.dev.display()))?;
    let (_, body) = client
        .get_reader(&params.image_url)
        .context("fetching the disk image")?;
    let (staged, stats) = imaging::write_image(PROG, &file, body, &params)?;

    let gpt = staged.table()?;
    let esp = EspHandle::find(&disk, &gpt).context("the image has no ESP")?;
    esp.write(HOST_CONFIG, &bytes)
        .context("writing the HostConfig onto the ESP")?;
    staged
        .commit(&file)
        .context("writing the partition tables")?;
    let secs = stats.elapsed.as_secs_f64().max(0.001);
    sys::say(
        PROG,
        &format!(
            "imaged {} in {secs:.1} s ({:.1} MiB/s; {} MiB received): partition tables written",
            disk.dev.display(),
            params.image_size as f64 / secs / 1048576.0,
            stats.compressed >> 20
        ),
    );
    blockdev::reread_partitions(&file).context("re-reading the new partition table")?;

    let size = blockdev::device_size(&file)?;
    let (mut gpt, _) = metalos_disk::gpt::Gpt::read(&file, size).context("reading the new GPT")?;
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
        Some(&host_config),
        first_boot,
        cmdline,
    )
}
