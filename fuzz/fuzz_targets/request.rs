//! The request decoder on arbitrary bytes, fed in pieces the input itself chooses:
//! it must never panic, never make more (or larger) arguments than it was given bytes,
//! and decode the same requests whatever the cuts.
#![no_main]

use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use slotcache::protocol::Limits;
use slotcache::protocol::request::decode_in_pieces as decode;

fuzz_target!(|data: &[u8]| {
    let Some((&control, input)) = data.split_first() else { return };
    let limits = Limits { max_bulk_len: 1 << 16, authenticated: control & 1 == 0 };
    // Cut points from the control byte: every (control / 2 + 1)th byte.
    let step = (control as usize >> 1) + 1;
    let cuts: Vec<usize> = (step..input.len()).step_by(step).collect();
    let whole = decode(input, &[], limits);
    let pieces = decode(input, &cuts, limits);
    assert_eq!(whole, pieces);
    let args: usize = whole.0.iter().map(Vec::len).sum();
    let bytes: usize = whole.0.iter().flatten().map(Bytes::len).sum();
    assert!(args <= input.len() && bytes <= input.len());
});
