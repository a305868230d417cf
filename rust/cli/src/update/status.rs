//! `metalos update status | mark-good | rollback`.

use anyhow::{bail, Context, Result};
use metalos_boot::esp::EspHandle;
use metalos_boot::{blockdev, slots, sys};
use metalos_disk::gptprio::{choose, GptPrio};
use metalos_image::bundle::os_release_version;
use serde_json::json;

fn booted_slot() -> Result<(
    blockdev::Disk,
    metalos_disk::gpt::Gpt,
    metalos_disk::gpt::Partition,
)> {
    blockdev::booted_slot(&sys::kernel_cmdline()).map_err(anyhow::Error::msg)
}

/// VERSION_ID of a slot: the running /usr for the booted one, a temporary
/// read-only mount for the other.
fn slot_version(disk: &blockdev::Disk, number: u32, is_booted: bool) -> Option<String> {
    if is_booted {
        return os_release_version(&std::fs::read_to_string("/usr/lib/os-release").ok()?);
    }
    let dev = blockdev::partition_dev(disk, number)?;
    let at = format!("/run/metalos/peek-{number}");
    sys::mount(&dev.to_string_lossy(), &at, "squashfs", libc::MS_RDONLY, "").ok()?;
    let v = std::fs::read_to_string(format!("{at}/lib/os-release"))
        .ok()
        .and_then(|t| os_release_version(&t));
    let _ = sys::umount(&at);
    v
}

/// Writes the changed slot table to the disk (backup, then primary, synced).
fn write_table(disk: &blockdev::Disk, gpt: &metalos_disk::gpt::Gpt) -> Result<()> {
    let dev = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(&disk.dev)?;
    slots::write_synced(gpt, &dev)
        .with_context(|| format!("writing the slot table of {}", disk.dev.display()))
}

/// `metalos update status`.
pub fn status(as_json: bool) -> Result<()> {
    let (disk, gpt, booted) = booted_slot()?;
    let usr = slots::usr_slots(&gpt);
    let prios: Vec<(u32, GptPrio)> = usr
        .iter()
        .map(|p| (p.number, GptPrio::from_attributes(p.attributes)))
        .collect();
    let next = choose(&prios).map(|i| prios[i].0);
    let rows: Vec<_> = usr
        .iter()
        .map(|p| {
            let g = GptPrio::from_attributes(p.attributes);
            json!({
                "slot": p.number, "label": p.name, "guid": p.guid.to_string(),
                "version": slot_version(&disk, p.number, p.number == booted.number),
                "priority": g.priority, "tries": g.tries, "successful": g.successful,
                "booted": p.number == booted.number, "next": Some(p.number) == next,
            })
        })
        .collect();
    if as_json {
        println!(
            "{}",
            serde_json::to_string_pretty(&json!({ "disk": disk.dev, "slots": rows }))?
        );
        return Ok(());
    }
    println!(
        "{:<5} {:<8} {:<10} {:>8} {:>5} {:>10}  state",
        "slot", "label", "version", "priority", "tries", "successful"
    );
    for r in &rows {
        let mut state = vec![];
        if r["booted"] == true {
            state.push("booted");
        }
        if r["next"] == true {
            state.push("boots next");
        }
        println!(
            "{:<5} {:<8} {:<10} {:>8} {:>5} {:>10}  {}",
            r["slot"],
            r["label"].as_str().unwrap_or(""),
            r["version"].as_str().unwrap_or("-"),
            r["priority"],
            r["tries"],
            r["successful"],
            state.join(", ")
        );
    }
    Ok(())
}

/// `metalos update mark-good`.
pub fn mark_good(check: Option<String>, auto: bool) -> Result<()> {
    let (disk, mut gpt, booted) = booted_slot()?;
    let mut check = check;
    if auto {
        let esp = EspHandle::find(&disk, &gpt).context("the boot disk has no ESP")?;
        if let Some(h) = esp.read_host_config()? {
            std::thread::sleep(std::time::Duration::from_secs(
                h.update.mark_good_delay_seconds.into(),
            ));
            check = h.update.health_check.clone();
        }
        // The table may have changed while we waited.
        (_, gpt, _) = booted_slot()?;
    }
    if let Some(cmd) = &check {
        let status = std::process::Command::new("/bin/sh")
            .args(["-c", cmd])
            .status()
            .with_context(|| format!("running {cmd:?}"))?;
        if !status.success() {
            bail!(
                "health check {cmd:?} failed ({status}); slot {} ({}) is not marked good",
                booted.number,
                booted.name
            );
        }
    }
    let before = GptPrio::from_attributes(booted.attributes);
    if before.successful && before.tries == 0 {
        println!(
            "slot {} ({}) is already marked good",
            booted.number, booted.name
        );
        return Ok(());
    }
    slots::mark_successful(&mut gpt, booted.number);
    write_table(&disk, &gpt)?;
    println!(
        "slot {} ({}) marked good: {}",
        booted.number,
        booted.name,
        slots::describe(&gpt)
    );
    Ok(())
}

/// `metalos update rollback`.
pub fn rollback() -> Result<()> {
    let (disk, mut gpt, booted) = booted_slot()?;
    let other = slots::usr_slots(&gpt)
        .into_iter()
        .find(|p| p.number != booted.number)
        .cloned()
        .context("there is no other /usr slot")?;
    let g = GptPrio::from_attributes(other.attributes);
    if !g.successful {
        bail!(
            "slot {} ({}) has never booted successfully; refusing to roll back to it ({})",
            other.number,
            other.name,
            slots::describe(&gpt)
        );
    }
    slots::prioritize(&mut gpt, other.number);
    write_table(&disk, &gpt)?;
    println!(
        "slot {} ({}) boots next: {}",
        other.number,
        other.name,
        slots::describe(&gpt)
    );
    Ok(())
}
