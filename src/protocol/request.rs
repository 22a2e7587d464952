//! Request decoding: RESP multibulk frames and inline commands, straight from the read
//! buffer into an argv of `Bytes` that share the buffer's memory (no copy per argument).
//!
//! Requests are always arrays of bulk strings (or an inline line), so this is a small
//! purpose-built parser rather than a general RESP decoder: it enforces Redis's limits
//! (`proto-max-bulk-len`, the 64 KiB inline and count-line caps) before buffering a
//! byte more than needed, and reports Redis's exact protocol error texts.

use bytes::{Bytes, BytesMut};

use crate::error::ProtocolError;

/// Longest inline request, or multibulk/bulk count line, Redis accepts (PROTO_INLINE_MAX_SIZE).
pub const INLINE_MAX: usize = 64 * 1024;
/// Largest multibulk element count (Redis rejects counts above INT_MAX).
pub const MAX_MULTIBULK: i64 = i32::MAX as i64;
/// How many argv slots are reserved up front, whatever the declared count.
const ARGV_PREALLOC: usize = 1024;

/// A decoding failure: which error, and for `expected '$'` the byte found instead.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecodeError {
    pub error: ProtocolError,
    pub got: Option<u8>,
}

impl DecodeError {
    fn new(error: ProtocolError) -> DecodeError {
        DecodeError { error, got: None }
    }

    pub fn reply_text(&self) -> String {
        self.error.reply_text(self.got)
    }
}

/// Incremental request parser for one connection.
#[derive(Debug, Default)]
pub struct RequestParser {
    /// Argument offsets found by the last scan, reused to avoid an allocation per frame.
    spans: Vec<(usize, usize)>,
    /// The buffer must hold at least this many bytes before a rescan can succeed.
    need: usize,
}

impl RequestParser {
    pub fn new() -> RequestParser {
        RequestParser::default()
    }

    /// Takes the next complete request off the front of `buf`.
    ///
    /// `Ok(None)` means more bytes are needed. An empty request (a blank inline line, a
    /// `*0` or `*-1` header) is consumed and skipped, as Redis does.
    pub fn next(
        &mut self,
        buf: &mut BytesMut,
        max_bulk_len: usize,
    ) -> Result<Option<Vec<Bytes>>, DecodeError> {
        loop {
            if buf.is_empty() || buf.len() < self.need {
                return Ok(None);
            }
            let parsed =
                if buf[0] == b'*' { self.scan_multibulk(buf, max_bulk_len)? } else { scan_inline(buf)? };
            match parsed {
                Scan::Incomplete(need) => {
                    self.need = need;
                    return Ok(None);
                }
                Scan::Skip(len) => {
                    self.need = 0;
                    let _ = buf.split_to(len);
                }
                Scan::Multibulk(len) => {
                    self.need = 0;
                    let frame = buf.split_to(len).freeze();
                    let argv = self.spans.iter().map(|&(s, e)| frame.slice(s..e)).collect();
                    return Ok(Some(argv));
                }
                Scan::Inline(len, argv) => {
                    self.need = 0;
                    let _ = buf.split_to(len);
                    return Ok(Some(argv));
                }
            }
        }
    }

    fn scan_multibulk(&mut self, buf: &[u8], max_bulk_len: usize) -> Result<Scan, DecodeError> {
        let Some((count, mut pos)) = read_count_line(buf, 1, ProtocolError::BIG_MBULK_COUNT)? else {
            return Ok(Scan::Incomplete(buf.len() + 1));
        };
        let count = count.ok_or(DecodeError::new(ProtocolError::INVALID_MULTIBULK_LEN))?;
        if count > MAX_MULTIBULK {
            return Err(DecodeError::new(ProtocolError::INVALID_MULTIBULK_LEN));
        }
        if count <= 0 {
            return Ok(Scan::Skip(pos));
        }
        self.spans.clear();
        self.spans.reserve((count as usize).min(ARGV_PREALLOC));
        for _ in 0..count {
            if pos >= buf.len() {
                return Ok(Scan::Incomplete(pos + 1));
            }
            if buf[pos] != b'$' {
                return Err(DecodeError { error: ProtocolError::EXPECTED_DOLLAR, got: Some(buf[pos]) });
            }
            let Some((len, data)) = read_count_line(buf, pos + 1, ProtocolError::BIG_BULK_COUNT)? else {
                return Ok(Scan::Incomplete(buf.len() + 1));
            };
            let len = match len {
                Some(n) if n >= 0 && (n as u64) <= max_bulk_len as u64 => n as usize,
                _ => return Err(DecodeError::new(ProtocolError::INVALID_BULK_LEN)),
            };
            let end = data + len;
            if buf.len() < end + 2 {
                return Ok(Scan::Incomplete(end + 2));
            }
            self.spans.push((data, end));
            pos = end + 2;
        }
        Ok(Scan::Multibulk(pos))
    }
}

