//! Parsing key lines and fragments; fingerprints of fixed keys.

mod common;

use common::*;
use metalos_sshkeys::{Entry, KeyError, KeyKind, KeySet, PublicKey};

#[test]
fn upstream_fixtures_match_ssh_keygen() {
    for (line, expected) in [VALID1, VALID2, VALID3, VALID4].iter().zip(KEYGEN_LINES) {
        let key = PublicKey::parse(line).unwrap();
        assert_eq!(key.fingerprint_line(), expected);
        assert_eq!(key.line(), *line);
    }
}

#[test]
fn options_are_kept_verbatim() {
    let key = PublicKey::parse(VALID2).unwrap();
    assert_eq!(key.options(), Some(r#"command="echo \"test\"""#));
    assert_eq!(key.key_type(), "ssh-dss");
    assert_eq!(key.kind(), KeyKind::Dsa);
    assert_eq!(key.comment(), Some("core@valid2"));

    let plain = VALID3;
    for opts in [
        "no-pty",
        "restrict,command=\"a b\"",
        "from=\"10.0.0.0/8\",no-agent-forwarding",
        "environment=\"A=b c\",tunnel=\"1\"",
    ] {
        let line = format!("{opts} {plain}");
        let key = PublicKey::parse(&line).unwrap();
        assert_eq!(key.options(), Some(opts), "{line}");
        assert_eq!(key.kind(), KeyKind::Ed25519Sk);
        assert_eq!(key.line(), line);
    }
}

#[test]
fn comments_keep_all_words_and_whitespace_is_trimmed() {
    let line = format!("\t {VALID3} and more words  \r");
    let key = PublicKey::parse(&line).unwrap();
    assert_eq!(key.comment(), Some("demos@siril and more words"));
    assert_eq!(key.line(), format!("{VALID3} and more words"));
    let no_comment = VALID3.rsplit_once(' ').unwrap().0;
    assert_eq!(PublicKey::parse(no_comment).unwrap().comment(), None);
}

#[test]
fn bad_lines_are_refused_with_a_reason() {
    let (ty, b64) = VALID3
        .split_once(' ')
        .map(|(t, r)| (t, r.split(' ').next().unwrap()))
        .unwrap();
    let cases: Vec<(String, KeyError)> = vec![
        (BAD.into(), KeyError::UnsupportedType("ssh-bad".into())),
        (
            "no-pty ssh-foo AAAA".into(),
            KeyError::UnsupportedType("ssh-foo".into()),
        ),
        ("ssh-ed25519".into(), KeyError::MissingData),
        (
            "ssh-ed25519 !!!!".into(),
            KeyError::Base64("Invalid symbol 33, offset 0.".into()),
        ),
        (
            format!("ssh-ed25519 {b64}"),
            KeyError::TypeMismatch {
                declared: "ssh-ed25519".into(),
                embedded: ty.into(),
            },
        ),
        (
            "command=\"oops ssh-ed25519 AAAA".into(),
            KeyError::UnterminatedQuote,
        ),
        // "ssh-ed25519" + a 3-byte key.
        (
            "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAAwECAw==".into(),
            KeyError::Invalid("ed25519 key is not 32 bytes"),
        ),
        // "ssh-ed25519" + length 64 with 3 bytes.
        (
            "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAQAECAw==".into(),
            KeyError::Truncated,
        ),
    ];
    for (line, err) in cases {
        assert_eq!(PublicKey::parse(&line), Err(err), "{line}");
    }
    // Trailing bytes after the last field.
    let mut blob = PublicKey::parse(VALID3).unwrap().blob().to_vec();
    blob.push(0);
    use base64::Engine;
    let line = format!(
        "{ty} {}",
        base64::engine::general_purpose::STANDARD.encode(&blob)
    );
    assert_eq!(PublicKey::parse(&line), Err(KeyError::TrailingData(1)));
}

#[test]
fn keyset_skips_blanks_and_comments_and_keeps_bad_lines() {
    let text = format!("# a comment\n\n   \n  # indented comment\n{VALID1}\n{BAD}\r\n{VALID3}\n");
    let set = KeySet::parse(&text);
    assert!(!set.is_disabled());
    assert_eq!(set.entries().len(), 3);
    assert_eq!(
        set.keys().map(|k| k.line()).collect::<Vec<_>>(),
        [VALID1, VALID3]
    );
    assert!(matches!(&set.entries()[1], Entry::Invalid { line, .. } if line == BAD));
    let warnings: Vec<String> = set.warnings().collect();
    assert_eq!(
        warnings,
        [format!(
            "warning: failed to parse public key \"{BAD}\": unsupported key type \"ssh-bad\", omitting from authorized_keys"
        )]
    );
    assert_eq!(set.to_fragment(), format!("{VALID1}\n{BAD}\n{VALID3}\n"));
}

#[test]
fn empty_or_comment_only_sets_are_disabled() {
    assert!(KeySet::parse("").is_disabled());
    assert!(KeySet::parse("# nothing here\n\n").is_disabled());
    assert!(
        !KeySet::parse(BAD).is_disabled(),
        "a bad line still counts (as upstream)"
    );
}
