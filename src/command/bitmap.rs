//! Bitmap commands over string values: SETBIT, GETBIT, BITCOUNT, BITPOS, BITOP,
//! BITFIELD, BITFIELD_RO. Bit 0 is the most significant bit of the first byte, as Redis.

use bytes::Bytes;

use super::Ctx;
use super::string::{range_of, raw_string_mut};
use super::table::*;
use crate::cluster::slot::key_slot;
use crate::error::{self, CmdResult, CommandError};
use crate::protocol::args;
use crate::server::pubsub::events;
use crate::storage::{NewValue, Shard};

const B: u32 = BITMAP;

pub const COMMANDS: &[CommandSpec] = &[
    CommandSpec::new("setbit", 4, WRITE | DENYOOM, setbit).keys(1, 1, 1).acl(B).group("bitmap").doc(
        "Sets or clears the bit at offset of the string value. Creates the key if it doesn't exist.",
        "2.2.0",
    ),
    CommandSpec::new("getbit", 3, READONLY | FAST, getbit)
        .keys(1, 1, 1)
        .acl(B)
        .group("bitmap")
        .doc("Returns a bit value by offset.", "2.2.0"),
    CommandSpec::new("bitcount", -2, READONLY, bitcount)
        .keys(1, 1, 1)
        .acl(B)
        .group("bitmap")
        .doc("Counts the number of set bits (population counting) in a string.", "2.6.0"),
    CommandSpec::new("bitpos", -3, READONLY, bitpos)
        .keys(1, 1, 1)
        .acl(B)
        .group("bitmap")
        .doc("Finds the first set (1) or clear (0) bit in a string.", "2.8.7"),
    CommandSpec::new("bitop", -4, WRITE | DENYOOM, bitop)
        .keys(2, -1, 1)
        .acl(B)
        .group("bitmap")
        .doc("Performs bitwise operations on multiple strings, and stores the result.", "2.6.0"),
    CommandSpec::new("bitfield", -2, WRITE | DENYOOM, bitfield)
        .keys(1, 1, 1)
        .acl(B)
        .group("bitmap")
        .doc("Performs arbitrary bitfield integer operations on strings.", "3.2.0"),
    CommandSpec::new("bitfield_ro", -2, READONLY | FAST, bitfield_ro)
        .keys(1, 1, 1)
        .acl(B)
        .group("bitmap")
        .doc("Performs arbitrary read-only bitfield integer operations on strings.", "6.0.0"),
];

/// A bit offset, bounded so the string it implies stays within `proto-max-bulk-len`.
fn bit_offset(ctx: &Ctx<'_>, arg: &[u8]) -> Result<u64, CommandError> {
    let max = ctx.server.limits.proto_max_bulk_len.load(std::sync::atomic::Ordering::Relaxed);
    match args::parse_i64(arg) {
        Some(v) if v >= 0 && (v as u64 >> 3) < max => Ok(v as u64),
        _ => Err(error::BIT_OFFSET),
    }
}

/// The string at `key` (in `slot`) for reading: its bytes (None when missing),
/// WRONGTYPE otherwise.
fn read_string(
    ctx: &Ctx<'_>,
    shard: &mut Shard,
    slot: u16,
    key: &[u8],
) -> Result<Option<Vec<u8>>, CommandError> {
    let Some(e) = shard.get(ctx.db(), slot, key, ctx.now) else { return Ok(None) };
    let mut scratch = itoa::Buffer::new();
    let v = e.value();
    v.as_str(&mut scratch).map(|s| Some(s.to_vec())).ok_or(error::WRONGTYPE)
}

/// Runs `f` on the string at `key` grown to at least `len` bytes (created if missing).
fn with_string<R>(
    ctx: &Ctx<'_>,
    shard: &mut Shard,
    key: &[u8],
    len: usize,
    f: impl FnOnce(&mut Vec<u8>) -> R,
) -> Result<(R, Written), CommandError> {
    let db = ctx.db();
    let existed = shard.peek(db, ctx.slot, key, ctx.now).is_some();
    if !existed {
        shard.set(
            db,
            ctx.slot,
            key,
            NewValue::Obj(Box::new(crate::storage::Object::Str(Vec::new()))),
            None,
            ctx.now,
        );
    }
    let mut e = shard.get(db, ctx.slot, key, ctx.now).expect("present");
    let v = raw_string_mut(&mut e)?;
    let grew = v.len() < len;
    if grew {
        v.resize(len, 0);
    }
    Ok((f(v), Written { existed, grew }))
}

