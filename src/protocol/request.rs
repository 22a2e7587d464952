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
/// Largest multibulk count a client that still has to authenticate may send.
pub const UNAUTH_MAX_MULTIBULK: i64 = 10;
/// Largest bulk a client that still has to authenticate may send.
pub const UNAUTH_MAX_BULK: usize = 16384;

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

/// What the connection allows in its next request.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// `proto-max-bulk-len`.
    pub max_bulk_len: usize,
    /// False until the client authenticates when a password is required: Redis's
    /// tighter caps ([`UNAUTH_MAX_MULTIBULK`], [`UNAUTH_MAX_BULK`]) apply.
    pub authenticated: bool,
}

impl Limits {
    /// An authenticated client's limits.
    pub fn bulk(max_bulk_len: usize) -> Limits {
        Limits { max_bulk_len, authenticated: true }
    }
}

/// Incremental request parser for one connection.
///
/// Decoding costs O(input): a multibulk frame that arrives in pieces is scanned once,
/// resuming at the element where the last call stopped (the buffer's front does not
/// move until the frame is taken), and a count or inline line is rescanned at most
/// [`INLINE_MAX`] bytes per read. Memory is the buffer itself plus one span per
/// element already seen.
#[derive(Debug, Default)]
pub struct RequestParser {
    /// Argument offsets of the frame being read, reused to avoid an allocation per frame.
    spans: Vec<(usize, usize)>,
    /// The multibulk frame being read, once its count line has been seen.
    frame: Option<Frame>,
    /// The buffer must hold at least this many bytes before a rescan can succeed.
    need: usize,
}

/// A multibulk frame in progress.
#[derive(Debug, Clone, Copy)]
struct Frame {
    /// Elements not read yet.
    left: usize,
    /// Offset of the next element's `$` line.
    pos: usize,
}

impl RequestParser {
    pub fn new() -> RequestParser {
        RequestParser::default()
    }

