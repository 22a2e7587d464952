//! The RDB stream's building blocks (Redis 7.0's `rdb.c`, version 10): type and opcode
//! numbers, lengths, strings (integer-encoded and LZF-compressed forms), doubles, and
//! the CRC64 every byte passes through, for a [`Writer`] and a [`Reader`].
//!
//! The reader never trusts a length: every one is checked against the bytes that are
//! left before anything is allocated for it, so a corrupted or hostile file or DUMP
//! payload fails with its offset and a reason instead of exhausting memory.

use std::io::{Read, Write};

use crc::{CRC_64_REDIS, Crc, Digest, Table};

use crate::protocol::args::parse_i64;

/// The RDB version written, and the newest read.
pub const RDB_VERSION: u16 = 10;

pub const TYPE_STRING: u8 = 0;
pub const TYPE_LIST: u8 = 1;
pub const TYPE_SET: u8 = 2;
pub const TYPE_ZSET: u8 = 3;
pub const TYPE_HASH: u8 = 4;
pub const TYPE_ZSET_2: u8 = 5;
pub const TYPE_MODULE: u8 = 6;
pub const TYPE_MODULE_2: u8 = 7;
pub const TYPE_HASH_ZIPMAP: u8 = 9;
pub const TYPE_LIST_ZIPLIST: u8 = 10;
pub const TYPE_SET_INTSET: u8 = 11;
pub const TYPE_ZSET_ZIPLIST: u8 = 12;
pub const TYPE_HASH_ZIPLIST: u8 = 13;
pub const TYPE_LIST_QUICKLIST: u8 = 14;
pub const TYPE_STREAM_LISTPACKS: u8 = 15;
pub const TYPE_HASH_LISTPACK: u8 = 16;
pub const TYPE_ZSET_LISTPACK: u8 = 17;
pub const TYPE_LIST_QUICKLIST_2: u8 = 18;
pub const TYPE_STREAM_LISTPACKS_2: u8 = 19;

pub const OPCODE_FUNCTION2: u8 = 245;
pub const OPCODE_FUNCTION: u8 = 246;
pub const OPCODE_MODULE_AUX: u8 = 247;
pub const OPCODE_IDLE: u8 = 248;
pub const OPCODE_FREQ: u8 = 249;
pub const OPCODE_AUX: u8 = 250;
pub const OPCODE_RESIZEDB: u8 = 251;
pub const OPCODE_EXPIRETIME_MS: u8 = 252;
pub const OPCODE_EXPIRETIME: u8 = 253;
pub const OPCODE_SELECTDB: u8 = 254;
pub const OPCODE_EOF: u8 = 255;

/// Quicklist node containers (RDB type 18).
pub const CONTAINER_PLAIN: u64 = 1;
pub const CONTAINER_PACKED: u64 = 2;

/// Redis's CRC64 (Jones polynomial, reflected), as `crc64.c` computes it.
pub static CRC64: Crc<u64, Table<16>> = Crc::<u64, Table<16>>::new(&CRC_64_REDIS);

/// Why a stream could not be read, and where.
#[derive(Debug, Clone, PartialEq)]
pub struct RdbError {
    pub offset: u64,
    pub reason: String,
}

impl std::fmt::Display for RdbError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} (at byte {})", self.reason, self.offset)
    }
}

impl std::error::Error for RdbError {}

pub type Result<T> = std::result::Result<T, RdbError>;

/// Writes RDB primitives to `out`, keeping the CRC64 of everything written (unless
/// made [`Writer::unsummed`]).
pub struct Writer<W: Write> {
    out: W,
    crc: Option<Digest<'static, u64, Table<16>>>,
    /// `rdbcompression`: strings over 20 bytes are LZF-compressed when that saves
    /// at least 4 bytes.
    compress: bool,
    written: u64,
    scratch: Vec<u8>,
}

impl<W: Write> Writer<W> {
    pub fn new(out: W, compress: bool) -> Writer<W> {
        Writer { out, crc: Some(CRC64.digest()), compress, written: 0, scratch: Vec::new() }
    }

