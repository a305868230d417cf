//! One public key line of an `authorized_keys` file:
//! `[options] keytype base64-blob [comment]` (sshd(8) AUTHORIZED_KEYS FILE
//! FORMAT). The blob is decoded and checked field by field; the type string
//! inside it must match the line's type word.

use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD};
use base64::Engine;
use sha2::{Digest, Sha256};

use crate::error::KeyError;
use crate::wire::Reader;

/// The key types accepted: the ones the `openssh-keys` crate (and so
/// update-ssh-keys) accepts. Certificates are not keys here.
pub const KEY_TYPES: &[&str] = &[
    "ssh-rsa",
    "ssh-dss",
    "ssh-ed25519",
    "ecdsa-sha2-nistp256",
    "ecdsa-sha2-nistp384",
    "ecdsa-sha2-nistp521",
    "sk-ecdsa-sha2-nistp256@openssh.com",
    "sk-ssh-ed25519@openssh.com",
];

/// Option words that take no value (sshd(8)), to tell a misspelled key type
/// from an options field.
const FLAG_OPTIONS: &[&str] = &[
    "agent-forwarding",
    "cert-authority",
    "no-agent-forwarding",
    "no-port-forwarding",
    "no-pty",
    "no-touch-required",
    "no-user-rc",
    "no-X11-forwarding",
    "port-forwarding",
    "pty",
    "restrict",
    "touch-required",
    "user-rc",
    "verify-required",
    "X11-forwarding",
];

/// The algorithm family of a key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyKind {
    /// `ssh-rsa`.
    Rsa,
    /// `ssh-dss`.
    Dsa,
    /// `ecdsa-sha2-nistp*`.
    Ecdsa,
    /// `ssh-ed25519`.
    Ed25519,
    /// `sk-ecdsa-sha2-nistp256@openssh.com` (FIDO).
    EcdsaSk,
    /// `sk-ssh-ed25519@openssh.com` (FIDO).
    Ed25519Sk,
}

impl KeyKind {
    /// The label `ssh-keygen -l` prints in parentheses (`ED25519`, `ECDSA-SK`).
    pub fn label(self) -> &'static str {
        match self {
            KeyKind::Rsa => "RSA",
            KeyKind::Dsa => "DSA",
            KeyKind::Ecdsa => "ECDSA",
            KeyKind::Ed25519 => "ED25519",
            KeyKind::EcdsaSk => "ECDSA-SK",
            KeyKind::Ed25519Sk => "ED25519-SK",
        }
    }
}

/// A validated public key line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublicKey {
    line: String,
    options: Option<String>,
    key_type: String,
    blob: Vec<u8>,
    comment: Option<String>,
    kind: KeyKind,
    bits: u32,
}

impl PublicKey {
    /// Parses one line (surrounding whitespace is ignored).
    pub fn parse(line: &str) -> Result<PublicKey, KeyError> {
        let line = line.trim();
        if line.is_empty() {
            return Err(KeyError::Empty);
        }
        let (first, after_first) = split_word(line);
        let (options, key_type, rest) = if KEY_TYPES.contains(&first) {
            (None, first, after_first)
        } else {
            let (options, rest) = split_options(line)?;
            let (key_type, rest) = split_word(rest);
            if !KEY_TYPES.contains(&key_type) {
                let shown = if key_type.is_empty() || !looks_like_options(first) {
                    first
                } else {
                    key_type
                };
                return Err(KeyError::UnsupportedType(shown.to_string()));
            }
            (Some(options.to_string()), key_type, rest)
        };
        let (data, comment) = split_word(rest);
        if data.is_empty() {
            return Err(KeyError::MissingData);
        }
        let blob = STANDARD
            .decode(data)
            .map_err(|e| KeyError::Base64(e.to_string()))?;
        let (kind, bits) = check_blob(key_type, &blob)?;
        Ok(PublicKey {
            line: line.to_string(),
            options,
            key_type: key_type.to_string(),
            blob,
            comment: (!comment.is_empty()).then(|| comment.to_string()),
            kind,
            bits,
        })
    }

    /// The line as read, without surrounding whitespace: what is written to
    /// `authorized_keys` (options and multi-word comments kept verbatim).
    pub fn line(&self) -> &str {
        &self.line
    }

    /// The options field (`command="…",no-pty`), if any.
    pub fn options(&self) -> Option<&str> {
        self.options.as_deref()
    }

    /// The key type word (`ssh-ed25519`).
    pub fn key_type(&self) -> &str {
        &self.key_type
    }

    /// The decoded key blob.
    pub fn blob(&self) -> &[u8] {
        &self.blob
    }

    /// The comment (everything after the blob), if any.
    pub fn comment(&self) -> Option<&str> {
        self.comment.as_deref()
    }

    /// The algorithm family.
    pub fn kind(&self) -> KeyKind {
        self.kind
    }

