//! The keep regex: flatcar-reset's `generate_regex`, with MetalOS's own
//! reset and provisioning files in place of `/flatcar-backup` and
//! `/selective-os-reset`.

use crate::layout::{BACKUP_DIR, KEEP_FILE, MACHINE_ID_FILE, PROVISIONING_DIR};
use crate::ResetError;

/// First characters a keep entry may start with: an absolute path, or a
/// regex construct that can start one.
const STARTS: &[char] = &['/', '\\', '(', '{', '[', '$', '^'];
/// Last characters after which no `ENTRY/.*` alternative is added.
const NO_SUBTREE: &[char] = &['$', ')', '*', ']', '?'];

/// The alternatives always appended: MetalOS's reset state (backup dir,
/// staged regex, kept machine-id) and the staged provisioning sources.
pub fn always_kept() -> String {
    [
        format!("/{BACKUP_DIR}"),
        format!("/{BACKUP_DIR}/.*"),
        format!("/{KEEP_FILE}"),
        format!("/{MACHINE_ID_FILE}"),
        format!("/{PROVISIONING_DIR}"),
        format!("/{PROVISIONING_DIR}/.*"),
    ]
    .join("|")
}

/// Checks one `--keep-paths` entry as flatcar-reset does: it must start
/// with one of `/ \ ( { [ $ ^` and must not start with `./`.
pub fn check_entry(entry: &str) -> Result<(), ResetError> {
    if entry.starts_with("./") || !entry.starts_with(STARTS) {
        return Err(ResetError::BadKeepPath(entry.to_string()));
    }
    Ok(())
}

/// Builds the keep ERE from `--keep-paths` entries (flatcar-reset's
/// `generate_regex`): per entry strip one trailing `/`; if it starts with
/// `/` and does not end in `$ ) * ] ?`, emit `ENTRY/.*|` (keep the
/// subtree); always emit `ENTRY|`; then the [`always_kept`] alternatives,
/// all wrapped in `( … )`.
///
/// The entry is checked before the slash is stripped, so `/` is accepted
/// and becomes an empty alternative that keeps nothing (Flatcar's quirk).
pub fn keep_regex(entries: &[String]) -> Result<String, ResetError> {
    let mut out = String::from("(");
    for entry in entries {
        check_entry(entry)?;
        let e = entry.strip_suffix('/').unwrap_or(entry);
        if e.starts_with('/') && !e.ends_with(NO_SUBTREE) {
            out.push_str(e);
            out.push_str("/.*|");
        }
        out.push_str(e);
        out.push('|');
    }
    out.push_str(&always_kept());
    out.push(')');
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn re(entries: &[&str]) -> String {
        keep_regex(&entries.iter().map(|s| s.to_string()).collect::<Vec<_>>()).unwrap()
    }

    const TAIL: &str = "/var/lib/metalos/reset-backup|/var/lib/metalos/reset-backup/.*|\
/var/lib/metalos/reset-keep|/var/lib/metalos/reset-machine-id|\
/var/lib/metalos/provisioning|/var/lib/metalos/provisioning/.*";

    #[test]
    fn directory_keeps_its_subtree() {
        assert_eq!(re(&["/var/log"]), format!("(/var/log/.*|/var/log|{TAIL})"));
    }

    #[test]
    fn regex_ending_in_star_adds_no_subtree() {
        assert_eq!(
            re(&["/etc/ssh/ssh_host_.*"]),
            format!("(/etc/ssh/ssh_host_.*|{TAIL})")
        );
    }

    #[test]
    fn forms_that_keep_only_the_directory() {
        assert_eq!(
            re(&["^/etc/mypath", "/etc/mypat[h]", "(/etc/mypath)"]),
            format!("(^/etc/mypath|/etc/mypat[h]|(/etc/mypath)|{TAIL})")
        );
        for e in ["/etc/a$", "/etc/a?"] {
            assert_eq!(re(&[e]), format!("({e}|{TAIL})"));
        }
    }

    #[test]
    fn one_trailing_slash_is_stripped() {
        assert_eq!(re(&["/var/log/"]), format!("(/var/log/.*|/var/log|{TAIL})"));
        assert_eq!(
            re(&["/var/log//"]),
            format!("(/var/log//.*|/var/log/|{TAIL})")
        );
    }

    #[test]
    fn keep_paths_root_keeps_nothing() {
        assert_eq!(re(&["/"]), format!("(|{TAIL})"));
    }

    #[test]
    fn no_entries_is_a_full_wipe() {
        assert_eq!(re(&[]), format!("({TAIL})"));
    }

    #[test]
    fn accepted_and_rejected_starts() {
        for ok in ["\\/x", "(/x)", "{1}/x", "[/]x", "$", "^/x"] {
            assert!(check_entry(ok).is_ok(), "{ok}");
        }
        for bad in ["./x", "x", "", ".*", "*/x", "etc/x"] {
            let e = keep_regex(&[bad.to_string()]).unwrap_err();
            assert!(
                e.to_string()
                    .contains("must be an absolute path or a regex for an absolute path"),
                "{bad}: {e}"
            );
        }
    }
}
