//! Pub/Sub: who listens to which channel, shard channel and pattern, message fan-out,
//! and keyspace notifications.
//!
//! A message is encoded once per publish and queued to each receiving connection's
//! [`Feed`](super::feed::Feed) without waiting; each connection writes its own queue.
//! A subscriber that falls behind is bounded by `client-output-buffer-limit pubsub`:
//! past the hard limit, or past the soft limit for longer than its seconds, it is
//! disconnected, so a slow reader never costs more than that much memory and never
//! slows a publisher.
//!
//! Lock order: a shard lock may be held while publishing (expiry and eviction events);
//! nothing here ever takes a shard lock.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, RwLock};

use bytes::Bytes;

use super::clients::ClientInfo;
use super::feed::FeedTx;
use crate::config::BufferLimit;
use crate::protocol::args::glob_match;

/// Which namespace a subscription lives in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Channel,
    Pattern,
    Shard,
}

impl Kind {
    /// The reply's first element for (un)subscribing.
    pub fn verbs(self) -> (&'static str, &'static str) {
        match self {
            Kind::Channel => ("subscribe", "unsubscribe"),
            Kind::Pattern => ("psubscribe", "punsubscribe"),
            Kind::Shard => ("ssubscribe", "sunsubscribe"),
        }
    }
}

/// One connection as a receiver of messages.
pub struct Subscriber {
    tx: FeedTx,
    client: Arc<ClientInfo>,
    /// When the queue first passed the soft limit (Unix ms; 0 while under it).
    over_soft_since: AtomicU64,
    /// The shard channels it listens to: shared with the registry, which removes them
    /// when this node hands their slot over ([`PubSub::drop_shard_slots`]).
    shard_channels: std::sync::Mutex<HashSet<Bytes>>,
}

impl Subscriber {
    fn shard(&self) -> std::sync::MutexGuard<'_, HashSet<Bytes>> {
        self.shard_channels.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl Subscriber {
    /// Queues a frame unless the subscriber is (now) past its output limit, in which
    /// case it is disconnected. Returns whether the frame was queued.
    fn deliver(&self, frame: &Bytes, limit: &BufferLimit) -> bool {
        if self.client.kill.is_cancelled() {
            return false;
        }
        let queued = (self.tx.pending() + frame.len()) as u64;
        let mut over = limit.hard > 0 && queued > limit.hard;
        if limit.soft > 0 && queued > limit.soft {
            let now = crate::storage::now_ms();
            let since = self.over_soft_since.load(Relaxed);
            if since == 0 {
                self.over_soft_since.store(now, Relaxed);
            } else if now.saturating_sub(since) > limit.soft_seconds * 1000 {
                over = true;
            }
        } else if self.over_soft_since.load(Relaxed) != 0 {
            self.over_soft_since.store(0, Relaxed);
        }
        if over {
            tracing::warn!(
                "client id={} addr={} closed for overcoming of output buffer limits (pubsub)",
                self.client.id,
                self.client.addr
            );
            self.client.kill.cancel();
            return false;
        }
        self.tx.send(frame.clone())
    }
}

type Listeners = HashMap<Bytes, HashMap<u64, Arc<Subscriber>>>;

/// The server-wide registry.
#[derive(Default)]
pub struct PubSub {
    channels: RwLock<Listeners>,
    patterns: RwLock<Listeners>,
    shard_channels: RwLock<Listeners>,
    limit: RwLock<BufferLimit>,
    /// `notify-keyspace-events` flags ([`events`]).
    events: AtomicU32,
}

fn read<T>(l: &RwLock<T>) -> std::sync::RwLockReadGuard<'_, T> {
    l.read().unwrap_or_else(|p| p.into_inner())
}

fn write<T>(l: &RwLock<T>) -> std::sync::RwLockWriteGuard<'_, T> {
    l.write().unwrap_or_else(|p| p.into_inner())
}

impl PubSub {
    pub fn set_limit(&self, limit: BufferLimit) {
        *write(&self.limit) = limit;
    }

