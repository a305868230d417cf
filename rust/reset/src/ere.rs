//! POSIX extended regular expressions (GNU `find -regextype egrep`
//! dialect) translated to Rust `regex` syntax, and a whole-path matcher.
//!
//! The translation is a small recursive-descent parser that emits only
//! unambiguous Rust syntax: every literal is escaped, every group is
//! non-capturing, and every repetition operator after the first one on
//! the same atom wraps what came before (`a+?` is `(?:a+)?`, never lazy).
//! Matching is whole-path (`^(?:…)$`), so POSIX's leftmost-longest and
//! Rust's leftmost-first rules give the same yes/no answer.
//!
//! GNU behaviours reproduced: `\` is literal inside brackets; `\d` and
//! other unknown escapes are the literal letter; `\w \W \s \S \b \B \< \>
//! \` \'` are GNU operators; `*`, `+`, `?`, `{` at the start of an
//! expression (after `(`, `|`, an anchor, or at the beginning) are
//! ignored (one character: `({1}a)` is `(1}a)`); an
//! unmatched `)` and a `{` that does not open a valid interval are
//! literals; `{,n}` is `{0,n}`; `.` and `[^…]` match a newline; a bound
//! above 32767 is an error.
//!
//! Rejected (error) where GNU accepts: back-references `\1`–`\9`. Character
//! classes (`[[:alpha:]]`, `\w`, `\s`) are ASCII; characters are UTF-8
//! (a path that is not UTF-8 still matches where only literals and
//! ASCII classes are involved).

use crate::ResetError;
use std::iter::Peekable;
use std::path::Path;
use std::str::Chars;

/// GNU's `RE_DUP_MAX`.
const DUP_MAX: u32 = 0x7fff;
/// The POSIX character class names.
const CLASSES: &[&str] = &[
    "alnum", "alpha", "blank", "cntrl", "digit", "graph", "lower", "print", "punct", "space",
    "upper", "xdigit",
];

/// A compiled keep regex that matches whole paths.
#[derive(Debug, Clone)]
pub struct Matcher {
    ere: String,
    re: regex::bytes::Regex,
}

impl Matcher {
    /// Compiles the POSIX ERE `ere`.
    pub fn new(ere: &str) -> Result<Self, ResetError> {
        let bad = |reason: String| ResetError::BadRegex {
            pattern: ere.to_string(),
            reason,
        };
        let rust = translate(ere).map_err(bad)?;
        let re = regex::bytes::RegexBuilder::new(&format!("^(?:{rust})$"))
            .size_limit(64 << 20)
            .build()
            .map_err(|e| bad(format!("translated to {rust:?}: {e}")))?;
        Ok(Self {
            ere: ere.to_string(),
            re,
        })
    }

    /// The ERE this matcher was built from.
    pub fn ere(&self) -> &str {
        &self.ere
    }

    /// Whether the whole of `path` matches.
    pub fn is_match(&self, path: &[u8]) -> bool {
        self.re.is_match(path)
    }

    /// Whether the whole of `path` matches.
    pub fn is_match_path(&self, path: &Path) -> bool {
        use std::os::unix::ffi::OsStrExt;
        self.is_match(path.as_os_str().as_bytes())
    }
}

/// Translates a POSIX ERE (GNU egrep dialect) to equivalent Rust `regex`
/// syntax (not anchored). The error is a message in GNU's words where
/// GNU rejects the pattern too.
pub fn translate(ere: &str) -> Result<String, String> {
    let mut p = Parser {
        it: ere.chars().peekable(),
    };
    let out = p.alternation(0)?;
    match p.it.next() {
        None => Ok(out),
        Some(c) => Err(format!("unexpected {c:?}")),
    }
}

struct Parser<'a> {
    it: Peekable<Chars<'a>>,
}

/// `\x{…}` for any character: always literal, in or out of a class.
fn lit(c: char) -> String {
    if c.is_ascii_alphanumeric() || c == '_' || c == '/' {
        c.to_string()
    } else {
        format!("\\x{{{:x}}}", c as u32)
    }
}

