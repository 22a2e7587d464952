//! Where keys live: the sharded [`keyspace`], each shard's per-database, per-slot
//! tables ([`db`]), the compact [`entry`] layout and the [`value`] types.
//!
//! Storage never does I/O, never awaits and never formats replies: handlers call it
//! under a shard lock and turn its outcomes into RESP.

pub mod db;
pub mod entry;
pub mod keyspace;
pub mod value;

pub use entry::Entry;
pub use keyspace::{Keyspace, Locked, Shard};
pub use value::{NewValue, Object, ValueRef};

/// Milliseconds since the Unix epoch, read once per request batch by the caller.
pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}
