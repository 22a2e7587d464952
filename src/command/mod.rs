//! Commands: the [`table`], the [`dispatch`] pipeline, and one file per Redis group.
//!
//! Each family file declares its `COMMANDS` (specs) and their handlers. A handler gets
//! a [`Ctx`] and the argv; it parses its arguments, runs against a locked shard (no
//! I/O, no `.await`) and writes its reply, or returns a `CommandError` that dispatch
//! writes and counts.

pub mod bitmap;
pub mod blocking;
pub mod cluster;
pub mod connection;
pub mod dispatch;
pub mod hash;
pub mod hyperloglog;
pub mod keyspace;
pub mod keyspec;
mod keyspec_table;
pub mod list;
pub mod persist;
pub mod pubsub;
pub mod replication;
pub mod server;
pub mod set;
pub mod sort;
pub mod string;
pub mod table;
pub mod transaction;
pub mod zset;

use std::sync::MutexGuard;

use bytes::Bytes;

use crate::error::{self, CommandError};
use crate::protocol::{Reply, args};
use crate::server::Server;
use crate::server::pubsub::events;
use crate::server::session::Session;
use crate::server::stats::ThreadStats;
use crate::storage::{Collection, Encodings, NewValue, Shard, ValueRef};

pub use dispatch::{Route, dispatch, dispatch_routed};
pub use table::{CommandSpec, table};

/// Every family's command list, in the order COMMAND lists them.
pub const FAMILIES: &[&[CommandSpec]] = &[
    connection::COMMANDS,
    string::COMMANDS,
    bitmap::COMMANDS,
    hyperloglog::COMMANDS,
    keyspace::COMMANDS,
    persist::COMMANDS,
    replication::COMMANDS,
    hash::COMMANDS,
    list::COMMANDS,
    set::COMMANDS,
    zset::COMMANDS,
    sort::COMMANDS,
    blocking::COMMANDS,
    pubsub::COMMANDS,
    transaction::COMMANDS,
    server::COMMANDS,
    cluster::COMMANDS,
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

    /// A blocked client's command is running again after a wake-up. A key it waits on
    /// that now holds another type is then skipped, not an error: Redis serves a woken
    /// client only from keys of the type it waits for, and keeps it waiting otherwise.
    pub fn woken(&self) -> bool {
        self.session.resume.is_some()
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

    /// [`Ctx::changed`] for a key of another database (COPY ... DB). Clients
    /// blocked on the key try again, and the change counts towards
    /// `rdb_changes_since_last_save` (one per key changed; see [`Ctx::changed_elements`]).
    pub fn changed_in(&self, db: usize, class: u32, event: &str, key: &[u8]) {
        self.stats.dirty.incr();
        self.signal(db, class, event, key);
    }

    /// A write that changed `n` elements of one key (LPUSH of three, SADD of new members,
    /// HSET of several fields...): Redis's dirty counter counts elements, so the `n - 1`
    /// beyond the one [`Ctx::changed`] counted are added.
    pub fn changed_elements(&self, n: usize) {
        if n > 1 {
            self.stats.dirty.add(n as u64 - 1);
        }
    }

    /// [`Ctx::changed`] for a key whose change is counted with another's (RENAME's
    /// source).
    pub fn signal_changed(&self, class: u32, event: &str, key: &[u8]) {
        self.signal(self.session.db, class, event, key);
    }

    /// Everything a change of `key` sets off but the dirty count: WATCH, tracking,
    /// blocked clients, keyspace notifications.
    fn signal(&self, db: usize, class: u32, event: &str, key: &[u8]) {
        self.server.watches.touch(db, key);
        self.server.tracking.invalidate_for(key, self.session.info.id, self.session.master_scope.is_none());
        self.server.blocking.wake(db, key);
        self.server.pubsub.notify(class, event, key, db);
    }

    /// What replicas get for this command instead of its arguments: the commands it
    /// amounted to, deterministic (SPOP as the SREM of what it popped...).
    pub fn replicate_as(&mut self, commands: Vec<Vec<Bytes>>) {
        self.session.effects = Some(commands);
    }

    /// When small collections leave their packed forms.
    pub fn encodings(&self) -> Encodings {
        self.server.config().encodings
    }

    /// Looks `key` (in `slot`) up for reading as the collection type `T`: None when it
    /// does not exist. Counts the hit or miss; WRONGTYPE for another type.
    pub fn read<'s, T: Collection>(
        &self,
        shard: &'s mut Shard,
        slot: u16,
        key: &[u8],
    ) -> Result<Option<&'s T>, CommandError> {
        let Some(e) = shard.get(self.db(), slot, key, self.now) else {
            self.count_lookup(key, false);
            return Ok(None);
        };
        self.count_lookup(key, true);
        match e.into_entry().value() {
            ValueRef::Obj(o) => T::of(o).map(Some).ok_or(error::WRONGTYPE),
            _ => Err(error::WRONGTYPE),
        }
    }

    /// Looks `key` up for writing as the collection type `T`: None when it does not
    /// exist, WRONGTYPE for another type.
    pub fn write<'s, T: Collection>(
        &self,
        shard: &'s mut Shard,
        slot: u16,
        key: &[u8],
    ) -> Result<Option<&'s mut T>, CommandError> {
        match shard.get(self.db(), slot, key, self.now) {
            None => Ok(None),
            Some(e) => e.into_obj_mut().and_then(T::of_mut).map(Some).ok_or(error::WRONGTYPE),
        }
    }

    /// Like [`Ctx::write`], creating an empty `T` when the key does not exist; also
    /// says whether it existed. Handlers check their arguments first, so a key created
    /// here always receives an element.
    pub fn upsert<'s, T: Collection>(
        &self,
        shard: &'s mut Shard,
        slot: u16,
        key: &[u8],
        make: impl FnOnce() -> T,
    ) -> Result<(&'s mut T, bool), CommandError> {
        let db = self.db();
        let existed = shard.peek(db, slot, key, self.now).is_some();
        if !existed {
            shard.set(db, slot, key, NewValue::Obj(Box::new(make().into_object())), None, self.now);
        }
        let c = self.write(shard, slot, key)?.expect("the key was just stored");
        Ok((c, existed))
    }

    /// Stores a collection built whole (the *STORE commands), replacing whatever the
    /// key held; an empty one deletes the key instead, as Redis does.
    pub fn store<T: Collection>(
        &self,
        shard: &mut Shard,
        slot: u16,
        key: &[u8],
        value: T,
        class: u32,
        event: &str,
    ) {
        let db = self.db();
        if value.is_empty() {
            if shard.remove(db, slot, key, self.now).is_some() {
                self.changed(events::GENERIC, "del", key);
            }
            return;
        }
        let existed = shard.set(db, slot, key, NewValue::Obj(Box::new(value.into_object())), None, self.now);
        self.written(class, event, key, existed);
    }

    /// A command took elements out of the collection at `key`: publishes `event` (its
    /// class and name) when anything was removed, then deletes the key with `del` when
    /// it is left empty (Redis never keeps empty collections).
    pub fn removed_from(
        &self,
        shard: &mut Shard,
        slot: u16,
        key: &[u8],
        event: (u32, &str),
        removed: bool,
        emptied: bool,
    ) {
        if removed {
            self.changed(event.0, event.1, key);
        }
        if emptied {
            // Deleting the emptied key is part of the same change (not counted again).
            shard.remove(self.db(), slot, key, self.now);
            self.signal(self.db(), events::GENERIC, "del", key);
        }
    }

    /// A write stored `key`: `new` if it did not exist, then [`Ctx::changed`].
    pub fn written(&self, class: u32, event: &str, key: &[u8], existed: bool) {
        self.stats.dirty.incr();
        self.written_uncounted(class, event, key, existed);
    }

    /// [`Ctx::written`] without the dirty count, for a key whose change is counted with
    /// another's (a move's destination).
    pub fn written_uncounted(&self, class: u32, event: &str, key: &[u8], existed: bool) {
        if !existed {
            self.server.pubsub.notify(events::NEW, "new", key, self.session.db);
        }
        self.signal_changed(class, event, key);
    }
}