    /// A writer of pieces that another writer's checksum covers (records made ahead,
    /// then written whole with [`Writer::raw`]).
    pub fn unsummed(out: W, compress: bool) -> Writer<W> {
        Writer { out, crc: None, compress, written: 0, scratch: Vec::new() }
    }

    pub fn raw(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        if let Some(crc) = &mut self.crc {
            crc.update(bytes);
        }
        self.written += bytes.len() as u64;
        self.out.write_all(bytes)
    }

    pub fn byte(&mut self, b: u8) -> std::io::Result<()> {
        self.raw(&[b])
    }

    /// Bytes written so far.
    pub fn written(&self) -> u64 {
        self.written
    }

    /// `rdbSaveLen`.
    pub fn length(&mut self, len: u64) -> std::io::Result<()> {
        if len < 1 << 6 {
            self.byte(len as u8)
        } else if len < 1 << 14 {
            self.raw(&[0x40 | (len >> 8) as u8, len as u8])
        } else if len <= u32::MAX as u64 {
            self.byte(0x80)?;
            self.raw(&(len as u32).to_be_bytes())
        } else {
            self.byte(0x81)?;
            self.raw(&len.to_be_bytes())
        }
    }

    /// `rdbSaveLongLongAsStringObject`: 8-, 16- or 32-bit integer forms, else digits.
    pub fn int_string(&mut self, v: i64) -> std::io::Result<()> {
        if let Ok(v) = i8::try_from(v) {
            self.raw(&[0xC0, v as u8])
        } else if let Ok(v) = i16::try_from(v) {
            self.byte(0xC1)?;
            self.raw(&v.to_le_bytes())
        } else if let Ok(v) = i32::try_from(v) {
            self.byte(0xC2)?;
            self.raw(&v.to_le_bytes())
        } else {
            let mut buf = itoa::Buffer::new();
            let digits = buf.format(v).as_bytes().to_vec();
            self.length(digits.len() as u64)?;
            self.raw(&digits)
        }
    }

    /// `rdbSaveRawString`: an integer form for short canonical integers, LZF when it
    /// pays, else the bytes.
    pub fn string(&mut self, s: &[u8]) -> std::io::Result<()> {
        if s.len() <= 11
            && let Some(v) = parse_i64(s).filter(|v| i32::try_from(*v).is_ok())
        {
            return self.int_string(v);
        }
        if self.compress && s.len() > 20 {
            let mut out = std::mem::take(&mut self.scratch);
            out.resize(s.len() - 4, 0);
            let compressed = Some(super::lzf::compress(s, &mut out)).filter(|&n| n > 0);
            let result = match compressed {
                Some(n) => self.lzf_blob(&out[..n], s.len()),
                None => self.plain_string(s),
            };
            self.scratch = out;
            return result;
        }
        self.plain_string(s)
    }

    fn plain_string(&mut self, s: &[u8]) -> std::io::Result<()> {
        self.length(s.len() as u64)?;
        self.raw(s)
    }

    fn lzf_blob(&mut self, compressed: &[u8], original: usize) -> std::io::Result<()> {
        self.byte(0xC3)?;
        self.length(compressed.len() as u64)?;
        self.length(original as u64)?;
        self.raw(compressed)
    }

    /// `rdbSaveBinaryDoubleValue`: 8 bytes, little-endian.
    pub fn double(&mut self, v: f64) -> std::io::Result<()> {
        self.raw(&v.to_le_bytes())
    }

    /// The CRC64 so far, as the 8 bytes that close a file or a DUMP payload (they are
    /// not part of the checksum).
    pub fn checksum(&self) -> [u8; 8] {
        self.crc.clone().map_or(0, |c| c.finalize()).to_le_bytes()
    }

    /// Writes the checksum (eight zero bytes without one, as `rdbchecksum no`) and
    /// returns the underlying writer.
    pub fn finish(mut self, checksum: bool) -> std::io::Result<W> {
        let sum = if checksum { self.checksum() } else { [0; 8] };
        self.out.write_all(&sum)?;
        self.written += 8;
        Ok(self.out)
    }
}