/// What [`with_string`] did before the change itself: whether the key existed, and
/// whether the string had to grow (a change even if no bit differs).
#[derive(Clone, Copy)]
struct Written {
    existed: bool,
    grew: bool,
}

impl Written {
    /// Publishes the write and counts its changes as Redis does: each of the `ran`
    /// field writes when the key was created or grew, else only the `changed` ones
    /// that altered a bit; nothing at all when that is none.
    fn publish(self, ctx: &Ctx<'_>, key: &[u8], ran: usize, changed: usize) {
        let changes = if !self.existed || self.grew { ran } else { changed };
        if changes > 0 {
            ctx.written(events::STRING, "setbit", key, self.existed);
            ctx.changed_elements(changes);
        }
    }
}

fn get_bit(s: &[u8], bit: u64) -> u8 {
    s.get((bit >> 3) as usize).map_or(0, |b| (b >> (7 - (bit & 7))) & 1)
}

/// SETBIT key offset value
fn setbit(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    let bit = bit_offset(ctx, &argv[2])?;
    let on = match &argv[3][..] {
        b"1" => true,
        b"0" => false,
        _ => return Err(error::BIT_VALUE),
    };
    let mut shard = ctx.shard();
    // Created even for a 0 bit, as Redis does.
    let (old, written) = with_string(ctx, &mut shard, &argv[1], (bit >> 3) as usize + 1, |v| {
        let byte = &mut v[(bit >> 3) as usize];
        let mask = 1 << (7 - (bit & 7));
        let old = (*byte & mask != 0) as i64;
        if on {
            *byte |= mask
        } else {
            *byte &= !mask
        }
        old
    })?;
    written.publish(ctx, &argv[1], 1, (old != on as i64) as usize);
    ctx.out.int(old);
    Ok(())
}

/// GETBIT key offset
fn getbit(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    let bit = bit_offset(ctx, &argv[2])?;
    let mut shard = ctx.shard();
    let s = read_string(ctx, &mut shard, ctx.slot, &argv[1])?.unwrap_or_default();
    ctx.out.int(get_bit(&s, bit) as i64);
    Ok(())
}

/// `start end [BYTE | BIT]` of BITCOUNT/BITPOS: a bit range `[from, to]` over a string of
/// `len` bytes, None when empty.
fn bit_range(len: usize, start: i64, end: i64, bits: bool) -> Option<(u64, u64)> {
    if bits {
        let (a, b) = range_of(len * 8, start, end)?;
        Some((a as u64, b as u64))
    } else {
        let (a, b) = range_of(len, start, end)?;
        Some((a as u64 * 8, b as u64 * 8 + 7))
    }
}

fn unit(arg: Option<&Bytes>) -> Result<bool, CommandError> {
    match arg {
        None => Ok(false),
        Some(a) if args::is(a, "BYTE") => Ok(false),
        Some(a) if args::is(a, "BIT") => Ok(true),
        Some(_) => Err(error::SYNTAX),
    }
}

/// Set bits in the bit range `[from, to]` of `s` (within it), a byte at a time.
fn count_ones(s: &[u8], from: u64, to: u64) -> u64 {
    let (first, last) = ((from >> 3) as usize, (to >> 3) as usize);
    (first..=last)
        .map(|i| {
            let mut b = s[i];
            if i == first {
                b &= 0xff >> (from & 7);
            }
            if i == last {
                b &= 0xff << (7 - (to & 7));
            }
            b.count_ones() as u64
        })
        .sum()
}

/// BITCOUNT key [start end [BYTE | BIT]]
fn bitcount(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    let range = match argv.len() {
        2 => None,
        4 | 5 => Some((args::int(&argv[2])?, args::int(&argv[3])?, unit(argv.get(4))?)),
        _ => return Err(error::SYNTAX),
    };
    let mut shard = ctx.shard();
    let s = read_string(ctx, &mut shard, ctx.slot, &argv[1])?.unwrap_or_default();
    drop(shard);
    let n = match range {
        None => s.iter().map(|b| b.count_ones() as u64).sum(),
        Some((a, b, bits)) => match bit_range(s.len(), a, b, bits) {
            Some((from, to)) => count_ones(&s, from, to),
            None => 0,
        },
    };
    ctx.out.int(n as i64);
    Ok(())
}

