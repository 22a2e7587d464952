//! Redis's packed encodings as they appear inside RDB values: listpacks (written and
//! read), intsets (written and read), and the older ziplists and zipmaps (read only, for
//! files written by Redis before 7.0).
//!
//! Every reader here checks each length against the bytes it has, so a corrupted blob
//! is an error, never a panic or a read out of bounds.

use crate::protocol::args::parse_i64;

/// One element of a packed blob: stored as an integer or as bytes.
#[derive(Debug, Clone, PartialEq)]
pub enum Item {
    Int(i64),
    Bytes(Vec<u8>),
}

impl Item {
    /// The element as Redis gives it back: integers as their decimal text.
    pub fn into_bytes(self) -> Vec<u8> {
        match self {
            Item::Int(i) => itoa::Buffer::new().format(i).as_bytes().to_vec(),
            Item::Bytes(b) => b,
        }
    }
}

/// What is wrong with a blob.
pub type PackError = &'static str;

const LP_HEADER: usize = 6;
const LP_EOF: u8 = 0xFF;

/// Builds a listpack (Redis 7.0's `listpack.c` layout): a string that is a canonical
/// integer is stored as an integer, as `lpAppend` does.
#[derive(Default)]
pub struct ListpackWriter {
    buf: Vec<u8>,
    count: usize,
}

impl ListpackWriter {
    pub fn new() -> ListpackWriter {
        let mut buf = Vec::with_capacity(64);
        buf.extend_from_slice(&[0; LP_HEADER]);
        ListpackWriter { buf, count: 0 }
    }

    pub fn push(&mut self, item: &[u8]) {
        match parse_i64(item) {
            Some(v) => self.push_int(v),
            None => self.push_str(item),
        }
    }

    pub fn push_int(&mut self, v: i64) {
        let start = self.buf.len();
        let b = &mut self.buf;
        if (0..=127).contains(&v) {
            b.push(v as u8);
        } else if (-4096..=4095).contains(&v) {
            let u = if v < 0 { (1i64 << 13) + v } else { v } as u64;
            b.extend_from_slice(&[0xC0 | (u >> 8) as u8, u as u8]);
        } else if (-32768..=32767).contains(&v) {
            b.push(0xF1);
            b.extend_from_slice(&(v as i16).to_le_bytes());
        } else if (-8_388_608..=8_388_607).contains(&v) {
            b.push(0xF2);
            b.extend_from_slice(&(v as i32).to_le_bytes()[..3]);
        } else if (i32::MIN as i64..=i32::MAX as i64).contains(&v) {
            b.push(0xF3);
            b.extend_from_slice(&(v as i32).to_le_bytes());
        } else {
            b.push(0xF4);
            b.extend_from_slice(&v.to_le_bytes());
        }
        self.finish_entry(start);
    }

    fn push_str(&mut self, s: &[u8]) {
        let start = self.buf.len();
        let b = &mut self.buf;
        let len = s.len();
        if len < 64 {
            b.push(0x80 | len as u8);
        } else if len < 4096 {
            b.extend_from_slice(&[0xE0 | (len >> 8) as u8, len as u8]);
        } else {
            b.push(0xF0);
            b.extend_from_slice(&(len as u32).to_le_bytes());
        }
        b.extend_from_slice(s);
        self.finish_entry(start);
    }

    /// Appends the entry's back-length (`lpEncodeBacklen`).
    fn finish_entry(&mut self, start: usize) {
        let l = (self.buf.len() - start) as u64;
        let mut out = [0u8; 5];
        let n = backlen_size(l);
        for (i, byte) in out[..n].iter_mut().enumerate() {
            let shift = 7 * (n - 1 - i);
            *byte = ((l >> shift) & 127) as u8 | if i > 0 { 128 } else { 0 };
        }
        self.buf.extend_from_slice(&out[..n]);
        self.count += 1;
    }

    /// Bytes so far, the header and terminator included.
    pub fn len(&self) -> usize {
        self.buf.len() + 1
    }

    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    pub fn finish(mut self) -> Vec<u8> {
        self.buf.push(LP_EOF);
        let total = self.buf.len() as u32;
        self.buf[..4].copy_from_slice(&total.to_le_bytes());
        let count = self.count.min(65535) as u16;
        self.buf[4..6].copy_from_slice(&count.to_le_bytes());
        self.buf
    }
}