/// The options of SCAN, HSCAN, SSCAN and ZSCAN: `cursor [MATCH pattern] [COUNT count]`,
/// plus `TYPE type` (SCAN) and `NOVALUES` (HSCAN) where the command takes them.
pub struct ScanArgs<'a> {
    pub cursor: u64,
    pub pattern: Option<&'a [u8]>,
    pub count: usize,
    pub type_filter: Option<&'a [u8]>,
    pub novalues: bool,
}

impl<'a> ScanArgs<'a> {
    /// Parses from the cursor at `argv[at]`; `extra` names the one extra option allowed.
    pub fn parse(argv: &'a [Bytes], at: usize, extra: Option<&str>) -> Result<ScanArgs<'a>, CommandError> {
        let cursor = std::str::from_utf8(&argv[at])
            .ok()
            .and_then(|s| s.parse::<u64>().ok())
            .ok_or(CommandError::new("ERR invalid cursor"))?;
        let mut out = ScanArgs { cursor, pattern: None, count: 10, type_filter: None, novalues: false };
        let mut i = at + 1;
        while i < argv.len() {
            let (opt, val) = (&argv[i], argv.get(i + 1));
            if extra == Some("NOVALUES") && args::is(opt, "NOVALUES") {
                out.novalues = true;
                i += 1;
                continue;
            }
            match val {
                Some(v) if args::is(opt, "MATCH") => out.pattern = Some(v),
                Some(v) if args::is(opt, "COUNT") => {
                    out.count = match args::parse_i64(v) {
                        Some(c) if c >= 1 => c as usize,
                        Some(_) => return Err(error::SYNTAX),
                        None => return Err(error::NOT_INTEGER),
                    }
                }
                Some(v) if extra == Some("TYPE") && args::is(opt, "TYPE") => out.type_filter = Some(v),
                _ => return Err(error::SYNTAX),
            }
            i += 2;
        }
        Ok(out)
    }

    /// Whether an element passes MATCH.
    pub fn matches(&self, item: &[u8]) -> bool {
        self.pattern.is_none_or(|p| args::glob_match(p, item, false))
    }
}