    /// The key size in bits as `ssh-keygen -l` reports it.
    pub fn bits(&self) -> u32 {
        self.bits
    }

    /// `SHA256:` + unpadded base64 of the SHA-256 of the blob (`ssh-keygen -l`).
    pub fn fingerprint(&self) -> String {
        format!(
            "SHA256:{}",
            STANDARD_NO_PAD.encode(Sha256::digest(&self.blob))
        )
    }

    /// The line `ssh-keygen -lf` prints:
    /// `256 SHA256:… comment (ED25519)` (`no comment` when there is none).
    pub fn fingerprint_line(&self) -> String {
        format!(
            "{} {} {} ({})",
            self.bits,
            self.fingerprint(),
            self.comment().unwrap_or("no comment"),
            self.kind.label()
        )
    }
}

impl std::str::FromStr for PublicKey {
    type Err = KeyError;
    fn from_str(s: &str) -> Result<PublicKey, KeyError> {
        PublicKey::parse(s)
    }
}

/// Splits off the first word; the rest has its leading whitespace removed.
fn split_word(s: &str) -> (&str, &str) {
    let s = s.trim_start();
    match s.find([' ', '\t']) {
        Some(i) => (&s[..i], s[i..].trim()),
        None => (s, ""),
    }
}

/// Splits off the options field: up to the first space or tab outside
/// double quotes (`\"` inside quotes is an escaped quote).
fn split_options(line: &str) -> Result<(&str, &str), KeyError> {
    let mut quoted = false;
    let mut escaped = false;
    for (i, c) in line.char_indices() {
        if escaped {
            escaped = false;
        } else if c == '\\' && quoted {
            escaped = true;
        } else if c == '"' {
            quoted = !quoted;
        } else if !quoted && (c == ' ' || c == '\t') {
            return Ok((&line[..i], line[i..].trim_start()));
        }
    }
    if quoted {
        return Err(KeyError::UnterminatedQuote);
    }
    Ok((line, ""))
}

/// Whether a word reads as an options field rather than a key type.
fn looks_like_options(word: &str) -> bool {
    word.contains(['=', ',', '"']) || FLAG_OPTIONS.contains(&word)
}

/// Checks the blob of a `key_type` key; returns its kind and size in bits.
fn check_blob(key_type: &str, blob: &[u8]) -> Result<(KeyKind, u32), KeyError> {
    let mut r = Reader::new(blob);
    let embedded = r.string()?;
    if embedded != key_type.as_bytes() {
        return Err(KeyError::TypeMismatch {
            declared: key_type.to_string(),
            embedded: String::from_utf8_lossy(embedded).into_owned(),
        });
    }
    let result = match key_type {
        "ssh-rsa" => {
            let e = r.mpint_bits()?;
            let n = r.mpint_bits()?;
            if e == 0 || n == 0 {
                return Err(KeyError::Invalid("zero RSA exponent or modulus"));
            }
            (KeyKind::Rsa, n)
        }
        "ssh-dss" => {
            let p = r.mpint_bits()?;
            for _ in 0..3 {
                r.mpint_bits()?;
            }
            (KeyKind::Dsa, p)
        }
        "ssh-ed25519" => {
            ed25519_point(r.string()?)?;
            (KeyKind::Ed25519, 256)
        }
        "sk-ssh-ed25519@openssh.com" => {
            ed25519_point(r.string()?)?;
            r.string()?; // application
            (KeyKind::Ed25519Sk, 256)
        }
        "sk-ecdsa-sha2-nistp256@openssh.com" => {
            ecdsa_point(&mut r, "nistp256")?;
            r.string()?; // application
            (KeyKind::EcdsaSk, 256)
        }
        _ => {
            let curve = key_type.trim_start_matches("ecdsa-sha2-");
            (KeyKind::Ecdsa, ecdsa_point(&mut r, curve)?)
        }
    };
    r.finish()?;
    Ok(result)
}

fn ed25519_point(point: &[u8]) -> Result<(), KeyError> {
    match point.len() {
        32 => Ok(()),
        _ => Err(KeyError::Invalid("ed25519 key is not 32 bytes")),
    }
}

/// Reads the curve name (must be `curve`) and an uncompressed point; returns
/// the curve size in bits.
fn ecdsa_point(r: &mut Reader<'_>, curve: &str) -> Result<u32, KeyError> {
    if r.string()? != curve.as_bytes() {
        return Err(KeyError::Invalid("ECDSA curve does not match the key type"));
    }
    let bits = match curve {
        "nistp256" => 256,
        "nistp384" => 384,
        _ => 521,
    };
    let point = r.string()?;
    let coordinate = (bits as usize).div_ceil(8);
    if point.len() != 1 + 2 * coordinate || point[0] != 4 {
        return Err(KeyError::Invalid(
            "ECDSA point is not an uncompressed point",
        ));
    }
    Ok(bits)
}
