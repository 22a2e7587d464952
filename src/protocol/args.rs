//! Turning argument bytes into numbers and options with Redis's acceptance rules.
//! Nothing here allocates or touches data.

use crate::error::{CommandError, NOT_FLOAT, NOT_INTEGER};

pub use super::request::parse_i64;

/// ASCII case-insensitive comparison of an argument with an upper-case keyword.
#[inline]
pub fn is(arg: &[u8], keyword: &str) -> bool {
    arg.eq_ignore_ascii_case(keyword.as_bytes())
}

/// Which of `words` (upper-case keywords) the argument is, case-insensitively.
pub fn keyword(arg: &[u8], words: &[&str]) -> Option<usize> {
    words.iter().position(|w| is(arg, w))
}

pub fn int(arg: &[u8]) -> Result<i64, CommandError> {
    parse_i64(arg).ok_or(NOT_INTEGER)
}

/// The `numkeys` of LMPOP, ZMPOP, SINTERCARD and their blocking forms: anything but a
/// positive integer is `numkeys should be greater than 0`, as Redis's
/// `getRangeLongFromObjectOrReply` with that message says.
pub fn numkeys(arg: &[u8]) -> Result<usize, CommandError> {
    match parse_i64(arg) {
        Some(n) if n > 0 => Ok(n as usize),
        _ => Err(crate::error::NUMKEYS_NOT_POSITIVE),
    }
}

/// A double as Redis's `string2d`/`string2ld` accept it: no surrounding spaces, no NaN.
/// `inf`, `+inf`, `-inf` are accepted.
pub fn parse_f64(arg: &[u8]) -> Option<f64> {
    if arg.is_empty() || arg[0].is_ascii_whitespace() || arg[arg.len() - 1].is_ascii_whitespace() {
        return None;
    }
    let s = std::str::from_utf8(arg).ok()?;
    let v: f64 = match s.to_ascii_lowercase().as_str() {
        "inf" | "+inf" | "infinity" | "+infinity" => f64::INFINITY,
        "-inf" | "-infinity" => f64::NEG_INFINITY,
        lower if lower.contains("inf") || lower.contains("nan") => return None,
        _ => s.parse().ok()?,
    };
    if v.is_nan() { None } else { Some(v) }
}

pub fn float(arg: &[u8]) -> Result<f64, CommandError> {
    parse_f64(arg).ok_or(NOT_FLOAT)
}

/// A non-negative integer in range, else `err`.
pub fn uint(arg: &[u8], err: CommandError) -> Result<u64, CommandError> {
    match parse_i64(arg) {
        Some(v) if v >= 0 => Ok(v as u64),
        _ => Err(err),
    }
}

/// Glob-style matching with Redis's `stringmatchlen` rules: `*`, `?`, `[abc]`, `[^a]`,
/// `[a-z]`, `\x` escapes. Recursion is bounded so a hostile pattern cannot blow the stack.
pub fn glob_match(pattern: &[u8], string: &[u8], nocase: bool) -> bool {
    let mut skip_longer = false;
    glob_impl(pattern, string, nocase, &mut skip_longer, 0)
}

fn glob_impl(mut p: &[u8], mut s: &[u8], nocase: bool, skip_longer: &mut bool, depth: u32) -> bool {
    if depth > 1000 {
        return false;
    }
    let eq = |a: u8, b: u8| if nocase { a.eq_ignore_ascii_case(&b) } else { a == b };
    while !p.is_empty() && !s.is_empty() {
        match p[0] {
            b'*' => {
                while p.len() > 1 && p[1] == b'*' {
                    p = &p[1..];
                }
                if p.len() == 1 {
                    return true;
                }
                while !s.is_empty() {
                    if glob_impl(&p[1..], s, nocase, skip_longer, depth + 1) {
                        return true;
                    }
                    if *skip_longer {
                        return false;
                    }
                    s = &s[1..];
                }
                *skip_longer = true;
                return false;
            }
            b'?' => s = &s[1..],
            b'[' => {
                p = &p[1..];
                let not = p.first() == Some(&b'^');
                if not {
                    p = &p[1..];
                }
                let mut matched = false;
                loop {
                    if p.is_empty() {
                        break;
                    }
                    if p[0] == b'\\' && p.len() >= 2 {
                        p = &p[1..];
                        if eq(p[0], s[0]) {
                            matched = true;
                        }
                    } else if p[0] == b']' {
                        break;
                    } else if p.len() >= 3 && p[1] == b'-' {
                        let (mut start, mut end) = (p[0], p[2]);
                        if start > end {
                            std::mem::swap(&mut start, &mut end);
                        }
                        let c = s[0];
                        let (start, end, c) = if nocase {
                            (start.to_ascii_lowercase(), end.to_ascii_lowercase(), c.to_ascii_lowercase())
                        } else {
                            (start, end, c)
                        };
                        p = &p[2..];
                        if c >= start && c <= end {
                            matched = true;
                        }
                    } else if eq(p[0], s[0]) {
                        matched = true;
                    }
                    p = &p[1..];
                }
                if p.is_empty() {
                    // Unterminated class: Redis treats the pattern end as the class end.
                    p = &p[0..0];
                    if not {
                        matched = !matched;
                    }
                    if !matched {
                        return false;
                    }
                    s = &s[1..];
                    continue;
                }
                if not {
                    matched = !matched;
                }
                if !matched {
                    return false;
                }
                s = &s[1..];
            }
            b'\\' if p.len() >= 2 => {
                p = &p[1..];
                if !eq(p[0], s[0]) {
                    return false;
                }
                s = &s[1..];
            }
            c => {
                if !eq(c, s[0]) {
                    return false;
                }
                s = &s[1..];
            }
        }
        p = &p[1..];
        if s.is_empty() {
            while !p.is_empty() && p[0] == b'*' {
                p = &p[1..];
            }
            break;
        }
    }
    p.is_empty() && s.is_empty()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs() {
        assert!(glob_match(b"*", b"anything", false));
        assert!(glob_match(b"h?llo", b"hello", false));
        assert!(glob_match(b"h*llo", b"heeeello", false));
        assert!(glob_match(b"h[ae]llo", b"hallo", false));
        assert!(!glob_match(b"h[^e]llo", b"hello", false));
        assert!(glob_match(b"h[a-b]llo", b"hbllo", false));
        assert!(glob_match(b"key:*", b"key:1", false));
        assert!(!glob_match(b"key:*", b"ke", false));
        assert!(glob_match(b"a\\*b", b"a*b", false));
        assert!(glob_match(b"MAXMEMORY*", b"maxmemory-policy", true));
        assert!(!glob_match(b"a*a*a*a*a*a*a*a*b", &[b'a'; 60], false));
        assert!(glob_match(b"*a", b"a", false));
        assert!(!glob_match(b"", b"a", false));
        assert!(glob_match(b"a*", b"a", false));
    }

    #[test]
    fn floats() {
        assert_eq!(parse_f64(b"1.5"), Some(1.5));
        assert_eq!(parse_f64(b"-inf"), Some(f64::NEG_INFINITY));
        assert_eq!(parse_f64(b"5.0e3"), Some(5000.0));
        assert_eq!(parse_f64(b"nan"), None);
        assert_eq!(parse_f64(b" 1"), None);
        assert_eq!(parse_f64(b"abc"), None);
    }
}