/// Reads RDB primitives from `input`, keeping the CRC64 of everything read. `limit` is
/// how many bytes the stream holds at most: no length may point past it.
///
/// It buffers `input` itself and runs the checksum over what was consumed in bulk (when
/// the buffer is refilled, and when the checksum is asked for), not over each small
/// read: a snapshot is mostly small reads.
pub struct Reader<R: Read> {
    input: R,
    crc: Digest<'static, u64, Table<16>>,
    offset: u64,
    limit: u64,
    buf: Box<[u8]>,
    /// `buf[pos..end]` is read and not consumed; `buf[summed..pos]` is consumed and not
    /// yet in the checksum.
    pos: usize,
    end: usize,
    summed: usize,
}

/// The reader's buffer.
const READ_BUF: usize = 256 * 1024;

/// LZF expands at most 264 bytes out of a 2-byte back-reference, so this bounds what a
/// compressed string of `n` bytes may claim to hold.
const LZF_MAX_RATIO: u64 = 132;

impl<R: Read> Reader<R> {
    pub fn new(input: R, limit: u64) -> Reader<R> {
        let size = READ_BUF.min(limit.saturating_add(1) as usize);
        let buf = vec![0u8; size].into_boxed_slice();
        Reader { input, crc: CRC64.digest(), offset: 0, limit, buf, pos: 0, end: 0, summed: 0 }
    }

    pub fn offset(&self) -> u64 {
        self.offset
    }

    /// An error at the current offset.
    pub fn error(&self, reason: impl Into<String>) -> RdbError {
        RdbError { offset: self.offset, reason: reason.into() }
    }

    fn truncated(&self) -> RdbError {
        self.error("unexpected end of the data (truncated)")
    }

    /// Sums what was consumed, moves what is left to the front and reads until at
    /// least `need` (at most the buffer's size) bytes are there.
    fn refill(&mut self, need: usize) -> Result<()> {
        self.crc.update(&self.buf[self.summed..self.pos]);
        self.buf.copy_within(self.pos..self.end, 0);
        self.end -= self.pos;
        (self.pos, self.summed) = (0, 0);
        while self.end < need {
            match self.input.read(&mut self.buf[self.end..]) {
                Ok(0) | Err(_) => return Err(self.truncated()),
                Ok(n) => self.end += n,
            }
        }
        Ok(())
    }

    /// The next `n` bytes (n at most the buffer's size), consumed.
    fn take(&mut self, n: usize) -> Result<&[u8]> {
        if self.end - self.pos < n {
            if n > self.buf.len() {
                return Err(self.truncated());
            }
            self.refill(n)?;
        }
        let start = self.pos;
        self.pos += n;
        self.offset += n as u64;
        Ok(&self.buf[start..start + n])
    }

    /// Err unless `n` items of at least `each` bytes can still be in the data.
    fn within(&self, n: u64, each: u64, what: &str) -> Result<()> {
        if n.saturating_mul(each) > self.limit.saturating_sub(self.offset) {
            return Err(self.error(format!("a {what} of {n} runs past the end of the data")));
        }
        Ok(())
    }

    /// `n` bytes, after checking that they can be there.
    pub fn bytes(&mut self, n: u64) -> Result<Vec<u8>> {
        self.within(n, 1, "length in bytes")?;
        let n = n as usize;
        if n <= self.buf.len() {
            return Ok(self.take(n)?.to_vec());
        }
        // Larger than the buffer: what is buffered, then the rest straight from the input.
        let mut v = Vec::with_capacity(n);
        v.extend_from_slice(&self.buf[self.pos..self.end]);
        self.crc.update(&self.buf[self.summed..self.end]);
        (self.pos, self.end, self.summed) = (0, 0, 0);
        let have = v.len();
        v.resize(n, 0);
        if self.input.read_exact(&mut v[have..]).is_err() {
            self.offset += have as u64;
            return Err(self.truncated());
        }
        self.crc.update(&v[have..]);
        self.offset += n as u64;
        Ok(v)
    }

