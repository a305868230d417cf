//! Structure-aware inputs: the config types built by `arbitrary` from the
//! fuzzer's bytes, with the few fields that gate everything else (schema
//! version, seed, machine id) nudged towards valid values so that most
//! executions get past the first check.

use arbitrary::{Arbitrary, Unstructured};
use metalos_config::hostconfig::{HostConfig, HOST_CONFIG_VERSION};
use metalos_config::spec::ImageSpec;
use metalos_ignition::config::Config;

/// The Ignition versions the parser accepts (3.x; 2.x is translated).
const IGNITION_VERSIONS: &[&str] = &["3.0.0", "3.1.0", "3.2.0", "3.3.0", "3.4.0", "3.5.0"];

/// A HostConfig from `data`, `None` when the bytes run out.
pub fn arbitrary_host_config(data: &[u8]) -> Option<HostConfig> {
    let mut u = Unstructured::new(data);
    let mut h = HostConfig::arbitrary(&mut u).ok()?;
    if u.arbitrary::<bool>().unwrap_or(true) {
        h.version = HOST_CONFIG_VERSION;
    }
    if u.arbitrary::<bool>().unwrap_or(true) {
        let id: [u8; 16] = u.arbitrary().unwrap_or([1; 16]);
        h.identity.machine_id = id.iter().map(|b| format!("{b:02x}")).collect();
    }
    if u.arbitrary::<bool>().unwrap_or(true) {
        h.identity.hostname = format!("host-{}", u.arbitrary::<u16>().unwrap_or(0));
    }
    Some(h)
}

/// An image spec from `data`, `None` when the bytes run out.
pub fn arbitrary_spec(data: &[u8]) -> Option<ImageSpec> {
    let mut u = Unstructured::new(data);
    let mut s = ImageSpec::arbitrary(&mut u).ok()?;
    if u.arbitrary::<bool>().unwrap_or(true) {
        let seed: [u8; 16] = u.arbitrary().unwrap_or([7; 16]);
        s.disk.seed = uuid::Uuid::from_bytes(seed).to_string();
    }
    if u.arbitrary::<bool>().unwrap_or(true) {
        s.disk.sector_size = if u.arbitrary().unwrap_or(false) {
            4096
        } else {
            512
        };
    }
    Some(s)
}

/// An Ignition config from `data` with a supported version, `None` when
/// the bytes run out.
pub fn arbitrary_ignition(data: &[u8]) -> Option<Config> {
    let mut u = Unstructured::new(data);
    let mut c = Config::arbitrary(&mut u).ok()?;
    c.ignition.version = Some(u.choose(IGNITION_VERSIONS).ok()?.to_string());
    Some(c)
}
