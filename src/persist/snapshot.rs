//! Snapshot files: the whole keyspace written as one RDB file ([`save`]) and read back
//! at start-up ([`load`]), with the state INFO persistence reports ([`Persistence`]).
//!
//! A file is written under a temporary name in the same directory, flushed to disk,
//! renamed over `dbfilename`, and the directory flushed, so a crash leaves the old
//! file or the new one, never half of one.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering::Relaxed;
use std::sync::atomic::{AtomicBool, AtomicU64};

use super::rdb::{self, RdbError, Reader, Writer};
use super::value::{self, Loaded};
use crate::cluster::slot::key_slot;
use crate::storage::capture::{Part, Records, Writers};
use crate::storage::evict::idle_ms;
use crate::storage::{Encodings, Entry, Keyspace, NewValue};

/// What start-up loading and saving look like from outside (INFO persistence,
/// `-LOADING`, LASTSAVE).
#[derive(Default)]
pub struct Persistence {
    /// A file is being loaded: commands without the `loading` flag answer `-LOADING`.
    pub loading: AtomicBool,
    pub load_started_s: AtomicU64,
    pub load_total_bytes: AtomicU64,
    pub load_done_bytes: AtomicU64,
    pub load_keys: AtomicU64,
    /// Unix seconds of the last successful save (the start time until one happens).
    pub last_save_s: AtomicU64,
    /// The dirty count when the last save started: changes since are unsaved.
    pub dirty_at_save: AtomicU64,
    /// A save is running (SAVE and the shutdown save hold it too).
    pub saving: AtomicBool,
    /// The running save is a background one (BGSAVE), started at this Unix second.
    pub bgsave_running: AtomicBool,
    pub bgsave_started_s: AtomicU64,
    /// BGSAVE SCHEDULE asked for one after the running save.
    pub bgsave_scheduled: AtomicBool,
    /// Whether the last background save succeeded (`rdb_last_bgsave_status`), and
    /// when one was last tried (a failed one is retried after 5 seconds).
    pub last_bgsave_ok: AtomicBool,
    pub last_bgsave_try_s: AtomicU64,
    /// Keys the running background save will write, and has written.
    pub save_keys_total: AtomicU64,
    pub save_keys_done: AtomicU64,
    pub last_save_duration_ms: AtomicU64,
    pub saves: AtomicU64,
}

/// The access metadata a snapshot keeps for each key, as the eviction policy has it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum AccessMeta {
    None,
    /// LRU policies: seconds since the last access (`RDB_OPCODE_IDLE`).
    Idle,
    /// LFU policies: the access counter (`RDB_OPCODE_FREQ`).
    Freq,
}

/// How a snapshot is written.
pub struct SaveOptions {
    /// `rdbcompression`.
    pub compress: bool,
    /// `rdbchecksum`: without it the trailer is eight zero bytes.
    pub checksum: bool,
    pub access: AccessMeta,
    /// Aux fields after the header (`redis-ver`, `ctime`, `repl-id`...).
    pub aux: Vec<(String, String)>,
    /// `rdb-key-save-delay`: microseconds a background save waits per key written
    /// (outside any lock), as Redis's tests slow a save down.
    pub key_delay_us: u64,
}

/// What a save wrote.
#[derive(Debug, Default)]
pub struct Saved {
    pub keys: u64,
    pub bytes: u64,
}

/// A temporary file name next to `path`, unique within the process.
fn temp_path(path: &Path) -> PathBuf {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let dir = path.parent().unwrap_or(Path::new("."));
    dir.join(format!("temp-{}-{}.rdb", std::process::id(), NEXT.fetch_add(1, Relaxed)))
}

/// How a snapshot sees the keyspace.
pub enum Mode<'a> {
    /// Every shard locked while the file is written: the server waits (SAVE, the
    /// shutdown save).
    Blocking,
    /// Shard by shard, slot by slot, while clients go on, each key as it was when
    /// [`begin_capture`] ran ([`crate::storage::capture`]): BGSAVE. Progress is
    /// reported in the [`Persistence`].
    Online(&'a Persistence, Begun),
}