/// How many bytes `lpEncodeBacklen` takes for an entry of `l` bytes.
fn backlen_size(l: u64) -> usize {
    match l {
        0..=127 => 1,
        128..=16382 => 2,
        16383..=2_097_150 => 3,
        2_097_151..=268_435_454 => 4,
        _ => 5,
    }
}

/// Bounds-checked reads from a blob.
struct Cursor<'a> {
    b: &'a [u8],
    at: usize,
}

impl<'a> Cursor<'a> {
    fn take(&mut self, n: usize, why: PackError) -> Result<&'a [u8], PackError> {
        let end = self.at.checked_add(n).filter(|&e| e <= self.b.len()).ok_or(why)?;
        let out = &self.b[self.at..end];
        self.at = end;
        Ok(out)
    }

    fn byte(&mut self, why: PackError) -> Result<u8, PackError> {
        Ok(self.take(1, why)?[0])
    }

    fn int_le(&mut self, n: usize, why: PackError) -> Result<i64, PackError> {
        let bytes = self.take(n, why)?;
        let mut v = [0u8; 8];
        v[..n].copy_from_slice(bytes);
        // Sign-extend from n bytes.
        let shift = 64 - 8 * n as u32;
        Ok((i64::from_le_bytes(v) << shift) >> shift)
    }
}

/// The elements of a listpack.
pub fn listpack_items(blob: &[u8]) -> Result<Vec<Item>, PackError> {
    let mut items = Vec::new();
    listpack_each(blob, |e| {
        items.push(match e {
            Entry::Int(i) => Item::Int(i),
            Entry::Bytes(b) => Item::Bytes(b.to_vec()),
        })
    })?;
    Ok(items)
}

/// A listpack element, borrowed from the blob.
pub enum Entry<'a> {
    Int(i64),
    Bytes(&'a [u8]),
}

/// Calls `f` with each element of a listpack, in order, after checking the whole blob's
/// framing; returns how many there were.
pub fn listpack_each<'a>(blob: &'a [u8], mut f: impl FnMut(Entry<'a>)) -> Result<usize, PackError> {
    const BAD: PackError = "listpack truncated or corrupt";
    if blob.len() < LP_HEADER + 1 {
        return Err(BAD);
    }
    let total = u32::from_le_bytes(blob[..4].try_into().expect("4 bytes")) as usize;
    if total != blob.len() || blob[total - 1] != LP_EOF {
        return Err("listpack length does not match");
    }
    let declared = u16::from_le_bytes([blob[4], blob[5]]) as usize;
    let mut c = Cursor { b: &blob[..total - 1], at: LP_HEADER };
    let mut count = 0;
    while c.at < c.b.len() {
        let start = c.at;
        let first = c.byte(BAD)?;
        let entry = match first {
            0x00..=0x7F => Entry::Int(first as i64),
            0x80..=0xBF => Entry::Bytes(c.take((first & 0x3F) as usize, BAD)?),
            0xC0..=0xDF => {
                let u = (((first & 0x1F) as i64) << 8) | c.byte(BAD)? as i64;
                Entry::Int(if u >= 1 << 12 { u - (1 << 13) } else { u })
            }
            0xE0..=0xEF => {
                let len = (((first & 0x0F) as usize) << 8) | c.byte(BAD)? as usize;
                Entry::Bytes(c.take(len, BAD)?)
            }
            0xF0 => {
                let len = u32::from_le_bytes(c.take(4, BAD)?.try_into().expect("4 bytes")) as usize;
                Entry::Bytes(c.take(len, BAD)?)
            }
            0xF1 => Entry::Int(c.int_le(2, BAD)?),
            0xF2 => Entry::Int(c.int_le(3, BAD)?),
            0xF3 => Entry::Int(c.int_le(4, BAD)?),
            0xF4 => Entry::Int(c.int_le(8, BAD)?),
            _ => return Err("listpack entry with an unknown encoding"),
        };
        // The back-length: 1 to 5 bytes giving the entry's length.
        c.take(backlen_size((c.at - start) as u64), BAD)?;
        f(entry);
        count += 1;
    }
    if declared != 65535 && declared != count {
        return Err("listpack element count does not match");
    }
    Ok(count)
}

