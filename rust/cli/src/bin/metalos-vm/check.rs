//! `metalos-vm check`: acceptance scenarios that boot built images with the
//! VM harness and check what the console and the guest say. `nix flake
//! check` runs them against the flake's images (modules/vm-test.nix); they
//! work on any image built from a spec like images/default.toml.

use crate::options::inputs_manifest;
use anyhow::{bail, ensure, Context, Result};
use clap::{Args, Subcommand};
use metalos_vmtest::{Disk, Machine, Nic, Tools, UserNet};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Printed by the default rootfs once init runs (images/rootfs/etc/init.d/rcS).
const ROOTFS_UP: &str = r"METALOS-ROOTFS-UP host=(\S+) usr=(\S+)";
/// Where the update scenario mounts the bundle disk in the guest.
const BUNDLES: &str = "/run/bundles";
/// MAC of the scenarios' NIC (the test HostConfig renames it).
const MAC: &str = "52:54:00:aa:bb:01";

/// `metalos-vm check` scenarios.
#[derive(Subcommand)]
pub enum CheckCommand {
    /// First boot then second boot of a fresh image: the first boot
    /// randomises the disk GUIDs, formats ROOT and removes the first-boot
    /// flag, and boots /usr from USR-A; the second boot redoes none of it.
    Boot {
        /// Raw disk image (never modified: the VM writes to an overlay).
        image: PathBuf,
        #[command(flatten)]
        opts: CheckOpts,
    },
    /// A/B update with rollback: stage BUNDLE into USR-B from a bundle
    /// disk, boot it on trial (tries 1 → 0), let it mark itself good, roll
    /// back, and boot USR-A again. The image's HostConfig must start the
    /// test agent (`kernel.extra-args: ["metalos.test_agent=1"]`, as in
    /// tests/fixtures/host-config-vm.json).
    Update {
        /// Raw disk image (never modified).
        image: PathBuf,
        /// Update bundle directory (bundle.json, usr.img, bootloader.efi).
        #[arg(long, value_name = "DIR")]
        bundle: PathBuf,
        #[command(flatten)]
        opts: CheckOpts,
    },
}

/// Options shared by every scenario.
#[derive(Args)]
pub struct CheckOpts {
    /// Inputs manifest naming OVMF (`ovmf-code`, `ovmf-vars`) and QEMU
    /// (`qemu`); default: $METALOS_INPUTS, .cache/inputs/inputs.json, the system's.
    #[arg(long, value_name = "INPUTS.json")]
    inputs: Option<PathBuf>,
    /// Seconds each boot may take to reach the rootfs.
    #[arg(long, value_name = "S", default_value_t = 300)]
    timeout: u64,
}

/// Runs a scenario; prints one line per step and `PASS` at the end.
pub fn run(cmd: CheckCommand) -> Result<()> {
    let (name, result) = match cmd {
        CheckCommand::Boot { image, opts } => ("boot", boot(&image, &opts)),
        CheckCommand::Update {
            image,
            bundle,
            opts,
        } => ("update", update(&image, &bundle, &opts)),
    };
    result.with_context(|| format!("scenario {name} FAILED"))?;
    eprintln!("metalos vm check {name}: PASS");
    Ok(())
}

fn step(msg: &str) {
    eprintln!("metalos vm check: {msg}");
}

fn machine(
    scenario: &str,
    image: &Path,
    opts: &CheckOpts,
    extra: Option<&Path>,
) -> Result<Machine> {
    if !image.is_file() {
        bail!("disk image {} does not exist", image.display());
    }
    let manifest = inputs_manifest(opts.inputs.as_deref())?;
    let mut builder = Machine::builder(&format!("check-{scenario}"))
        .tools(Tools::find(manifest.as_ref()).context("looking for QEMU and OVMF")?)
        .uefi()
        .disk(Disk::overlay(image).grow_to(2 << 30).bootindex(1))
        .nic(Nic::new(UserNet::new()).mac(MAC));
    if let Some(disk) = extra {
        builder = builder.disk(Disk::overlay(disk)).agent();
    }
    let vm = builder.build().context("preparing the VM")?;
    step(&format!("logs in {}", vm.dir().display()));
    Ok(vm)
}

/// Waits for the rootfs; returns the device /usr came from.
fn wait_rootfs(vm: &mut Machine, opts: &CheckOpts) -> Result<String> {
    let caps = vm
        .wait_for_console(ROOTFS_UP, Duration::from_secs(opts.timeout))
        .context("the rootfs did not come up")?;
    Ok(caps[2].clone())
}

