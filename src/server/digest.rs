//! DEBUG DIGEST and DEBUG DIGEST-VALUE with Redis's own algorithm (`debug.c`), so a
//! digest taken here can be compared with a real Redis holding the same data; plus a
//! digest of a slot range (DEBUG DIGEST-SLOTS, slotcache's own) that replication tests
//! compare between a range's primary and its replicas.
//!
//! A key's digest mixes its name, its type and its value in order; elements of sets,
//! hashes and sorted sets are combined with XOR (order-free), list elements are mixed in
//! order; a key with a TTL adds `!!expire!!`. The dataset's digest XORs the SHA1s of the
//! key digests of each non-empty database after mixing in the database number. Values are read as
//! Redis shows them (integers as decimal text, scores as `%.17g`); HyperLogLogs are
//! strings whose bytes are slotcache's, so their digests differ from Redis's.

use std::ops::RangeInclusive;

use sha1_smol::Sha1;

use crate::cluster::slot::key_slot;
use crate::protocol::reply::format_g17;
use crate::storage::{Entry, Keyspace, Object, ValueRef};

pub type Digest = [u8; 20];

fn sha1(data: &[u8]) -> Digest {
    Sha1::from(data).digest().bytes()
}

/// `digest ^= SHA1(data)`: order-free combination.
fn xor(digest: &mut Digest, data: &[u8]) {
    for (d, h) in digest.iter_mut().zip(sha1(data)) {
        *d ^= h;
    }
}

/// `digest = SHA1(digest ^ SHA1(data))`: order-preserving combination.
fn mix(digest: &mut Digest, data: &[u8]) {
    xor(digest, data);
    *digest = sha1(digest);
}

/// Redis's `xorObjectDigest`: the value (with its type and TTL) mixed into `digest`.
fn value_into(digest: &mut Digest, e: &Entry) {
    let mut scratch = itoa::Buffer::new();
    let value = e.value();
    let kind: u32 = match &value {
        ValueRef::Str(_) | ValueRef::Int(_) | ValueRef::Obj(Object::Str(_)) => 0,
        ValueRef::Obj(Object::List(_)) => 1,
        ValueRef::Obj(Object::Set(_)) => 2,
        ValueRef::Obj(Object::ZSet(_)) => 3,
        ValueRef::Obj(Object::Hash(_)) => 4,
    };
    mix(digest, &kind.to_be_bytes());
    match &value {
        ValueRef::Str(s) => mix(digest, s),
        ValueRef::Int(i) => mix(digest, scratch.format(*i).as_bytes()),
        ValueRef::Obj(Object::Str(s)) => mix(digest, s),
        ValueRef::Obj(Object::List(l)) => {
            for item in l.range(0, l.len()) {
                mix(digest, item);
            }
        }
        ValueRef::Obj(Object::Set(s)) => {
            for m in s.iter() {
                xor(digest, &m);
            }
        }
        ValueRef::Obj(Object::ZSet(z)) => {
            for (m, score) in z.range(0, z.len(), false) {
                let mut element = [0u8; 20];
                mix(&mut element, m);
                mix(&mut element, format_g17(score).as_bytes());
                xor(digest, &element);
            }
        }
        ValueRef::Obj(Object::Hash(h)) => {
            for (f, v) in h.iter() {
                let mut element = [0u8; 20];
                mix(&mut element, f);
                mix(&mut element, v);
                xor(digest, &element);
            }
        }
    }
    if e.expire_at().is_some() {
        xor(digest, b"!!expire!!");
    }
}

/// DEBUG DIGEST-VALUE's digest of one value (all zeros for a missing key).
pub fn value(e: Option<&Entry>) -> Digest {
    let mut digest = [0u8; 20];
    if let Some(e) = e {
        value_into(&mut digest, e);
    }
    digest
}

/// The digest of every key whose slot is in `slots`, in every database (the whole
/// dataset for `0..=16383`): Redis's `computeDatasetDigest`. Each shard is locked in
/// turn while its keys are read.
pub fn dataset(keyspace: &Keyspace, slots: RangeInclusive<u16>, now: u64) -> Digest {
    let mut out = [0u8; 20];
    for db in 0..keyspace.databases() {
        let mut keys = [0u8; 20];
        let mut any = false;
        for i in 0..keyspace.shard_count() {
            let shard = keyspace.lock_index(i);
            for e in shard.dbs[db].iter(now) {
                if !slots.contains(&key_slot(e.key())) {
                    continue;
                }
                let mut digest = [0u8; 20];
                mix(&mut digest, e.key());
                value_into(&mut digest, e);
                // Redis's xorDigest: the SHA1 of the key's digest goes into the XOR.
                xor(&mut keys, &digest);
                any = true;
            }
        }
        if any {
            mix(&mut out, &(db as u32).to_be_bytes());
            for (o, k) in out.iter_mut().zip(keys) {
                *o ^= k;
            }
        }
    }
    out
}

/// Forty lowercase hex digits, as Redis prints a digest.
pub fn hex(d: &Digest) -> String {
    d.iter().map(|b| format!("{b:02x}")).collect()
}
