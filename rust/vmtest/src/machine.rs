//! [`Machine`]: one QEMU virtual machine and the operations a test performs
//! on it. Built with [`MachineBuilder`] (from [`Machine::builder`]).
//!
//! # Channels
//!
//! The harness creates Unix sockets in a private temp directory and QEMU
//! connects to them as a client at startup, so nothing races:
//!
//! * `console.sock` — the first serial port (`ttyS0`, also OVMF's console).
//!   A thread appends everything to `console.log` and an in-memory buffer.
//! * `agent.sock` — the second serial port (`ttyS1`), for the command agent
//!   (see [`crate::agent`]), when enabled; logged to `agent.log`.
//! * `qmp.sock` — QMP, for `quit` and the ACPI power button.
//!
//! # Files
//!
//! Everything a machine writes is in its directory
//! `<logs>/<test>/<machine>/` (see [`crate::paths`]), emptied when the
//! machine is built: `console.log` (every boot, with a separator line per
//! boot), `qemu.log` (QEMU's command line and its stdout/stderr),
//! `agent.log`, `OVMF_VARS.fd` (the private variable store) and
//! `disk<N>.qcow2` overlays; with NICs on a [`NetnsLab`] also
//! `netns-setup.sh` and the lab's server logs (see [`crate::netns`]).
//!
//! # Lifetime
//!
//! QEMU is killed when the [`Machine`] is dropped (also while unwinding from
//! a panic), and — through `PR_SET_PDEATHSIG` — when the thread that started
//! it exits, so it never outlives the test. Start a machine from the thread
//! that owns it. While QEMU runs the machine holds one slot of the global
//! VM limit ([`crate::slots`]).

use crate::agent;
use crate::config::{escape, Accel, Boot, Disk, DiskInterface, Nic};
use crate::error::{describe_status, ConsoleContext, Result, VmError, TAIL_LINES};
use crate::netns::NetnsLab;
use crate::paths::{logs_root, sanitize, Tools};
use crate::qmp::Qmp;
use crate::slots::{self, Slot};
use crate::stream::{Stream, Wait};
use regex::bytes::Regex;
use std::fs::File;
use std::io::Write;
use std::os::unix::net::{UnixListener, UnixStream};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Capture groups of a console match as strings: index 0 is the whole
/// match, groups that did not participate are empty strings.
pub type Captures = Vec<String>;

/// How long QEMU may take to connect to the harness's sockets.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(60);

/// Builds a [`Machine`].
#[derive(Debug, Clone)]
pub struct MachineBuilder {
    test: String,
    name: String,
    boot: Boot,
    memory_mib: u32,
    cpus: u32,
    cpu_model: Option<String>,
    disks: Vec<Disk>,
    nics: Vec<Nic>,
    boot_network: bool,
    agent: bool,
    echo_console: bool,
    no_reboot: bool,
    extra_args: Vec<String>,
    tools: Option<Tools>,
    dir: Option<PathBuf>,
    accel: Option<Accel>,
    command_timeout: Duration,
    secure_boot: Option<PathBuf>,
}

impl MachineBuilder {
    /// Machine called `machine` (default `machine`; names its log directory).
    pub fn name(mut self, machine: &str) -> Self {
        self.name = machine.to_string();
        self
    }

    /// Boots `kernel` directly with `initrd` and command line `append`.
    pub fn kernel(mut self, kernel: &Path, initrd: Option<&Path>, append: &str) -> Self {
        self.boot = Boot::Kernel {
            kernel: kernel.to_path_buf(),
            initrd: initrd.map(Path::to_path_buf),
            append: append.to_string(),
        };
        self
    }

    /// Boots through OVMF (the default).
    pub fn uefi(mut self) -> Self {
        self.boot = Boot::Uefi;
        self
    }

    /// Boots through OVMF with Secure Boot: the Secure Boot firmware
    /// ([`crate::paths::secure_boot_code`]), SMM on, and the private
    /// variable store copied from `vars` (which enrols PK/KEK/db and turns
    /// Secure Boot on; e.g. made with `virt-fw-vars --secure-boot`).
    pub fn secure_boot(mut self, vars: &Path) -> Self {
        self.boot = Boot::Uefi;
        self.secure_boot = Some(vars.to_path_buf());
        self
    }

    /// Guest memory in MiB (default 512).
    pub fn memory_mib(mut self, mib: u32) -> Self {
        self.memory_mib = mib;
        self
    }

    /// Virtual CPUs (default 1).
    pub fn cpus(mut self, n: u32) -> Self {
        self.cpus = n;
        self
    }