/// BITPOS key bit [start [end [BYTE | BIT]]]
fn bitpos(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    let want = match &argv[2][..] {
        b"1" => 1,
        b"0" => 0,
        _ => return Err(error::BIT_ARG),
    };
    if argv.len() > 6 {
        return Err(error::SYNTAX);
    }
    let start = argv.get(3).map(|a| args::int(a)).transpose()?.unwrap_or(0);
    let end_given = argv.len() > 4;
    let end = argv.get(4).map(|a| args::int(a)).transpose()?.unwrap_or(-1);
    let bits = unit(argv.get(5))?;
    let mut shard = ctx.shard();
    let Some(s) = read_string(ctx, &mut shard, ctx.slot, &argv[1])? else {
        ctx.out.int(if want == 1 { -1 } else { 0 });
        return Ok(());
    };
    drop(shard);
    let Some((from, to)) = bit_range(s.len(), start, end, bits) else {
        ctx.out.int(-1);
        return Ok(());
    };
    match (from..=to).find(|&i| get_bit(&s, i) == want) {
        Some(p) => ctx.out.int(p as i64),
        // Looking for a clear bit with no end given: the bits past the string are 0.
        None if want == 0 && !end_given => ctx.out.int(s.len() as i64 * 8),
        None => ctx.out.int(-1),
    }
    Ok(())
}

/// BITOP AND | OR | XOR | NOT destkey key [key ...]
fn bitop(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    // 0 AND, 1 OR, 2 XOR, 3 NOT: decided once, not per byte.
    let op = args::keyword(&argv[1], &["AND", "OR", "XOR", "NOT"]).ok_or(error::SYNTAX)?;
    let not = op == 3;
    if not && argv.len() != 4 {
        return Err(error::BITOP_NOT_ONE_KEY);
    }
    let (dst, srcs) = (&argv[2], &argv[3..]);
    let slots: Vec<u16> = srcs.iter().chain(std::iter::once(dst)).map(|k| key_slot(k)).collect();
    let mut locked = ctx.server.keyspace.lock_shards(slots.iter().copied());
    let mut inputs = Vec::with_capacity(srcs.len());
    for (k, &slot) in srcs.iter().zip(&slots) {
        inputs.push(read_string(ctx, locked.shard(slot), slot, k)?.unwrap_or_default());
    }
    let len = inputs.iter().map(Vec::len).max().unwrap_or(0);
    let byte = |s: &Vec<u8>, i: usize| s.get(i).copied().unwrap_or(0);
    let out: Vec<u8> = (0..len)
        .map(|i| {
            if not {
                return !byte(&inputs[0], i);
            }
            let mut acc = byte(&inputs[0], i);
            for s in &inputs[1..] {
                let b = byte(s, i);
                match op {
                    0 => acc &= b,
                    1 => acc |= b,
                    _ => acc ^= b,
                }
            }
            acc
        })
        .collect();
    let ds = slots[slots.len() - 1];
    let shard = locked.shard(ds);
    if out.is_empty() {
        if shard.remove(ctx.db(), ds, dst, ctx.now).is_some() {
            ctx.changed(events::GENERIC, "del", dst);
        }
    } else {
        let existed = shard.set(
            ctx.db(),
            ds,
            dst,
            NewValue::Obj(Box::new(crate::storage::Object::Str(out))),
            None,
            ctx.now,
        );
        ctx.written(events::STRING, "set", dst, existed);
    }
    ctx.out.int(len as i64);
    Ok(())
}

/// A BITFIELD integer type: signedness and width.
#[derive(Clone, Copy)]
struct Field {
    signed: bool,
    bits: u32,
}

#[derive(Clone, Copy, PartialEq)]
enum Overflow {
    Wrap,
    Sat,
    Fail,
}

enum Op {
    Get(Field, u64),
    Set(Field, u64, i64),
    Incr(Field, u64, i64),
    Overflow(Overflow),
}

