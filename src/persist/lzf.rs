//! LZF compression as Redis's bundled liblzf does it (`lzf_c.c`: VERY_FAST, a 2^16
//! slot hash table, literal runs of up to 32 bytes, back-references of up to 264 bytes
//! within 8 KiB), so snapshots and DUMP payloads compress as Redis's do.
//!
//! Why not a crate: `lzf-rust`, `lzf` and `lzf-sys` (whose vendored liblzf is built with
//! `INIT_HTAB`) all zero a 256-512 KiB hash table on every call, which made a BGSAVE of
//! 1,000,000 small values and 10,000,000 collection elements 5x slower than Redis's
//! (`scripts/bench.sh MODE=persistence`). Here the table is kept per thread and never
//! cleared: each entry carries the number of the call that wrote it, so entries from
//! earlier calls read as empty, exactly as a cleared table. Decompression stays with
//! `lzf-rust`, which allocates nothing per call.

use std::cell::RefCell;

const HLOG: u32 = 16;
const HSIZE: usize = 1 << HLOG;
const MAX_LIT: usize = 1 << 5;
const MAX_OFF: usize = 1 << 13;
const MAX_REF: usize = (1 << 8) + (1 << 3);

struct Table {
    /// `(call << 32) | (position + 1)`.
    slots: Vec<u64>,
    call: u32,
}

thread_local! {
    static TABLE: RefCell<Table> = RefCell::new(Table { slots: vec![0; HSIZE], call: 0 });
}

/// Writes one output byte; None past the end (the caller gives up: it does not fit).
fn put(out: &mut [u8], at: usize, b: u8) -> Option<()> {
    *out.get_mut(at)? = b;
    Some(())
}

/// Copies one literal byte; a run that reaches 32 is closed and a new one started.
fn literal(out: &mut [u8], b: u8, op: &mut usize, lit: &mut usize) -> Option<()> {
    put(out, *op, b)?;
    (*lit, *op) = (*lit + 1, *op + 1);
    if *lit == MAX_LIT {
        put(out, *op - *lit - 1, (*lit - 1) as u8)?;
        (*lit, *op) = (0, *op + 1);
    }
    Some(())
}

fn first(b: &[u8], i: usize) -> u32 {
    ((b[i] as u32) << 8) | b[i + 1] as u32
}

fn next(h: u32, b: &[u8], i: usize) -> u32 {
    (h << 8) | b[i + 2] as u32
}

fn idx(h: u32) -> usize {
    ((h >> (3 * 8 - HLOG)).wrapping_sub(h.wrapping_mul(5)) as usize) & (HSIZE - 1)
}

/// Compresses `input` into `out`; the compressed length, or 0 when it does not fit
/// (liblzf's `lzf_compress`).
pub fn compress(input: &[u8], out: &mut [u8]) -> usize {
    TABLE.with(|t| {
        let mut t = t.borrow_mut();
        t.call = t.call.wrapping_add(1);
        if t.call == 0 {
            t.slots.iter_mut().for_each(|s| *s = 0);
            t.call = 1;
        }
        let call = t.call;
        run(input, out, &mut t.slots, call).unwrap_or(0)
    })
}