    /// The CPU model (`-cpu`; default: QEMU's `qemu64` under TCG, `host`
    /// under KVM). `max` gives the guest RDRAND, which the kernel trusts
    /// to seed its random number generator at boot: without it (and
    /// without an RNG device) `getrandom()` can block for minutes under
    /// TCG, e.g. in a TLS handshake or a DHCP client that uses the `rand`
    /// crate.
    pub fn cpu_model(mut self, model: &str) -> Self {
        self.cpu_model = Some(model.to_string());
        self
    }

    /// Attaches a disk (`/dev/vda`, `/dev/vdb`, … in order for virtio-blk).
    pub fn disk(mut self, disk: Disk) -> Self {
        self.disks.push(disk);
        self
    }

    /// Adds a NIC on its own restricted user network.
    pub fn nic(mut self, nic: Nic) -> Self {
        self.nics.push(nic);
        self
    }

    /// Makes the firmware boot from the network first (`-boot n`).
    pub fn boot_network(mut self) -> Self {
        self.boot_network = true;
        self
    }

    /// Connects the command agent's serial port (`ttyS1`); the guest must
    /// start the agent (see [`crate::agent`], [`crate::guest::GuestInitrd::agent`]).
    pub fn agent(mut self) -> Self {
        self.agent = true;
        self
    }

    /// Also copies the console to stderr as it arrives.
    pub fn echo_console(mut self, echo: bool) -> Self {
        self.echo_console = echo;
        self
    }

    /// Makes QEMU exit instead of rebooting the guest (`-no-reboot`).
    pub fn no_reboot(mut self) -> Self {
        self.no_reboot = true;
        self
    }

    /// Appends raw QEMU arguments.
    pub fn qemu_args<I: IntoIterator<Item = S>, S: Into<String>>(mut self, args: I) -> Self {
        self.extra_args.extend(args.into_iter().map(Into::into));
        self
    }

    /// Uses these programs and firmware instead of looking them up.
    pub fn tools(mut self, tools: Tools) -> Self {
        self.tools = Some(tools);
        self
    }