fn field_type(arg: &[u8]) -> Result<Field, CommandError> {
    let signed = match arg.first() {
        Some(b'i' | b'I') => true,
        Some(b'u' | b'U') => false,
        _ => return Err(error::BITFIELD_TYPE),
    };
    let bits = std::str::from_utf8(&arg[1..])
        .ok()
        .and_then(|s| s.parse::<u32>().ok())
        .ok_or(error::BITFIELD_TYPE)?;
    if bits == 0 || (signed && bits > 64) || (!signed && bits > 63) {
        return Err(error::BITFIELD_TYPE);
    }
    Ok(Field { signed, bits })
}

/// A field offset: bits, or `#n` (n fields of this width).
fn field_offset(ctx: &Ctx<'_>, arg: &[u8], f: Field) -> Result<u64, CommandError> {
    match arg.first() {
        Some(b'#') => {
            let n = bit_offset(ctx, &arg[1..])?;
            let off = n.checked_mul(f.bits as u64).ok_or(error::BIT_OFFSET)?;
            bit_offset(ctx, itoa::Buffer::new().format(off).as_bytes())
        }
        _ => bit_offset(ctx, arg),
    }
}

fn read_field(s: &[u8], off: u64, f: Field) -> i64 {
    let mut v: u64 = 0;
    for i in 0..f.bits as u64 {
        v = (v << 1) | get_bit(s, off + i) as u64;
    }
    if f.signed && f.bits < 64 && v >> (f.bits - 1) & 1 == 1 {
        (v | (u64::MAX << f.bits)) as i64
    } else {
        v as i64
    }
}

fn write_field(s: &mut [u8], off: u64, f: Field, value: i64) {
    let v = value as u64;
    for i in 0..f.bits as u64 {
        let bit = (v >> (f.bits as u64 - 1 - i)) & 1;
        let pos = off + i;
        let mask = 1u8 << (7 - (pos & 7));
        let byte = &mut s[(pos >> 3) as usize];
        if bit == 1 { *byte |= mask } else { *byte &= !mask }
    }
}

/// Fits `v` into the field by the overflow rule; None under FAIL when it does not fit.
fn fit(v: i128, f: Field, how: Overflow) -> Option<i64> {
    let (min, max): (i128, i128) = if f.signed {
        (-(1i128 << (f.bits - 1)), (1i128 << (f.bits - 1)) - 1)
    } else {
        (0, (1i128 << f.bits) - 1)
    };
    if (min..=max).contains(&v) {
        return Some(v as i64);
    }
    match how {
        Overflow::Fail => None,
        Overflow::Sat => Some(if v < min { min } else { max } as i64),
        Overflow::Wrap => {
            let m = v.rem_euclid(1i128 << f.bits);
            Some(if f.signed && m > max { (m - (1i128 << f.bits)) as i64 } else { m as i64 })
        }
    }
}

fn parse_bitfield(ctx: &Ctx<'_>, argv: &[Bytes], read_only: bool) -> Result<Vec<Op>, CommandError> {
    let mut ops = Vec::new();
    let mut i = 2;
    while i < argv.len() {
        let a = &argv[i];
        let need = |n: usize| if i + n < argv.len() { Ok(()) } else { Err(error::SYNTAX) };
        if args::is(a, "GET") {
            need(2)?;
            let f = field_type(&argv[i + 1])?;
            ops.push(Op::Get(f, field_offset(ctx, &argv[i + 2], f)?));
            i += 3;
        } else if args::is(a, "SET") || args::is(a, "INCRBY") {
            if read_only {
                return Err(error::BITFIELD_RO_GET_ONLY);
            }
            need(3)?;
            let f = field_type(&argv[i + 1])?;
            let off = field_offset(ctx, &argv[i + 2], f)?;
            let v = args::int(&argv[i + 3])?;
            ops.push(if args::is(a, "SET") { Op::Set(f, off, v) } else { Op::Incr(f, off, v) });
            i += 4;
        } else if args::is(a, "OVERFLOW") && !read_only {
            need(1)?;
            let how = match args::keyword(&argv[i + 1], &["WRAP", "SAT", "FAIL"]) {
                Some(0) => Overflow::Wrap,
                Some(1) => Overflow::Sat,
                Some(_) => Overflow::Fail,
                None => return Err(error::BITFIELD_OVERFLOW),
            };
            ops.push(Op::Overflow(how));
            i += 2;
        } else if read_only {
            return Err(error::BITFIELD_RO_GET_ONLY);
        } else {
            return Err(error::SYNTAX);
        }
    }
    Ok(ops)
}