/// A background snapshot's captures, started on every shard at one instant.
pub struct Begun {
    /// (keys, keys with a TTL) per database then, for RESIZEDB.
    sizes: Vec<(u64, u64)>,
}

/// Starts a background snapshot as of `t0`: every shard locked at once while its
/// capture is installed. Call it before answering BGSAVE, so the file is the keyspace
/// as the command found it; then [`save`] with [`Mode::Online`], or [`end_captures`]
/// if that cannot happen.
pub fn begin_capture(keyspace: &Keyspace, opts: &SaveOptions, t0: u64) -> Begun {
    let mut sizes = vec![(0u64, 0u64); keyspace.databases()];
    let mut locked = keyspace.lock_all();
    for shard in locked.iter_mut() {
        for (db, d) in shard.dbs.iter().enumerate() {
            sizes[db].0 += d.len() as u64;
            sizes[db].1 += d.volatile() as u64;
        }
        let (access, compress) = (opts.access, opts.compress);
        shard.start_capture(
            t0,
            Writers {
                // A record kept early is made while a client's write waits: no LZF there.
                keep: Box::new(move |e, freq, early, out| {
                    let mut w = Writer::unsummed(out, compress && !early);
                    write_entry(&mut w, e, access, freq, t0).expect("writing to memory cannot fail");
                }),
                part: Box::new(move |e, freq, part, out| {
                    let mut w = Writer::unsummed(out, compress);
                    let v = e.value();
                    if *part == Part::START {
                        write_head(&mut w, e, access, freq, t0).expect("writing to memory cannot fail");
                    }
                    value::write_part(&mut w, &v, part).expect("writing to memory cannot fail")
                }),
                in_parts: |e| value::in_parts(&e.value()),
            },
        );
    }
    Begun { sizes }
}

/// Ends every shard's capture (a background snapshot that will not be written).
pub fn end_captures(keyspace: &Keyspace) {
    for i in 0..keyspace.shard_count() {
        keyspace.lock_index(i).end_capture();
    }
}

/// Writes the whole keyspace, as of `now`, to `path`.
pub fn save(
    keyspace: &Keyspace,
    opts: &SaveOptions,
    path: &Path,
    now: u64,
    mode: Mode<'_>,
) -> std::io::Result<Saved> {
    let temp = temp_path(path);
    let result = write_file(keyspace, opts, &temp, now, mode).and_then(|saved| {
        std::fs::rename(&temp, path)?;
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            File::open(dir)?.sync_all()?;
        }
        Ok(saved)
    });
    if result.is_err() {
        let _ = std::fs::remove_file(&temp);
    }
    result
}

fn write_file(
    keyspace: &Keyspace,
    opts: &SaveOptions,
    temp: &Path,
    now: u64,
    mode: Mode<'_>,
) -> std::io::Result<Saved> {
    // Captures end however this ends, the file not even created included.
    let _captures = matches!(mode, Mode::Online(..)).then_some(Captures(keyspace));
    let file = File::create(temp)?;
    let (out, keys) = write_rdb(keyspace, opts, BufWriter::with_capacity(1 << 20, file), now, mode)?;
    let file = out.into_inner().map_err(|e| e.into_error())?;
    let bytes = file.metadata()?.len();
    file.sync_all()?;
    Ok(Saved { keys, bytes })
}

/// Writes a background snapshot begun as of `now` to `out` (a replica's full sync):
/// the same bytes as the file. Returns the keys written.
pub fn write_to<W: Write>(
    keyspace: &Keyspace,
    opts: &SaveOptions,
    out: W,
    now: u64,
    begun: Begun,
    progress: &Persistence,
) -> std::io::Result<u64> {
    let _captures = Captures(keyspace);
    let (_, keys) = write_rdb(keyspace, opts, out, now, Mode::Online(progress, begun))?;
    Ok(keys)
}