    /// Takes the next complete request off the front of `buf`.
    ///
    /// `Ok(None)` means more bytes are needed. An empty request (a blank inline line, a
    /// `*0` or `*-1` header) is consumed and skipped, as Redis does. After an error the
    /// parser must not be used again on the same stream.
    pub fn next(&mut self, buf: &mut BytesMut, limits: Limits) -> Result<Option<Vec<Bytes>>, DecodeError> {
        loop {
            if buf.is_empty() || buf.len() < self.need {
                return Ok(None);
            }
            let parsed = if self.frame.is_some() || buf[0] == b'*' {
                self.scan_multibulk(buf, limits)?
            } else {
                scan_inline(buf)?
            };
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

    /// Bytes of the arguments already seen of a request still arriving (CLIENT LIST's
    /// `argv-mem`).
    pub fn pending_arg_bytes(&self) -> usize {
        if self.frame.is_none() {
            return 0;
        }
        self.spans.iter().map(|(s, e)| e - s).sum()
    }

    fn scan_multibulk(&mut self, buf: &[u8], limits: Limits) -> Result<Scan, DecodeError> {
        let mut frame = match self.frame.take() {
            Some(frame) => frame,
            None => {
                let Some((count, pos)) = read_count_line(buf, 1, ProtocolError::BIG_MBULK_COUNT)? else {
                    return Ok(Scan::Incomplete(buf.len() + 1));
                };
                let count = count
                    .filter(|&c| c <= MAX_MULTIBULK)
                    .ok_or(DecodeError::new(ProtocolError::INVALID_MULTIBULK_LEN))?;
                if count > UNAUTH_MAX_MULTIBULK && !limits.authenticated {
                    return Err(DecodeError::new(ProtocolError::UNAUTH_MULTIBULK_LEN));
                }
                if count <= 0 {
                    return Ok(Scan::Skip(pos));
                }
                self.spans.clear();
                self.spans.reserve((count as usize).min(ARGV_PREALLOC));
                Frame { left: count as usize, pos }
            }
        };
        while frame.left > 0 {
            let pos = frame.pos;
            if pos >= buf.len() {
                self.frame = Some(frame);
                return Ok(Scan::Incomplete(pos + 1));
            }
            if buf[pos] != b'$' {
                return Err(DecodeError { error: ProtocolError::EXPECTED_DOLLAR, got: Some(buf[pos]) });
            }
            let Some((len, data)) = read_count_line(buf, pos + 1, ProtocolError::BIG_BULK_COUNT)? else {
                self.frame = Some(frame);
                return Ok(Scan::Incomplete(buf.len() + 1));
            };
            let len = match len {
                Some(n) if n >= 0 && (n as u64) <= limits.max_bulk_len as u64 => n as usize,
                _ => return Err(DecodeError::new(ProtocolError::INVALID_BULK_LEN)),
            };
            if len > UNAUTH_MAX_BULK && !limits.authenticated {
                return Err(DecodeError::new(ProtocolError::UNAUTH_BULK_LEN));
            }
            let end = data + len;
            if buf.len() < end + 2 {
                self.frame = Some(frame);
                return Ok(Scan::Incomplete(end + 2));
            }
            self.spans.push((data, end));
            frame = Frame { left: frame.left - 1, pos: end + 2 };
        }
        Ok(Scan::Multibulk(frame.pos))
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
    let window = &buf[..buf.len().min(INLINE_MAX + 1)];
    let Some(nl) = window.iter().position(|&c| c == b'\n') else {
        if buf.len() > INLINE_MAX {
            return Err(DecodeError::new(ProtocolError::BIG_INLINE));
        }
        return Ok(Scan::Incomplete(buf.len() + 1));
    };
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

/// C's `isspace`, which `sdssplitargs` uses between arguments.
fn is_space(c: u8) -> bool {
    matches!(c, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r')
}

/// Splits a line into arguments the way Redis's `sdssplitargs` does: whitespace
/// separated, `"double quoted"` with `\n \r \t \b \a \\ \" \xHH` escapes, `'single
/// quoted'` with `\'`. A closing quote must be followed by a space or the end of line.
/// Returns None for unbalanced quotes.
///
/// Redis reads the line as a C string, so a NUL byte ends it: what follows is ignored,
/// and a quote still open there is unbalanced.
pub fn split_args(line: &[u8]) -> Option<Vec<Bytes>> {
    let line = match line.iter().position(|&c| c == 0) {
        Some(nul) => &line[..nul],
        None => line,
    };
    let mut args = Vec::new();
    let mut i = 0;
    let n = line.len();
    loop {
        while i < n && is_space(line[i]) {
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
                    if i + 1 < n && !is_space(line[i + 1]) {
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
                    if i + 1 < n && !is_space(line[i + 1]) {
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
                    b' ' | b'\n' | b'\r' | b'\t' => break,
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

/// What a fresh parser makes of `input` arriving in pieces ending at `cuts` (then the
/// rest): the requests, then the error if one stopped it. For the property test and the
/// fuzz targets, which check that the cuts never change the outcome.
pub fn decode_in_pieces(
    input: &[u8],
    cuts: &[usize],
    limits: Limits,
) -> (Vec<Vec<Bytes>>, Option<DecodeError>) {
    let mut p = RequestParser::new();
    let mut buf = BytesMut::new();
    let mut out = Vec::new();
    let mut start = 0;
    for &end in cuts.iter().chain(std::iter::once(&input.len())) {
        buf.extend_from_slice(&input[start..end]);
        start = end;
        loop {
            match p.next(&mut buf, limits) {
                Ok(Some(argv)) => out.push(argv),
                Ok(None) => break,
                Err(e) => return (out, Some(e)),
            }
        }
    }
    (out, None)
}

/// Encodes a command as a RESP multibulk request (what a client sends).
pub fn encode(args: &[&[u8]]) -> Vec<u8> {
    encode_args(args)
}

/// [`encode`] for any arguments that are bytes (`Bytes`, `Vec<u8>`...), written into
/// one buffer sized for them.
pub fn encode_args<A: AsRef<[u8]>>(args: &[A]) -> Vec<u8> {
    let mut out = Vec::with_capacity(16 + args.iter().map(|a| a.as_ref().len() + 16).sum::<usize>());
    encode_into(&mut out, args);
    out
}

/// [`encode_args`] appended to `out` (a replication stream's buffer).
pub fn encode_into<A: AsRef<[u8]>>(out: &mut Vec<u8>, args: &[A]) {
    let mut n = itoa::Buffer::new();
    out.push(b'*');
    out.extend_from_slice(n.format(args.len()).as_bytes());
    out.extend_from_slice(b"\r\n");
    for a in args {
        let a = a.as_ref();
        out.push(b'$');
        out.extend_from_slice(n.format(a.len()).as_bytes());
        out.extend_from_slice(b"\r\n");
        out.extend_from_slice(a);
        out.extend_from_slice(b"\r\n");
    }
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
        while let Some(argv) = p.next(&mut buf, Limits::bulk(512 * 1024 * 1024))? {
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
            while let Some(argv) = p.next(&mut buf, Limits::bulk(1 << 20)).unwrap() {
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
            RequestParser::new().next(&mut buf, Limits::bulk(10)).unwrap_err().error,
            ProtocolError::INVALID_BULK_LEN
        );
        let big = vec![b'a'; INLINE_MAX + 10];
        assert_eq!(parse_all(&big).unwrap_err().error, ProtocolError::BIG_INLINE);
    }

    #[test]
    fn nul_ends_an_inline_line() {
        // sdssplitargs reads a C string: a leading NUL is an empty command, skipped.
        assert!(parse_all(b"\x00abc\r\n").unwrap().is_empty());
        assert!(parse_all(b"$\x00\r\n").unwrap() == vec![vec![Bytes::from("$")]]);
        assert_eq!(parse_all(b"GET a\x00b c\r\n").unwrap(), vec![vec![Bytes::from("GET"), Bytes::from("a")]]);
        assert_eq!(parse_all(b"SET \"a\x00b\"\r\n").unwrap_err().error, ProtocolError::UNBALANCED_QUOTES);
        // Between arguments C's isspace is skipped (vertical tab and form feed too); inside
        // one, only space, tab, CR and LF end it.
        assert_eq!(parse_all(b"\x0b\x0ca\x0bb\r\n").unwrap(), vec![vec![Bytes::from("a\x0bb")]]);
    }

    #[test]
    fn unauthenticated_limits() {
        let unauth = Limits { max_bulk_len: 1 << 20, authenticated: false };
        let mut p = RequestParser::new();
        let eleven = encode(&[&b"x"[..]; 11]);
        let e = p.next(&mut BytesMut::from(&eleven[..]), unauth).unwrap_err();
        assert_eq!(e.reply_text(), "ERR Protocol error: unauthenticated multibulk length");
        let mut p = RequestParser::new();
        let ten = encode(&[&b"x"[..]; 10]);
        assert_eq!(p.next(&mut BytesMut::from(&ten[..]), unauth).unwrap().unwrap().len(), 10);
        let big = vec![b'v'; UNAUTH_MAX_BULK + 1];
        let e = p.next(&mut BytesMut::from(&encode(&[b"AUTH", &big])[..]), unauth).unwrap_err();
        assert_eq!(e.reply_text(), "ERR Protocol error: unauthenticated bulk length");
        let mut p = RequestParser::new();
        let ok = encode(&[b"AUTH", &big[..UNAUTH_MAX_BULK]]);
        assert!(p.next(&mut BytesMut::from(&ok[..]), unauth).unwrap().is_some());
        assert!(p.next(&mut BytesMut::from(&eleven[..]), Limits::bulk(1 << 20)).unwrap().is_some());
    }

    #[test]
    fn a_frame_in_pieces_resumes_where_it_stopped() {
        let mut p = RequestParser::new();
        let mut buf = BytesMut::from(&b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n"[..]);
        assert_eq!(p.next(&mut buf, Limits::bulk(1 << 20)).unwrap(), None);
        assert_eq!(p.frame.map(|f| (f.left, f.pos)), Some((1, 20)));
        buf.extend_from_slice(b"$1\r\nv\r\n");
        let argv = p.next(&mut buf, Limits::bulk(1 << 20)).unwrap().unwrap();
        assert_eq!(argv, vec![Bytes::from("SET"), Bytes::from("k"), Bytes::from("v")]);
        assert!(buf.is_empty() && p.frame.is_none());
    }

    /// xorshift64*: a small deterministic generator, so failures replay.
    struct Rng(u64);

    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
        }

        fn below(&mut self, n: usize) -> usize {
            (self.next() % n as u64) as usize
        }
    }

    fn random_request(rng: &mut Rng) -> Vec<u8> {
        let argc = 1 + rng.below(5);
        let args: Vec<Vec<u8>> =
            (0..argc).map(|_| (0..rng.below(40)).map(|_| rng.next() as u8).collect()).collect();
        if rng.below(4) == 0 {
            // An inline line of printable words.
            let words: Vec<Vec<u8>> = args
                .iter()
                .map(|a| a.iter().map(|b| b'a' + b % 26).chain(std::iter::once(b'x')).collect())
                .collect();
            let mut line = words.join(&b' ');
            line.extend_from_slice(b"\r\n");
            return line;
        }
        encode(&args.iter().map(|a| &a[..]).collect::<Vec<_>>())
    }

    /// Random, mutated and truncated frames in random pieces: the parser never panics,
    /// never produces more (or larger) arguments than the bytes it was given, and what
    /// it makes of a stream does not depend on how the stream was cut.
    #[test]
    fn property_random_and_mutated_frames() {
        let mut rng = Rng(0x5107_cace_d00d_f00d);
        let limits = [Limits::bulk(1 << 20), Limits { max_bulk_len: 1 << 20, authenticated: false }];
        for round in 0..4000 {
            let mut input = Vec::new();
            for _ in 0..1 + rng.below(4) {
                input.extend(random_request(&mut rng));
            }
            match round % 4 {
                0 => {}
                1 => {
                    for _ in 0..1 + rng.below(4) {
                        let i = rng.below(input.len());
                        input[i] = match rng.below(6) {
                            0 => 0,
                            1 => b'\r',
                            2 => b'\n',
                            3 => b'*',
                            4 => b'$',
                            _ => rng.next() as u8,
                        };
                    }
                }
                2 => {
                    let at = rng.below(input.len());
                    let junk: Vec<u8> = (0..rng.below(16)).map(|_| rng.next() as u8).collect();
                    input.splice(at..at, junk);
                    input.truncate(rng.below(input.len() + 1));
                }
                _ => input = (0..rng.below(300)).map(|_| rng.next() as u8).collect(),
            }
            let limits = limits[rng.below(2)];
            let whole = decode_in_pieces(&input, &[], limits);
            let mut cuts: Vec<usize> = (0..rng.below(8)).map(|_| rng.below(input.len() + 1)).collect();
            cuts.sort_unstable();
            let pieces = decode_in_pieces(&input, &cuts, limits);
            assert_eq!(whole, pieces, "input {input:?} cut at {cuts:?}");
            let args: usize = whole.0.iter().map(|a| a.len()).sum();
            let bytes: usize = whole.0.iter().flatten().map(|a| a.len()).sum();
            assert!(args <= input.len() && bytes <= input.len(), "input {input:?}");
            if round % 4 == 0 {
                assert!(whole.1.is_none(), "valid input {input:?} failed: {:?}", whole.1);
            }
        }
    }

    #[test]
    fn encoded_requests_round_trip() {
        let mut rng = Rng(42);
        for _ in 0..1000 {
            let args: Vec<Vec<u8>> = (0..1 + rng.below(6))
                .map(|_| (0..rng.below(64)).map(|_| rng.next() as u8).collect())
                .collect();
            let refs: Vec<&[u8]> = args.iter().map(|a| &a[..]).collect();
            let (got, err) = decode_in_pieces(&encode(&refs), &[], Limits::bulk(1 << 20));
            assert!(err.is_none());
            assert_eq!(got, vec![args.iter().map(|a| Bytes::from(a.clone())).collect::<Vec<_>>()]);
        }
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
