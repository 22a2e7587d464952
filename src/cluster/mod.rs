//! Cluster mode: key slots (which also place keys in shards) and the ring that maps
//! slots to nodes.

pub mod ring;
pub mod slot;
