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
pub mod transaction;

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
pub const FAMILIES: &[&[CommandSpec]] = &[
    connection::COMMANDS,
    string::COMMANDS,
    keyspace::COMMANDS,
    pubsub::COMMANDS,
    transaction::COMMANDS,
    server::COMMANDS,
];

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
            self.server.pubsub.notify(events::KEY_MISS, "keymiss", key, self.session.db);
        }
    }

    /// A key of the current database changed: connections watching it will fail their
    /// EXEC, and the keyspace notification `event` is published if its class is enabled.
    pub fn changed(&self, class: u32, event: &str, key: &[u8]) {
        self.changed_in(self.session.db, class, event, key);
    }

    /// [`Ctx::changed`] for a key of another database (MOVE, COPY ... DB).
    pub fn changed_in(&self, db: usize, class: u32, event: &str, key: &[u8]) {
        self.server.watches.touch(db, key);
        self.server.pubsub.notify(class, event, key, db);
    }

    /// A write stored `key`: `new` if it did not exist, then [`Ctx::changed`].
    pub fn written(&self, class: u32, event: &str, key: &[u8], existed: bool) {
        if !existed {
            self.server.pubsub.notify(events::NEW, "new", key, self.session.db);
        }
        self.changed(class, event, key);
    }
}