    pub fn set_events(&self, flags: u32) {
        self.events.store(flags, Relaxed);
    }

    fn table(&self, kind: Kind) -> &RwLock<Listeners> {
        match kind {
            Kind::Channel => &self.channels,
            Kind::Pattern => &self.patterns,
            Kind::Shard => &self.shard_channels,
        }
    }

    fn add(&self, kind: Kind, name: &Bytes, who: &Arc<Subscriber>) {
        write(self.table(kind)).entry(name.clone()).or_default().insert(who.client.id, who.clone());
    }

    fn remove(&self, kind: Kind, name: &[u8], id: u64) {
        let mut table = write(self.table(kind));
        if let Some(set) = table.get_mut(name) {
            set.remove(&id);
            if set.is_empty() {
                table.remove(name);
            }
        }
    }

    /// PUBLISH / SPUBLISH: queues the message to every subscriber of the channel and,
    /// for PUBLISH, of every matching pattern. Returns how many received it (a client
    /// matching twice counts twice, as in Redis).
    pub fn publish(&self, shard: bool, channel: &[u8], message: &[u8]) -> usize {
        let limit = *read(&self.limit);
        let mut receivers = 0;
        let (kind, verb) = if shard { (Kind::Shard, "smessage") } else { (Kind::Channel, "message") };
        if let Some(set) = read(self.table(kind)).get(channel) {
            let frame = frame(&[verb.as_bytes(), channel, message]);
            receivers += set.values().filter(|s| s.deliver(&frame, &limit)).count();
        }
        if !shard {
            for (pattern, set) in read(&self.patterns).iter() {
                if glob_match(pattern, channel, false) {
                    let frame = frame(&[b"pmessage", pattern, channel, message]);
                    receivers += set.values().filter(|s| s.deliver(&frame, &limit)).count();
                }
            }
        }
        receivers
    }

    /// Cluster mode: this node no longer serves `slots`; their shard channels' subscribers
    /// are unsubscribed and told so (`sunsubscribe <channel> <count>`), as Redis 7.0
    /// does, so they subscribe again where the slot now lives.
    pub fn drop_shard_slots(&self, slots: &[u16]) {
        use crate::cluster::slot::key_slot;
        let limit = *read(&self.limit);
        let mut table = write(&self.shard_channels);
        let moved: Vec<Bytes> =
            table.keys().filter(|c| slots.binary_search(&key_slot(c)).is_ok()).cloned().collect();
        for channel in moved {
            let Some(set) = table.remove(&channel) else { continue };
            for who in set.values() {
                let left = {
                    let mut mine = who.shard();
                    mine.remove(&channel);
                    mine.len()
                };
                who.client.set_subscriptions_shard(left);
                who.deliver(&sunsubscribe_frame(&channel, left), &limit);
            }
        }
    }

    /// Sends a frame (built for the receiver's protocol: true for RESP3) to one client if
    /// it is subscribed to `channel`; false when it is not (CLIENT TRACKING's redirect).
    pub fn send_to(&self, channel: &[u8], client: u64, frame: impl Fn(bool) -> Bytes) -> bool {
        let limit = *read(&self.limit);
        let table = read(&self.channels);
        match table.get(channel).and_then(|set| set.get(&client)) {
            Some(s) => s.deliver(&frame(s.client.resp() == 3), &limit),
            None => false,
        }
    }

    /// Channels (or shard channels) with at least one subscriber, matching `pattern`.
    pub fn active(&self, kind: Kind, pattern: Option<&[u8]>) -> Vec<Bytes> {
        read(self.table(kind))
            .keys()
            .filter(|c| pattern.is_none_or(|p| glob_match(p, c, false)))
            .cloned()
            .collect()
    }

    /// Subscribers of one channel (or shard channel).
    pub fn subscribers(&self, kind: Kind, channel: &[u8]) -> usize {
        read(self.table(kind)).get(channel).map_or(0, HashMap::len)
    }