fn run_bitfield(ctx: &mut Ctx<'_>, argv: &[Bytes], read_only: bool) -> CmdResult {
    let ops = parse_bitfield(ctx, argv, read_only)?;
    let writes = ops.iter().any(|o| matches!(o, Op::Set(..) | Op::Incr(..)));
    let mut shard = ctx.shard();
    let results: Vec<Option<i64>> = if !writes {
        let s = read_string(ctx, &mut shard, ctx.slot, &argv[1])?.unwrap_or_default();
        ops.iter()
            .filter_map(|o| match o {
                Op::Get(f, off) => Some(Some(read_field(&s, *off, *f))),
                _ => None,
            })
            .collect()
    } else {
        let end = ops
            .iter()
            .filter_map(|o| match o {
                Op::Get(f, off) | Op::Set(f, off, _) | Op::Incr(f, off, _) => {
                    Some((off + f.bits as u64).div_ceil(8))
                }
                Op::Overflow(_) => None,
            })
            .max()
            .unwrap_or(0) as usize;
        let ((results, (ran, changed)), written) = with_string(ctx, &mut shard, &argv[1], end, |s| {
            let mut how = Overflow::Wrap;
            let mut out = Vec::new();
            let (mut ran, mut changed) = (0, 0);
            for o in &ops {
                match *o {
                    Op::Overflow(h) => how = h,
                    Op::Get(f, off) => out.push(Some(read_field(s, off, f))),
                    Op::Set(f, off, v) => {
                        let old = read_field(s, off, f);
                        let v = if f.signed { v as i128 } else { v as u64 as i128 };
                        match fit(v, f, how) {
                            Some(n) => {
                                ran += 1;
                                changed += (n != old) as usize;
                                write_field(s, off, f, n);
                                out.push(Some(old));
                            }
                            None => out.push(None),
                        }
                    }
                    Op::Incr(f, off, by) => {
                        let old = read_field(s, off, f);
                        let cur = if f.signed { old as i128 } else { old as u64 as i128 };
                        match fit(cur + by as i128, f, how) {
                            Some(n) => {
                                ran += 1;
                                changed += (n != old) as usize;
                                write_field(s, off, f, n);
                                out.push(Some(n));
                            }
                            None => out.push(None),
                        }
                    }
                }
            }
            (out, (ran, changed))
        })?;
        written.publish(ctx, &argv[1], ran, changed);
        results
    };
    drop(shard);
    ctx.out.array(results.len());
    for r in results {
        match r {
            Some(v) => ctx.out.int(v),
            None => ctx.out.null(),
        }
    }
    Ok(())
}

/// BITFIELD key [GET type offset | [OVERFLOW WRAP|SAT|FAIL] SET type offset value |
/// [OVERFLOW ...] INCRBY type offset increment] ...
fn bitfield(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    run_bitfield(ctx, argv, false)
}

/// BITFIELD_RO key [GET type offset ...]
fn bitfield_ro(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    run_bitfield(ctx, argv, true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_read_write_and_overflow() {
        let mut s = vec![0u8; 4];
        let i8f = Field { signed: true, bits: 8 };
        let u4 = Field { signed: false, bits: 4 };
        write_field(&mut s, 3, i8f, -2);
        assert_eq!(read_field(&s, 3, i8f), -2);
        write_field(&mut s, 20, u4, 9);
        assert_eq!(read_field(&s, 20, u4), 9);
        assert_eq!(read_field(&s, 3, i8f), -2, "neighbours untouched");
        assert_eq!(fit(130, i8f, Overflow::Wrap), Some(-126));
        assert_eq!(fit(130, i8f, Overflow::Sat), Some(127));
        assert_eq!(fit(-200, i8f, Overflow::Sat), Some(-128));
        assert_eq!(fit(16, u4, Overflow::Fail), None);
        assert_eq!(fit(17, u4, Overflow::Wrap), Some(1));
        assert_eq!(fit(-1, u4, Overflow::Wrap), Some(15));
        let bits = [0b1011_0110u8, 0xff, 0b0000_0001];
        for (from, to) in [(0, 23), (1, 5), (3, 3), (2, 17), (8, 15), (15, 23)] {
            let one_by_one = (from..=to).map(|i| get_bit(&bits, i) as u64).sum::<u64>();
            assert_eq!(count_ones(&bits, from, to), one_by_one, "{from}..={to}");
        }
    }
}