/// An intset (`intset.c`): sorted integers in the narrowest width that holds them all.
pub fn intset_blob(sorted: &[i64]) -> Vec<u8> {
    let width: usize = if sorted.iter().all(|&v| i16::try_from(v).is_ok()) {
        2
    } else if sorted.iter().all(|&v| i32::try_from(v).is_ok()) {
        4
    } else {
        8
    };
    let mut out = Vec::with_capacity(8 + width * sorted.len());
    out.extend_from_slice(&(width as u32).to_le_bytes());
    out.extend_from_slice(&(sorted.len() as u32).to_le_bytes());
    for &v in sorted {
        out.extend_from_slice(&v.to_le_bytes()[..width]);
    }
    out
}

/// The integers of an intset.
pub fn intset_items(blob: &[u8]) -> Result<Vec<i64>, PackError> {
    const BAD: PackError = "intset truncated or corrupt";
    let mut c = Cursor { b: blob, at: 0 };
    let width = c.int_le(4, BAD)? as usize;
    if !matches!(width, 2 | 4 | 8) {
        return Err("intset with an unknown encoding");
    }
    let len = c.int_le(4, BAD)? as u32 as usize;
    if blob.len() != 8 + len.checked_mul(width).ok_or(BAD)? {
        return Err("intset length does not match");
    }
    let mut out = Vec::with_capacity(len);
    for _ in 0..len {
        out.push(c.int_le(width, BAD)?);
    }
    if out.windows(2).any(|w| w[0] >= w[1]) {
        return Err("intset not sorted");
    }
    Ok(out)
}

/// The elements of a ziplist (RDB types 10, 12, 13 and quicklist nodes before 7.0).
pub fn ziplist_items(blob: &[u8]) -> Result<Vec<Item>, PackError> {
    const BAD: PackError = "ziplist truncated or corrupt";
    if blob.len() < 11 {
        return Err(BAD);
    }
    let total = u32::from_le_bytes(blob[..4].try_into().expect("4 bytes")) as usize;
    if total != blob.len() || blob[total - 1] != 0xFF {
        return Err("ziplist length does not match");
    }
    let declared = u16::from_le_bytes([blob[8], blob[9]]) as usize;
    let mut c = Cursor { b: &blob[..total - 1], at: 10 };
    let mut items = Vec::with_capacity(declared.min(blob.len()));
    while c.at < c.b.len() {
        // The previous entry's length: 1 byte, or 0xFE and 4 more.
        if c.byte(BAD)? == 0xFE {
            c.take(4, BAD)?;
        }
        let enc = c.byte(BAD)?;
        let item = match enc >> 6 {
            0 => Item::Bytes(c.take((enc & 0x3F) as usize, BAD)?.to_vec()),
            1 => {
                let len = (((enc & 0x3F) as usize) << 8) | c.byte(BAD)? as usize;
                Item::Bytes(c.take(len, BAD)?.to_vec())
            }
            2 => {
                let len = u32::from_be_bytes(c.take(4, BAD)?.try_into().expect("4 bytes")) as usize;
                Item::Bytes(c.take(len, BAD)?.to_vec())
            }
            _ => Item::Int(match enc {
                0xC0 => c.int_le(2, BAD)?,
                0xD0 => c.int_le(4, BAD)?,
                0xE0 => c.int_le(8, BAD)?,
                0xF0 => c.int_le(3, BAD)?,
                0xFE => c.int_le(1, BAD)?,
                0xF1..=0xFD => (enc & 0x0F) as i64 - 1,
                _ => return Err("ziplist entry with an unknown encoding"),
            }),
        };
        items.push(item);
    }
    if declared != 65535 && declared != items.len() {
        return Err("ziplist element count does not match");
    }
    Ok(items)
}