    pub fn byte(&mut self) -> Result<u8> {
        Ok(self.take(1)?[0])
    }

    pub fn array<const N: usize>(&mut self) -> Result<[u8; N]> {
        Ok(self.take(N)?.try_into().expect("N bytes"))
    }

    /// `rdbLoadLen`: the length, or `Err(encoding)` for a specially encoded string.
    fn len_or_encoding(&mut self) -> Result<std::result::Result<u64, u8>> {
        let first = self.byte()?;
        Ok(match first >> 6 {
            0 => Ok((first & 0x3F) as u64),
            1 => Ok((((first & 0x3F) as u64) << 8) | self.byte()? as u64),
            2 => match first {
                0x80 => Ok(u32::from_be_bytes(self.array()?) as u64),
                0x81 => Ok(u64::from_be_bytes(self.array()?)),
                _ => return Err(self.error(format!("unknown length encoding {first:#04x}"))),
            },
            _ => Err(first & 0x3F),
        })
    }

    /// A plain length (element counts, database numbers).
    pub fn length(&mut self) -> Result<u64> {
        match self.len_or_encoding()? {
            Ok(n) => Ok(n),
            Err(_) => Err(self.error("an encoded string where a length belongs")),
        }
    }

    /// A count of elements, each of which takes at least `min_bytes`: checked against
    /// what is left, so a corrupted count cannot make the caller preallocate much.
    pub fn count(&mut self, min_bytes: u64) -> Result<usize> {
        let n = self.length()?;
        self.within(n, min_bytes, "count of elements")?;
        Ok(n as usize)
    }

    /// `rdbGenericLoadStringObject`: plain, integer-encoded or LZF-compressed.
    pub fn string(&mut self) -> Result<Vec<u8>> {
        let mut out = Vec::new();
        self.string_into(&mut out)?;
        Ok(out)
    }

    /// [`Reader::string`] into `out` (cleared first), so a loop reading many strings
    /// reuses one buffer.
    pub fn string_into(&mut self, out: &mut Vec<u8>) -> Result<()> {
        out.clear();
        let int = |out: &mut Vec<u8>, v: i64| out.extend_from_slice(itoa::Buffer::new().format(v).as_bytes());
        match self.len_or_encoding()? {
            Ok(n) if n <= self.buf.len() as u64 => {
                self.within(n, 1, "length in bytes")?;
                out.extend_from_slice(self.take(n as usize)?);
            }
            Ok(n) => *out = self.bytes(n)?,
            Err(0) => int(out, self.byte()? as i8 as i64),
            Err(1) => int(out, i16::from_le_bytes(self.array()?) as i64),
            Err(2) => int(out, i32::from_le_bytes(self.array()?) as i64),
            Err(3) => {
                let compressed_len = self.length()?;
                let len = self.length()?;
                if len > compressed_len.saturating_mul(LZF_MAX_RATIO) + 64 {
                    return Err(self.error("an LZF string claims more than it can hold"));
                }
                let compressed = self.bytes(compressed_len)?;
                out.resize(len as usize, 0);
                match lzf_rust::decompress(&compressed, out) {
                    Ok(n) if n == len as usize => {}
                    _ => return Err(self.error("an LZF string does not decompress")),
                }
            }
            Err(e) => return Err(self.error(format!("unknown string encoding {e}"))),
        }
        Ok(())
    }

    /// `rdbLoadBinaryDoubleValue`.
    pub fn double(&mut self) -> Result<f64> {
        Ok(f64::from_le_bytes(self.array()?))
    }

    /// `rdbLoadDoubleValue` (RDB type 3's scores): a length byte, then its text, or
    /// 253/254/255 for nan/+inf/-inf.
    pub fn text_double(&mut self) -> Result<f64> {
        match self.byte()? {
            253 => Ok(f64::NAN),
            254 => Ok(f64::INFINITY),
            255 => Ok(f64::NEG_INFINITY),
            n => {
                let text = self.bytes(n as u64)?;
                std::str::from_utf8(&text)
                    .ok()
                    .and_then(|t| t.parse().ok())
                    .ok_or_else(|| self.error("a score that is not a number"))
            }
        }
    }

