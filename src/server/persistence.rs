//! The server's side of snapshots ([`crate::persist::snapshot`]): where the file is,
//! how it is written (from the configuration), saving with its bookkeeping (LASTSAVE,
//! INFO persistence, the log), and loading the file at start-up while clients get
//! `-LOADING`.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;

use super::Server;
use crate::persist::snapshot::{self, AccessMeta, Mode, SaveOptions, Saved};

impl Server {
    /// `dir`/`dbfilename`.
    pub fn rdb_path(&self) -> PathBuf {
        let c = self.config();
        PathBuf::from(&c.dir).join(&c.dbfilename)
    }

    pub(super) fn save_options(&self) -> SaveOptions {
        let c = self.config();
        let policy = c.maxmemory_policy.as_str();
        let access = if policy.ends_with("lfu") {
            AccessMeta::Freq
        } else if policy.ends_with("lru") {
            AccessMeta::Idle
        } else {
            AccessMeta::None
        };
        // A replica's snapshot is at its primary's position; a primary's at its own.
        let (replid, offset) = match self.replica_position() {
            Some(p) => p,
            None => (
                self.replid.lock().unwrap_or_else(|p| p.into_inner()).clone(),
                self.replication.stream().offset,
            ),
        };
        let used = self.memory.current(crate::storage::now_ms());
        SaveOptions {
            compress: c.get("rdbcompression").as_deref() != Some("no"),
            checksum: c.get("rdbchecksum").as_deref() != Some("no"),
            access,
            key_delay_us: c.get("rdb-key-save-delay").and_then(|v| v.parse().ok()).unwrap_or(0),
            aux: vec![
                ("redis-ver".into(), super::REDIS_VERSION.into()),
                ("redis-bits".into(), "64".into()),
                ("ctime".into(), (crate::storage::now_ms() / 1000).to_string()),
                ("used-mem".into(), used.to_string()),
                ("repl-stream-db".into(), "0".into()),
                ("repl-id".into(), replid),
                ("repl-offset".into(), offset.to_string()),
                ("aof-base".into(), "0".into()),
            ],
        }
    }

    /// Writes the snapshot now, every shard held meanwhile (SAVE, SHUTDOWN SAVE,
    /// DEBUG RELOAD). Err when another save runs or the file could not be written.
    pub fn save_snapshot(&self) -> Result<Saved, String> {
        if self.persistence.saving.swap(true, Relaxed) {
            return Err("ERR Background save already in progress".into());
        }
        // The offset the file notes and its contents agree: no write (of a replica's
        // primary, or of this primary's clients) between the two.
        let _applying = self.apply_lock.lock().unwrap_or_else(|p| p.into_inner());
        let _order = self.replication.active.load(Relaxed).then(|| self.replication.order.lock());
        let result = self.run_save(Mode::Blocking, self.save_options(), crate::storage::now_ms());
        self.persistence.saving.store(false, Relaxed);
        result
    }