/// The whole RDB: header, aux fields, the keys, EOF and checksum; `out` flushed.
fn write_rdb<W: Write>(
    keyspace: &Keyspace,
    opts: &SaveOptions,
    out: W,
    now: u64,
    mode: Mode<'_>,
) -> std::io::Result<(W, u64)> {
    let mut w = Writer::new(out, opts.compress);
    w.raw(format!("REDIS{:04}", rdb::RDB_VERSION).as_bytes())?;
    for (name, v) in &opts.aux {
        w.byte(rdb::OPCODE_AUX)?;
        w.string(name.as_bytes())?;
        w.string(v.as_bytes())?;
    }
    let keys = match mode {
        Mode::Blocking => write_locked(keyspace, opts, &mut w, now)?,
        Mode::Online(progress, begun) => write_online(keyspace, opts, &mut w, begun, progress)?,
    };
    w.byte(rdb::OPCODE_EOF)?;
    let mut out = w.finish(opts.checksum)?;
    out.flush()?;
    Ok((out, keys))
}

/// Every shard locked meanwhile; databases in order.
fn write_locked<W: Write>(
    keyspace: &Keyspace,
    opts: &SaveOptions,
    w: &mut Writer<W>,
    now: u64,
) -> std::io::Result<u64> {
    let mut locked = keyspace.lock_all();
    let mut keys = 0;
    for db in 0..keyspace.databases() {
        let (size, volatile) = locked
            .iter_mut()
            .fold((0, 0), |(n, v), shard| (n + shard.dbs[db].len(), v + shard.dbs[db].volatile()));
        if size == 0 {
            continue;
        }
        w.byte(rdb::OPCODE_SELECTDB)?;
        w.length(db as u64)?;
        w.byte(rdb::OPCODE_RESIZEDB)?;
        w.length(size as u64)?;
        w.length(volatile as u64)?;
        for shard in locked.iter_mut() {
            let (access, epoch) = (shard.access, shard.tiny_epoch());
            for e in shard.dbs[db].iter(now) {
                write_entry(w, e, opts.access, access.count(epoch, e.clock(), now), now)?;
                keys += 1;
            }
        }
    }
    Ok(keys)
}

/// Ends every shard's capture, whatever way the online save ends.
struct Captures<'a>(&'a Keyspace);

impl Drop for Captures<'_> {
    fn drop(&mut self) {
        end_captures(self.0);
    }
}

/// Each shard walked slot by slot (its lock held for one slot at a time), and what
/// writers kept early written as it comes. Databases interleave, each run of records
/// under its own SELECTDB.
fn write_online<W: Write>(
    keyspace: &Keyspace,
    opts: &SaveOptions,
    w: &mut Writer<W>,
    Begun { sizes }: Begun,
    progress: &Persistence,
) -> std::io::Result<u64> {
    progress.save_keys_total.store(sizes.iter().map(|s| s.0).sum(), Relaxed);
    progress.save_keys_done.store(0, Relaxed);
    let mut selected = None;
    let mut resized = vec![false; sizes.len()];
    let mut keys = 0;
    let mut write = |w: &mut Writer<W>, records: Vec<Records>| -> std::io::Result<()> {
        for r in records {
            if selected != Some(r.db) {
                w.byte(rdb::OPCODE_SELECTDB)?;
                w.length(r.db as u64)?;
                if !resized[r.db] {
                    resized[r.db] = true;
                    w.byte(rdb::OPCODE_RESIZEDB)?;
                    w.length(sizes[r.db].0)?;
                    w.length(sizes[r.db].1)?;
                }
                selected = Some(r.db);
            }
            w.raw(&r.bytes)?;
            keys += r.keys;
            if opts.key_delay_us > 0 {
                // A key, or a part of a large value still being written.
                std::thread::sleep(std::time::Duration::from_micros(opts.key_delay_us * r.keys.max(1)));
            }
        }
        progress.save_keys_done.store(keys, Relaxed);
        Ok(())
    };
    for i in 0..keyspace.shard_count() {
        loop {
            let step = keyspace.lock_index(i).capture_step();
            let Some(records) = step else { break };
            write(w, records)?;
        }
        let rest = keyspace.lock_index(i).end_capture();
        write(w, rest)?;
    }
    Ok(keys)
}