    /// Uses `dir` as the machine directory instead of `<logs>/<test>/<machine>`.
    pub fn dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.dir = Some(dir.into());
        self
    }

    /// Overrides the accelerator (default: [`Accel::from_env`]).
    pub fn accel(mut self, accel: Accel) -> Self {
        self.accel = Some(accel);
        self
    }

    /// Default timeout of [`Machine::run`] (default 120 s).
    pub fn command_timeout(mut self, timeout: Duration) -> Self {
        self.command_timeout = timeout;
        self
    }

    /// Validates the description, (re)creates the machine directory, copies
    /// the OVMF variable store and creates disk overlays. Does not start QEMU.
    pub fn build(self) -> Result<Machine> {
        let tools = match &self.tools {
            Some(t) => t.clone(),
            None => {
                let manifest = crate::paths::load_inputs().ok();
                Tools::find(manifest.as_ref())?
            }
        };
        let accel = match self.accel {
            Some(a) => a,
            None => Accel::from_env()?,
        };
        for d in &self.disks {
            d.validate()?;
        }
        for (i, n) in self.nics.iter().enumerate() {
            n.validate_mac()?;
            n.netdev(i)?;
        }
        let lab = self.lab()?;
        if let Some(lab) = &lab {
            lab.validate()?;
        }
        if let Boot::Kernel { kernel, initrd, .. } = &self.boot {
            for p in std::iter::once(kernel).chain(initrd) {
                if !p.is_file() {
                    return Err(VmError::Config(format!("{} does not exist", p.display())));
                }
            }
        }
        let dir = self.dir.clone().unwrap_or_else(|| {
            logs_root()
                .join(sanitize(&self.test))
                .join(sanitize(&self.name))
        });
        if dir.exists() {
            std::fs::remove_dir_all(&dir)
                .map_err(VmError::io(format!("emptying {}", dir.display())))?;
        }
        std::fs::create_dir_all(&dir)
            .map_err(VmError::io(format!("creating {}", dir.display())))?;
        let vars = if self.boot == Boot::Uefi {
            tools.check_ovmf()?;
            let template = match &self.secure_boot {
                Some(v) => {
                    crate::paths::secure_boot_code(&tools)?;
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
            Some(vars)
        } else {
            None
        };
        let mut disk_files = Vec::new();
        for (i, d) in self.disks.iter().enumerate() {
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
        let netns_script = match &lab {
            Some(lab) => {
                let taps: Vec<usize> = (self.nics.iter().enumerate())
                    .filter(|(_, n)| n.netns.is_some())
                    .map(|(i, _)| i)
                    .collect();
                let path = dir.join("netns-setup.sh");
                std::fs::write(&path, lab.setup_script(&dir, &taps))
                    .map_err(VmError::io(format!("writing {}", path.display())))?;
                Some(path)
            }
            None => None,
        };
        let console = Stream::new(&dir.join("console.log"));
        let agent = Stream::new(&dir.join("agent.log"));
        Ok(Machine {
            netns_script,
            cfg: self,
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
}

impl MachineBuilder {
    /// The one lab of the machine's [`NetnsLab`] NICs, if any.
    fn lab(&self) -> Result<Option<NetnsLab>> {
        let mut labs = self.nics.iter().filter_map(|n| n.netns.as_ref());
        let first = labs.next();
        if labs.any(|l| Some(l) != first) {
            return Err(VmError::Config(
                "the NetnsLab NICs of a machine share one namespace: give them the same NetnsLab"
                    .into(),
            ));
        }
        Ok(first.cloned())
    }
}

/// How the serial console is connected.
enum ConsoleMode<'a> {
    /// Harness sockets (console, optional agent, QMP).
    Sockets {
        console: &'a Path,
        agent: Option<&'a Path>,
        qmp: &'a Path,
    },
    /// `-serial mon:stdio -nographic`: the terminal is the console.
    Stdio,
}

/// A running QEMU process and its connections.
struct Running {
    child: Child,
    _slot: Slot,
    _sockdir: tempfile::TempDir,
    console_in: UnixStream,
    agent_in: Option<UnixStream>,
    qmp: Qmp,
    threads: Vec<JoinHandle<()>>,
}

/// A QEMU virtual machine (see the module docs).
pub struct Machine {
    cfg: MachineBuilder,
    tools: Tools,
    accel: Accel,
    dir: PathBuf,
    vars: Option<PathBuf>,
    disk_files: Vec<(PathBuf, &'static str)>,
    /// The namespace setup script, when NICs are on a [`NetnsLab`].
    netns_script: Option<PathBuf>,
    console: Stream,
    console_cursor: usize,
    agent: Stream,
    agent_cursor: usize,
    agent_ready: bool,
    agent_seq: u64,
    boots: u32,
    running: Option<Running>,
    last_exit: Option<ExitStatus>,
}

impl std::fmt::Debug for Machine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Machine")
            .field("name", &self.cfg.name)
            .field("dir", &self.dir)
            .field("running", &self.running.is_some())
            .finish()
    }
}

impl Machine {
    /// A builder for a machine of test `test` (names the log directory).
    /// Defaults: UEFI boot, 512 MiB, 1 CPU, no disks, no network, no agent.
    pub fn builder(test: &str) -> MachineBuilder {
        MachineBuilder {
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

    /// The machine's name.
    pub fn name(&self) -> &str {
        &self.cfg.name
    }

    /// The machine directory (logs, VARS copy, overlays).
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The console log (all boots).
    pub fn console_log(&self) -> PathBuf {
        self.console.log_path().to_path_buf()
    }

    /// QEMU's log (command lines, stdout/stderr).
    pub fn qemu_log(&self) -> PathBuf {
        self.dir.join("qemu.log")
    }

    /// The files QEMU uses as disks (overlays or the images themselves), in order.
    pub fn disk_files(&self) -> Vec<PathBuf> {
        self.disk_files.iter().map(|d| d.0.clone()).collect()
    }

    /// The private OVMF variable store (UEFI machines).
    pub fn vars_file(&self) -> Option<&Path> {
        self.vars.as_deref()
    }

    /// The pid of the process QEMU was started as (QEMU itself, or the
    /// namespace launcher of a [`NetnsLab`] machine, whose network
    /// namespace other machines can join: [`NetnsLab::join`]).
    pub fn launcher_pid(&self) -> Option<u32> {
        self.running.as_ref().map(|r| r.child.id())
    }

    /// Whether QEMU is running.
    pub fn is_running(&self) -> bool {
        self.running.is_some()
    }

    /// Everything the console printed so far (all boots).
    pub fn console_text(&self) -> String {
        self.console.text()
    }

    /// The console tail and log paths, as errors carry them.
    pub fn context(&self) -> ConsoleContext {
        ConsoleContext {
            tail: self.console.tail(TAIL_LINES),
            console_log: self.console_log(),
            qemu_log: self.qemu_log(),
        }
    }

    fn qemu_error(&self, message: impl Into<String>) -> VmError {
        VmError::Qemu {
            machine: self.cfg.name.clone(),
            message: message.into(),
            context: Box::new(self.context()),
        }
    }

    /// The QEMU arguments for `mode`.
    fn args(&self, mode: &ConsoleMode) -> Vec<String> {
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
            (None, Accel::Tcg) => {}
        }
        match &c.boot {
            Boot::Uefi => {
                let vars = self.vars.as_ref().expect("UEFI machines have VARS");
                let code = match &c.secure_boot {
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
        for (i, (d, (file, format))) in c.disks.iter().zip(&self.disk_files).enumerate() {
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
        for (i, n) in c.nics.iter().enumerate() {
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
        if c.boot_network {
            a.extend(["-boot".into(), "n".into()]);
        }
        if c.no_reboot {
            a.push("-no-reboot".into());
        }
        a.extend(c.extra_args.iter().cloned());
        a
    }

    /// The program to run and its arguments: QEMU, or with a [`NetnsLab`]
    /// `unshare … netns-setup.sh` followed by QEMU's command line.
    fn launch(&self, args: &[String]) -> (PathBuf, Vec<String>) {
        let lab = self.cfg.nics.iter().find_map(|n| n.netns.as_ref());
        match (&self.netns_script, lab) {
            (Some(script), Some(lab)) => {
                let (program, mut a) = lab.launcher(script);
                a.push(self.tools.qemu.display().to_string());
                a.extend(args.iter().cloned());
                (program, a)
            }
            _ => (self.tools.qemu.clone(), args.to_vec()),
        }
    }

    fn command(&self, args: &[String]) -> Command {
        let (program, args) = self.launch(args);
        let mut cmd = Command::new(program);
        cmd.args(args);
        let parent = std::process::id();
        // SAFETY: only async-signal-safe calls between fork and exec.
        unsafe {
            cmd.pre_exec(move || {
                if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL as libc::c_ulong) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                // The parent may have died before prctl took effect.
                if libc::getppid() as u32 != parent {
                    libc::_exit(1);
                }
                Ok(())
            });
        }
        cmd
    }

    fn log_command(&self, args: &[String]) -> Result<File> {
        let path = self.qemu_log();
        let mut log = File::options()
            .create(true)
            .append(true)
            .open(&path)
            .map_err(VmError::io(format!("opening {}", path.display())))?;
        let (program, args) = self.launch(args);
        let line = std::iter::once(program.display().to_string())
            .chain(args.iter().map(|a| shell_quote(a)))
            .collect::<Vec<_>>()
            .join(" ");
        writeln!(log, "=== boot {}: {line}", self.boots + 1)
            .map_err(VmError::io(format!("writing {}", path.display())))?;
        Ok(log)
    }

    /// Starts QEMU (waiting for a free slot of the global VM limit first).
    /// Disks, overlays and the VARS store are those of previous boots.
    pub fn start(&mut self) -> Result<()> {
        if self.running.is_some() {
            return Err(VmError::AlreadyRunning {
                machine: self.cfg.name.clone(),
            });
        }
        let name = self.cfg.name.clone();
        let slot = slots::acquire(&mut |n| {
            eprintln!("metalos-vmtest: {name}: waiting for one of {n} VM slots (METALOS_VM_JOBS)")
        })?;
        let sockdir = tempfile::Builder::new()
            .prefix("metalos-vm-")
            .tempdir()
            .map_err(VmError::io("creating a socket directory"))?;
        let bind = |name: &str| -> Result<(PathBuf, UnixListener)> {
            let p = sockdir.path().join(name);
            let l =
                UnixListener::bind(&p).map_err(VmError::io(format!("binding {}", p.display())))?;
            l.set_nonblocking(true)
                .map_err(VmError::io(format!("configuring {}", p.display())))?;
            Ok((p, l))
        };
        let (con_path, con_l) = bind("console.sock")?;
        let agent = if self.cfg.agent {
            Some(bind("agent.sock")?)
        } else {
            None
        };
        let (qmp_path, qmp_l) = bind("qmp.sock")?;
        let args = self.args(&ConsoleMode::Sockets {
            console: &con_path,
            agent: agent.as_ref().map(|a| a.0.as_path()),
            qmp: &qmp_path,
        });
        let log = self.log_command(&args)?;
        let log_err = log
            .try_clone()
            .map_err(VmError::io("duplicating the QEMU log"))?;
        let mut child = self
            .command(&args)
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log_err)
            .spawn()
            .map_err(|e| {
                self.qemu_error(format!("cannot run {}: {e}", self.tools.qemu.display()))
            })?;

        let deadline = Instant::now() + CONNECT_TIMEOUT;
        let mut accept = |l: &UnixListener, what: &str| -> Result<UnixStream> {
            loop {
                match l.accept() {
                    Ok((s, _)) => {
                        s.set_nonblocking(false)
                            .map_err(VmError::io(format!("configuring the {what} socket")))?;
                        return Ok(s);
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                    Err(e) => return Err(VmError::io(format!("accepting the {what} socket"))(e)),
                }
                if let Ok(Some(status)) = child.try_wait() {
                    return Err(self.qemu_error(format!(
                        "QEMU exited during startup ({}):\n{}",
                        describe_status(&status),
                        tail_of_file(&self.qemu_log(), 20)
                    )));
                }
                if Instant::now() > deadline {
                    return Err(self.qemu_error(format!(
                        "QEMU did not connect its {what} socket within {CONNECT_TIMEOUT:?}"
                    )));
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        };
        let connected = (|| -> Result<_> {
            let con = accept(&con_l, "console")?;
            let ag = match &agent {
                Some((_, l)) => Some(accept(l, "agent")?),
                None => None,
            };
            let qmp = accept(&qmp_l, "QMP")?;
            Ok((con, ag, qmp))
        })();
        let (con, ag, qmp) = match connected {
            Ok(c) => c,
            Err(e) => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(e);
            }
        };
        let boot = self.boots + 1;
        let header = format!("\n=== metalos-vmtest: {name}: boot {boot} ===\n");
        let mut threads = vec![];
        let setup = (|| -> Result<_> {
            let console_in = con
                .try_clone()
                .map_err(VmError::io("cloning the console socket"))?;
            threads.push(
                self.console
                    .attach(con, &header, self.cfg.echo_console)
                    .map_err(VmError::io("opening the console log"))?,
            );
            let agent_in = match ag {
                Some(s) => {
                    let w = s
                        .try_clone()
                        .map_err(VmError::io("cloning the agent socket"))?;
                    threads.push(
                        self.agent
                            .attach(s, &header, false)
                            .map_err(VmError::io("opening the agent log"))?,
                    );
                    Some(w)
                }
                None => None,
            };
            let qmp = Qmp::negotiate(qmp).map_err(|m| self.qemu_error(format!("QMP: {m}")))?;
            Ok((console_in, agent_in, qmp))
        })();
        let (console_in, agent_in, qmp) = match setup {
            Ok(s) => s,
            Err(e) => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(e);
            }
        };
        self.boots = boot;
        self.agent_cursor = self.agent.len();
        self.agent_ready = false;
        self.last_exit = None;
        self.running = Some(Running {
            child,
            _slot: slot,
            _sockdir: sockdir,
            console_in,
            agent_in,
            qmp,
            threads,
        });
        Ok(())
    }

    /// Runs QEMU with the serial console (and QEMU monitor, `Ctrl-a c`) on
    /// this process's terminal (`-serial mon:stdio -nographic`) until it
    /// exits. No agent, no QMP, nothing logged but the command line.
    pub fn run_interactive(&mut self) -> Result<ExitStatus> {
        if self.running.is_some() {
            return Err(VmError::AlreadyRunning {
                machine: self.cfg.name.clone(),
            });
        }
        let name = self.cfg.name.clone();
        let _slot = slots::acquire(&mut |n| {
            eprintln!("metalos-vmtest: {name}: waiting for one of {n} VM slots (METALOS_VM_JOBS)")
        })?;
        let args = self.args(&ConsoleMode::Stdio);
        drop(self.log_command(&args)?);
        self.boots += 1;
        let status = self.command(&args).status().map_err(|e| {
            self.qemu_error(format!("cannot run {}: {e}", self.tools.qemu.display()))
        })?;
        self.last_exit = Some(status);
        if let Ok(mut log) = File::options().append(true).open(self.qemu_log()) {
            let _ = writeln!(log, "=== QEMU exited: {}", describe_status(&status));
        }
        Ok(status)
    }

    fn running(&mut self) -> Result<&mut Running> {
        let name = self.cfg.name.clone();
        self.running
            .as_mut()
            .ok_or(VmError::NotRunning { machine: name })
    }

    /// Reaps QEMU if it has exited; returns its status.
    fn poll_exit(&mut self) -> Option<ExitStatus> {
        let status = match self.running.as_mut()?.child.try_wait() {
            Ok(Some(s)) => s,
            _ => return None,
        };
        self.finish(status);
        Some(status)
    }

    /// Cleans up after QEMU exited: joins the readers, frees the slot.
    fn finish(&mut self, status: ExitStatus) {
        if let Some(r) = self.running.take() {
            let Running {
                threads,
                console_in,
                agent_in,
                ..
            } = r;
            drop(console_in);
            drop(agent_in);
            for t in threads {
                let _ = t.join();
            }
        }
        self.console.close();
        self.agent.close();
        self.last_exit = Some(status);
        if let Ok(mut log) = File::options().append(true).open(self.qemu_log()) {
            let _ = writeln!(log, "=== QEMU exited: {}", describe_status(&status));
        }
    }

    /// Waits up to 5 s for QEMU to exit after a stream closed.
    fn exit_status_after_eof(&mut self) -> String {
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            if let Some(s) = self.poll_exit() {
                return describe_status(&s);
            }
            if let Some(s) = &self.last_exit {
                return describe_status(s);
            }
            if Instant::now() > deadline {
                return "console closed".into();
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn wait_stream(
        &mut self,
        agent: bool,
        re: &Regex,
        what: &str,
        deadline: Instant,
        timeout: Duration,
    ) -> Result<(Vec<Option<String>>, usize)> {
        if self.boots == 0 {
            return Err(VmError::NotRunning {
                machine: self.cfg.name.clone(),
            });
        }
        let (stream, from) = if agent {
            (&self.agent, self.agent_cursor)
        } else {
            (&self.console, self.console_cursor)
        };
        match stream.wait_for(re, from, deadline) {
            Wait::Found(groups, end) => Ok((groups, end)),
            Wait::Eof => {
                let status = self.exit_status_after_eof();
                Err(VmError::UnexpectedExit {
                    machine: self.cfg.name.clone(),
                    what: what.to_string(),
                    status,
                    context: Box::new(self.context()),
                })
            }
            Wait::TimedOut => Err(VmError::Timeout {
                machine: self.cfg.name.clone(),
                what: what.to_string(),
                timeout,
                context: Box::new(self.context()),
            }),
        }
    }

    /// Waits until the console prints a match of `pattern` (a
    /// [`regex`](https://docs.rs/regex) on the raw bytes; use `(?m)` for
    /// `^`/`$` per line) and returns its capture groups.
    ///
    /// Only output **after the previous match** (of any earlier
    /// `wait_for_console` on this machine, across restarts) is searched, so
    /// a sequence of waits follows the console in order and never matches
    /// the same text twice. Output printed before the wait began but after
    /// the previous match does count. A match must lie in complete lines,
    /// or in the unfinished last line once the console was quiet for
    /// 250 ms (prompts), so `(\d+)` never captures half of a number still
    /// being printed. Fails with the console tail if the timeout passes or
    /// QEMU exits first.
    pub fn wait_for_console(&mut self, pattern: &str, timeout: Duration) -> Result<Captures> {
        let re = Regex::new(pattern)
            .map_err(|e| VmError::Config(format!("bad console pattern {pattern:?}: {e}")))?;
        let what = format!("console /{pattern}/");
        let (groups, end) =
            self.wait_stream(false, &re, &what, Instant::now() + timeout, timeout)?;
        self.console_cursor = end;
        Ok(groups.into_iter().map(Option::unwrap_or_default).collect())
    }

    /// Types `text` on the serial console (add `\n` to submit a line).
    pub fn send_console(&mut self, text: &str) -> Result<()> {
        let r = self.running()?;
        let res = r.console_in.write_all(text.as_bytes());
        res.map_err(|e| self.qemu_error(format!("writing to the console: {e}")))
    }

    /// Waits until the guest agent announced itself on this boot.
    pub fn wait_for_agent(&mut self, timeout: Duration) -> Result<()> {
        self.wait_for_agent_until(Instant::now() + timeout, timeout)
    }

    fn wait_for_agent_until(&mut self, deadline: Instant, timeout: Duration) -> Result<()> {
        if !self.cfg.agent {
            return Err(VmError::Config(format!(
                "machine {}: the agent is not enabled (MachineBuilder::agent)",
                self.cfg.name
            )));
        }
        if self.agent_ready {
            return Ok(());
        }
        let re = Regex::new(&format!(r"{}\r?\n", regex::escape(agent::READY))).expect("valid");
        let (_, end) = self.wait_stream(true, &re, "the guest agent", deadline, timeout)?;
        self.agent_cursor = end;
        self.agent_ready = true;
        Ok(())
    }

    /// Runs `cmd` in the guest through the agent (see [`crate::agent`]) with
    /// the builder's command timeout; returns its exit status and its
    /// combined stdout and stderr.
    pub fn run(&mut self, cmd: &str) -> Result<(i32, String)> {
        self.run_timeout(cmd, self.cfg.command_timeout)
    }

    /// [`Machine::run`] with an explicit timeout (including the wait for
    /// the agent to come up).
    pub fn run_timeout(&mut self, cmd: &str, timeout: Duration) -> Result<(i32, String)> {
        let deadline = Instant::now() + timeout;
        self.wait_for_agent_until(deadline, timeout)?;
        self.agent_seq += 1;
        let n = self.agent_seq;
        let request = agent::request(n, cmd);
        let r = self.running()?;
        let w = r.agent_in.as_mut().expect("agent enabled");
        if let Err(e) = w.write_all(request.as_bytes()) {
            return Err(self.qemu_error(format!("writing to the agent: {e}")));
        }
        let re = Regex::new(&agent::end_marker(n)).expect("valid");
        let what = format!("agent command {cmd:?}");
        let from = self.agent_cursor;
        let (groups, end) = self.wait_stream(true, &re, &what, deadline, timeout)?;
        let whole = groups[0].as_deref().unwrap_or_default().len();
        let bytes = self.agent.bytes_from(from);
        let output = String::from_utf8_lossy(&bytes[..end - whole - from]).into_owned();
        self.agent_cursor = end;
        let status = groups[1].as_deref().unwrap_or("-1").parse().unwrap_or(-1);
        Ok((status, output))
    }

    /// Like [`Machine::run`] but fails unless the command exits 0; returns its output.
    pub fn succeed(&mut self, cmd: &str) -> Result<String> {
        let (status, output) = self.run(cmd)?;
        if status != 0 {
            return Err(self.qemu_error(format!(
                "guest command {cmd:?} exited {status}; output:\n{output}"
            )));
        }
        Ok(output)
    }

    /// Waits until QEMU exits by itself (the guest powered off, or rebooted
    /// with [`MachineBuilder::no_reboot`]); returns QEMU's exit status.
    pub fn wait_for_shutdown(&mut self, timeout: Duration) -> Result<ExitStatus> {
        let deadline = Instant::now() + timeout;
        if self.running.is_none() {
            return self.last_exit.ok_or(VmError::NotRunning {
                machine: self.cfg.name.clone(),
            });
        }
        loop {
            if let Some(s) = self.poll_exit() {
                return Ok(s);
            }
            if Instant::now() >= deadline {
                return Err(VmError::Timeout {
                    machine: self.cfg.name.clone(),
                    what: "the guest to power off".into(),
                    timeout,
                    context: Box::new(self.context()),
                });
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Kills QEMU at once (`SIGKILL`), like pulling the power cord: the
    /// guest's unflushed writes are lost, what reached the disk stays.
    pub fn crash(&mut self) -> Result<()> {
        let r = self.running()?;
        let _ = r.child.kill();
        let status = r
            .child
            .wait()
            .map_err(|e| self.qemu_error(format!("waiting for QEMU: {e}")))?;
        self.finish(status);
        Ok(())
    }

    /// Presses the ACPI power button (QMP `system_powerdown`); the guest
    /// decides what to do (busybox init without `acpid` ignores it).
    pub fn press_power_button(&mut self) -> Result<()> {
        let r = self.running()?;
        let res = r.qmp.execute("system_powerdown");
        res.map(|_| ()).map_err(|m| self.qemu_error(m))
    }

    /// Stops QEMU cleanly (QMP `quit`: QEMU flushes its disk caches and
    /// exits; the guest gets no warning), killing it if it has not exited
    /// within 30 s. A stopped machine is a no-op. To let the guest shut
    /// down itself, run e.g. `poweroff -f` through the agent and call
    /// [`Machine::wait_for_shutdown`].
    pub fn shutdown(&mut self) -> Result<()> {
        let Some(r) = self.running.as_mut() else {
            return Ok(());
        };
        let _ = r.qmp.execute("quit");
        match self.wait_for_shutdown(Duration::from_secs(30)) {
            Ok(_) => Ok(()),
            Err(VmError::Timeout { .. }) => self.crash(),
            Err(e) => Err(e),
        }
    }

    /// Stops QEMU if it runs (hard, like [`Machine::crash`]; call
    /// [`Machine::shutdown`] first for a clean stop) and starts it again
    /// with the same disks (overlays included) and OVMF variable store.
    /// Console matching continues after the previous match.
    pub fn restart(&mut self) -> Result<()> {
        if self.running.is_some() {
            self.crash()?;
        }
        self.start()
    }
}

impl Drop for Machine {
    fn drop(&mut self) {
        if let Some(r) = self.running.as_mut() {
            let _ = r.child.kill();
            if let Ok(status) = r.child.wait() {
                self.finish(status);
            }
        }
    }
}

/// Quotes `s` for a POSIX shell if needed (the logged command line, the
/// namespace setup script).
pub(crate) fn shell_quote(s: &str) -> String {
    if !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./=:,@+%".contains(c))
    {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

/// The last `n` lines of a text file (for startup errors).
fn tail_of_file(path: &Path, n: usize) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::UserNet;

    fn tools() -> Tools {
        Tools {
            qemu: "/bin/true".into(),
            ovmf_code: "/code.fd".into(),
            ovmf_vars: "/vars.fd".into(),
        }
    }

    #[test]
    fn kernel_machine_arguments() {
        let dir = tempfile::tempdir().unwrap();
        let k = dir.path().join("vmlinuz");
        let img = dir.path().join("disk.img");
        std::fs::write(&k, b"k").unwrap();
        std::fs::write(&img, vec![0u8; 1 << 20]).unwrap();
        let m = Machine::builder("unit")
            .tools(tools())
            .accel(Accel::Tcg)
            .dir(dir.path().join("m"))
            .kernel(&k, None, "console=ttyS0")
            .disk(Disk::overlay(&img).block_size(4096))
            .disk(Disk::direct(&img).nvme())
            .nic(
                Nic::new(UserNet::new().hostfwd_tcp("127.0.0.1:2222", 22)).mac("52:54:00:00:00:01"),
            )
            .build()
            .unwrap();
        let args = m.args(&ConsoleMode::Stdio).join(" ");
        assert!(args.contains("-nodefaults"), "{args}");
        assert!(args.contains("-accel tcg"), "{args}");
        assert!(args.contains("-append console=ttyS0"), "{args}");
        assert!(args.contains("format=qcow2"), "{args}");
        assert!(args.contains("logical_block_size=4096,physical_block_size=4096"));
        assert!(args.contains(&format!("file={},format=raw", img.display())));
        assert!(args.contains("nvme,drive=disk1"));
        assert!(args.contains("user,id=net0,restrict=on,hostfwd=tcp:127.0.0.1:2222-:22"));
        assert!(args.contains("virtio-net-pci,netdev=net0,mac=52:54:00:00:00:01"));
        assert!(!args.contains("pflash"));
        assert_eq!(m.disk_files()[0], dir.path().join("m/disk0.qcow2"));
        assert!(m.disk_files()[0].is_file());
    }

    #[test]
    fn secure_boot_machine_arguments() {
        let dir = tempfile::tempdir().unwrap();
        let (code, vars, sb_vars) = (
            dir.path().join("OVMF_CODE_4M.fd"),
            dir.path().join("OVMF_VARS_4M.fd"),
            dir.path().join("sb-vars.fd"),
        );
        let secboot = dir.path().join("OVMF_CODE_4M.secboot.fd");
        for (p, b) in [
            (&code, b"c"),
            (&vars, b"v"),
            (&sb_vars, b"s"),
            (&secboot, b"x"),
        ] {
            std::fs::write(p, b).unwrap();
        }
        let t = Tools {
            qemu: "/bin/true".into(),
            ovmf_code: code.clone(),
            ovmf_vars: vars,
        };
        let m = Machine::builder("unit")
            .tools(t)
            .accel(Accel::Tcg)
            .dir(dir.path().join("m"))
            .secure_boot(&sb_vars)
            .build()
            .unwrap();
        let args = m.args(&ConsoleMode::Stdio).join(" ");
        assert!(args.contains("-machine q35,smm=on"), "{args}");
        assert!(args.contains("-global driver=cfi.pflash01,property=secure,value=on"));
        assert!(args.contains(&format!("readonly=on,file={}", secboot.display())));
        assert_eq!(std::fs::read(m.vars_file().unwrap()).unwrap(), b"s");
    }

    #[test]
    fn builder_refuses_non_loopback_forwards() {
        let err = Machine::builder("unit")
            .tools(tools())
            .dir(tempfile::tempdir().unwrap().path().join("m"))
            .nic(Nic::new(UserNet::new().hostfwd_tcp("0.0.0.0:2222", 22)))
            .build()
            .unwrap_err();
        assert!(err.to_string().contains("only 127.0.0.1"), "{err}");
    }

    #[test]
    fn shell_quoting() {
        assert_eq!(shell_quote("-m"), "-m");
        assert_eq!(shell_quote("console=ttyS0 quiet"), "'console=ttyS0 quiet'");
        assert_eq!(shell_quote("it's"), r"'it'\''s'");
    }
}
