//! Id allocation exactly like shadow-utils 4.13 `find_new_uid` /
//! `find_new_gid` (the two are the same algorithm over passwd or group).

use super::defs::LoginDefs;

/// The allocation range for one kind of id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Range {
    /// Lowest id handed out automatically.
    pub min: u32,
    /// Highest id handed out automatically.
    pub max: u32,
    /// Lowest id a preferred (requested) id may have.
    pub preferred_min: u32,
    /// System ids are allocated from the top down.
    pub system: bool,
}

impl Range {
    /// `get_ranges`: `kind` is `"UID"` or `"GID"`.
    pub(crate) fn new(defs: &LoginDefs, kind: &str, system: bool) -> Option<Range> {
        let id_min = defs.ulong(&format!("{kind}_MIN"), 1000);
        let r = if system {
            let min = defs.ulong(&format!("SYS_{kind}_MIN"), 101);
            let max = defs.ulong(&format!("SYS_{kind}_MAX"), id_min.wrapping_sub(1));
            if max < min {
                return None;
            }
            Range {
                min: min.max(1),
                max,
                preferred_min: 1,
                system,
            }
        } else {
            let max = defs.ulong(&format!("{kind}_MAX"), 60000);
            if max < id_min {
                return None;
            }
            Range {
                min: id_min,
                max,
                preferred_min: id_min,
                system,
            }
        };
        Some(r)
    }
}

/// Picks a new id. `used` lists the ids in the file, in file order;
/// `preferred` is taken when in `[preferred_min, max]` and unused.
pub(crate) fn find_new_id(used: &[u32], range: Range, preferred: Option<u32>) -> Option<u32> {
    let taken = |id: u32| used.contains(&id);
    if let Some(p) = preferred {
        if p >= range.preferred_min && p <= range.max && !taken(p) {
            return Some(p);
        }
    }
    let (min, max) = (range.min, range.max);
    let mut highest = min;
    let mut lowest = max;
    for &id in used {
        if id <= lowest && id >= min {
            lowest = id - 1;
        }
        if id >= highest && id <= max {
            highest = id.saturating_add(1);
        }
    }
    if range.system {
        let start = if lowest < min { max } else { lowest };
        let first = (min..=start).rev().find(|&id| !taken(id));
        if first.is_some() || start == max {
            return first;
        }
        (min..=max).rev().find(|&id| !taken(id))
    } else {
        let start = if highest > max { min } else { highest };
        let first = (start..=max).find(|&id| !taken(id));
        if first.is_some() || start == min {
            return first;
        }
        (min..=max).find(|&id| !taken(id))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn range(system: bool) -> Range {
        Range::new(&LoginDefs::default(), "UID", system).unwrap()
    }

    #[test]
    fn ranges_default() {
        assert_eq!(
            range(false),
            Range {
                min: 1000,
                max: 60000,
                preferred_min: 1000,
                system: false
            }
        );
        assert_eq!(
            range(true),
            Range {
                min: 101,
                max: 999,
                preferred_min: 1,
                system: true
            }
        );
        let d = LoginDefs::parse("SYS_UID_MIN 500\nSYS_UID_MAX 400\n");
        assert!(Range::new(&d, "UID", true).is_none());
    }

    #[test]
    fn regular_after_highest() {
        assert_eq!(find_new_id(&[0, 65534], range(false), None), Some(1000));
        assert_eq!(
            find_new_id(&[0, 1000, 1005, 1001], range(false), None),
            Some(1006)
        );
        // A gap below the highest is not reused.
        assert_eq!(find_new_id(&[1002], range(false), None), Some(1003));
        // Full at the top: the lowest gap.
        assert_eq!(find_new_id(&[1000, 60000], range(false), None), Some(1001));
    }

    #[test]
    fn system_downward() {
        assert_eq!(find_new_id(&[0], range(true), None), Some(999));
        assert_eq!(find_new_id(&[999, 998], range(true), None), Some(997));
        assert_eq!(find_new_id(&[500], range(true), None), Some(499));
        // In use at the minimum: restart from the top.
        assert_eq!(find_new_id(&[101, 999], range(true), None), Some(998));
    }

    #[test]
    fn preferred() {
        assert_eq!(find_new_id(&[1000], range(false), Some(1005)), Some(1005));
        assert_eq!(
            find_new_id(&[1000, 1005], range(false), Some(1005)),
            Some(1006)
        );
        // Below the regular range: not preferred.
        assert_eq!(find_new_id(&[1000], range(false), Some(500)), Some(1001));
        assert_eq!(find_new_id(&[], range(true), Some(50)), Some(50));
    }
}
