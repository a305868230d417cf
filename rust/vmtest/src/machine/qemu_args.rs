//! QEMU's command line for a [`Machine`]: machine type and accelerator,
//! firmware or direct kernel boot, serial console, disks, NICs.

use super::state::Machine;
use crate::config::{Accel, Boot, DiskInterface};
use crate::quote::escape;
use std::path::Path;

/// The emulated CPU under TCG: QEMU's `qemu64` plus RDRAND, as every x86
/// server since 2012 has. The kernel trusts RDRAND to seed its random
/// number generator at boot (`CONFIG_RANDOM_TRUST_CPU`); without it (and
/// without an RNG device) the generator is seeded only after tens of
/// seconds under TCG, and until then `getrandom()` blocks (a TLS
/// handshake) or libuuid sleeps 125 ms per retry (`mkfs.btrfs` on first
/// boot: 6 s).
pub const TCG_CPU: &str = "qemu64,+rdrand";

/// How the serial console is connected.
pub(super) enum ConsoleMode<'a> {
    /// Harness sockets (console, optional agent, QMP).
    Sockets {
        console: &'a Path,
        agent: Option<&'a Path>,
        qmp: &'a Path,
    },
    /// `-serial mon:stdio -nographic`: the terminal is the console.
    Stdio,
}

impl Machine {
    /// The QEMU arguments for `mode`.
    pub(super) fn args(&self, mode: &ConsoleMode) -> Vec<String> {
        let mut a = self.machine_args();
        a.extend(self.boot_args());
        a.extend(console_args(mode));
        a.extend(self.disk_args());
        a.extend(self.nic_args());
        let c = &self.cfg;
        if c.boot_network {
            a.extend(["-boot".into(), "n".into()]);
        }
        if c.no_reboot {
            a.push("-no-reboot".into());
        }
        a.extend(c.extra_args.iter().cloned());
        a
    }

    /// Name, no defaults, machine type, accelerator, memory and CPUs.
    fn machine_args(&self) -> Vec<String> {
        let c = &self.cfg;
        let mut a: Vec<String> = vec![
            "-name".into(),
            format!("metalos-vmtest-{}", c.name),
            "-nodefaults".into(),
            "-no-user-config".into(),
            "-machine".into(),
            if c.secure_boot.is_some() {
                "q35,smm=on".into()
            } else {
                "q35".into()
            },
            "-accel".into(),
            match self.accel {
                Accel::Tcg => "tcg".into(),
                Accel::Kvm => "kvm".into(),
            },
            "-m".into(),
            c.memory_mib.to_string(),
            "-smp".into(),
            c.cpus.to_string(),
        ];
        match (&c.cpu_model, self.accel) {
            (Some(model), _) => a.extend(["-cpu".into(), model.clone()]),
            (None, Accel::Kvm) => a.extend(["-cpu".into(), "host".into()]),
            (None, Accel::Tcg) => a.extend(["-cpu".into(), TCG_CPU.into()]),
        }
        a
    }

    /// OVMF's code and variable store flash, or the direct kernel boot.
    fn boot_args(&self) -> Vec<String> {
        let mut a = Vec::new();
        match &self.cfg.boot {
            Boot::Uefi => {
                let vars = self.vars.as_ref().expect("UEFI machines have VARS");
                let code = match &self.cfg.secure_boot {
                    Some(_) => {
                        a.push("-global".into());
                        a.push("driver=cfi.pflash01,property=secure,value=on".into());
                        crate::paths::secure_boot_code(&self.tools)
                            .unwrap_or_else(|_| self.tools.ovmf_code.clone())
                    }
                    None => self.tools.ovmf_code.clone(),
                };
                a.push("-drive".into());
                a.push(format!(
                    "if=pflash,format=raw,unit=0,readonly=on,file={}",
                    escape(&code.display().to_string())
                ));
                a.push("-drive".into());
                a.push(format!(
                    "if=pflash,format=raw,unit=1,file={}",
                    escape(&vars.display().to_string())
                ));
            }
            Boot::Kernel {
                kernel,
                initrd,
                append,
            } => {
                a.extend(["-kernel".into(), kernel.display().to_string()]);
                if let Some(i) = initrd {
                    a.extend(["-initrd".into(), i.display().to_string()]);
                }
                a.extend(["-append".into(), append.clone()]);
            }
        }
        a
    }

    /// A drive and a device per disk.
    fn disk_args(&self) -> Vec<String> {
        let mut a = Vec::new();
        for (i, (d, (file, format))) in self.cfg.disks.iter().zip(&self.disk_files).enumerate() {
            a.push("-drive".into());
            a.push(format!(
                "if=none,id=disk{i},file={},format={format},cache=writeback,discard=unmap",
                escape(&file.display().to_string())
            ));
            let mut dev = match d.interface {
                DiskInterface::VirtioBlk => format!("virtio-blk-pci,drive=disk{i}"),
                DiskInterface::Nvme => format!("nvme,drive=disk{i},serial=metalos{i}"),
            };
            if let Some(b) = d.block_size {
                dev += &format!(",logical_block_size={b},physical_block_size={b}");
            }
            if let Some(b) = d.bootindex {
                dev += &format!(",bootindex={b}");
            }
            a.extend(["-device".into(), dev]);
        }
        a
    }

    /// A netdev, a device and optionally a traffic dump per NIC.
    fn nic_args(&self) -> Vec<String> {
        let mut a = Vec::new();
        for (i, n) in self.cfg.nics.iter().enumerate() {
            let netdev = n.netdev(i).expect("validated in build()");
            a.extend(["-netdev".into(), netdev]);
            let mut dev = format!("virtio-net-pci,netdev=net{i}");
            if let Some(m) = &n.mac {
                dev += &format!(",mac={m}");
            }
            if let Some(rom) = &n.romfile {
                dev += &format!(",romfile={}", escape(rom));
            }
            if let Some(b) = n.bootindex {
                dev += &format!(",bootindex={b}");
            }
            a.extend(["-device".into(), dev]);
            if n.capture {
                let pcap = self.dir.join(format!("net{i}.pcap"));
                a.push("-object".into());
                a.push(format!(
                    "filter-dump,id=dump{i},netdev=net{i},file={}",
                    escape(&pcap.display().to_string())
                ));
            }
        }
        a
    }
}

/// The serial console (and agent port and QMP) for `mode`.
fn console_args(mode: &ConsoleMode) -> Vec<String> {
    let mut a: Vec<String> = Vec::new();
    match mode {
        ConsoleMode::Sockets {
            console,
            agent,
            qmp,
        } => {
            a.extend(["-display".into(), "none".into()]);
            let mut chardev = |id: &str, path: &Path| {
                a.push("-chardev".into());
                a.push(format!(
                    "socket,id={id},path={}",
                    escape(&path.display().to_string())
                ));
            };
            chardev("con0", console);
            if let Some(agent) = agent {
                chardev("agent0", agent);
            }
            chardev("qmp0", qmp);
            a.extend(["-serial".into(), "chardev:con0".into()]);
            if agent.is_some() {
                a.extend(["-serial".into(), "chardev:agent0".into()]);
            }
            a.extend(["-mon".into(), "chardev=qmp0,mode=control".into()]);
        }
        ConsoleMode::Stdio => {
            a.extend(["-nographic".into(), "-serial".into(), "mon:stdio".into()]);
        }
    }
    a
}