enum Scan {
    Incomplete(usize),
    Skip(usize),
    Multibulk(usize),
    Inline(usize, Vec<Bytes>),
}

/// Reads `<digits>\r\n` starting at `start`. Returns the parsed number (None when it is
/// not a valid integer) and the offset just past the CRLF; `Ok(None)` when the line is
/// not complete yet.
#[allow(clippy::type_complexity)]
fn read_count_line(
    buf: &[u8],
    start: usize,
    too_big: ProtocolError,
) -> Result<Option<(Option<i64>, usize)>, DecodeError> {
    let window = &buf[start.min(buf.len())..];
    match memchr_cr(window) {
        Some(i) => {
            if start + i + 1 >= buf.len() {
                return Ok(None);
            }
            Ok(Some((parse_i64(&window[..i]), start + i + 2)))
        }
        None if window.len() > INLINE_MAX => Err(DecodeError::new(too_big)),
        None => Ok(None),
    }
}

fn memchr_cr(b: &[u8]) -> Option<usize> {
    b.iter().position(|&c| c == b'\r')
}

fn scan_inline(buf: &[u8]) -> Result<Scan, DecodeError> {
    let Some(nl) = buf.iter().position(|&c| c == b'\n') else {
        if buf.len() > INLINE_MAX {
            return Err(DecodeError::new(ProtocolError::BIG_INLINE));
        }
        return Ok(Scan::Incomplete(buf.len() + 1));
    };
    if nl > INLINE_MAX {
        return Err(DecodeError::new(ProtocolError::BIG_INLINE));
    }
    let mut line = &buf[..nl];
    if let [rest @ .., b'\r'] = line {
        line = rest;
    }
    let argv = split_args(line).ok_or(DecodeError::new(ProtocolError::UNBALANCED_QUOTES))?;
    if argv.is_empty() {
        return Ok(Scan::Skip(nl + 1));
    }
    Ok(Scan::Inline(nl + 1, argv))
}

/// Splits a line into arguments the way Redis's `sdssplitargs` does: whitespace
/// separated, `"double quoted"` with `\n \r \t \b \a \\ \" \xHH` escapes, `'single
/// quoted'` with `\'`. A closing quote must be followed by a space or the end of line.
/// Returns None for unbalanced quotes.
pub fn split_args(line: &[u8]) -> Option<Vec<Bytes>> {
    let mut args = Vec::new();
    let mut i = 0;
    let n = line.len();
    loop {
        while i < n && line[i].is_ascii_whitespace() {
            i += 1;
        }
        if i >= n {
            return Some(args);
        }
        let mut cur = Vec::new();
        let mut in_dq = false;
        let mut in_sq = false;
        loop {
            if in_dq {
                if i >= n {
                    return None;
                }
                let c = line[i];
                if c == b'\\'
                    && i + 3 < n
                    && line[i + 1] == b'x'
                    && let (Some(h), Some(l)) = (hex(line[i + 2]), hex(line[i + 3]))
                {
                    cur.push(h * 16 + l);
                    i += 4;
                    continue;
                }
                if c == b'\\' && i + 1 < n {
                    cur.push(match line[i + 1] {
                        b'n' => b'\n',
                        b'r' => b'\r',
                        b't' => b'\t',
                        b'b' => 8,
                        b'a' => 7,
                        other => other,
                    });
                    i += 2;
                    continue;
                }
                if c == b'"' {
                    if i + 1 < n && !line[i + 1].is_ascii_whitespace() {
                        return None;
                    }
                    i += 1;
                    break;
                }
                cur.push(c);
                i += 1;
            } else if in_sq {
                if i >= n {
                    return None;
                }
                let c = line[i];
                if c == b'\\' && i + 1 < n && line[i + 1] == b'\'' {
                    cur.push(b'\'');
                    i += 2;
                    continue;
                }
                if c == b'\'' {
                    if i + 1 < n && !line[i + 1].is_ascii_whitespace() {
                        return None;
                    }
                    i += 1;
                    break;
                }
                cur.push(c);
                i += 1;
            } else {
                if i >= n {
                    break;
                }
                match line[i] {
                    b' ' | b'\n' | b'\r' | b'\t' | 0 => break,
                    b'"' => in_dq = true,
                    b'\'' => in_sq = true,
                    c => cur.push(c),
                }
                i += 1;
            }
        }
        args.push(Bytes::from(cur));
    }
}

fn hex(c: u8) -> Option<u8> {
    (c as char).to_digit(16).map(|d| d as u8)
}

