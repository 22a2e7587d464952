//! Where keys live: the sharded [`keyspace`], each shard's per-database, per-slot
//! tables ([`db`], small ones as [`tagvec`] arrays), the compact [`entry`] layout and
//! the [`value`] types; [`defrag`] moves their blocks out of sparse allocator pages.
//!
//! Storage never does I/O, never awaits and never formats replies: handlers call it
//! under a shard lock and turn its outcomes into RESP.

pub mod capture;
pub mod clock;
pub mod db;
pub mod defrag;
pub mod dense;
pub mod entry;
pub mod evict;
pub mod hash;
pub mod keyspace;
pub mod list;
pub mod pack;
pub mod set;
pub mod sketch;
pub mod tagvec;
pub mod value;
pub mod zset;

pub use entry::Entry;
pub use keyspace::{Keyspace, Locked, Removal, RemovalListener, Shard};
pub use value::{Collection, Encodings, Hash, List, NewValue, Object, Set, ValueRef, ZSet};

pub use clock::now_ms;

use std::cell::Cell;

thread_local! {
    static RNG: Cell<u64> = Cell::new({
        use std::hash::BuildHasher;
        std::collections::hash_map::RandomState::new().hash_one(0u64) | 1
    });
}

/// Asks the CPU to bring the cache line at `addr` in, without waiting for it. A hint:
/// it never faults, whatever the address, and does nothing where unsupported.
#[inline(always)]
pub(crate) fn prefetch(addr: *const u8) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: a prefetch is a hint that reads nothing architecturally and cannot fault.
    unsafe {
        std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(addr.cast());
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = addr;
}

/// The steps of a batch's look-ahead, each taken for every key of the batch before the
/// next (see [`Keyspace::prefetch`]): each brings in what the following one reads, so a
/// lookup's dependent cache misses overlap across keys instead of adding up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Prefetch {
    /// A small table's header and tags.
    Table,
    /// The entry whose tag matches.
    Slot,
    /// The block (key and value) the entry points to.
    Block,
}

/// A fast thread-local pseudo-random number (xorshift64*), for sampling only.
pub fn random_u64() -> u64 {
    RNG.with(|r| {
        let mut x = r.get();
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        r.set(x);
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    })
}
