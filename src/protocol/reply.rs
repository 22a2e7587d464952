//! The reply writer: handlers append RESP straight into the connection's output buffer.
//!
//! It knows the connection's protocol version and picks the RESP3 type (map, set,
//! double, null, push, verbatim) or its RESP2 fallback. Nothing builds a frame tree.

/// Output buffer plus the protocol version of the connection it belongs to.
pub struct Reply {
    pub buf: Vec<u8>,
    pub resp3: bool,
}

impl Reply {
    pub fn new(resp3: bool) -> Reply {
        Reply { buf: Vec::with_capacity(16 * 1024), resp3 }
    }

    pub fn len(&self) -> usize {
        self.buf.len()
    }

    pub fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }

    pub fn truncate(&mut self, len: usize) {
        self.buf.truncate(len);
    }

    pub fn ok(&mut self) {
        self.buf.extend_from_slice(b"+OK\r\n");
    }

    pub fn simple(&mut self, s: &str) {
        self.buf.push(b'+');
        self.buf.extend_from_slice(s.as_bytes());
        self.buf.extend_from_slice(b"\r\n");
    }

    /// An error line; `text` includes its code (`ERR ...`).
    pub fn error(&mut self, text: &str) {
        self.buf.push(b'-');
        for &c in text.as_bytes() {
            self.buf.push(if c == b'\r' || c == b'\n' { b' ' } else { c });
        }
        self.buf.extend_from_slice(b"\r\n");
    }

    pub fn int(&mut self, v: i64) {
        self.prefixed(b':', v);
    }

    fn prefixed(&mut self, prefix: u8, v: i64) {
        self.buf.push(prefix);
        let mut f = itoa::Buffer::new();
        self.buf.extend_from_slice(f.format(v).as_bytes());
        self.buf.extend_from_slice(b"\r\n");
    }

    fn len_prefixed(&mut self, prefix: u8, n: usize) {
        self.prefixed(prefix, n as i64);
    }

    pub fn bulk(&mut self, b: &[u8]) {
        self.len_prefixed(b'$', b.len());
        self.buf.extend_from_slice(b);
        self.buf.extend_from_slice(b"\r\n");
    }

    pub fn bulk_int(&mut self, v: i64) {
        let mut f = itoa::Buffer::new();
        self.bulk(f.format(v).as_bytes());
    }

    /// A missing value: `$-1` in RESP2, `_` in RESP3.
    pub fn null(&mut self) {
        if self.resp3 {
            self.buf.extend_from_slice(b"_\r\n");
        } else {
            self.buf.extend_from_slice(b"$-1\r\n");
        }
    }

    /// A missing aggregate: `*-1` in RESP2, `_` in RESP3.
    pub fn null_array(&mut self) {
        if self.resp3 {
            self.buf.extend_from_slice(b"_\r\n");
        } else {
            self.buf.extend_from_slice(b"*-1\r\n");
        }
    }

    pub fn array(&mut self, n: usize) {
        self.len_prefixed(b'*', n);
    }

    /// A map of `n` pairs: `%n` in RESP3, a flat array of 2n in RESP2.
    pub fn map(&mut self, n: usize) {
        if self.resp3 {
            self.len_prefixed(b'%', n);
        } else {
            self.len_prefixed(b'*', n * 2);
        }
    }

    pub fn set(&mut self, n: usize) {
        self.len_prefixed(if self.resp3 { b'~' } else { b'*' }, n);
    }

    pub fn push(&mut self, n: usize) {
        self.len_prefixed(if self.resp3 { b'>' } else { b'*' }, n);
    }

    pub fn boolean(&mut self, v: bool) {
        if self.resp3 {
            self.buf.extend_from_slice(if v { b"#t\r\n" } else { b"#f\r\n" });
        } else {
            self.int(v as i64);
        }
    }

    /// A double as Redis 7.0's `addReplyDouble` writes it (`%.17g`): `,1.5` in RESP3,
    /// a bulk string in RESP2.
    pub fn double(&mut self, v: f64) {
        let text = format_g17(v);
        if self.resp3 {
            self.buf.push(b',');
            self.buf.extend_from_slice(text.as_bytes());
            self.buf.extend_from_slice(b"\r\n");
        } else {
            self.bulk(text.as_bytes());
        }
    }

    /// Text for humans (INFO, CLIENT LIST): a verbatim `txt` string in RESP3, bulk in RESP2.
    pub fn verbatim(&mut self, text: &[u8]) {
        if self.resp3 {
            self.len_prefixed(b'=', text.len() + 4);
            self.buf.extend_from_slice(b"txt:");
            self.buf.extend_from_slice(text);
            self.buf.extend_from_slice(b"\r\n");
        } else {
            self.bulk(text);
        }
    }

    pub fn bulks<'a>(&mut self, items: impl ExactSizeIterator<Item = &'a [u8]>) {
        self.array(items.len());
        for item in items {
            self.bulk(item);
        }
    }

    pub fn raw(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
    }
}