/// One key as `rdbSaveKeyValuePair` writes it: its expiry, its access metadata, then
/// its type, name and value.
fn write_entry<W: Write>(
    w: &mut Writer<W>,
    e: &Entry,
    access: AccessMeta,
    freq: u32,
    now: u64,
) -> std::io::Result<()> {
    write_head(w, e, access, freq, now)?;
    value::write(w, &e.value())
}

/// What comes before a key's value: its expiry, its access metadata, its type and name.
fn write_head<W: Write>(
    w: &mut Writer<W>,
    e: &Entry,
    access: AccessMeta,
    freq: u32,
    now: u64,
) -> std::io::Result<()> {
    if let Some(at) = e.expire_at() {
        w.byte(rdb::OPCODE_EXPIRETIME_MS)?;
        w.raw(&(at as i64).to_le_bytes())?;
    }
    match access {
        AccessMeta::None => {}
        AccessMeta::Idle => {
            w.byte(rdb::OPCODE_IDLE)?;
            w.length(idle_ms(e.clock(), now) / 1000)?;
        }
        AccessMeta::Freq => {
            w.byte(rdb::OPCODE_FREQ)?;
            w.byte(freq.min(255) as u8)?;
        }
    }
    w.byte(value::rdb_type(&e.value()))?;
    w.string(e.key())
}

/// What a load found.
#[derive(Debug, Default)]
pub struct LoadReport {
    pub keys: u64,
    pub expired_skipped: u64,
    pub empty_skipped: u64,
    /// The `repl-id` and `repl-offset` aux fields, when the file has them.
    pub repl: Option<(String, i64)>,
}

