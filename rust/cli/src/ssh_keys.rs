//! `metalos ssh-keys`: MetalOS's update-ssh-keys (same flags). Merges the
//! key sets in `~/.ssh/authorized_keys.d/` into `~/.ssh/authorized_keys`;
//! see docs/ssh-keys.md.

use std::io::Read;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use clap::{ArgGroup, Args};
use metalos_sshkeys::{default_user_name, AddOutcome, AuthorizedKeys, KeySet, User};

/// Arguments of `metalos ssh-keys`. Without -a/-A/-d/-D/-l the
/// authorized_keys file is simply regenerated from the existing sets.
#[derive(Args)]
#[command(group(ArgGroup::new("action").args(["add", "add_force", "delete", "disable", "list"])))]
#[command(group(ArgGroup::new("adding").args(["add", "add_force"])))]
pub struct SshKeysArgs {
    /// Add the keys of FILES (stdin when none) as set NAME, replacing an existing set.
    #[arg(short = 'a', value_name = "NAME")]
    add: Option<String>,
    /// Like -a, even if set NAME was disabled with -D.
    #[arg(short = 'A', value_name = "NAME")]
    add_force: Option<String>,
    /// When adding, don't replace an existing set with the given name.
    #[arg(short = 'n', requires = "adding")]
    no_replace: bool,
    /// Delete set NAME.
    #[arg(short = 'd', value_name = "NAME")]
    delete: Option<String>,
    /// Disable set NAME (an empty fragment), so that -a skips it.
    #[arg(short = 'D', value_name = "NAME")]
    disable: Option<String>,
    /// List the sets and the fingerprints of their keys.
    #[arg(short = 'l')]
    list: bool,
    /// The user whose keys to update [default: the current user; core when root].
    #[arg(short = 'u', value_name = "USER")]
    user: Option<String>,
    /// The ssh directory [default: ~/.ssh].
    #[arg(short = 's', long = "ssh-dir", value_name = "DIR")]
    ssh_dir: Option<PathBuf>,
    /// Work on a mounted root filesystem: the user comes from DIR/etc/passwd
    /// and the home directory is taken inside DIR.
    #[arg(long, value_name = "DIR")]
    root: Option<PathBuf>,
    /// Key files for -a/-A.
    #[arg(value_name = "FILES", requires = "adding")]
    files: Vec<PathBuf>,
}

/// Runs `metalos ssh-keys`.
pub fn run(args: SshKeysArgs) -> Result<()> {
    let name = args.user.clone().unwrap_or_else(default_user_name);
    let user = match &args.root {
        Some(root) => User::lookup_in_root(root, &name),
        None => User::lookup(&name),
    }?;
    let mut keys = AuthorizedKeys::open(&user, args.ssh_dir.as_deref()).with_context(|| {
        format!("failed to open the authorized keys directory for user {name:?}")
    })?;
    for set in keys.sets().values() {
        set.warnings().for_each(|w| println!("{w}"));
    }

    if let Some((set, force)) = args
        .add
        .as_ref()
        .map(|n| (n, false))
        .or(args.add_force.as_ref().map(|n| (n, true)))
    {
        let input = read_input(&args.files)?;
        input.warnings().for_each(|w| println!("{w}"));
        let fingerprints = fingerprints(&input);
        match keys
            .add(set, input, !args.no_replace, force)
            .context("failed to add keys")?
        {
            AddOutcome::Added | AddOutcome::Empty => {
                println!("Adding/updating {set}:");
                fingerprints.iter().for_each(|f| println!("{f}"));
            }
            AddOutcome::Disabled => println!("Skipping add {set} for {name}, disabled."),
            AddOutcome::Exists => println!("Skipping add {set} for {name}, already exists."),
        }
    } else if let Some(set) = &args.delete {
        println!("Removing {set}:");
        let old = keys.remove(set).context("failed to delete keys")?;
        old.iter()
            .flat_map(fingerprints)
            .for_each(|f| println!("{f}"));
    } else if let Some(set) = &args.disable {
        println!("Disabling {set}:");
        let old = keys.disable(set).context("failed to disable keys")?;
        old.iter()
            .flat_map(fingerprints)
            .for_each(|f| println!("{f}"));
    } else if args.list {
        println!("All keys for {name}:");
        for (set, keyset) in keys.sets() {
            let state = if keyset.is_disabled() {
                " (disabled)"
            } else {
                ""
            };
            println!("{set}:{state}");
            fingerprints(keyset).iter().for_each(|f| println!("{f}"));
        }
    }

    let path = keys.commit().context("failed to update authorized keys")?;
    println!("Updated {}", path.display());
    Ok(())
}

/// The `ssh-keygen -l` lines of a set's valid keys.
fn fingerprints(set: &KeySet) -> Vec<String> {
    set.keys().map(|k| k.fingerprint_line()).collect()
}

/// The keys of `files`, or of stdin when there are none.
fn read_input(files: &[PathBuf]) -> Result<KeySet> {
    if files.is_empty() {
        let mut text = String::new();
        std::io::stdin()
            .read_to_string(&mut text)
            .context("failed to read keys from stdin")?;
        return Ok(KeySet::parse(&text));
    }
    let mut set = KeySet::default();
    for file in files {
        set.extend(KeySet::parse(&read_file(file)?));
    }
    Ok(set)
}

fn read_file(file: &Path) -> Result<String> {
    std::fs::read_to_string(file)
        .with_context(|| format!("failed to read key file {}", file.display()))
}