    /// Distinct channels, patterns or shard channels with subscribers (PUBSUB NUMPAT,
    /// INFO pubsub_channels / pubsub_patterns / pubsubshard_channels).
    pub fn count(&self, kind: Kind) -> usize {
        read(self.table(kind)).len()
    }

    /// Publishes a keyspace notification if its class is enabled: the event on
    /// `__keyspace@<db>__:<key>` and the key on `__keyevent@<db>__:<event>`.
    pub fn notify(&self, class: u32, event: &str, key: &[u8], db: usize) {
        let flags = self.events.load(Relaxed);
        if flags & class == 0 {
            return;
        }
        if flags & events::KEYSPACE != 0 {
            let mut channel = format!("__keyspace@{db}__:").into_bytes();
            channel.extend_from_slice(key);
            self.publish(false, &channel, event.as_bytes());
        }
        if flags & events::KEYEVENT != 0 {
            let channel = format!("__keyevent@{db}__:{event}");
            self.publish(false, channel.as_bytes(), key);
        }
    }
}

/// A RESP2 array of bulk strings (the feed turns it into a push on RESP3).
fn frame(parts: &[&[u8]]) -> Bytes {
    // Sized for the parts and their length headers, not a connection's output buffer.
    let size = parts.iter().map(|p| p.len() + 16).sum::<usize>() + 16;
    let mut out = crate::protocol::Reply { buf: Vec::with_capacity(size), resp3: false };
    out.bulks(parts.iter().copied());
    Bytes::from(out.buf)
}

/// `sunsubscribe <channel> <count>` as a RESP2 array (the feed makes it a push).
fn sunsubscribe_frame(channel: &[u8], count: usize) -> Bytes {
    let mut out = crate::protocol::Reply { buf: Vec::with_capacity(channel.len() + 48), resp3: false };
    out.array(3);
    out.bulk(b"sunsubscribe");
    out.bulk(channel);
    out.int(count as i64);
    Bytes::from(out.buf)
}

/// One connection's subscriptions (its shard channels live in its [`Subscriber`]).
pub struct Subscriptions {
    me: Arc<Subscriber>,
    channels: HashSet<Bytes>,
    /// In subscription order, as Redis lists them.
    patterns: Vec<Bytes>,
}

impl Subscriptions {
    pub fn new(tx: FeedTx, client: Arc<ClientInfo>) -> Subscriptions {
        Subscriptions {
            me: Arc::new(Subscriber {
                tx,
                client,
                over_soft_since: AtomicU64::new(0),
                shard_channels: Default::default(),
            }),
            channels: HashSet::new(),
            patterns: Vec::new(),
        }
    }

    /// The count subscribe/unsubscribe replies carry: channels and patterns together,
    /// shard channels on their own (Redis 7.0).
    pub fn count(&self, kind: Kind) -> usize {
        match kind {
            Kind::Channel | Kind::Pattern => self.channels.len() + self.patterns.len(),
            Kind::Shard => self.me.shard().len(),
        }
    }

    /// Subscriptions of every kind: the connection is in subscribed mode while > 0.
    pub fn total(&self) -> usize {
        self.channels.len() + self.patterns.len() + self.me.shard().len()
    }

    pub fn names(&self, kind: Kind) -> Vec<Bytes> {
        match kind {
            Kind::Channel => self.channels.iter().cloned().collect(),
            Kind::Pattern => self.patterns.clone(),
            Kind::Shard => self.me.shard().iter().cloned().collect(),
        }
    }

    /// Subscribes; false when already subscribed.
    pub fn subscribe(&mut self, ps: &PubSub, kind: Kind, name: &Bytes) -> bool {
        let new = match kind {
            Kind::Channel => self.channels.insert(name.clone()),
            Kind::Shard => self.me.shard().insert(name.clone()),
            Kind::Pattern if self.patterns.contains(name) => false,
            Kind::Pattern => {
                self.patterns.push(name.clone());
                true
            }
        };
        if new {
            ps.add(kind, name, &self.me);
            self.publish_counts();
        }
        new
    }

