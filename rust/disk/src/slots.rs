//! Choosing the `/usr` slot by gptprio (Flatcar/ChromeOS semantics) and
//! counting its tries down on disk before it boots.

use crate::gpt::{Gpt, GptError, Partition};
use crate::gptprio::{choose, GptPrio};
use metalos_config::spec::type_guid;
use std::fs::File;

/// Why no slot could be chosen or recorded.
#[derive(Debug, thiserror::Error)]
pub enum SlotError {
    /// No usr partition is bootable.
    #[error("no bootable /usr slot: {0}")]
    NoBootableSlot(String),
    /// Writing the decremented tries failed.
    #[error("cannot record the boot attempt in the GPT: {0}")]
    Write(#[from] GptError),
}

/// The `/usr` partitions of `gpt` in index order.
pub fn usr_slots(gpt: &Gpt) -> Vec<&Partition> {
    let usr = type_guid("usr-x86-64").expect("known type");
    gpt.partitions
        .iter()
        .filter(|p| p.type_guid == usr)
        .collect()
}

/// One-line description of every slot's gptprio, for messages.
pub fn describe(gpt: &Gpt) -> String {
    usr_slots(gpt)
        .iter()
        .map(|p| {
            let g = GptPrio::from_attributes(p.attributes);
            format!(
                "{} {} (priority {}, tries {}, successful {})",
                p.number, p.name, g.priority, g.tries, g.successful as u8
            )
        })
        .collect::<Vec<_>>()
        .join("; ")
}

/// Chooses the slot to boot; when it has tries left, decrements them in
/// `gpt` and returns `true` for "the table changed".
pub fn choose_slot(gpt: &mut Gpt) -> Result<(Partition, bool), SlotError> {
    let slots: Vec<(u32, GptPrio)> = usr_slots(gpt)
        .iter()
        .map(|p| (p.number, GptPrio::from_attributes(p.attributes)))
        .collect();
    let i = choose(&slots).ok_or_else(|| SlotError::NoBootableSlot(describe(gpt)))?;
    let (number, mut prio) = slots[i];
    let entry = gpt
        .partitions
        .iter_mut()
        .find(|p| p.number == number)
        .expect("slot exists");
    let changed = prio.tries > 0;
    if changed {
        prio.tries -= 1;
        entry.attributes = prio.apply(entry.attributes);
    }
    Ok((entry.clone(), changed))
}

/// Writes `gpt` to `disk`: backup first, synced, then primary, synced —
/// an interruption leaves one valid copy.
pub fn write_synced(gpt: &Gpt, disk: &File) -> Result<(), GptError> {
    write_synced_with(gpt, disk, || {})
}

/// [`write_synced`], calling `between` after the backup is on disk and
/// before the primary is written (a fault-injection point for tests).
pub fn write_synced_with(gpt: &Gpt, disk: &File, between: impl FnOnce()) -> Result<(), GptError> {
    gpt.validate()?;
    gpt.write_backup(disk)?;
    disk.sync_all()?;
    between();
    gpt.write_primary(disk)?;
    disk.sync_all()?;
    Ok(())
}

fn set_prio(gpt: &mut Gpt, number: u32, f: impl FnOnce(&mut GptPrio)) {
    if let Some(p) = gpt.partitions.iter_mut().find(|p| p.number == number) {
        let mut g = GptPrio::from_attributes(p.attributes);
        f(&mut g);
        p.attributes = g.apply(p.attributes);
    }
}

/// Flatcar's "prioritize": `target` gets the highest priority; the other
/// bootable slots keep their order below it, never dropping below 1.
pub fn prioritize(gpt: &mut Gpt, target: u32) {
    let mut others: Vec<(u32, u8)> = usr_slots(gpt)
        .iter()
        .filter(|p| p.number != target)
        .map(|p| (p.number, GptPrio::from_attributes(p.attributes).priority))
        .filter(|(_, prio)| *prio > 0)
        .collect();
    others.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    let top = (others.len() as u8 + 1).min(15);
    set_prio(gpt, target, |g| g.priority = top);
    for (i, (number, _)) in others.iter().enumerate() {
        let prio = (top - 1 - i as u8).max(1);
        set_prio(gpt, *number, |g| g.priority = prio);
    }
}

/// After a new image was written to `target`: one trial boot (tries 1,
/// not successful), at the highest priority.
pub fn stage_for_trial(gpt: &mut Gpt, target: u32) {
    set_prio(gpt, target, |g| {
        g.tries = 1;
        g.successful = false;
    });
    prioritize(gpt, target);
}

/// Makes `target` unbootable (priority 0, tries 0, not successful) before
/// its contents are overwritten.
pub fn disable(gpt: &mut Gpt, target: u32) {
    set_prio(gpt, target, |g| *g = GptPrio::default());
}

/// Marks `target` as booted successfully (tries cleared).
pub fn mark_successful(gpt: &mut Gpt, target: u32) {
    set_prio(gpt, target, |g| {
        g.successful = true;
        g.tries = 0;
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use uuid::Uuid;

    fn part(number: u32, prio: GptPrio) -> Partition {
        Partition {
            number,
            type_guid: type_guid("usr-x86-64").unwrap(),
            guid: Uuid::from_u128(number as u128),
            first_lba: 2048 * number as u64,
            last_lba: 2048 * number as u64 + 2047,
            attributes: prio.apply(0),
            name: format!("USR-{number}"),
        }
    }

    #[test]
    fn update_state_machine_like_flatcar() {
        let p = |priority, tries, successful| GptPrio {
            priority,
            tries,
            successful,
        };
        let prio = |gpt: &Gpt, i: usize| GptPrio::from_attributes(gpt.partitions[i].attributes);
        let mut gpt = Gpt {
            sector_size: 512,
            total_sectors: 100_000,
            disk_guid: Uuid::from_u128(1),
            partitions: vec![part(2, p(1, 0, true)), part(3, p(0, 0, false))],
        };
        stage_for_trial(&mut gpt, 3);
        assert_eq!(
            (prio(&gpt, 0), prio(&gpt, 1)),
            (p(1, 0, true), p(2, 1, false))
        );
        let (chosen, _) = choose_slot(&mut gpt).unwrap();
        assert_eq!(chosen.number, 3);
        mark_successful(&mut gpt, 3);
        assert_eq!(prio(&gpt, 1), p(2, 0, true));
        // Stage again into A while B is booted.
        stage_for_trial(&mut gpt, 2);
        assert_eq!(
            (prio(&gpt, 0), prio(&gpt, 1)),
            (p(2, 1, false), p(1, 0, true))
        );
        // Without confirmation the next boot after the trial falls back to B.
        assert_eq!(choose_slot(&mut gpt).unwrap().0.number, 2);
        assert_eq!(choose_slot(&mut gpt).unwrap().0.number, 3);
        prioritize(&mut gpt, 3);
        assert_eq!(prio(&gpt, 1).priority, 2);
        assert_eq!(prio(&gpt, 0).priority, 1);
    }

    #[test]
    fn decrements_tries_of_the_chosen_slot() {
        let p = |priority, tries, successful| GptPrio {
            priority,
            tries,
            successful,
        };
        let mut gpt = Gpt {
            sector_size: 512,
            total_sectors: 100_000,
            disk_guid: Uuid::from_u128(1),
            partitions: vec![part(2, p(1, 0, true)), part(3, p(2, 1, false))],
        };
        let (chosen, changed) = choose_slot(&mut gpt).unwrap();
        assert_eq!((chosen.number, changed), (3, true));
        assert_eq!(
            GptPrio::from_attributes(gpt.partitions[1].attributes),
            p(2, 0, false)
        );
        let (chosen, changed) = choose_slot(&mut gpt).unwrap();
        assert_eq!((chosen.number, changed), (2, false));
        gpt.partitions[0].attributes = p(0, 0, true).apply(0);
        assert!(
            matches!(choose_slot(&mut gpt), Err(SlotError::NoBootableSlot(m)) if m.contains("2 USR-2 (priority 0"))
        );
    }
}