impl Parser<'_> {
    /// branch ( `|` branch )*; stops before a `)` closing group `depth`.
    fn alternation(&mut self, depth: usize) -> Result<String, String> {
        let mut out = self.branch(depth)?;
        while self.it.peek() == Some(&'|') {
            self.it.next();
            out.push('|');
            out.push_str(&self.branch(depth)?);
        }
        Ok(out)
    }

    fn branch(&mut self, depth: usize) -> Result<String, String> {
        let mut out = String::new();
        while let Some(&c) = self.it.peek() {
            if c == '|' || (c == ')' && depth > 0) {
                break;
            }
            self.it.next();
            let atom = match c {
                // GNU ignores a repetition operator (even a lone `{`) with
                // nothing to repeat.
                '*' | '+' | '?' | '{' => continue,
                '^' | '$' => {
                    out.push(c);
                    continue;
                }
                '(' => {
                    let inner = self.alternation(depth + 1)?;
                    if self.it.next() != Some(')') {
                        return Err("Unmatched ( or \\(".into());
                    }
                    format!("(?:{inner})")
                }
                '.' => "(?s:.)".to_string(),
                '[' => self.bracket()?,
                '\\' => match self.escape()? {
                    Escape::Atom(a) => a,
                    Escape::Anchor(a) => {
                        out.push_str(&a);
                        continue;
                    }
                },
                c => lit(c),
            };
            out.push_str(&self.repeats(atom)?);
        }
        Ok(out)
    }

    /// Applies every following repetition operator to `atom`; the second
    /// and later ones wrap what came before (POSIX has no lazy operators).
    fn repeats(&mut self, mut atom: String) -> Result<String, String> {
        let mut first = true;
        loop {
            let op = match self.it.peek().copied() {
                Some(c @ ('*' | '+' | '?')) => {
                    self.it.next();
                    c.to_string()
                }
                Some('{') => {
                    self.it.next();
                    match scan_interval(self.it.clone()) {
                        Interval::Valid(rust, used) => {
                            self.it.by_ref().take(used).for_each(drop);
                            rust
                        }
                        Interval::Bad(msg) => return Err(msg.into()),
                        // A literal `{`, itself repeatable.
                        Interval::Literal => return Ok(atom + &self.repeats(lit('{'))?),
                    }
                }
                _ => return Ok(atom),
            };
            atom = if first {
                format!("{atom}{op}")
            } else {
                format!("(?:{atom}){op}")
            };
            first = false;
        }
    }

    fn escape(&mut self) -> Result<Escape, String> {
        let c = self.it.next().ok_or("Trailing backslash")?;
        Ok(match c {
            'w' => Escape::Atom("[_[:alnum:]]".into()),
            'W' => Escape::Atom("[^_[:alnum:]]".into()),
            's' => Escape::Atom("[[:space:]]".into()),
            'S' => Escape::Atom("[^[:space:]]".into()),
            'b' => Escape::Anchor("(?-u:\\b)".into()),
            'B' => Escape::Anchor("(?-u:\\B)".into()),
            '<' => Escape::Anchor("(?-u:\\b{start})".into()),
            '>' => Escape::Anchor("(?-u:\\b{end})".into()),
            '`' => Escape::Anchor("\\A".into()),
            '\'' => Escape::Anchor("\\z".into()),
            '1'..='9' => return Err(format!("back-reference \\{c} is not supported")),
            c => Escape::Atom(lit(c)),
        })
    }

    /// A bracket expression (cursor after `[`). Backslash is literal.
    fn bracket(&mut self) -> Result<String, String> {
        let unmatched = || "Unmatched [, [^, [:, [., or [=".to_string();
        let mut out = String::from("[");
        if self.it.peek() == Some(&'^') {
            self.it.next();
            out.push('^');
        }
        let mut first = true;
        loop {
            let c = self.it.next().ok_or_else(unmatched)?;
            if c == ']' && !first {
                return Ok(out + "]");
            }
            first = false;
            let start = match self.bracket_element(c)? {
                Element::Class(name) => {
                    let mut after = self.it.clone();
                    if after.next() == Some('-') && !matches!(after.next(), Some(']') | None) {
                        return Err("Invalid range end".into());
                    }
                    out.push_str(&format!("[:{name}:]"));
                    continue;
                }
                Element::Char(ch) => ch,
            };
            let mut ahead = self.it.clone();
            if ahead.next() == Some('-') && !matches!(ahead.next(), Some(']') | None) {
                self.it.next();
                let e = self.it.next().ok_or_else(unmatched)?;
                let end = match self.bracket_element(e)? {
                    Element::Char(ch) if ch >= start => ch,
                    _ => return Err("Invalid range end".into()),
                };
                let mut after = self.it.clone();
                if after.next() == Some('-') && !matches!(after.next(), Some(']') | None) {
                    return Err("Invalid range end".into());
                }
                out.push_str(&format!("{}-{}", lit(start), lit(end)));
            } else {
                out.push_str(&lit(start));
            }
        }
    }

    /// One element of a bracket expression starting with `c`.
    fn bracket_element(&mut self, c: char) -> Result<Element, String> {
        if c != '[' {
            return Ok(Element::Char(c));
        }
        let kind = match self.it.peek() {
            Some(&k @ (':' | '=' | '.')) => k,
            _ => return Ok(Element::Char('[')),
        };
        self.it.next();
        let mut name = String::new();
        loop {
            match self.it.next() {
                None => return Err("Unmatched [, [^, [:, [., or [=".into()),
                Some(x) if x == kind && self.it.peek() == Some(&']') => {
                    self.it.next();
                    break;
                }
                Some(x) => name.push(x),
            }
        }
        if kind == ':' {
            return if CLASSES.contains(&name.as_str()) {
                Ok(Element::Class(name))
            } else {
                Err("Invalid character class name".into())
            };
        }
        let mut chars = name.chars();
        match (chars.next(), chars.next()) {
            (Some(ch), None) => Ok(Element::Char(ch)),
            _ => Err("Invalid collation character".into()),
        }
    }
}

