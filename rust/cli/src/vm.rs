//! `metalos vm …`: runs the separate `metalos-vm` binary (the QEMU
//! harness and the VM scenarios stay out of this binary, which ships in
//! every image), found next to this executable or on `PATH`, with the
//! arguments after `vm` unchanged.

use anyhow::{bail, Context, Result};
use clap::Args;
use std::ffi::OsString;
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::Command;

/// The binary that holds the VM tools.
const VM_BINARY: &str = "metalos-vm";

/// `metalos vm` arguments: everything is passed to `metalos-vm`.
#[derive(Args)]
#[command(disable_help_flag = true, disable_version_flag = true)]
pub struct VmArgs {
    /// `boot`, `check` or `netboot` and their arguments (`metalos-vm --help`).
    #[arg(
        trailing_var_arg = true,
        allow_hyphen_values = true,
        value_name = "ARGS"
    )]
    args: Vec<OsString>,
}

/// Replaces this process with `metalos-vm ARGS…`; returns only on failure.
pub fn run(args: VmArgs) -> Result<()> {
    let Some(program) = find_vm_binary() else {
        bail!(
            "the VM tools (`metalos vm boot|check|netboot`) are in the `{VM_BINARY}` binary, \
             which is not shipped in images: no {VM_BINARY} next to this executable or on PATH \
             (build it with `cargo build -p metalos`)"
        );
    };
    let err = Command::new(&program).args(&args.args).exec();
    Err(err).with_context(|| format!("running {}", program.display()))
}

/// `metalos-vm` in the directory of the running executable, else on `PATH`.
fn find_vm_binary() -> Option<PathBuf> {
    let beside = std::env::current_exe()
        .ok()
        .and_then(|exe| Some(exe.parent()?.join(VM_BINARY)))
        .filter(|p| p.is_file());
    beside.or_else(|| {
        let path = std::env::var_os("PATH")?;
        std::env::split_paths(&path)
            .map(|d| d.join(VM_BINARY))
            .find(|p| p.is_file())
    })
}
