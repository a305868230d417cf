//! [`MachineBuilder`]: describes a machine; [`MachineBuilder::build`]
//! checks the description and prepares the machine directory.

use super::spec::Spec;
use super::state::Machine;
use crate::config::{Accel, Boot, Disk, Nic};
use crate::error::{Result, VmError};
use crate::netns::NetnsLab;
use crate::paths::{logs_root, sanitize, Tools};
use crate::stream::Stream;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Builds a [`Machine`].
#[derive(Debug, Clone)]
pub struct MachineBuilder {
    spec: Spec,
}

impl Machine {
    /// A builder for a machine of test `test` (names the log directory).
    /// Defaults: UEFI boot, 512 MiB, 1 CPU, no disks, no network, no agent.
    pub fn builder(test: &str) -> MachineBuilder {
        MachineBuilder {
            spec: Spec::new(test),
        }
    }
}

impl MachineBuilder {
    /// Machine called `machine` (default `machine`; names its log directory).
    pub fn name(mut self, machine: &str) -> Self {
        self.spec.name = machine.to_string();
        self
    }

    /// Boots `kernel` directly with `initrd` and command line `append`.
    pub fn kernel(mut self, kernel: &Path, initrd: Option<&Path>, append: &str) -> Self {
        self.spec.boot = Boot::Kernel {
            kernel: kernel.to_path_buf(),
            initrd: initrd.map(Path::to_path_buf),
            append: append.to_string(),
        };
        self
    }

    /// Boots through OVMF (the default).
    pub fn uefi(mut self) -> Self {
        self.spec.boot = Boot::Uefi;
        self
    }

    /// Boots through OVMF with Secure Boot: the Secure Boot firmware
    /// ([`crate::paths::secure_boot_code`]), SMM on, and the private
    /// variable store copied from `vars` (which enrols PK/KEK/db and turns
    /// Secure Boot on; e.g. made with `virt-fw-vars --secure-boot`).
    pub fn secure_boot(mut self, vars: &Path) -> Self {
        self.spec.boot = Boot::Uefi;
        self.spec.secure_boot = Some(vars.to_path_buf());
        self
    }

    /// Guest memory in MiB (default 512).
    pub fn memory_mib(mut self, mib: u32) -> Self {
        self.spec.memory_mib = mib;
        self
    }

    /// Virtual CPUs (default 1).
    pub fn cpus(mut self, n: u32) -> Self {
        self.spec.cpus = n;
        self
    }

    /// The CPU model (`-cpu`). Default: [`TCG_CPU`](super::TCG_CPU) under
    /// TCG, `host` under KVM. Pass `qemu64` for a CPU without RDRAND,
    /// whose kernel has no trusted entropy at boot.
    pub fn cpu_model(mut self, model: &str) -> Self {
        self.spec.cpu_model = Some(model.to_string());
        self
    }

    /// Attaches a disk (`/dev/vda`, `/dev/vdb`, … in order for virtio-blk).
    pub fn disk(mut self, disk: Disk) -> Self {
        self.spec.disks.push(disk);
        self
    }

    /// Adds a NIC on its own restricted user network.
    pub fn nic(mut self, nic: Nic) -> Self {
        self.spec.nics.push(nic);
        self
    }

    /// Makes the firmware boot from the network first (`-boot n`).
    pub fn boot_network(mut self) -> Self {
        self.spec.boot_network = true;
        self
    }

    /// Connects the command agent's serial port (`ttyS1`); the guest must
    /// start the agent (see [`crate::agent`], [`crate::guest::GuestInitrd::agent`]).
    pub fn agent(mut self) -> Self {
        self.spec.agent = true;
        self
    }

    /// Also copies the console to stderr as it arrives.
    pub fn echo_console(mut self, echo: bool) -> Self {
        self.spec.echo_console = echo;
        self
    }

    /// Makes QEMU exit instead of rebooting the guest (`-no-reboot`).
    pub fn no_reboot(mut self) -> Self {
        self.spec.no_reboot = true;
        self
    }

    /// Appends raw QEMU arguments.
    pub fn qemu_args<I: IntoIterator<Item = S>, S: Into<String>>(mut self, args: I) -> Self {
        self.spec
            .extra_args
            .extend(args.into_iter().map(Into::into));
        self
    }

    /// Uses these programs and firmware instead of looking them up.
    pub fn tools(mut self, tools: Tools) -> Self {
        self.spec.tools = Some(tools);
        self
    }

