//! Commands: the [`table`], the [`dispatch`] pipeline, and one file per Redis group.
//!
//! Each family file declares its `COMMANDS` (specs) and their handlers. A handler gets
//! a [`Ctx`] and the argv; it parses its arguments, runs against a locked shard (no
//! I/O, no `.await`) and writes its reply, or returns a `CommandError` that dispatch
//! writes and counts.

pub mod connection;
pub mod dispatch;
pub mod keyspace;
pub mod pubsub;
pub mod server;
pub mod string;
pub mod table;

use std::sync::MutexGuard;

use crate::protocol::Reply;
use crate::server::Server;
use crate::server::pubsub::events;
use crate::server::session::Session;
use crate::server::stats::ThreadStats;
use crate::storage::Shard;

pub use dispatch::dispatch;
pub use table::{CommandSpec, table};

/// Every family's command list, in the order COMMAND lists them.
pub const FAMILIES: &[&[CommandSpec]] =
    &[connection::COMMANDS, string::COMMANDS, keyspace::COMMANDS, pubsub::COMMANDS, server::COMMANDS];

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

    /// Counts a keyspace hit or miss (INFO keyspace_hits / keyspace_misses); a miss is
    /// also a `keymiss` notification.
    pub fn count_lookup(&self, key: &[u8], hit: bool) {
        if hit {
            self.stats.keyspace_hits.incr();
        } else {
            self.stats.keyspace_misses.incr();
            self.notify(events::KEY_MISS, "keymiss", key);
        }
    }

    /// Publishes a keyspace notification about a key of the current database, if its
    /// class is enabled (`notify-keyspace-events`).
    pub fn notify(&self, class: u32, event: &str, key: &[u8]) {
        self.server.pubsub.notify(class, event, key, self.session.db);
    }

    /// After a write stored `key`: `new` if it did not exist, then `event`.
    pub fn notify_write(&self, class: u32, event: &str, key: &[u8], existed: bool) {
        if !existed {
            self.notify(events::NEW, "new", key);
        }
        self.notify(class, event, key);
    }
}
