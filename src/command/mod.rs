//! Commands: the [`table`], the [`dispatch`] pipeline, and one file per Redis group.
//!
//! Each family file declares its `COMMANDS` (specs) and their handlers. A handler gets
//! a [`Ctx`] and the argv; it parses its arguments, runs against a locked shard (no
//! I/O, no `.await`) and writes its reply, or returns a `CommandError` that dispatch
//! writes and counts.

pub mod connection;
pub mod dispatch;
pub mod keyspace;
pub mod server;
pub mod string;
pub mod table;

use std::sync::MutexGuard;

use crate::protocol::Reply;
use crate::server::Server;
use crate::server::session::Session;
use crate::server::stats::ThreadStats;
use crate::storage::Shard;

pub use dispatch::dispatch;
pub use table::{CommandSpec, table};

/// Every family's command list, in the order COMMAND lists them.
pub const FAMILIES: &[&[CommandSpec]] =
    &[connection::COMMANDS, string::COMMANDS, keyspace::COMMANDS, server::COMMANDS];

/// What a handler works with.
pub struct Ctx<'a> {
    pub server: &'a Server,
    pub session: &'a mut Session,
    pub out: &'a mut Reply,
    pub stats: &'a ThreadStats,
    /// The batch's cached clock, in Unix milliseconds.
    pub now: u64,
    /// Slot of the command's first key (0 when it has none), computed once by dispatch.
    pub slot: u16,
}

impl<'a> Ctx<'a> {
    pub fn db(&self) -> usize {
        self.session.db
    }

    /// Locks the shard of the command's first key.
    pub fn shard(&self) -> MutexGuard<'a, Shard> {
        self.server.keyspace.lock(self.slot)
    }

    /// Counts a keyspace hit or miss (INFO keyspace_hits / keyspace_misses).
    pub fn count_lookup(&self, hit: bool) {
        if hit {
            self.stats.keyspace_hits.incr();
        } else {
            self.stats.keyspace_misses.incr();
        }
    }
}