/// Encodes a command as a RESP multibulk request (what a client sends).
pub fn encode(args: &[&[u8]]) -> Vec<u8> {
    let mut out = format!("*{}\r\n", args.len()).into_bytes();
    for a in args {
        out.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
        out.extend_from_slice(a);
        out.extend_from_slice(b"\r\n");
    }
    out
}

/// Parses an integer exactly as Redis's `string2ll`: optional `-`, no `+`, no leading
/// zeros, no spaces, within i64.
pub fn parse_i64(b: &[u8]) -> Option<i64> {
    if b.is_empty() || b.len() > 20 {
        return None;
    }
    if b == b"0" {
        return Some(0);
    }
    let (neg, digits) = match b[0] {
        b'-' => (true, &b[1..]),
        _ => (false, b),
    };
    if digits.is_empty() || !(b'1'..=b'9').contains(&digits[0]) {
        return None;
    }
    let mut v: u64 = 0;
    for &c in digits {
        if !c.is_ascii_digit() {
            return None;
        }
        v = v.checked_mul(10)?.checked_add((c - b'0') as u64)?;
    }
    if neg {
        if v > i64::MAX as u64 + 1 { None } else { Some((v as i64).wrapping_neg()) }
    } else if v > i64::MAX as u64 {
        None
    } else {
        Some(v as i64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_all(input: &[u8]) -> Result<Vec<Vec<Bytes>>, DecodeError> {
        let mut buf = BytesMut::from(input);
        let mut p = RequestParser::new();
        let mut out = Vec::new();
        while let Some(argv) = p.next(&mut buf, 512 * 1024 * 1024)? {
            out.push(argv);
        }
        Ok(out)
    }

    #[test]
    fn multibulk_and_pipeline() {
        let cmds = parse_all(b"*2\r\n$3\r\nGET\r\n$1\r\nk\r\n*1\r\n$4\r\nPING\r\n").unwrap();
        assert_eq!(cmds, vec![vec![Bytes::from("GET"), Bytes::from("k")], vec![Bytes::from("PING")]]);
    }

    #[test]
    fn split_at_every_byte() {
        let input = b"*3\r\n$3\r\nSET\r\n$3\r\nkey\r\n$5\r\nvalue\r\nPING\r\n";
        let mut p = RequestParser::new();
        let mut buf = BytesMut::new();
        let mut got = Vec::new();
        for &b in input.iter() {
            buf.extend_from_slice(&[b]);
            while let Some(argv) = p.next(&mut buf, 1 << 20).unwrap() {
                got.push(argv);
            }
        }
        assert_eq!(got.len(), 2);
        assert_eq!(got[0][2], Bytes::from("value"));
        assert_eq!(got[1][0], Bytes::from("PING"));
    }

    #[test]
    fn inline_quotes() {
        let cmds = parse_all(b"SET \"a b\" 'c\\'d' \"\\x41\\n\"\r\n").unwrap();
        assert_eq!(
            cmds[0],
            vec![Bytes::from("SET"), Bytes::from("a b"), Bytes::from("c'd"), Bytes::from("A\n")]
        );
        assert_eq!(parse_all(b"SET \"abc\r\n").unwrap_err().error, ProtocolError::UNBALANCED_QUOTES);
        assert!(parse_all(b"\r\n\r\n").unwrap().is_empty());
    }

    #[test]
    fn errors() {
        assert_eq!(parse_all(b"*x\r\n").unwrap_err().error, ProtocolError::INVALID_MULTIBULK_LEN);
        let e = parse_all(b"*1\r\n+PING\r\n").unwrap_err();
        assert_eq!(e.reply_text(), "ERR Protocol error: expected '$', got '+'");
        assert_eq!(parse_all(b"*1\r\n$-1\r\n").unwrap_err().error, ProtocolError::INVALID_BULK_LEN);
        let mut buf = BytesMut::from(&b"*1\r\n$100\r\n"[..]);
        assert_eq!(
            RequestParser::new().next(&mut buf, 10).unwrap_err().error,
            ProtocolError::INVALID_BULK_LEN
        );
        let big = vec![b'a'; INLINE_MAX + 10];
        assert_eq!(parse_all(&big).unwrap_err().error, ProtocolError::BIG_INLINE);
    }

    #[test]
    fn string2ll_rules() {
        assert_eq!(parse_i64(b"0"), Some(0));
        assert_eq!(parse_i64(b"-9223372036854775808"), Some(i64::MIN));
        assert_eq!(parse_i64(b"9223372036854775807"), Some(i64::MAX));
        for bad in [&b"9223372036854775808"[..], b"+1", b"01", b"-0", b" 1", b"1 ", b"", b"-"] {
            assert_eq!(parse_i64(bad), None, "{:?}", bad);
        }
    }
}
