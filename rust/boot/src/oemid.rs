//! The platform (OEM) id handed to the slot kernel as `metalos.oem.id=`
//! ([`metalos_contract::cmdline::OEM_ID`]): the HostConfig's `oem-id`,
//! else `ID=` of the boot disk's OEM partition `oem-release` (read in
//! place, [`metalos_disk::oem`]), else none. Shared by metalos-bootloader
//! and metalimage through [`crate::slotboot`], so a machine's first boot
//! after imaging gets the same argument as every later boot.
//!
//! A blank OEM partition or one without `oem-release` gives no id. A
//! damaged FAT volume or a malformed `oem-release` is an error (FATAL,
//! then the emergency action), as a corrupt HostConfig is: booting on
//! without the id would provision from the wrong source. Setting the
//! HostConfig's `oem-id` skips reading the partition.

use crate::sys;
use anyhow::Result;
use metalos_config::HostConfig;
use metalos_contract::cmdline::OEM_ID;
use metalos_contract::oem::OemRelease;
use metalos_disk::blockdev::Disk;
use metalos_disk::gpt::Gpt;
use metalos_disk::oem::OemPartition;

/// Where the id came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OemIdSource {
    /// The HostConfig's `oem-id`.
    HostConfig,
    /// `oem-release` on the OEM partition with this number.
    Partition(u32),
}

/// The id to pass: the HostConfig's `oem-id` wins (and `read_release`,
/// the OEM partition's number and `oem-release`, is not called), else
/// `oem-release`'s `ID=`.
pub fn choose<E>(
    host: Option<&HostConfig>,
    read_release: impl FnOnce() -> Result<Option<(u32, OemRelease)>, E>,
) -> Result<Option<(String, OemIdSource)>, E> {
    if let Some(id) = host.and_then(|h| h.oem_id.clone()) {
        return Ok(Some((id, OemIdSource::HostConfig)));
    }
    Ok(read_release()?.map(|(n, r)| (r.id, OemIdSource::Partition(n))))
}

/// The platform id for the slot kernel of `disk` (table `gpt`), said on
/// the console with its source; `prog` names the program.
pub fn slot_oem_id(
    prog: &str,
    disk: &Disk,
    gpt: &Gpt,
    host: Option<&HostConfig>,
) -> Result<Option<String>> {
    let chosen = choose(host, || {
        let Some(oem) = OemPartition::find(disk, gpt) else {
            return Ok(None);
        };
        let release = oem.read_release().map_err(|e| {
            anyhow::anyhow!(
                "{e} (the platform id comes from there: fix or rewrite the OEM partition, \
                 or set the HostConfig's oem-id, which skips reading it)"
            )
        })?;
        if release.is_none() {
            sys::say(
                prog,
                &format!(
                    "OEM partition {}: no oem-release (or no FAT filesystem)",
                    oem.number
                ),
            );
        }
        Ok::<_, anyhow::Error>(release.map(|r| (oem.number, r)))
    })?;
    let message = match &chosen {
        Some((id, OemIdSource::HostConfig)) => format!("platform id {id} (HostConfig oem-id)"),
        Some((id, OemIdSource::Partition(n))) => {
            format!("platform id {id} (oem-release on OEM partition {n})")
        }
        None => format!("no platform id (no HostConfig oem-id, no oem-release): no {OEM_ID}="),
    };
    sys::say(prog, &message);
    Ok(chosen.map(|(id, _)| id))
}

/// `cmdline` with `metalos.oem.id=ID` appended when there is an id (after
/// everything else, so it wins over a stray copy in the slot's or the
/// HostConfig's arguments: the last occurrence counts).
pub fn with_oem_id(cmdline: String, id: Option<&str>) -> String {
    match id {
        Some(id) => format!("{cmdline} {OEM_ID}={id}"),
        None => cmdline,
    }
}

#[cfg(test)]
#[path = "oemid_tests.rs"]
mod tests;
