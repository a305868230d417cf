//! Fuzz targets for the documents MetalOS reads as configuration: the
//! HostConfig (PID 1 reads it from the ESP and over HTTP), the image spec
//! (TOML, `metalos build`) and Ignition configs (first boot).

mod hostconfig;
mod ignition;
mod seeds;
mod spec;
mod structured;

pub use hostconfig::{hostconfig, hostconfig_structured};
pub use ignition::{ignition, ignition_structured};
pub use seeds::seeds;
pub use spec::{spec, spec_structured};

use crate::target::Target;

/// The targets of this module.
pub const TARGETS: &[Target] = &[
    Target {
        name: "hostconfig",
        run: hostconfig,
        pid1: true,
        about: "HostConfig JSON → validation → boot policy, network settings, root-disk rule, provisioning config; re-serialised round trip",
        max_len: 8192,
    },
    Target {
        name: "spec",
        run: spec,
        pid1: false,
        about: "image spec TOML → validation → partition layout",
        max_len: 8192,
    },
    Target {
        name: "ignition",
        run: ignition,
        pid1: false,
        about: "Ignition config (3.0–3.5, 2.x) → validate → render data: resources → merge → plan",
        max_len: 16384,
    },
    Target {
        name: "spec_structured",
        run: spec_structured,
        pid1: false,
        about: "structure-aware (arbitrary) image spec: whatever validates lays out",
        max_len: 4096,
    },
    Target {
        name: "hostconfig_structured",
        run: hostconfig_structured,
        pid1: false,
        about: "structure-aware (arbitrary) HostConfig: whatever validates is used and round-trips",
        max_len: 4096,
    },
    Target {
        name: "ignition_structured",
        run: ignition_structured,
        pid1: false,
        about: "structure-aware (arbitrary) Ignition config: whatever validates applies into a scratch root",
        max_len: 4096,
    },
];

#[cfg(test)]
mod tests {
    use super::*;

    fn repo_file(rel: &str) -> Vec<u8> {
        std::fs::read(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("../..")
                .join(rel),
        )
        .unwrap()
    }

    #[test]
    fn real_documents_and_garbage_run_through_every_target() {
        let host = repo_file("images/host-config.example.json");
        assert!(metalos_config::hostconfig::HostConfig::from_json(
            std::str::from_utf8(&host).unwrap()
        )
        .is_ok());
        let spec_toml = repo_file("images/default.toml");
        let ign = br#"{"ignition":{"version":"3.4.0"},"storage":{"files":[{"path":"/etc/motd","contents":{"source":"data:,hi"}}]},"passwd":{"users":[{"name":"core"}]}}"#;
        for t in TARGETS {
            for input in [
                &host[..],
                &spec_toml[..],
                &ign[..],
                b"",
                b"{",
                &[0xff; 64][..],
                &[0x01; 700][..],
            ] {
                (t.run)(input);
            }
        }
    }
}
