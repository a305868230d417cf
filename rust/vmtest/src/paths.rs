//! Where things are: the workspace, the log directory, the inputs manifest,
//! QEMU, OVMF and host programs.
//!
//! * **Workspace root**: the nearest ancestor of `CARGO_MANIFEST_DIR` (set by
//!   `cargo test`/`cargo run`; else the current directory) whose
//!   `Cargo.toml` has `[workspace]`.
//! * **Logs**: `$METALOS_VM_LOGS` if set; else `$CARGO_TARGET_DIR/vmtest-logs`
//!   (relative values are relative to the workspace root); else
//!   `<workspace>/target/vmtest-logs`. Each machine writes to
//!   `<logs>/<test-name>/<machine-name>/`.
//! * **Inputs manifest**: `$METALOS_INPUTS`, else
//!   `<workspace>/.cache/inputs/inputs.json`.
//! * **QEMU**: `$METALOS_QEMU`, else a `qemu` input of the manifest (the
//!   binary, or a directory with `bin/qemu-system-x86_64`), else
//!   `qemu-system-x86_64` on `PATH`, else `/usr/bin/qemu-system-x86_64`.
//! * **OVMF**: the manifest's `ovmf-code`/`ovmf-vars`, else
//!   `/usr/share/OVMF/OVMF_CODE_4M.fd` and `/usr/share/OVMF/OVMF_VARS_4M.fd`.
//! * **Host programs** of the network tiers: on `PATH`, else in
//!   `/usr/sbin`, `/sbin` or `/usr/bin`; the HTTP server is
//!   [`HTTPD_BUSYBOX`].

use crate::error::{Result, VmError};
use metalos_config::InputsManifest;
use std::path::{Path, PathBuf};

/// The command that creates the inputs manifest, for error messages.
pub const FETCH_HINT: &str = "run `cargo run -p metalos -- inputs fetch` in the workspace";

/// The workspace root (see the module docs).
pub fn workspace_root() -> PathBuf {
    let starts = [
        // Runtime only: a compile-time path would make the `metalos`
        // binary depend on where it was built (not reproducible).
        std::env::var_os("CARGO_MANIFEST_DIR").map(PathBuf::from),
        std::env::current_dir().ok(),
    ];
    for start in starts.into_iter().flatten() {
        for dir in start.ancestors() {
            let toml = dir.join("Cargo.toml");
            if std::fs::read_to_string(&toml).is_ok_and(|t| t.contains("[workspace]")) {
                return dir.to_path_buf();
            }
        }
    }
    std::env::current_dir().unwrap_or_else(|_| PathBuf::from("."))
}

/// The root of all VM logs (see the module docs).
pub fn logs_root() -> PathBuf {
    if let Some(dir) = std::env::var_os("METALOS_VM_LOGS") {
        return PathBuf::from(dir);
    }
    let root = workspace_root();
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(t) => root.join(t).join("vmtest-logs"),
        None => root.join("target").join("vmtest-logs"),
    }
}

/// The inputs manifest path (see the module docs).
pub fn inputs_manifest_path() -> PathBuf {
    match std::env::var_os("METALOS_INPUTS") {
        Some(p) => PathBuf::from(p),
        None => workspace_root().join(".cache/inputs/inputs.json"),
    }
}

/// Loads the inputs manifest from [`inputs_manifest_path`]; a missing
/// manifest is an error that says how to create it.
pub fn load_inputs() -> Result<InputsManifest> {
    load_inputs_from(&inputs_manifest_path())
}

/// Loads the inputs manifest at `path` (see [`load_inputs`]).
pub fn load_inputs_from(path: &Path) -> Result<InputsManifest> {
    if !path.exists() {
        return Err(VmError::Missing(format!(
            "inputs manifest {} does not exist: {FETCH_HINT} (or set METALOS_INPUTS)",
            path.display()
        )));
    }
    InputsManifest::load(path).map_err(|e| VmError::Missing(format!("{e}; {FETCH_HINT}")))
}

/// The path of input `name`, checked to exist.
pub fn input(manifest: &InputsManifest, name: &str) -> Result<PathBuf> {
    let path = manifest.path(name).ok_or_else(|| {
        VmError::Missing(format!(
            "the inputs manifest has no `{name}` input: {FETCH_HINT}"
        ))
    })?;
    if !path.exists() {
        return Err(VmError::Missing(format!(
            "input `{name}` ({}) does not exist: {FETCH_HINT}",
            path.display()
        )));
    }
    Ok(path.to_path_buf())
}

/// Host programs and firmware a machine needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tools {
    /// `qemu-system-x86_64`.
    pub qemu: PathBuf,
    /// Read-only OVMF code (`OVMF_CODE_4M.fd`).
    pub ovmf_code: PathBuf,
    /// OVMF variable store template (`OVMF_VARS_4M.fd`), copied per machine.
    pub ovmf_vars: PathBuf,
}

/// Default system locations.
pub const SYSTEM_QEMU: &str = "/usr/bin/qemu-system-x86_64";
/// Default OVMF code location.
pub const SYSTEM_OVMF_CODE: &str = "/usr/share/OVMF/OVMF_CODE_4M.fd";
/// Default OVMF vars location.
pub const SYSTEM_OVMF_VARS: &str = "/usr/share/OVMF/OVMF_VARS_4M.fd";