/// What a `{` after an atom starts.
enum Interval {
    /// Not an interval: the `{` is a literal (GNU's `RE_INVALID_INTERVAL_ORD`).
    Literal,
    /// A valid bound: the Rust repetition and how many characters after
    /// the `{` it spans.
    Valid(String, usize),
    /// An interval GNU refuses.
    Bad(&'static str),
}

/// Scans the characters after a `{` as glibc's `parse_dup_op` does: a
/// number ends at `,` or `}`; a non-digit in it, or the end of the
/// pattern, makes the `{` a literal; `{}`, `{n,m,…}` and `m > n` are
/// errors; a bound above `RE_DUP_MAX` is too big.
fn scan_interval(rest: impl Iterator<Item = char>) -> Interval {
    let mut rest = rest.enumerate();
    // Each number: Ok(None) empty, Ok(Some(n)), Err(()) not a number.
    let mut number = || -> Option<(Result<Option<u32>, ()>, char, usize)> {
        let mut n: Result<Option<u32>, ()> = Ok(None);
        for (i, c) in rest.by_ref() {
            if c == '}' || c == ',' {
                return Some((n, c, i + 1));
            }
            n = match (n, c.to_digit(10)) {
                (Ok(v), Some(d)) => Ok(Some((v.unwrap_or(0) * 10 + d).min(DUP_MAX + 1))),
                _ => Err(()),
            };
        }
        None
    };
    let Some((start, delim, used)) = number() else {
        return Interval::Literal;
    };
    let (end, delim, used) = if delim == '}' {
        (start, delim, used)
    } else {
        match number() {
            Some(x) => x,
            None => return Interval::Literal,
        }
    };
    let (Ok(start), Ok(end)) = (start, end) else {
        return Interval::Literal;
    };
    let min = match start {
        Some(n) => n,
        None if delim == ',' || used > 1 => 0,
        None => return Interval::Bad("Invalid content of \\{\\}"),
    };
    if delim != '}' || end.is_some_and(|m| m < min) {
        return Interval::Bad("Invalid content of \\{\\}");
    }
    if end.unwrap_or(min) > DUP_MAX {
        return Interval::Bad("Regular expression too big");
    }
    let rust = match end {
        Some(m) if m == min => format!("{{{min}}}"),
        Some(m) => format!("{{{min},{m}}}"),
        None => format!("{{{min},}}"),
    };
    Interval::Valid(rust, used)
}

enum Escape {
    /// Something that can be repeated.
    Atom(String),
    /// A zero-width assertion (a following `*` is ignored, as in GNU).
    Anchor(String),
}

enum Element {
    Char(char),
    Class(String),
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(ere: &str, path: &str) -> bool {
        Matcher::new(ere).unwrap().is_match(path.as_bytes())
    }

    #[test]
    fn translations() {
        for (ere, rust) in [
            ("a+?", "(?:a+)?"),
            ("[\\.]", "[\\x{5c}\\x{2e}]"),
            ("(?a)", "(?:a)"),
            ("a**", "(?:a*)*"),
            ("a{,2}", "a{0,2}"),
            ("a{2}{3}", "(?:a{2}){3}"),
            ("\\d", "d"),
            (")", "\\x{29}"),
            ("a{x", "a\\x{7b}x"),
            ("[]a]", "[\\x{5d}a]"),
            ("[^[:digit:]-]", "[^[:digit:]\\x{2d}]"),
        ] {
            assert_eq!(translate(ere).unwrap(), rust, "{ere}");
        }
    }

    #[test]
    fn whole_path_semantics() {
        assert!(m("/var/log/.*", "/var/log/x/y"));
        assert!(!m("/var/log", "/var/log/x"));
        assert!(!m("/var", "/var/log"));
        assert!(m("(/a|/ab)", "/ab"), "alternation order does not matter");
        assert!(m("/a+?", "/aaa"), "+? is not lazy");
        assert!(m("[\\.]x", "\\x"), "backslash literal in brackets");
        assert!(!m("/etc/mypat[h]", "/etc/mypath/x"));
        assert!(m("(|/k)", "/k"));
        assert!(!m("(|/k)", "/x"));
    }

    #[test]
    fn rejected() {
        for bad in [
            "(a)\\1",
            "a\\",
            "(a",
            "[a",
            "[[:foo:]]",
            "a{}",
            "a{2,1}",
            "a{40000}",
            "[z-a]",
            "[a-c-e]",
            "[[.space.]]",
        ] {
            assert!(Matcher::new(bad).is_err(), "{bad}");
        }
    }
}
