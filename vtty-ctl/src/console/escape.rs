//! The detach escape sequence of `console`.
//!
//! The default is `Ctrl-]` followed by `.`, written `^].`. An escape is written in
//! caret notation: `^X` is the control character of X (`^]` is 0x1d, `^?` is DEL)
//! and every other character stands for itself. `none` disables detaching by
//! keyboard. Typed bytes that begin the sequence are held back; when the next byte
//! does not continue it, the held bytes go to the container as typed, so
//! `Ctrl-]` followed by anything else reaches the container unchanged.

use std::fmt;

/// Default escape sequence: `Ctrl-]` then `.`.
pub const DEFAULT: &str = "^].";
/// Maximum length of an escape sequence in bytes.
pub const MAX_LEN: usize = 8;

/// A parsed escape sequence.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Escape {
    bytes: Vec<u8>,
}

impl Escape {
    /// Parses caret notation; `Ok(None)` for `none`.
    pub fn parse(text: &str) -> Result<Option<Self>, String> {
        if text == "none" {
            return Ok(None);
        }
        let mut bytes = Vec::new();
        let mut chars = text.chars();
        while let Some(c) = chars.next() {
            let byte = match c {
                '^' => match chars.next() {
                    Some('?') => 0x7f,
                    Some(next @ ('@'..='_' | 'a'..='z')) => {
                        (next.to_ascii_uppercase() as u8) & 0x1f
                    }
                    Some(other) => {
                        return Err(format!(
                            "invalid escape {text:?}: ^{other} is no control character; use ^@ .. ^_, \
                             ^a .. ^z or ^?"
                        ));
                    }
                    None => return Err(format!("invalid escape {text:?}: it ends with a lone ^")),
                },
                c if c.is_ascii() => c as u8,
                other => return Err(format!("invalid escape {text:?}: {other:?} is not ASCII")),
            };
            bytes.push(byte);
        }
        if bytes.is_empty() || bytes.len() > MAX_LEN {
            return Err(format!(
                "invalid escape {text:?}: use 1 to {MAX_LEN} characters, such as ^]. (or none)"
            ));
        }
        Ok(Some(Self { bytes }))
    }
}

/// Spells the sequence for people: `Ctrl-] then .`.
impl fmt::Display for Escape {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, byte) in self.bytes.iter().enumerate() {
            if i > 0 {
                f.write_str(" then ")?;
            }
            match byte {
                0x7f => f.write_str("Ctrl-?")?,
                0..=0x1f => write!(f, "Ctrl-{}", (byte | 0x40) as char)?,
                _ => write!(f, "{}", *byte as char)?,
            }
        }
        Ok(())
    }
}

/// Finds the escape sequence in typed input.
#[derive(Clone, Debug)]
pub struct Scanner {
    escape: Option<Escape>,
    matched: usize,
}

impl Scanner {
    /// Creates a scanner for `escape` (`None` never detaches).
    pub fn new(escape: Option<Escape>) -> Self {
        Self { escape, matched: 0 }
    }

    /// Appends the bytes of `input` that go to the container to `out`. Returns
    /// true when the escape sequence completed, and then drops the rest of `input`.
    pub fn feed(&mut self, input: &[u8], out: &mut Vec<u8>) -> bool {
        let Some(escape) = &self.escape else {
            out.extend_from_slice(input);
            return false;
        };
        let sequence = &escape.bytes;
        for &byte in input {
            if byte == sequence[self.matched] {
                self.matched += 1;
                if self.matched == sequence.len() {
                    self.matched = 0;
                    return true;
                }
                continue;
            }
            if self.matched > 0 {
                // The held bytes were typed input after all.
                out.extend_from_slice(&sequence[..self.matched]);
                self.matched = 0;
                if byte == sequence[0] {
                    self.matched = 1;
                    continue;
                }
            }
            out.push(byte);
        }
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scan(escape: &str, chunks: &[&[u8]]) -> (Vec<u8>, bool) {
        let mut scanner = Scanner::new(Escape::parse(escape).expect("valid escape"));
        let mut out = Vec::new();
        for chunk in chunks {
            if scanner.feed(chunk, &mut out) {
                return (out, true);
            }
        }
        (out, false)
    }

    #[test]
    fn default_parses_and_displays() {
        let escape = Escape::parse(DEFAULT).expect("valid").expect("not none");
        assert_eq!(escape.bytes, [0x1d, b'.']);
        assert_eq!(escape.to_string(), "Ctrl-] then .");
    }

    #[test]
    fn caret_forms() {
        assert_eq!(Escape::parse("^a").expect("valid").expect("some").bytes, [1]);
        assert_eq!(Escape::parse("^?").expect("valid").expect("some").bytes, [0x7f]);
        assert_eq!(Escape::parse("~.").expect("valid").expect("some").bytes, [b'~', b'.']);
        assert_eq!(Escape::parse("none").expect("valid"), None);
    }

    #[test]
    fn invalid_escapes() {
        for bad in ["", "^", "^1", "ä", "123456789"] {
            assert!(Escape::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn detach_in_one_chunk() {
        assert_eq!(scan(DEFAULT, &[b"ls\r\x1d.rest"]), (b"ls\r".to_vec(), true));
    }

    #[test]
    fn detach_across_chunks() {
        assert_eq!(scan(DEFAULT, &[b"a\x1d", b".b"]), (b"a".to_vec(), true));
    }

    #[test]
    fn partial_match_is_forwarded() {
        assert_eq!(scan(DEFAULT, &[b"\x1dx"]), (b"\x1dx".to_vec(), false));
        assert_eq!(scan(DEFAULT, &[b"\x1d", b"\x1d."]), (b"\x1d".to_vec(), true));
    }

    #[test]
    fn disabled_escape_forwards_everything() {
        let mut scanner = Scanner::new(None);
        let mut out = Vec::new();
        assert!(!scanner.feed(b"\x1d.", &mut out));
        assert_eq!(out, b"\x1d.");
    }
}
