//! [`Spec`]: the description of a machine that
//! [`MachineBuilder`](super::MachineBuilder) records and a
//! [`Machine`](super::Machine) keeps for every boot.

use crate::config::{Accel, Boot, Disk, Nic};
use crate::paths::Tools;
use std::path::PathBuf;
use std::time::Duration;

/// What the machine is made of and how it is run (see the builder's
/// methods of the same names).
#[derive(Debug, Clone)]
pub(super) struct Spec {
    pub(super) test: String,
    pub(super) name: String,
    pub(super) boot: Boot,
    pub(super) memory_mib: u32,
    pub(super) cpus: u32,
    pub(super) cpu_model: Option<String>,
    pub(super) disks: Vec<Disk>,
    pub(super) nics: Vec<Nic>,
    pub(super) boot_network: bool,
    pub(super) agent: bool,
    pub(super) echo_console: bool,
    pub(super) no_reboot: bool,
    pub(super) extra_args: Vec<String>,
    pub(super) tools: Option<Tools>,
    pub(super) dir: Option<PathBuf>,
    pub(super) accel: Option<Accel>,
    pub(super) command_timeout: Duration,
    pub(super) secure_boot: Option<PathBuf>,
}

impl Spec {
    /// A machine of test `test`: UEFI boot, 512 MiB, 1 CPU, no disks, no
    /// network, no agent.
    pub(super) fn new(test: &str) -> Spec {
        Spec {
            test: test.to_string(),
            name: "machine".to_string(),
            boot: Boot::Uefi,
            memory_mib: 512,
            cpus: 1,
            cpu_model: None,
            disks: vec![],
            nics: vec![],
            boot_network: false,
            agent: false,
            echo_console: false,
            no_reboot: false,
            extra_args: vec![],
            tools: None,
            dir: None,
            accel: None,
            command_timeout: Duration::from_secs(120),
            secure_boot: None,
        }
    }

    /// The lab of the machine's [`NetnsLab`](crate::NetnsLab) NICs, if any
    /// (the first; [`MachineBuilder::build`](super::MachineBuilder::build)
    /// checks that they all name the same one).
    pub(super) fn first_lab(&self) -> Option<&crate::netns::NetnsLab> {
        self.nics.iter().find_map(|n| n.netns.as_ref())
    }
}
