//! `metalos reset`: Flatcar's `flatcar-reset` for MetalOS. Stages a
//! selective reset of ROOT (everything not matched by `--keep-paths` is
//! deleted by metalinit at the next boot, then provisioning runs again),
//! previews it, or un-stages it. See `docs/reset.md`.

use anyhow::{bail, Context, Result};
use clap::Args;
use metalos_disk::esp_partition::EspHandle;
use metalos_reset::layout::FIRST_BOOT_FLAG;
use metalos_reset::{DirFlag, Fate, FirstBootFlag, Provisioning, ResetError, StageOptions};
use std::path::{Path, PathBuf};

/// `metalos reset` options (flatcar-reset's, long names only).
#[derive(Args)]
pub struct ResetArgs {
    /// Keep the paths these POSIX EREs match (whole-path, egrep syntax);
    /// takes all following values. A plain directory also keeps its contents.
    #[arg(long, num_args = 1.., value_name = "REGEX")]
    keep_paths: Vec<String>,
    /// Keep the current /etc/machine-id (restored after the reset).
    #[arg(long, conflicts_with = "stop")]
    keep_machine_id: bool,
    /// Provision from this Ignition config from now on (copied to
    /// /var/lib/metalos/provisioning/user.ign).
    #[arg(long, value_name = "FILE", conflicts_with_all = ["config_url", "stop", "preview"])]
    provisioning_file: Option<PathBuf>,
    /// Provision from this URL from now on (recorded in
    /// /var/lib/metalos/provisioning/config-url).
    #[arg(long, value_name = "URL", conflicts_with_all = ["stop", "preview"])]
    config_url: Option<String>,
    /// List what would be deleted and kept; stage nothing.
    #[arg(long, conflicts_with = "stop")]
    preview: bool,
    /// Un-stage a staged reset (removes the keep regex and the first-boot flag).
    #[arg(long, conflicts_with = "keep_paths")]
    stop: bool,
    /// Work on the system below DIR instead of / (tests, offline servicing); needs --esp to stage.
    #[arg(long, value_name = "DIR", hide = true)]
    root: Option<PathBuf>,
    /// A directory standing for the ESP (the flag is DIR/metalos/first_boot).
    #[arg(long, value_name = "DIR", hide = true)]
    esp: Option<PathBuf>,
}

/// The first-boot flag on the booted disk's ESP, written in place.
struct LiveEsp(EspHandle);

impl FirstBootFlag for LiveEsp {
    fn set(&self) -> Result<(), ResetError> {
        self.0
            .write(FIRST_BOOT_FLAG, b"")
            .map_err(|e| ResetError::Flag(format!("{:#}", anyhow::Error::new(e))))
    }
    fn clear(&self) -> Result<(), ResetError> {
        if !self.0.exists(FIRST_BOOT_FLAG) {
            return Ok(());
        }
        self.0
            .remove(FIRST_BOOT_FLAG)
            .map_err(|e| ResetError::Flag(format!("{:#}", anyhow::Error::new(e))))
    }
}

/// Runs `metalos reset`.
pub fn run(args: ResetArgs) -> Result<()> {
    let root = args.root.clone().unwrap_or_else(|| PathBuf::from("/"));
    let options = StageOptions {
        keep_paths: args.keep_paths.clone(),
        keep_machine_id: args.keep_machine_id,
        provisioning: match (&args.provisioning_file, &args.config_url) {
            (Some(_), Some(_)) => bail!("can't specify both --provisioning-file and --config-url"),
            (Some(f), None) => Some(Provisioning::File(f.clone())),
            (None, Some(u)) => Some(Provisioning::Url(u.clone())),
            (None, None) => None,
        },
    };
    if args.preview {
        return preview(&root, &options);
    }
    // SAFETY: geteuid has no preconditions.
    if args.root.is_none() && unsafe { libc::geteuid() } != 0 {
        bail!("metalos reset must run as root");
    }
    let flag = first_boot_flag(&args)?;
    if args.stop {
        let was = metalos_reset::stop(&root, flag.as_ref()).context("un-staging the reset")?;
        println!(
            "{}",
            if was {
                "reset un-staged (keep regex and first-boot flag removed)"
            } else {
                "no reset was staged (first-boot flag removed if present)"
            }
        );
        return Ok(());
    }
    if let Some(Provisioning::File(f)) = &options.provisioning {
        check_ignition(f)?;
    }
    if let Some(old) = metalos_reset::stage::staged_regex(&root)? {
        eprintln!("note: replacing the previously staged reset (keep regex {old})");
    }
    let staged =
        metalos_reset::stage(&root, flag.as_ref(), &options).context("staging the reset")?;
    println!("reset staged: keep regex {}", staged.regex);
    if let Some(id) = &staged.machine_id {
        println!("machine-id {id} will be kept (a HostConfig identity still takes precedence)");
    }
    println!("at the next boot everything else on ROOT is deleted and provisioning runs again; undo with `metalos reset --stop`");
    Ok(())
}

fn first_boot_flag(args: &ResetArgs) -> Result<Box<dyn FirstBootFlag>> {
    match (&args.esp, &args.root) {
        (Some(dir), _) => Ok(Box::new(DirFlag(dir.clone()))),
        (None, Some(_)) => bail!("--root needs --esp DIR"),
        (None, None) => {
            let cmdline = std::fs::read_to_string("/proc/cmdline").unwrap_or_default();
            let (disk, gpt, _) =
                metalos_disk::blockdev::booted_slot(&cmdline).map_err(anyhow::Error::msg)?;
            let esp = EspHandle::find(&disk, &gpt)
                .with_context(|| format!("{} has no ESP", disk.dev.display()))?;
            Ok(Box::new(LiveEsp(esp)))
        }
    }
}

/// Refuses a provisioning file that is not a valid Ignition config.
fn check_ignition(path: &Path) -> Result<()> {
    let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    if let Err(report) = metalos_ignition::parse::parse(&bytes, Default::default()) {
        let msgs: Vec<String> = report
            .errors
            .iter()
            .map(|i| format!("{}: {}", i.path, i.message))
            .collect();
        bail!(
            "{} is not a valid Ignition config: {}",
            path.display(),
            msgs.join("; ")
        );
    }
    Ok(())
}

fn preview(root: &Path, options: &StageOptions) -> Result<()> {
    let list = metalos_reset::preview(root, options).context("previewing the reset")?;
    let (mut del, mut keep) = (0, 0);
    for (fate, path) in &list {
        match fate {
            Fate::Delete => del += 1,
            Fate::Keep => keep += 1,
        }
        let word = if *fate == Fate::Delete {
            "delete"
        } else {
            "keep"
        };
        println!("{word} {}", path.display());
    }
    eprintln!("{del} to delete, {keep} to keep (nothing staged)");
    Ok(())
}
