//! A key set: the lines of one `authorized_keys.d` fragment.

use crate::error::KeyError;
use crate::key::PublicKey;

/// One key line of a fragment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Entry {
    /// A key that goes into `authorized_keys`.
    Valid(PublicKey),
    /// A line that is not a usable key: kept in its fragment, left out of
    /// `authorized_keys`.
    Invalid {
        /// The line as read.
        line: String,
        /// Why it was refused.
        error: KeyError,
    },
}

impl Entry {
    /// The line as it is written back to a fragment.
    pub fn line(&self) -> &str {
        match self {
            Entry::Valid(key) => key.line(),
            Entry::Invalid { line, .. } => line,
        }
    }

    /// For an invalid line, the warning update-ssh-keys prints:
    /// `warning: failed to parse public key "…": …, omitting from authorized_keys`.
    pub fn warning(&self) -> Option<String> {
        match self {
            Entry::Valid(_) => None,
            Entry::Invalid { line, error } => Some(format!(
                "warning: failed to parse public key \"{line}\": {error}, omitting from authorized_keys"
            )),
        }
    }
}

/// The key lines of one fragment, in file order. A set without entries is
/// *disabled*.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KeySet {
    entries: Vec<Entry>,
}

impl KeySet {
    /// Parses fragment text: one key per line; blank lines and lines whose
    /// first non-blank character is `#` are skipped. Unparsable lines become
    /// [`Entry::Invalid`].
    pub fn parse(text: &str) -> KeySet {
        let entries = text
            .lines()
            .filter(|l| {
                let t = l.trim();
                !t.is_empty() && !t.starts_with('#')
            })
            .map(|l| match PublicKey::parse(l) {
                Ok(key) => Entry::Valid(key),
                Err(error) => Entry::Invalid {
                    line: l.trim_end_matches('\r').to_string(),
                    error,
                },
            })
            .collect();
        KeySet { entries }
    }

    /// The empty (disabled) set.
    pub fn disabled() -> KeySet {
        KeySet::default()
    }

    /// Every entry, valid or not, in order.
    pub fn entries(&self) -> &[Entry] {
        &self.entries
    }

    /// Whether the set has no entries (an empty or comment-only fragment).
    pub fn is_disabled(&self) -> bool {
        self.entries.is_empty()
    }

    /// The valid keys, in order.
    pub fn keys(&self) -> impl Iterator<Item = &PublicKey> {
        self.entries.iter().filter_map(|e| match e {
            Entry::Valid(key) => Some(key),
            Entry::Invalid { .. } => None,
        })
    }

    /// The warnings for the invalid lines, in order.
    pub fn warnings(&self) -> impl Iterator<Item = String> + '_ {
        self.entries.iter().filter_map(Entry::warning)
    }

    /// Appends the entries of `other` (several input files for one set).
    pub fn extend(&mut self, other: KeySet) {
        self.entries.extend(other.entries);
    }

    /// The fragment file contents: each entry's line plus `\n` (comments
    /// and blank lines of the input are not kept).
    pub fn to_fragment(&self) -> String {
        self.entries
            .iter()
            .map(|e| format!("{}\n", e.line()))
            .collect()
    }
}