/// Default Secure Boot OVMF code location.
pub const SYSTEM_OVMF_SECBOOT_CODE: &str = "/usr/share/OVMF/OVMF_CODE_4M.secboot.fd";

/// The Secure Boot build of OVMF for [`Tools::ovmf_code`]:
/// `METALOS_OVMF_SECBOOT_CODE`, else `X.secboot.fd` beside `X.fd`, else
/// [`SYSTEM_OVMF_SECBOOT_CODE`]; it must exist.
pub fn secure_boot_code(tools: &Tools) -> Result<PathBuf> {
    let sibling = tools
        .ovmf_code
        .to_str()
        .and_then(|s| s.strip_suffix(".fd"))
        .map(|s| PathBuf::from(format!("{s}.secboot.fd")));
    let path = std::env::var_os("METALOS_OVMF_SECBOOT_CODE")
        .map(PathBuf::from)
        .or(sibling.filter(|p| p.is_file()))
        .unwrap_or_else(|| SYSTEM_OVMF_SECBOOT_CODE.into());
    if !path.is_file() {
        return Err(VmError::Missing(format!(
            "Secure Boot OVMF firmware {} not found (install ovmf, or set METALOS_OVMF_SECBOOT_CODE)",
            path.display()
        )));
    }
    Ok(path)
}

impl Tools {
    /// Finds QEMU and OVMF (see the module docs). OVMF files are only
    /// checked when a machine uses them ([`Tools::check_ovmf`]).
    pub fn find(manifest: Option<&InputsManifest>) -> Result<Tools> {
        let from_manifest = |name: &str| manifest.and_then(|m| m.path(name)).map(Path::to_path_buf);
        let qemu = if let Some(q) = std::env::var_os("METALOS_QEMU") {
            PathBuf::from(q)
        } else if let Some(q) = from_manifest("qemu") {
            if q.is_dir() {
                q.join("bin/qemu-system-x86_64")
            } else {
                q
            }
        } else {
            which("qemu-system-x86_64").unwrap_or_else(|| PathBuf::from(SYSTEM_QEMU))
        };
        if !qemu.is_file() {
            return Err(VmError::Missing(format!(
                "QEMU not found at {} (install qemu-system-x86, or set METALOS_QEMU)",
                qemu.display()
            )));
        }
        Ok(Tools {
            qemu,
            ovmf_code: from_manifest("ovmf-code").unwrap_or_else(|| SYSTEM_OVMF_CODE.into()),
            ovmf_vars: from_manifest("ovmf-vars").unwrap_or_else(|| SYSTEM_OVMF_VARS.into()),
        })
    }

    /// Checks that the OVMF files exist.
    pub fn check_ovmf(&self) -> Result<()> {
        for p in [&self.ovmf_code, &self.ovmf_vars] {
            if !p.is_file() {
                return Err(VmError::Missing(format!(
                    "OVMF firmware {} not found (install ovmf, or {FETCH_HINT})",
                    p.display()
                )));
            }
        }
        Ok(())
    }
}

/// The host busybox that serves [`crate::UserNet::http_dir`] and
/// [`crate::NetnsLab::http_dir`] (busybox-static).
pub const HTTPD_BUSYBOX: &str = "/usr/bin/busybox";

/// `program` on `PATH`.
pub(crate) fn which(program: &str) -> Option<PathBuf> {
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|d| d.join(program))
            .find(|p| p.is_file())
    })
}

/// `program` on `PATH`, else in `/usr/sbin` or `/sbin` (dnsmasq and ip
/// live there and `PATH` of a test runner may lack them).
pub(crate) fn find_program(program: &str) -> Option<PathBuf> {
    which(program).or_else(|| {
        ["/usr/sbin", "/sbin", "/usr/bin"]
            .iter()
            .map(|d| Path::new(d).join(program))
            .find(|p| p.is_file())
    })
}

/// Makes a string safe as one path component (`[A-Za-z0-9._-]`, others → `_`).
pub fn sanitize(name: &str) -> String {
    let s: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') {
                c
            } else {
                '_'
            }
        })
        .collect();
    match s.as_str() {
        "" | "." | ".." => "_".to_string(),
        _ => s,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn workspace_root_has_the_workspace_manifest() {
        let root = workspace_root();
        let text = std::fs::read_to_string(root.join("Cargo.toml")).unwrap();
        assert!(text.contains("rust/vmtest"));
    }

    #[test]
    fn sanitize_names() {
        assert_eq!(sanitize("boot::marker seen"), "boot__marker_seen");
        assert_eq!(sanitize(".."), "_");
        assert_eq!(sanitize("vm-1.a"), "vm-1.a");
    }

    #[test]
    fn missing_manifest_says_how_to_fetch() {
        let err = load_inputs_from(Path::new("/nonexistent/inputs.json")).unwrap_err();
        assert!(err.to_string().contains("inputs fetch"), "{err}");
    }
}
