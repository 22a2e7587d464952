//! Cluster primitives. For now: key → slot hashing, which also places keys in shards.

pub mod slot;
