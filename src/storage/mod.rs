//! Where keys live: the sharded [`keyspace`], each shard's per-database, per-slot
//! tables ([`db`]), the compact [`entry`] layout and the [`value`] types.
//!
//! Storage never does I/O, never awaits and never formats replies: handlers call it
//! under a shard lock and turn its outcomes into RESP.

pub mod clock;
pub mod db;
pub mod entry;
pub mod keyspace;
pub mod value;

pub use entry::Entry;
pub use keyspace::{Keyspace, Locked, Shard};
pub use value::{NewValue, Object, ValueRef};

pub use clock::now_ms;