/// Reads `path` into `keyspace`. A key already there (or twice in the file) stops the
/// load, as Redis's load stops, unless `merge` (DEBUG RELOAD MERGE): then the file's
/// value replaces it. `after_key` runs after each key stored, with the count so far
/// (the server evicts there when the load passes `maxmemory`). Keys already expired are
/// skipped, as a Redis master does, and so are keys of slots `keep` refuses (a cluster
/// replica takes only the slots it replicates from a primary's snapshot).
#[allow(clippy::too_many_arguments)]
pub fn load(
    keyspace: &Keyspace,
    path: &Path,
    enc: &Encodings,
    progress: &Persistence,
    merge: bool,
    keep: impl Fn(u16) -> bool,
    now: impl Fn() -> u64,
    mut after_key: impl FnMut(u64),
) -> Result<LoadReport, RdbError> {
    let open =
        |e: std::io::Error| RdbError { offset: 0, reason: format!("cannot read {}: {e}", path.display()) };
    let file = File::open(path).map_err(open)?;
    let total = file.metadata().map_err(open)?.len();
    progress.load_total_bytes.store(total, Relaxed);
    let mut r = Reader::new(file, total);
    let magic = r.bytes(9).map_err(|_| r.error("not an RDB file (too short)"))?;
    if &magic[..5] != b"REDIS" {
        return Err(RdbError { offset: 0, reason: "not an RDB file (wrong signature)".into() });
    }
    let version: u16 = std::str::from_utf8(&magic[5..])
        .ok()
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| RdbError { offset: 5, reason: "not an RDB file (bad version)".into() })?;
    if !(1..=rdb::RDB_VERSION).contains(&version) {
        return Err(RdbError { offset: 5, reason: format!("Can't handle RDB format version {version}") });
    }
    let mut found = LoadReport::default();
    let (mut db, mut expire_at, mut idle, mut freq) = (0usize, None::<u64>, None::<u64>, None::<u8>);
    let mut repl_id = None;
    let mut repl_offset = None;
    let (mut key, mut text) = (Vec::new(), Vec::new());
    loop {
        progress.load_done_bytes.store(r.offset(), Relaxed);
        let op = r.byte()?;
        match op {
            rdb::OPCODE_EXPIRETIME_MS => expire_at = Some(i64::from_le_bytes(r.array()?).max(0) as u64),
            rdb::OPCODE_EXPIRETIME => expire_at = Some(i32::from_le_bytes(r.array()?).max(0) as u64 * 1000),
            rdb::OPCODE_IDLE => idle = Some(r.length()?),
            rdb::OPCODE_FREQ => freq = Some(r.byte()?),
            rdb::OPCODE_SELECTDB => {
                let n = r.length()?;
                if n >= keyspace.databases() as u64 {
                    return Err(r.error(format!(
                        "the file has keys in database {n}; this server has {} (set 'databases')",
                        keyspace.databases()
                    )));
                }
                db = n as usize;
            }
            rdb::OPCODE_RESIZEDB => {
                r.length()?;
                r.length()?;
            }
            rdb::OPCODE_AUX => {
                let (name, v) = (r.string()?, r.string()?);
                match &name[..] {
                    b"repl-id" => repl_id = Some(String::from_utf8_lossy(&v).into_owned()),
                    b"repl-offset" => {
                        repl_offset = std::str::from_utf8(&v).ok().and_then(|s| s.parse::<i64>().ok())
                    }
                    _ => {}
                }
            }
            rdb::OPCODE_MODULE_AUX => return Err(r.error("module data (modules are not supported)")),
            rdb::OPCODE_FUNCTION | rdb::OPCODE_FUNCTION2 => {
                return Err(r.error("function libraries (Redis Functions are not supported yet)"));
            }
            rdb::OPCODE_EOF => break,
            kind => {
                r.string_into(&mut key)?;
                let at = r.offset();
                // Strings, most keys, go through a reused buffer.
                let loaded = if kind == rdb::TYPE_STRING {
                    r.string_into(&mut text).map(|_| Loaded::Str(Vec::new()))
                } else {
                    value::read(&mut r, kind, enc)
                };
                let loaded = loaded.map_err(|e| RdbError {
                    offset: e.offset,
                    reason: format!(
                        "key '{}' ({} value at byte {at}): {}",
                        String::from_utf8_lossy(&key),
                        value::type_name(kind),
                        e.reason
                    ),
                })?;
                let (expire, clock_idle, clock_freq) = (expire_at.take(), idle.take(), freq.take());
                let now = now();
                if expire.is_some_and(|t| t <= now) {
                    found.expired_skipped += 1;
                    continue;
                }
                let obj = match loaded {
                    Loaded::Str(_) => None,
                    Loaded::Obj(o) => Some(Box::new(o)),
                    Loaded::Empty => {
                        tracing::warn!("skipping the empty key '{}'", String::from_utf8_lossy(&key));
                        found.empty_skipped += 1;
                        continue;
                    }
                };
                let slot = key_slot(&key);
                if !keep(slot) {
                    continue;
                }
                let mut shard = keyspace.lock(slot);
                let clock = shard.restored_clock(clock_idle.map(|s| s.saturating_mul(1000)), clock_freq, now);
                let new = match obj {
                    Some(o) => NewValue::Obj(o),
                    None => NewValue::Str(&text),
                };
                if shard.set(db, slot, &key, new, expire, now) && !merge {
                    // Redis stops here too ("Duplicated key found in RDB file").
                    return Err(
                        r.error(format!("duplicated key '{}' in DB {db}", String::from_utf8_lossy(&key)))
                    );
                }
                if let Some(clock) = clock
                    && let Some(mut e) = shard.peek(db, slot, &key, now)
                {
                    e.set_clock(clock);
                }
                drop(shard);
                found.keys += 1;
                progress.load_keys.store(found.keys, Relaxed);
                after_key(found.keys);
            }
        }
    }
    if version >= 5 {
        let computed = r.checksum();
        let stored = u64::from_le_bytes(r.array()?);
        if stored != 0 && stored != computed {
            return Err(r.error(format!(
                "wrong checksum: the file says {stored:016x}, its contents give {computed:016x}"
            )));
        }
    }
    if let (Some(id), Some(offset)) = (repl_id, repl_offset) {
        found.repl = Some((id, offset));
    }
    progress.load_done_bytes.store(r.offset(), Relaxed);
    Ok(found)
}