    /// Unsubscribes; false when not subscribed.
    pub fn unsubscribe(&mut self, ps: &PubSub, kind: Kind, name: &[u8]) -> bool {
        let was = match kind {
            Kind::Channel => self.channels.remove(name),
            Kind::Shard => self.me.shard().remove(name),
            Kind::Pattern => match self.patterns.iter().position(|p| p == name) {
                Some(i) => {
                    self.patterns.remove(i);
                    true
                }
                None => false,
            },
        };
        if was {
            ps.remove(kind, name, self.me.client.id);
            self.publish_counts();
        }
        was
    }

    /// Drops every subscription (RESET, disconnect).
    pub fn clear(&mut self, ps: &PubSub) {
        for kind in [Kind::Channel, Kind::Pattern, Kind::Shard] {
            for name in self.names(kind) {
                self.unsubscribe(ps, kind, &name);
            }
        }
    }

    fn publish_counts(&self) {
        self.me.client.set_subscriptions(self.channels.len(), self.patterns.len(), self.me.shard().len());
    }
}

/// `notify-keyspace-events` classes, as Redis's flags.
pub mod events {
    pub const KEYSPACE: u32 = 1 << 0;
    pub const KEYEVENT: u32 = 1 << 1;
    pub const GENERIC: u32 = 1 << 2;
    pub const STRING: u32 = 1 << 3;
    pub const LIST: u32 = 1 << 4;
    pub const SET: u32 = 1 << 5;
    pub const HASH: u32 = 1 << 6;
    pub const ZSET: u32 = 1 << 7;
    pub const EXPIRED: u32 = 1 << 8;
    pub const EVICTED: u32 = 1 << 9;
    pub const STREAM: u32 = 1 << 10;
    pub const KEY_MISS: u32 = 1 << 11;
    pub const MODULE: u32 = 1 << 12;
    pub const NEW: u32 = 1 << 13;
    /// `A`: every class but key misses and new keys.
    pub const ALL: u32 = GENERIC | STRING | LIST | SET | HASH | ZSET | EXPIRED | EVICTED | STREAM | MODULE;

    const CLASSES: &[(u32, char)] = &[
        (GENERIC, 'g'),
        (STRING, '$'),
        (LIST, 'l'),
        (SET, 's'),
        (HASH, 'h'),
        (ZSET, 'z'),
        (EXPIRED, 'x'),
        (EVICTED, 'e'),
        (STREAM, 't'),
        (MODULE, 'd'),
        (NEW, 'n'),
    ];

    /// Parses a flags string (`KEA`, `Ex`...); None on an unknown character.
    pub fn parse(s: &str) -> Option<u32> {
        let mut flags = 0;
        for c in s.chars() {
            flags |= match c {
                'A' => ALL,
                'K' => KEYSPACE,
                'E' => KEYEVENT,
                'm' => KEY_MISS,
                c => CLASSES.iter().find(|(_, n)| *n == c)?.0,
            };
        }
        Some(flags)
    }

    /// Redis's canonical text for a flags value (`AKE`, `gxE`...).
    pub fn format(flags: u32) -> String {
        let mut s = String::new();
        if flags & ALL == ALL {
            s.push('A');
            if flags & NEW != 0 {
                s.push('n');
            }
        } else {
            s.extend(CLASSES.iter().filter(|(f, _)| flags & f != 0).map(|(_, c)| c));
        }
        for (f, c) in [(KEYSPACE, 'K'), (KEYEVENT, 'E'), (KEY_MISS, 'm')] {
            if flags & f != 0 {
                s.push(c);
            }
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::events::*;

    #[test]
    fn event_flags_round_trip_as_redis_prints_them() {
        assert_eq!(parse("KEA").map(format).as_deref(), Some("AKE"));
        assert_eq!(parse("Ex").map(format).as_deref(), Some("xE"));
        assert_eq!(parse("Kg$").map(format).as_deref(), Some("g$K"));
        assert_eq!(parse("").map(format).as_deref(), Some(""));
        assert_eq!(parse("KEm").map(format).as_deref(), Some("KEm"));
        assert_eq!(parse("Kw"), None);
    }
}