    /// The CRC64 of everything consumed so far.
    pub fn checksum(&self) -> u64 {
        let mut crc = self.crc.clone();
        crc.update(&self.buf[self.summed..self.pos]);
        crc.finalize()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc64_is_redis_crc64() {
        // crc64.c's test vector.
        assert_eq!(CRC64.checksum(b"123456789"), 0xe9c6d914c4b8d9ca);
    }

    #[test]
    fn lengths_strings_and_doubles_round_trip() {
        let mut w = Writer::new(Vec::new(), true);
        let lens = [0u64, 63, 64, 16383, 16384, u32::MAX as u64, u32::MAX as u64 + 1];
        for &n in &lens {
            w.length(n).unwrap();
        }
        let long = vec![b'a'; 500];
        let strings: Vec<Vec<u8>> = vec![
            b"".to_vec(),
            b"-128".to_vec(),
            b"300".to_vec(),
            b"-70000".to_vec(),
            b"12345678901".to_vec(),
            b"007".to_vec(),
            long.clone(),
            b"not compressible at all: 0123456789".to_vec(),
        ];
        for s in &strings {
            w.string(s).unwrap();
        }
        w.int_string(i64::MIN).unwrap();
        w.double(-1.5).unwrap();
        let bytes = w.finish(true).unwrap();
        // Short integers take their 2-byte form; the long run compresses.
        assert!(bytes.len() < 200, "{} bytes", bytes.len());
        let limit = bytes.len() as u64;
        let mut r = Reader::new(&bytes[..], limit);
        for &n in &lens {
            assert_eq!(r.length().unwrap(), n);
        }
        for s in &strings {
            assert_eq!(&r.string().unwrap(), s);
        }
        assert_eq!(r.string().unwrap(), i64::MIN.to_string().into_bytes());
        assert_eq!(r.double().unwrap(), -1.5);
        let sum = r.checksum();
        assert_eq!(u64::from_le_bytes(r.array().unwrap()), sum);
    }

    #[test]
    fn reads_straddle_the_buffer_and_the_checksum_covers_every_byte() {
        let mut w = Writer::new(Vec::new(), false);
        let big: Vec<u8> = (0..READ_BUF * 2 + 17).map(|i| (i * 7) as u8).collect();
        let small: Vec<Vec<u8>> =
            (0..50_000u32).map(|i| i.to_le_bytes().repeat(1 + i as usize % 5)).collect();
        for s in &small[..25_000] {
            w.string(s).unwrap();
        }
        w.string(&big).unwrap();
        for s in &small[25_000..] {
            w.string(s).unwrap();
        }
        let bytes = w.finish(true).unwrap();
        let mut r = Reader::new(&bytes[..], bytes.len() as u64);
        for s in &small[..25_000] {
            assert_eq!(&r.string().unwrap(), s);
        }
        assert_eq!(r.string().unwrap(), big);
        for s in &small[25_000..] {
            assert_eq!(&r.string().unwrap(), s);
        }
        let sum = r.checksum();
        assert_eq!(u64::from_le_bytes(r.array().unwrap()), sum);
        assert_eq!(sum, CRC64.checksum(&bytes[..bytes.len() - 8]));
        assert!(r.byte().unwrap_err().reason.contains("truncated"));
    }

    #[test]
    fn lengths_past_the_end_fail_before_allocating() {
        let mut w = Writer::new(Vec::new(), false);
        w.length(1 << 40).unwrap();
        let bytes = w.finish(true).unwrap();
        let mut r = Reader::new(&bytes[..], bytes.len() as u64);
        let e = r.string().unwrap_err();
        assert!(e.reason.contains("runs past the end"), "{e}");
        let mut r = Reader::new(&[0x05, b'a'][..], 2);
        assert!(r.string().unwrap_err().reason.contains("runs past"));
    }
}