    /// Uses `dir` as the machine directory instead of `<logs>/<test>/<machine>`.
    pub fn dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.spec.dir = Some(dir.into());
        self
    }

    /// Overrides the accelerator (default: [`Accel::from_env`]).
    pub fn accel(mut self, accel: Accel) -> Self {
        self.spec.accel = Some(accel);
        self
    }

    /// Default timeout of [`Machine::run`] (default 120 s).
    pub fn command_timeout(mut self, timeout: Duration) -> Self {
        self.spec.command_timeout = timeout;
        self
    }

    /// Validates the description, (re)creates the machine directory, copies
    /// the OVMF variable store and creates disk overlays. Does not start QEMU.
    pub fn build(self) -> Result<Machine> {
        let tools = match &self.spec.tools {
            Some(t) => t.clone(),
            None => {
                let manifest = crate::paths::load_inputs().ok();
                Tools::find(manifest.as_ref())?
            }
        };
        let accel = match self.spec.accel {
            Some(a) => a,
            None => Accel::from_env()?,
        };
        let lab = self.validate()?;
        let dir = self.empty_dir()?;
        let vars = self.copy_vars(&tools, &dir)?;
        let disk_files = self.attach_disks(&dir)?;
        let netns_script = match &lab {
            Some(lab) => Some(self.write_netns_script(lab, &dir)?),
            None => None,
        };
        let console = Stream::new(&dir.join("console.log"));
        let agent = Stream::new(&dir.join("agent.log"));
        Ok(Machine {
            netns_script,
            cfg: self.spec,
            tools,
            accel,
            dir,
            vars,
            disk_files,
            console,
            console_cursor: 0,
            agent,
            agent_cursor: 0,
            agent_ready: false,
            agent_seq: 0,
            boots: 0,
            running: None,
            last_exit: None,
        })
    }

    /// Checks disks, NICs, the lab and the kernel files; returns the lab.
    fn validate(&self) -> Result<Option<NetnsLab>> {
        for d in &self.spec.disks {
            d.validate()?;
        }
        for (i, n) in self.spec.nics.iter().enumerate() {
            n.validate_mac()?;
            n.netdev(i)?;
        }
        let lab = self.lab()?;
        if let Some(lab) = &lab {
            lab.validate()?;
        }
        if let Boot::Kernel { kernel, initrd, .. } = &self.spec.boot {
            for p in std::iter::once(kernel).chain(initrd) {
                if !p.is_file() {
                    return Err(VmError::Config(format!("{} does not exist", p.display())));
                }
            }
        }
        Ok(lab)
    }

    /// The one lab of the machine's [`NetnsLab`] NICs, if any.
    fn lab(&self) -> Result<Option<NetnsLab>> {
        let mut labs = self.spec.nics.iter().filter_map(|n| n.netns.as_ref());
        let first = labs.next();
        if labs.any(|l| Some(l) != first) {
            return Err(VmError::Config(
                "the NetnsLab NICs of a machine share one namespace: give them the same NetnsLab"
                    .into(),
            ));
        }
        Ok(first.cloned())
    }

    /// The machine directory, created empty.
    fn empty_dir(&self) -> Result<PathBuf> {
        let spec = &self.spec;
        let dir = spec.dir.clone().unwrap_or_else(|| {
            logs_root()
                .join(sanitize(&spec.test))
                .join(sanitize(&spec.name))
        });
        if dir.exists() {
            std::fs::remove_dir_all(&dir)
                .map_err(VmError::io(format!("emptying {}", dir.display())))?;
        }
        std::fs::create_dir_all(&dir)
            .map_err(VmError::io(format!("creating {}", dir.display())))?;
        Ok(dir)
    }

    /// The private OVMF variable store in `dir` (UEFI machines), copied
    /// from OVMF's template or the Secure Boot store.
    fn copy_vars(&self, tools: &Tools, dir: &Path) -> Result<Option<PathBuf>> {
        if self.spec.boot != Boot::Uefi {
            return Ok(None);
        }
        tools.check_ovmf()?;
        let template = match &self.spec.secure_boot {
            Some(v) => {
                crate::paths::secure_boot_code(tools)?;
                v.clone()
            }
            None => tools.ovmf_vars.clone(),
        };
        let vars = dir.join("OVMF_VARS.fd");
        std::fs::copy(&template, &vars).map_err(VmError::io(format!(
            "copying {} to {}",
            template.display(),
            vars.display()
        )))?;
        Ok(Some(vars))
    }

    /// The file and format QEMU uses for each disk: a new qcow2 overlay in
    /// `dir`, or the raw image itself.
    fn attach_disks(&self, dir: &Path) -> Result<Vec<(PathBuf, &'static str)>> {
        let mut disk_files = Vec::new();
        for (i, d) in self.spec.disks.iter().enumerate() {
            if d.overlay {
                let ov = dir.join(format!("disk{i}.qcow2"));
                crate::qcow2::create_overlay(&d.path, &ov, d.size).map_err(VmError::io(
                    format!(
                        "creating overlay {} over {}",
                        ov.display(),
                        d.path.display()
                    ),
                ))?;
                disk_files.push((ov, "qcow2"));
            } else {
                disk_files.push((d.path.clone(), "raw"));
            }
        }
        Ok(disk_files)
    }

    /// Writes `netns-setup.sh` for the machine's lab NICs into `dir`.
    fn write_netns_script(&self, lab: &NetnsLab, dir: &Path) -> Result<PathBuf> {
        let taps: Vec<usize> = (self.spec.nics.iter().enumerate())
            .filter(|(_, n)| n.netns.is_some())
            .map(|(i, _)| i)
            .collect();
        let path = dir.join("netns-setup.sh");
        std::fs::write(&path, lab.setup_script(dir, &taps))
            .map_err(VmError::io(format!("writing {}", path.display())))?;
        Ok(path)
    }
}
