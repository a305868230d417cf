//! The node's identity: its id (sent to the channel's server and as the
//! FleetLock `id`) and its rollout wariness.
//!
//! The default id is Zincati's: systemd's app-specific machine id
//! (`systemd-id128 machine-id -a <app id>`) for Zincati's app id, so a
//! host keeps the id a Fedora CoreOS agent would have given it and
//! `/etc/machine-id` itself never leaves the host.

use hmac::{Hmac, KeyInit, Mac};
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};

/// Zincati's application id for the node id.
pub const ZINCATI_APP_ID: &str = "de35106b6ec24688b63afddaa156679b";

/// The machine id file.
pub const MACHINE_ID: &str = "/etc/machine-id";

/// The smallest derived wariness (as Fedora CoreOS's server: never 0,
/// which is reserved for canaries that ask for it).
const MIN_DERIVED_WARINESS: f64 = 0.000_001;

/// Why the node id could not be worked out.
#[derive(Debug, thiserror::Error)]
pub enum IdentityError {
    /// An id argument is not 32 hex digits (or a dashed UUID).
    #[error("{what} {value:?} is not a 128-bit id (32 hex digits)")]
    BadId {
        /// Which id (`machine id`, `app id`, `node_uuid`).
        what: &'static str,
        /// The text given.
        value: String,
    },
    /// The machine id file could not be read.
    #[error("{}: cannot read the machine id: {source}", path.display())]
    ReadMachineId {
        /// The file.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// The machine id file holds no usable id (empty, `uninitialized`,
    /// all zeros, not hex).
    #[error("{}: {content:?} is not a machine id (32 hex digits, not all zero)", path.display())]
    BadMachineId {
        /// The file.
        path: PathBuf,
        /// Its first line.
        content: String,
    },
}

/// Parses a 128-bit id: 32 hex digits, or the dashed UUID form
/// (8-4-4-4-12), either case.
fn parse_id128(text: &str) -> Option<[u8; 16]> {
    let plain: String = if text.len() == 36 {
        let dashes = [8, 13, 18, 23];
        let ok = text
            .char_indices()
            .all(|(i, c)| (c == '-') == dashes.contains(&i));
        if !ok {
            return None;
        }
        text.chars().filter(|c| *c != '-').collect()
    } else {
        text.to_string()
    };
    if plain.len() != 32 || !plain.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    let mut id = [0u8; 16];
    hex::decode_to_slice(&plain, &mut id).ok()?;
    Some(id)
}

/// systemd's `sd_id128_get_machine_app_specific`: HMAC-SHA256 keyed with
/// the machine id's 16 bytes over the app id's 16 bytes, the first 16
/// bytes made a version-4 UUID, as 32 lower-case hex digits.
pub fn app_specific_id(machine_id: &str, app_id: &str) -> Result<String, IdentityError> {
    let bad = |what, value: &str| IdentityError::BadId {
        what,
        value: value.to_string(),
    };
    let key = parse_id128(machine_id).ok_or_else(|| bad("machine id", machine_id))?;
    let app = parse_id128(app_id).ok_or_else(|| bad("app id", app_id))?;
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(&key).expect("HMAC takes any key");
    mac.update(&app);
    let digest = mac.finalize().into_bytes();
    let mut id = [0u8; 16];
    id.copy_from_slice(&digest[..16]);
    id[6] = (id[6] & 0x0F) | 0x40;
    id[8] = (id[8] & 0x3F) | 0x80;
    Ok(hex::encode(id))
}

/// The node id: `configured` (`identity.node_uuid`, lower-cased) when
/// set, else the app-specific id for [`ZINCATI_APP_ID`] of the machine
/// id in `machine_id_path` (normally [`MACHINE_ID`]).
pub fn node_id(configured: Option<&str>, machine_id_path: &Path) -> Result<String, IdentityError> {
    if let Some(uuid) = configured {
        let valid = uuid.len() == 32 && parse_id128(uuid).is_some();
        if !valid {
            return Err(IdentityError::BadId {
                what: "node_uuid",
                value: uuid.to_string(),
            });
        }
        return Ok(uuid.to_ascii_lowercase());
    }
    let text = std::fs::read_to_string(machine_id_path).map_err(|source| {
        IdentityError::ReadMachineId {
            path: machine_id_path.to_path_buf(),
            source,
        }
    })?;
    let line = text.strip_suffix('\n').unwrap_or(&text);
    let usable = line.len() == 32 && parse_id128(line).is_some_and(|id| id != [0; 16]);
    if !usable {
        return Err(IdentityError::BadMachineId {
            path: machine_id_path.to_path_buf(),
            content: text.lines().next().unwrap_or("").to_string(),
        });
    }
    app_specific_id(line, ZINCATI_APP_ID)
}

/// A wariness derived from the node id, for nodes that configure none:
/// the first 8 bytes of sha256(node id) as a fraction of `u64::MAX`, at
/// least 0.000001. Deterministic, spread evenly over (0, 1].
pub fn derived_wariness(node_id: &str) -> f64 {
    let digest = Sha256::digest(node_id.as_bytes());
    let mut first = [0u8; 8];
    first.copy_from_slice(&digest[..8]);
    let fraction = u64::from_be_bytes(first) as f64 / u64::MAX as f64;
    fraction.clamp(MIN_DERIVED_WARINESS, 1.0)
}

/// The wariness to use: `configured` (`identity.rollout_wariness`,
/// clamped to [0, 1]; NaN counts as unset) when set, else
/// [`derived_wariness`].
pub fn wariness(configured: Option<f64>, node_id: &str) -> f64 {
    match configured {
        Some(w) if w.is_nan() => derived_wariness(node_id),
        Some(w) => w.clamp(0.0, 1.0),
        None => derived_wariness(node_id),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Produced with `systemd-id128 machine-id -a <app id>` (systemd 252)
    /// with 5e7a1c0f2b3d4e5f60718293a4b5c6d7 bind-mounted over
    /// /etc/machine-id in `unshare -m`, and cross-checked with Python's
    /// hmac module.
    const VECTORS: [(&str, &str, &str); 2] = [
        (
            "5e7a1c0f2b3d4e5f60718293a4b5c6d7",
            ZINCATI_APP_ID,
            "a09304290740491283a8754761f80e3e",
        ),
        (
            "5e7a1c0f2b3d4e5f60718293a4b5c6d7",
            "0123456789abcdef0123456789abcdef",
            "3ca81fe3317f4cdd8689523f8dbf55f0",
        ),
    ];

    #[test]
    fn app_specific_id_matches_systemd_vectors() {
        for (machine, app, want) in VECTORS {
            assert_eq!(app_specific_id(machine, app).unwrap(), want);
            assert_eq!(app_specific_id(&machine.to_uppercase(), app).unwrap(), want);
        }
        let dashed = "5e7a1c0f-2b3d-4e5f-6071-8293a4b5c6d7";
        assert_eq!(
            app_specific_id(dashed, ZINCATI_APP_ID).unwrap(),
            VECTORS[0].2
        );
    }

    #[test]
    fn app_specific_id_matches_systemd_on_this_host() {
        let tool = Path::new("/usr/bin/systemd-id128");
        let host = Path::new(MACHINE_ID);
        if !tool.exists() || !host.exists() {
            eprintln!("skipped: no systemd-id128 or {MACHINE_ID}");
            return;
        }
        let out = std::process::Command::new(tool)
            .args(["machine-id", "-a", ZINCATI_APP_ID])
            .output()
            .unwrap();
        if !out.status.success() {
            eprintln!("skipped: systemd-id128 failed: {out:?}");
            return;
        }
        let want = String::from_utf8(out.stdout).unwrap();
        assert_eq!(node_id(None, host).unwrap(), want.trim());
    }

    #[test]
    fn bad_ids_are_refused() {
        for bad in [
            "",
            "5e7a",
            "zz7a1c0f2b3d4e5f60718293a4b5c6d7",
            "5e7a1c0f-2b3d4e5f-6071-8293a4b5c6d7",
        ] {
            assert!(app_specific_id(bad, ZINCATI_APP_ID).is_err(), "{bad:?}");
            assert!(app_specific_id(VECTORS[0].0, bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn node_id_prefers_the_configured_uuid() {
        let missing = Path::new("/nonexistent/machine-id");
        let id = node_id(Some("27E3AC02AF3946AF995C9940E18B0CCE"), missing).unwrap();
        assert_eq!(id, "27e3ac02af3946af995c9940e18b0cce");
        let err = node_id(Some("27e3ac02-af39-46af-995c-9940e18b0cce"), missing).unwrap_err();
        assert!(matches!(
            err,
            IdentityError::BadId {
                what: "node_uuid",
                ..
            }
        ));
    }

    #[test]
    fn node_id_from_the_machine_id_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("machine-id");
        std::fs::write(&path, format!("{}\n", VECTORS[0].0)).unwrap();
        assert_eq!(node_id(None, &path).unwrap(), VECTORS[0].2);

        for bad in [
            "",
            "uninitialized\n",
            "00000000000000000000000000000000\n",
            "5e7a\n",
        ] {
            std::fs::write(&path, bad).unwrap();
            let err = node_id(None, &path).unwrap_err().to_string();
            assert!(err.starts_with(&path.display().to_string()), "{err}");
        }
        let missing = dir.path().join("absent");
        let err = node_id(None, &missing).unwrap_err().to_string();
        assert!(err.contains(&missing.display().to_string()), "{err}");
    }

    #[test]
    fn derived_wariness_is_deterministic_and_in_range() {
        let w = derived_wariness(VECTORS[0].2);
        assert_eq!(w, derived_wariness(VECTORS[0].2));
        let mut seen = Vec::new();
        for i in 0..1000 {
            let w = derived_wariness(&format!("{i:032x}"));
            assert!(w > 0.0 && w <= 1.0, "{w}");
            assert!(w >= MIN_DERIVED_WARINESS);
            seen.push(w);
        }
        // Spread over the range, not bunched.
        assert!(seen.iter().any(|w| *w < 0.1) && seen.iter().any(|w| *w > 0.9));
        let mean = seen.iter().sum::<f64>() / seen.len() as f64;
        assert!((0.45..0.55).contains(&mean), "{mean}");
    }

    #[test]
    fn configured_wariness_wins_and_is_clamped() {
        let id = VECTORS[0].2;
        assert_eq!(wariness(Some(0.0), id), 0.0);
        assert_eq!(wariness(Some(0.25), id), 0.25);
        assert_eq!(wariness(Some(7.0), id), 1.0);
        assert_eq!(wariness(Some(-1.0), id), 0.0);
        assert_eq!(wariness(None, id), derived_wariness(id));
        assert_eq!(wariness(Some(f64::NAN), id), derived_wariness(id));
    }
}