    /// BGSAVE: starts the snapshot on a thread of its own; clients go on meanwhile
    /// (each key is written as it was at the start, [`crate::storage::capture`]).
    /// `schedule`: when a save runs, start one after it instead of failing.
    pub fn start_bgsave(self: &Arc<Self>, schedule: bool) -> Result<&'static str, String> {
        let p = &self.persistence;
        if p.saving.swap(true, Relaxed) {
            if schedule && !p.bgsave_running.load(Relaxed) {
                p.bgsave_scheduled.store(true, Relaxed);
                return Ok("Background saving scheduled");
            }
            return Err("ERR Background save already in progress".into());
        }
        p.bgsave_running.store(true, Relaxed);
        p.bgsave_started_s.store(crate::storage::now_ms() / 1000, Relaxed);
        p.last_bgsave_try_s.store(crate::storage::now_ms() / 1000, Relaxed);
        // The snapshot's instant is now, before the reply (Redis forks before it).
        let t0 = crate::storage::now_ms();
        let applying = self.apply_lock.lock().unwrap_or_else(|p| p.into_inner());
        let order = self.replication.active.load(Relaxed).then(|| self.replication.order.lock());
        let opts = self.save_options();
        let begun = snapshot::begin_capture(&self.keyspace, &opts, t0);
        drop((order, applying));
        let server = self.clone();
        let spawned = std::thread::Builder::new().name("slotcache-bgsave".into()).spawn(move || {
            let p = &server.persistence;
            lower_priority();
            // A bug that panics fails this save (its captures end as the stack unwinds)
            // rather than leaving a save in progress for ever.
            let save = std::panic::AssertUnwindSafe(|| server.run_save(Mode::Online(p, begun), opts, t0));
            let result = std::panic::catch_unwind(save).unwrap_or_else(|_| {
                tracing::warn!("Background saving failed: the save thread panicked");
                Err("the save thread panicked".into())
            });
            p.last_bgsave_ok.store(result.is_ok(), Relaxed);
            p.bgsave_running.store(false, Relaxed);
            p.saving.store(false, Relaxed);
        });
        if let Err(e) = spawned {
            snapshot::end_captures(&self.keyspace);
            p.bgsave_running.store(false, Relaxed);
            p.saving.store(false, Relaxed);
            return Err(format!("ERR cannot start the background save: {e}"));
        }
        tracing::info!("Background saving started");
        Ok("Background saving started")
    }

    /// Starts a background save when a save point is due (`save seconds changes`:
    /// at least `changes` changes and `seconds` since the last save), or one was
    /// scheduled; retries a failed one after 5 seconds. From the cron.
    pub fn save_points(self: &Arc<Self>) {
        let p = &self.persistence;
        if p.saving.load(Relaxed) || p.loading.load(Relaxed) {
            return;
        }
        if p.bgsave_scheduled.swap(false, Relaxed) {
            let _ = self.start_bgsave(false);
            return;
        }
        let points = self.config().save.clone();
        if points.is_empty() {
            return;
        }
        let now_s = crate::storage::now_ms() / 1000;
        let changes = self.changes_since_save();
        let since = now_s.saturating_sub(p.last_save_s.load(Relaxed));
        let retry_ok =
            p.last_bgsave_ok.load(Relaxed) || now_s.saturating_sub(p.last_bgsave_try_s.load(Relaxed)) > 5;
        let words: Vec<u64> = points.split_whitespace().filter_map(|w| w.parse().ok()).collect();
        for pair in words.chunks(2) {
            if let [seconds, needed] = pair
                && changes >= *needed
                && since > *seconds
                && retry_ok
            {
                tracing::info!("{changes} changes in {seconds} seconds. Saving...");
                let _ = self.start_bgsave(false);
                return;
            }
        }
    }

    /// `stop-writes-on-bgsave-error`: with save points set and the last background
    /// save failed, writes (and PING) answer -MISCONF until one succeeds.
    pub fn writes_refused_for_disk_error(&self) -> bool {
        if self.persistence.last_bgsave_ok.load(Relaxed) {
            return false;
        }
        let c = self.config();
        !c.save.is_empty() && c.get("stop-writes-on-bgsave-error").as_deref() != Some("no")
    }

    /// A save as of `now` with its bookkeeping: the dirty count as of its start,
    /// LASTSAVE, the log.
    fn run_save(&self, mode: Mode<'_>, opts: SaveOptions, now: u64) -> Result<Saved, String> {
        let p = &self.persistence;
        let started = std::time::Instant::now();
        let dirty = self.stats_snapshot().dirty;
        let path = self.rdb_path();
        let what = if matches!(mode, Mode::Online(..)) { "Background save: DB" } else { "DB" };
        let result = snapshot::save(&self.keyspace, &opts, &path, now, mode);
        p.last_save_duration_ms.store(started.elapsed().as_millis() as u64, Relaxed);
        match result {
            Ok(saved) => {
                p.dirty_at_save.store(dirty, Relaxed);
                p.last_save_s.store(crate::storage::now_ms() / 1000, Relaxed);
                p.last_bgsave_ok.store(true, Relaxed);
                p.saves.fetch_add(1, Relaxed);
                tracing::info!(
                    "{} saved on disk: {} keys, {} bytes in {} ms ({})",
                    what,
                    saved.keys,
                    saved.bytes,
                    started.elapsed().as_millis(),
                    path.display()
                );
                Ok(saved)
            }
            Err(e) => {
                tracing::warn!("Failed saving the DB to {}: {e}", path.display());
                Err(format!("ERR Failed saving the DB: {e}"))
            }
        }
    }

    /// Before shutting down: saves when asked to (`SHUTDOWN SAVE`) or when save points
    /// are configured, unless `NOSAVE`. Err when that save failed: the server must not
    /// stop then (unless forced).
    pub fn save_before_shutdown(&self, save: bool, nosave: bool) -> Result<(), String> {
        let points = !self.config().save.is_empty();
        if nosave || !(save || points) {
            return Ok(());
        }
        tracing::info!("Saving the final RDB snapshot before exiting.");
        self.save_snapshot().map(|_| ()).map_err(|e| format!("Error trying to save the DB, can't exit: {e}"))
    }

    /// DEBUG RELOAD: saves (unless `nosave`), empties every database (unless
    /// `noflush`), and loads the file back, the server waiting meanwhile; `merge`: a key
    /// already there takes the file's value (without it, such a key stops the load).
    pub fn reload_snapshot(&self, nosave: bool, noflush: bool, merge: bool) -> Result<(), String> {
        if !nosave {
            self.save_snapshot()?;
        }
        if !noflush {
            self.keyspace.drop_all_slots();
        }
        self.load_file(merge).map(|_| ()).map_err(|e| format!("ERR Error trying to load the RDB dump: {e}"))
    }

    /// Loads `dir`/`dbfilename` into the keyspace: keys go in as they are read (past
    /// `maxmemory` the policy makes room, `key-load-delay` slows it for tests), the
    /// file's replication ID is taken, and in cluster mode only the slots this node
    /// serves are kept.
    fn load_file(&self, merge: bool) -> Result<Option<(String, u64)>, crate::persist::rdb::RdbError> {
        let started = std::time::Instant::now();
        let path = self.rdb_path();
        let (enc, delay) = {
            let c = self.config();
            (c.encodings, c.get("key-load-delay").and_then(|v| v.parse::<u64>().ok()).unwrap_or(0))
        };
        let found = snapshot::load(
            &self.keyspace,
            &path,
            &enc,
            &self.persistence,
            merge,
            |_| true,
            crate::storage::now_ms,
            |n| self.after_loaded_key(n, delay),
        )?;
        if let Some((id, _)) = &found.repl {
            *self.replid.lock().unwrap_or_else(|p| p.into_inner()) = id.clone();
        }
        tracing::info!(
            "DB loaded from disk: {:.3} seconds, {} keys ({} expired, {} empty skipped) from {}",
            started.elapsed().as_secs_f64(),
            found.keys,
            found.expired_skipped,
            found.empty_skipped,
            path.display()
        );
        self.drop_unowned_after_load();
        Ok(found.repl.map(|(id, off)| (id, off.max(0) as u64)))
    }

    /// After the start-up load: the snapshot's replication position is where this
    /// server's stream goes on from (a replica of it resumes with a partial resync), and
    /// where it resumes from when it becomes a replica again.
    fn resume_position(&self, position: Option<(String, u64)>) {
        let Some((id, offset)) = position else { return };
        self.replication.stream().offset = offset;
        *self.loaded_position.lock().unwrap_or_else(|p| p.into_inner()) = Some((id, offset));
    }

    /// In cluster mode, keys a snapshot held for slots not on this node's arcs go: no
    /// node keeps a value that may have changed without it (module doc of
    /// [`crate::cluster::membership`]). Those on its arcs it serves once ready, unless
    /// another member served them meanwhile: then its copy of them replaces them.
    fn drop_unowned_after_load(&self) {
        let Some(cluster) = &self.cluster else { return };
        let state = cluster.state();
        let unowned: Vec<u16> = (0..crate::cluster::slot::SLOTS as u16)
            .filter(|&s| !state.is_mine(s) && !state.on_my_arcs(s))
            .collect();
        let dropped = self.keyspace.drop_slots(&unowned);
        if dropped > 0 {
            tracing::info!(
                "Cluster: dropped {dropped} loaded keys of the {} slots this node does not serve",
                unowned.len()
            );
        }
    }

    /// After each key a load stores: past `maxmemory` the policy makes room every 1024
    /// keys (under noeviction the load goes on over it, as Redis loads).
    fn after_loaded_key(&self, keys: u64, delay_us: u64) {
        if delay_us > 0 {
            std::thread::sleep(std::time::Duration::from_micros(delay_us));
        }
        if keys.is_multiple_of(1024) {
            let _ = self.make_room(crate::storage::now_ms());
        }
    }

    /// A replica's full sync: the snapshot just received (at `dir`/`dbfilename`)
    /// replaces everything held, clients getting -LOADING meanwhile.
    pub(super) fn load_replica_snapshot(&self) -> Result<(), String> {
        let p = &self.persistence;
        p.loading.store(true, Relaxed);
        p.load_started_s.store(crate::storage::now_ms() / 1000, Relaxed);
        self.keyspace.drop_all_slots();
        let result = self
            .load_file(false)
            .map(|_| ())
            .map_err(|e| format!("the primary's snapshot does not load: {e}"));
        p.loading.store(false, Relaxed);
        result
    }

    /// A cluster replica's full sync from one primary: the keys of `slots` (those it
    /// replicates from that primary) are replaced by the snapshot's at `path`, while
    /// every other slot goes on serving. Returns the keys loaded.
    pub fn load_copies(&self, path: &std::path::Path, slots: &[u16]) -> Result<u64, String> {
        let mut wanted = vec![false; crate::cluster::slot::SLOTS];
        for &s in slots {
            wanted[s as usize] = true;
        }
        self.keyspace.drop_slots(slots);
        let enc = self.config().encodings;
        // Progress of its own: the server is not loading as a whole.
        let progress = crate::persist::snapshot::Persistence::default();
        let found = snapshot::load(
            &self.keyspace,
            path,
            &enc,
            &progress,
            true,
            |s| wanted[s as usize],
            crate::storage::now_ms,
            |n| self.after_loaded_key(n, 0),
        )
        .map_err(|e| format!("the primary's snapshot does not load: {e}"))?;
        Ok(found.keys)
    }

    /// Changes made since the last save (INFO `rdb_changes_since_last_save`).
    pub fn changes_since_save(&self) -> u64 {
        self.stats_snapshot().dirty.saturating_sub(self.persistence.dirty_at_save.load(Relaxed))
    }

    /// Loads `dir`/`dbfilename` on its own thread when the file exists; meanwhile the
    /// server answers `-LOADING`. A file that cannot be read stops the server (exit
    /// status 1), as Redis refuses to start on one.
    pub fn start_loading(self: &Arc<Self>) -> std::io::Result<()> {
        let path = self.rdb_path();
        if !path.exists() {
            return Ok(());
        }
        let p = &self.persistence;
        p.loading.store(true, Relaxed);
        p.load_started_s.store(crate::storage::now_ms() / 1000, Relaxed);
        let server = self.clone();
        std::thread::Builder::new().name("slotcache-load".into()).spawn(move || {
            if let Err(e) = server.load_file(false).map(|position| server.resume_position(position)) {
                tracing::error!("Fatal error loading the DB {}: {e}. Exiting.", path.display());
                server.failed.store(true, Relaxed);
                server.shutdown.cancel();
            }
            server.persistence.loading.store(false, Relaxed);
        })?;
        Ok(())
    }
}

/// The background saver's CPU priority (nice 10, Linux's weight 110 against 1024 for
/// nice 0): on a core the I/O threads keep busy it takes about a tenth of it, so clients
/// are served at nearly full speed while the save takes longer; on an idle core it runs
/// at full speed. (The save's CPU time is what Redis's forked child spends on the same
/// core at full priority.)
fn lower_priority() {
    const SAVER_NICE: libc::c_int = 10;
    // SAFETY: a plain system call about the calling thread (Linux: a thread is a task).
    let failed =
        unsafe { libc::setpriority(libc::PRIO_PROCESS, libc::gettid() as libc::id_t, SAVER_NICE) } != 0;
    if failed {
        tracing::debug!("cannot lower the background saver's priority: {}", std::io::Error::last_os_error());
    }
}

#[cfg(not(target_os = "linux"))]
fn lower_priority() {}
