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

    /// A double: `,1.5` in RESP3, a bulk string in RESP2.
    pub fn double(&mut self, v: f64) {
        let text = format_double(v);
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

/// Formats a double as Redis does for replies: `inf`, `-inf`, `nan`, and otherwise the
/// shortest text that reads back as the same value, without an exponent for the
/// magnitudes INCRBYFLOAT produces.
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
    fn doubles() {
        assert_eq!(format_double(3.0), "3");
        assert_eq!(format_double(10.5), "10.5");
        assert_eq!(format_double(f64::INFINITY), "inf");
        assert_eq!(format_double(-0.1), "-0.1");
    }
}
