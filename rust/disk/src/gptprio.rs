//! gptprio attribute bits (ChromeOS/Flatcar): priority 48–51, tries 52–55,
//! successful 56, and the slot choice GRUB's `gptprio.next` makes.

/// Decoded gptprio fields of a partition's attribute word.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct GptPrio {
    /// 0–15; 0 means never boot.
    pub priority: u8,
    /// Remaining boot attempts, 0–15.
    pub tries: u8,
    /// The slot booted successfully at least once.
    pub successful: bool,
}

const PRIO_SHIFT: u32 = 48;
const TRIES_SHIFT: u32 = 52;
const SUCCESS_SHIFT: u32 = 56;
const FIELD_MASK: u64 = (0xf << PRIO_SHIFT) | (0xf << TRIES_SHIFT) | (1 << SUCCESS_SHIFT);

impl GptPrio {
    /// Decodes the gptprio fields of `attributes`.
    pub fn from_attributes(attributes: u64) -> Self {
        Self {
            priority: ((attributes >> PRIO_SHIFT) & 0xf) as u8,
            tries: ((attributes >> TRIES_SHIFT) & 0xf) as u8,
            successful: (attributes >> SUCCESS_SHIFT) & 1 == 1,
        }
    }

    /// Returns `attributes` with the gptprio bits replaced by `self`
    /// (other bits kept). Values above 15 are clamped.
    pub fn apply(&self, attributes: u64) -> u64 {
        let prio = u64::from(self.priority.min(15));
        let tries = u64::from(self.tries.min(15));
        (attributes & !FIELD_MASK)
            | (prio << PRIO_SHIFT)
            | (tries << TRIES_SHIFT)
            | (u64::from(self.successful) << SUCCESS_SHIFT)
    }

    /// Eligible to boot: `tries > 0 || successful`, and priority > 0.
    pub fn bootable(&self) -> bool {
        self.priority > 0 && (self.tries > 0 || self.successful)
    }
}

/// Picks the slot to boot among `(partition number, gptprio)` pairs given in
/// index order: the highest priority among bootable entries, ties going to
/// the lower index. Returns the position in `slots`.
pub fn choose(slots: &[(u32, GptPrio)]) -> Option<usize> {
    let mut best: Option<usize> = None;
    for (i, (_, p)) in slots.iter().enumerate() {
        if !p.bootable() {
            continue;
        }
        if best.is_none_or(|b| p.priority > slots[b].1.priority) {
            best = Some(i);
        }
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(priority: u8, tries: u8, successful: bool) -> GptPrio {
        GptPrio {
            priority,
            tries,
            successful,
        }
    }

    #[test]
    fn encodes_like_flatcar() {
        let word = p(1, 0, true).apply(0);
        assert_eq!(word, (1 << 48) | (1 << 56));
        assert_eq!(GptPrio::from_attributes(word), p(1, 0, true));
        // Unrelated bits survive.
        assert_eq!(p(2, 1, false).apply(1) & 1, 1);
    }

    #[test]
    fn grub_gptprio_test_vectors() {
        let mut slots = vec![(2, p(3, 3, false)), (3, p(2, 2, false)), (4, p(1, 0, true))];
        let mut picked = vec![];
        for _ in 0..8 {
            let i = choose(&slots).unwrap();
            picked.push(slots[i].0);
            if slots[i].1.tries > 0 {
                slots[i].1.tries -= 1;
            }
        }
        assert_eq!(picked, [2, 2, 2, 3, 3, 4, 4, 4]);
        assert_eq!(slots[0].1, p(3, 0, false));
        assert_eq!(slots[1].1, p(2, 0, false));
    }

    #[test]
    fn nothing_bootable() {
        assert_eq!(choose(&[(2, p(0, 0, true)), (3, p(0, 1, false))]), None);
    }
}
