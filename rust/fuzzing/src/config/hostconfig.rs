//! HostConfig: what PID 1 does with `metalos/hostconfig.json`.

use super::structured::arbitrary_host_config;
use metalos_boot::emergency::{Action, Policy};
use metalos_config::hostconfig::HostConfig;
use std::time::Duration;

/// Bytes → HostConfig as `EspHandle::read_host_config` and metalimage
/// read it, then every pure use PID 1 makes of it.
pub fn hostconfig(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(h) = HostConfig::from_json(text) {
        use_host_config(&h);
    }
}

/// Arbitrary HostConfig values: whatever validates is usable and survives
/// serialise → parse unchanged.
pub fn hostconfig_structured(data: &[u8]) {
    let Some(h) = arbitrary_host_config(data) else {
        return;
    };
    if h.validate().is_ok() {
        use_host_config(&h);
    }
}

fn use_host_config(h: &HostConfig) {
    let mut policy = Policy {
        action: Action::Reboot,
        delay: Duration::from_secs(10),
    };
    policy.apply_host_config(h);
    let _ = h.primary_interface();
    let _ = h.kernel_cmdline_extra();
    for i in &h.network.interfaces {
        assert!(h.interface_for_mac(&i.mac.to_string()).is_some());
    }
    let _ = metalos_boot::metalinit::provision::network_settings("", Some(h));
    let _ = metalos_boot::metalimage::target::choose_target(&h.root_disk, &[]);
    if let Some(p) = &h.provisioning {
        let bytes = serde_json::to_vec(p).expect("a JSON value serialises");
        let _ = metalos_ignition::parse::parse(&bytes, Default::default());
    }
    let text = h.to_json_pretty();
    let again = HostConfig::from_json(&text)
        .unwrap_or_else(|e| panic!("a valid HostConfig does not re-parse: {e}\n{text}"));
    assert_eq!(&again, h, "HostConfig round trip changed the document");
}