fn boot(image: &Path, opts: &CheckOpts) -> Result<()> {
    let mut vm = machine("boot", image, opts, None)?;
    vm.start()?;
    let usr = wait_rootfs(&mut vm, opts)?;
    step(&format!("first boot reached the rootfs, /usr from {usr}"));
    ensure!(
        usr == "/dev/vda2",
        "first boot: /usr from {usr}, expected USR-A (/dev/vda2)"
    );
    let console = vm.console_text();
    for line in [
        "first boot: ",
        "formatting ROOT",
        "first boot complete: flag removed",
    ] {
        ensure!(
            console.contains(line),
            "first boot: the console never said {line:?}"
        );
    }
    // The console shell flushes the disk before the power is cut.
    vm.send_console("sync; echo METALOS-$((40+2))-SYNCED\n")?;
    vm.wait_for_console("METALOS-42-SYNCED", Duration::from_secs(60))?;
    vm.crash()?;

    vm.restart()?;
    let usr = wait_rootfs(&mut vm, opts)?;
    step(&format!("second boot reached the rootfs, /usr from {usr}"));
    ensure!(
        usr == "/dev/vda2",
        "second boot: /usr from {usr}, expected /dev/vda2"
    );
    let console = vm.console_text();
    for line in ["first boot: ", "formatting ROOT", "flag removed"] {
        let n = console.matches(line).count();
        ensure!(
            n == 1,
            "{line:?} appears {n} times: the second boot redid first-boot work"
        );
    }
    vm.shutdown()?;
    Ok(())
}

/// (priority, tries, successful, booted) of USR-A and USR-B.
fn slots(vm: &mut Machine) -> Result<Vec<(u64, u64, bool, bool)>> {
    let out = vm.succeed("metalos update status --json")?;
    let v: Value = serde_json::from_str(&out).with_context(|| format!("update status: {out}"))?;
    let slots = v["slots"]
        .as_array()
        .context("update status has no slots")?;
    Ok(slots
        .iter()
        .map(|s| {
            (
                s["priority"].as_u64().unwrap_or(99),
                s["tries"].as_u64().unwrap_or(99),
                s["successful"].as_bool().unwrap_or(false),
                s["booted"].as_bool().unwrap_or(false),
            )
        })
        .collect())
}

fn expect_slots(vm: &mut Machine, when: &str, want: [(u64, u64, bool, bool); 2]) -> Result<()> {
    let got = slots(vm)?;
    ensure!(
        got == want,
        "{when}: slots (priority, tries, successful, booted) are {got:?}, expected {want:?}"
    );
    step(&format!("{when}: slots {got:?}"));
    Ok(())
}

fn power_cycle(vm: &mut Machine, opts: &CheckOpts) -> Result<String> {
    vm.succeed("sync")?;
    vm.crash()?;
    vm.restart()?;
    let usr = wait_rootfs(vm, opts)?;
    vm.wait_for_agent(Duration::from_secs(opts.timeout))?;
    vm.succeed(&format!(
        "mkdir -p {BUNDLES} && mount -t squashfs -o ro /dev/vdb {BUNDLES}"
    ))?;
    Ok(usr)
}

fn update(image: &Path, bundle: &Path, opts: &CheckOpts) -> Result<()> {
    ensure!(
        bundle.join("bundle.json").is_file(),
        "{} is not an update bundle (no bundle.json)",
        bundle.display()
    );
    let work = tempfile::tempdir()?;
    let bundles = work.path().join("bundles.sqfs");
    metalos_disk::usrfs::squashfs_of_dirs(&bundles, &[("v", bundle)])
        .with_context(|| format!("packing {} into a bundle disk", bundle.display()))?;
    let mut vm = machine("update", image, opts, Some(&bundles))?;
    vm.start()?;
    wait_rootfs(&mut vm, opts)?;
    vm.wait_for_agent(Duration::from_secs(opts.timeout))
        .context("the test agent did not answer (does the HostConfig enable it?)")?;
    vm.succeed(&format!(
        "mkdir -p {BUNDLES} && mount -t squashfs -o ro /dev/vdb {BUNDLES}"
    ))?;
    expect_slots(
        &mut vm,
        "fresh image",
        [(1, 0, true, true), (0, 0, false, false)],
    )?;

    vm.succeed(&format!("metalos update stage {BUNDLES}/v/"))?;
    expect_slots(
        &mut vm,
        "staged",
        [(1, 0, true, true), (2, 1, false, false)],
    )?;

    let usr = power_cycle(&mut vm, opts)?;
    ensure!(
        usr == "/dev/vda3",
        "trial boot: /usr from {usr}, expected USR-B (/dev/vda3)"
    );
    vm.wait_for_console("marked good", Duration::from_secs(opts.timeout))?;
    expect_slots(
        &mut vm,
        "USR-B booted",
        [(1, 0, true, false), (2, 0, true, true)],
    )?;

    vm.succeed("metalos update rollback")?;
    let usr = power_cycle(&mut vm, opts)?;
    ensure!(
        usr == "/dev/vda2",
        "after rollback: /usr from {usr}, expected USR-A (/dev/vda2)"
    );
    let got = slots(&mut vm)?;
    ensure!(
        got[0].3 && got[0].2,
        "after rollback: USR-A must be booted and good: {got:?}"
    );
    step(&format!("rolled back: slots {got:?}"));
    vm.shutdown()?;
    Ok(())
}