/// One compression; None when the output would not fit.
fn run(input: &[u8], out: &mut [u8], table: &mut [u64], call: u32) -> Option<usize> {
    let (in_end, out_end) = (input.len(), out.len());
    if in_end == 0 || out_end == 0 {
        return None;
    }
    let tag = (call as u64) << 32;
    let (mut ip, mut op, mut lit) = (0usize, 1usize, 0usize);
    let mut h = if in_end >= 2 { first(input, 0) } else { 0 };
    while ip + 2 < in_end {
        h = next(h, input, ip);
        let slot = &mut table[idx(h)];
        let stored = *slot;
        *slot = tag | (ip as u64 + 1);
        let candidate =
            (stored >> 32 == call as u64 && stored as u32 != 0).then(|| (stored as u32 - 1) as usize);
        let matched = candidate.filter(|&r| {
            r < ip
                && ip - r - 1 < MAX_OFF
                && r > 0
                && input[r + 2] == input[ip + 2]
                && input[r..r + 2] == input[ip..ip + 2]
        });
        if let Some(r) = matched {
            let off = ip - r - 1;
            let mut len = 2usize;
            let maxlen = (in_end - ip - len).min(MAX_REF);
            if op + 3 + 1 >= out_end && op - usize::from(lit == 0) + 3 + 1 >= out_end {
                return None;
            }
            put(out, op - lit - 1, (lit as u8).wrapping_sub(1))?;
            op -= usize::from(lit == 0);
            let mut mismatch = false;
            if maxlen > 16 {
                for _ in 0..16 {
                    len += 1;
                    if input[r + len] != input[ip + len] {
                        mismatch = true;
                        break;
                    }
                }
            }
            if !mismatch {
                loop {
                    len += 1;
                    if !(len < maxlen && input[r + len] == input[ip + len]) {
                        break;
                    }
                }
            }
            len -= 2;
            ip += 1;
            if len < 7 {
                put(out, op, ((off >> 8) + (len << 5)) as u8)?;
                op += 1;
            } else {
                put(out, op, ((off >> 8) + (7 << 5)) as u8)?;
                put(out, op + 1, (len - 7) as u8)?;
                op += 2;
            }
            put(out, op, off as u8)?;
            op += 2; // and a new literal run starts
            lit = 0;
            ip += len + 1;
            if ip + 2 >= in_end {
                break;
            }
            // VERY_FAST: the two positions before the match's end go into the table.
            ip -= 2;
            h = first(input, ip);
            h = next(h, input, ip);
            table[idx(h)] = tag | (ip as u64 + 1);
            ip += 1;
            h = next(h, input, ip);
            table[idx(h)] = tag | (ip as u64 + 1);
            ip += 1;
        } else {
            if op >= out_end {
                return None;
            }
            literal(out, input[ip], &mut op, &mut lit)?;
            ip += 1;
        }
    }
    if op + 3 > out_end {
        return None;
    }
    while ip < in_end {
        literal(out, input[ip], &mut op, &mut lit)?;
        ip += 1;
    }
    put(out, op - lit - 1, (lit as u8).wrapping_sub(1))?;
    op -= usize::from(lit == 0);
    Some(op)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip(input: &[u8]) -> Option<Vec<u8>> {
        let mut out = vec![0u8; input.len().saturating_sub(4).max(1)];
        let n = compress(input, &mut out);
        if n == 0 {
            return None;
        }
        let back = lzf_rust::decompress_into_vec(&out[..n], input.len()).expect("decompresses");
        assert_eq!(back, input);
        Some(out[..n].to_vec())
    }

    #[test]
    fn compresses_what_repeats_and_decompresses_with_liblzf_s_format() {
        let runs = b"abcdefgh".repeat(5000);
        let packed = round_trip(&runs).expect("compresses");
        assert!(packed.len() < runs.len() / 20, "{}", packed.len());
        // A deterministic mix: text with repeats, binary, long literal stretches.
        let mut x = 12345u64;
        for n in [21usize, 33, 64, 100, 257, 1000, 8193, 70_000] {
            let data: Vec<u8> = (0..n)
                .map(|i| {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    if i % 97 < 40 { b"json:{\"id\":1234}"[i % 16] } else { (x >> 56) as u8 }
                })
                .collect();
            round_trip(&data);
        }
        // Random bytes do not fit in len - 4.
        let noise: Vec<u8> = (0..200u32).map(|i| (i.wrapping_mul(2654435761) >> 13) as u8).collect();
        assert_eq!(round_trip(&noise), None);
        // The same input compresses the same way every time (no stale table entries).
        assert_eq!(round_trip(&runs), Some(packed));
    }
}
