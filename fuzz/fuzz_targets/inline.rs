//! `split_args` (inline commands, as Redis's sdssplitargs) on arbitrary lines: it must
//! return, never panic, and never make more arguments or bytes than the line has.
#![no_main]

use libfuzzer_sys::fuzz_target;
use slotcache::protocol::request::split_args;

fuzz_target!(|line: &[u8]| {
    if let Some(args) = split_args(line) {
        assert!(args.len() <= line.len());
        assert!(args.iter().map(|a| a.len()).sum::<usize>() <= line.len());
    }
});