/// The field/value pairs of a zipmap (RDB type 9, Redis before 2.6), flattened.
pub fn zipmap_items(blob: &[u8]) -> Result<Vec<Item>, PackError> {
    const BAD: PackError = "zipmap truncated or corrupt";
    let mut c = Cursor { b: blob, at: 1 };
    let mut items = Vec::new();
    let len = |c: &mut Cursor<'_>| -> Result<usize, PackError> {
        Ok(match c.byte(BAD)? {
            254 => u32::from_le_bytes(c.take(4, BAD)?.try_into().expect("4 bytes")) as usize,
            255 => return Err(BAD),
            n => n as usize,
        })
    };
    loop {
        if *blob.get(c.at).ok_or(BAD)? == 0xFF {
            break;
        }
        let klen = len(&mut c)?;
        items.push(Item::Bytes(c.take(klen, BAD)?.to_vec()));
        let vlen = len(&mut c)?;
        let free = c.byte(BAD)? as usize;
        items.push(Item::Bytes(c.take(vlen, BAD)?.to_vec()));
        c.take(free, BAD)?;
    }
    Ok(items)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listpacks_round_trip_every_encoding() {
        let big = vec![b'x'; 5000];
        let mid = vec![b'y'; 100];
        let values: Vec<Vec<u8>> = vec![
            b"0".to_vec(),
            b"127".to_vec(),
            b"128".to_vec(),
            b"-1".to_vec(),
            b"-4096".to_vec(),
            b"4095".to_vec(),
            b"32767".to_vec(),
            b"-32768".to_vec(),
            b"8388607".to_vec(),
            b"-8388608".to_vec(),
            b"2147483647".to_vec(),
            b"-2147483648".to_vec(),
            b"9223372036854775807".to_vec(),
            b"-9223372036854775808".to_vec(),
            b"007".to_vec(),
            b"".to_vec(),
            b"hello".to_vec(),
            mid.clone(),
            big.clone(),
        ];
        let mut w = ListpackWriter::new();
        for v in &values {
            w.push(v);
        }
        let blob = w.finish();
        assert_eq!(u32::from_le_bytes(blob[..4].try_into().unwrap()) as usize, blob.len());
        let back: Vec<Vec<u8>> = listpack_items(&blob).unwrap().into_iter().map(Item::into_bytes).collect();
        assert_eq!(back, values);
        // As Redis lays them out: "0" is one byte plus its back-length.
        let mut w = ListpackWriter::new();
        w.push(b"0");
        w.push(b"a");
        assert_eq!(w.finish(), vec![12, 0, 0, 0, 2, 0, 0x00, 0x01, 0x81, b'a', 0x02, 0xFF]);
        assert!(listpack_items(&blob[..blob.len() - 3]).is_err(), "truncated");
    }

    #[test]
    fn intsets_pick_the_narrowest_width() {
        for (values, width) in [(vec![-5, 1, 300], 2), (vec![1, 70000], 4), (vec![-1, 1 << 40], 8)] {
            let blob = intset_blob(&values);
            assert_eq!(blob[0] as usize, width);
            assert_eq!(intset_items(&blob).unwrap(), values);
        }
        assert!(intset_items(&intset_blob(&[1, 2])[..10]).is_err());
    }

    #[test]
    fn ziplists_and_zipmaps_read() {
        // zlbytes, zltail, zllen=3; "ab"; 12 (immediate); 300 (int16); end.
        let mut z = vec![0, 0, 0, 0, 0, 0, 0, 0, 3, 0];
        z.extend_from_slice(&[0, 0x02, b'a', b'b']);
        z.extend_from_slice(&[4, 0xFD]);
        z.extend_from_slice(&[2, 0xC0, 0x2C, 0x01]);
        z.push(0xFF);
        let n = z.len() as u32;
        z[..4].copy_from_slice(&n.to_le_bytes());
        let items = ziplist_items(&z).unwrap();
        assert_eq!(items, vec![Item::Bytes(b"ab".to_vec()), Item::Int(12), Item::Int(300)]);
        // zmlen, "k" -> "v" with one free byte, end.
        let zm = [1, 1, b'k', 1, 1, b'v', 0, 0xFF];
        assert_eq!(zipmap_items(&zm).unwrap(), vec![Item::Bytes(b"k".to_vec()), Item::Bytes(b"v".to_vec())]);
        assert!(zipmap_items(&zm[..5]).is_err());
    }
}
