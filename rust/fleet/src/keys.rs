//! The keys the fleet server keeps in etcd (docs/fleet-server.md, "Data
//! in etcd"). Group names, host ids and versions inside keys are escaped
//! as Go's `url.QueryEscape` does (airlock's rule for the group), so no
//! name can reach into another key's path.

/// Prefix of airlock's semaphore keys.
pub const SEMAPHORE_PREFIX: &str = "com.coreos.airlock/groups/";
/// Suffix of airlock's semaphore keys.
pub const SEMAPHORE_SUFFIX: &str = "/v1/semaphore";
/// Prefix of the holder-since keys (`<group>/<id>`).
pub const HELD_PREFIX: &str = "metalos/fleet/held/";
/// Prefix of the host reports (`<id>`).
pub const HOSTS_PREFIX: &str = "metalos/fleet/hosts/";
/// Prefix of the halted releases (`<version>`).
pub const HALTED_PREFIX: &str = "metalos/fleet/halted/";
/// Prefix of the resume markers (`<version>`).
pub const RESUMED_PREFIX: &str = "metalos/fleet/resumed/";
/// Prefix of the admin log (`<unix nanoseconds, 20 digits>`).
pub const LOG_PREFIX: &str = "metalos/fleet/log/";

/// airlock's semaphore key of `group`:
/// `com.coreos.airlock/groups/<group>/v1/semaphore`.
pub fn semaphore(group: &str) -> String {
    format!(
        "{SEMAPHORE_PREFIX}{}{SEMAPHORE_SUFFIX}",
        query_escape(group)
    )
}

/// The group of a semaphore key, `None` for any other key.
pub fn semaphore_group(key: &str) -> Option<String> {
    let middle = key
        .strip_prefix(SEMAPHORE_PREFIX)?
        .strip_suffix(SEMAPHORE_SUFFIX)?;
    query_unescape(middle)
}

/// When `id` took its slot in `group`: `metalos/fleet/held/<group>/<id>`.
pub fn held(group: &str, id: &str) -> String {
    format!("{HELD_PREFIX}{}/{}", query_escape(group), query_escape(id))
}

/// The (group, id) of a holder-since key.
pub fn held_parts(key: &str) -> Option<(String, String)> {
    let (group, id) = key.strip_prefix(HELD_PREFIX)?.split_once('/')?;
    Some((query_unescape(group)?, query_unescape(id)?))
}

/// The last report of host `id`: `metalos/fleet/hosts/<id>`.
pub fn host(id: &str) -> String {
    format!("{HOSTS_PREFIX}{}", query_escape(id))
}

/// The halt of `version`: `metalos/fleet/halted/<version>`.
pub fn halted(version: &str) -> String {
    format!("{HALTED_PREFIX}{}", query_escape(version))
}

/// The last resume of `version`: `metalos/fleet/resumed/<version>`.
pub fn resumed(version: &str) -> String {
    format!("{RESUMED_PREFIX}{}", query_escape(version))
}

/// The name at the end of `key` after `prefix`, unescaped.
pub fn name_after(key: &str, prefix: &str) -> Option<String> {
    query_unescape(key.strip_prefix(prefix)?)
}

/// Go's `url.QueryEscape`: letters, digits and `-_.~` stay, a space
/// becomes `+`, every other byte `%XX` (upper-case hex).
pub fn query_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(b as char)
            }
            b' ' => out.push('+'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// The inverse of [`query_escape`]; `None` for a malformed escape or bytes
/// that are not UTF-8.
pub fn query_unescape(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let hex = std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
                out.push(u8::from_str_radix(hex, 16).ok()?);
                i += 2;
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_have_airlocks_shape() {
        assert_eq!(
            semaphore("default"),
            "com.coreos.airlock/groups/default/v1/semaphore"
        );
        assert_eq!(
            semaphore_group("com.coreos.airlock/groups/a.b-C/v1/semaphore").as_deref(),
            Some("a.b-C")
        );
        assert_eq!(semaphore_group("com.coreos.airlock/groups/x"), None);
        assert_eq!(held("g", "n/1"), "metalos/fleet/held/g/n%2F1");
        assert_eq!(
            held_parts("metalos/fleet/held/g/n%2F1"),
            Some(("g".into(), "n/1".into()))
        );
        assert_eq!(
            name_after(&halted("v 3"), HALTED_PREFIX).as_deref(),
            Some("v 3")
        );
    }

    #[test]
    fn escaping_matches_go_and_round_trips() {
        assert_eq!(query_escape("a b/c?d=é~_"), "a+b%2Fc%3Fd%3D%C3%A9~_");
        for s in ["", "plain", "a b/c?d=é~_%+", "100%"] {
            assert_eq!(query_unescape(&query_escape(s)).as_deref(), Some(s));
        }
        assert_eq!(query_unescape("%zz"), None);
        assert_eq!(query_unescape("%4"), None);
        assert_eq!(query_unescape("%FF"), None);
    }
}