/// C's `printf("%.17g")`, which Redis 7.0 uses for every double reply (scores): 17
/// significant digits, trailing zeros dropped, an exponent (`e+308`, `e-05`) below 1e-4
/// or from 1e17 on; `inf`, `-inf` and `nan` spelled as Redis does.
pub fn format_g17(v: f64) -> String {
    if !v.is_finite() {
        return format_double(v);
    }
    const P: i32 = 17;
    let sci = format!("{:.*e}", (P - 1) as usize, v);
    let (mantissa, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    if (-4..P).contains(&exp) {
        let fixed = format!("{:.*}", (P - 1 - exp) as usize, v);
        trim_fraction(&fixed).to_string()
    } else {
        let sign = if exp < 0 { '-' } else { '+' };
        format!("{}e{sign}{:02}", trim_fraction(mantissa), exp.unsigned_abs())
    }
}

/// Drops trailing zeros after a decimal point, and the point itself if nothing is left.
fn trim_fraction(s: &str) -> &str {
    if s.contains('.') { s.trim_end_matches('0').trim_end_matches('.') } else { s }
}

/// Redis 7.0's `d2string`: an integral value within ±2^62 as an integer, anything else
/// as `%.17g` (ZSCAN's scores).
pub fn d2string(v: f64) -> String {
    const LIMIT: f64 = (i64::MAX / 2) as f64;
    if v == 0.0 {
        return if v.is_sign_negative() { "-0".into() } else { "0".into() };
    }
    if v.is_finite() && (-LIMIT..=LIMIT).contains(&v) && v == v.trunc() {
        return (v as i64).to_string();
    }
    format_g17(v)
}

/// Formats a double the human-friendly way Redis answers INCRBYFLOAT and HINCRBYFLOAT
/// (`ld2string` in `LD_STR_HUMAN` mode): `inf`, `-inf`, `nan`, and otherwise the
/// shortest text that reads back as the same value, never with an exponent.
pub fn format_double(v: f64) -> String {
    if v.is_nan() {
        "nan".to_string()
    } else if v.is_infinite() {
        if v > 0.0 { "inf".into() } else { "-inf".into() }
    } else if v == v.trunc() && v.abs() < 1e17 {
        format!("{}", v as i64)
    } else {
        format!("{}", v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resp2_and_resp3_shapes() {
        let mut r = Reply::new(false);
        r.map(1);
        r.null();
        r.double(1.5);
        assert_eq!(r.buf, b"*2\r\n$-1\r\n$3\r\n1.5\r\n");
        let mut r = Reply::new(true);
        r.map(1);
        r.null();
        r.double(1.5);
        r.boolean(true);
        assert_eq!(r.buf, b"%1\r\n_\r\n,1.5\r\n#t\r\n");
    }

    #[test]
    fn doubles_as_redis_7_0_replies() {
        assert_eq!(format_g17("0.60778593626235888".parse().unwrap()), "0.60778593626235888");
        assert_eq!(format_g17(f64::MAX), "1.7976931348623157e+308");
        assert_eq!(format_g17(1.5), "1.5");
        assert_eq!(format_g17(3.0), "3");
        assert_eq!(format_g17(-0.0), "-0");
        assert_eq!(format_g17(0.1), "0.10000000000000001");
        assert_eq!(format_g17(1e17), "1e+17");
        assert_eq!(format_g17(12345678901234567.0), "12345678901234568");
        assert_eq!(format_g17(0.0001), "0.0001");
        assert_eq!(format_g17(1e-5), "1.0000000000000001e-05");
        assert_eq!(format_g17(5e-324), "4.9406564584124654e-324");
        assert_eq!(format_g17(f64::NEG_INFINITY), "-inf");
        assert_eq!(d2string(1e17), "100000000000000000");
        assert_eq!(d2string(2.5), "2.5");
        assert_eq!(d2string(1e19), "1e+19");
    }

    #[test]
    fn doubles() {
        assert_eq!(format_double(3.0), "3");
        assert_eq!(format_double(10.5), "10.5");
        assert_eq!(format_double(f64::INFINITY), "inf");
        assert_eq!(format_double(-0.1), "-0.1");
    }
}
