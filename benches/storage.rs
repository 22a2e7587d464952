//! The shard GET/SET path: lock a shard, look up or write a key, unlock.

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use slotcache::cluster::slot::key_slot;
use slotcache::storage::{Keyspace, NewValue};

const KEYS: usize = 100_000;

fn bench(c: &mut Criterion) {
    let ks = Keyspace::new(2, 16);
    let keys: Vec<Vec<u8>> = (0..KEYS).map(|i| format!("key:{i:012}").into_bytes()).collect();
    let slots: Vec<u16> = keys.iter().map(|k| key_slot(k)).collect();
    let value = [b'v'; 100];
    for (k, &s) in keys.iter().zip(&slots) {
        ks.lock(s).set(0, s, k, NewValue::Str(&value), None, 0);
    }
    let mut g = c.benchmark_group("shard");
    g.throughput(Throughput::Elements(1));
    let mut i = 0usize;
    g.bench_function("get/hit/100b", |b| {
        b.iter(|| {
            i = (i + 7919) % KEYS;
            let mut shard = ks.lock(slots[i]);
            black_box(shard.get(0, slots[i], &keys[i], 1).map(|e| e.key().len()))
        })
    });
    g.bench_function("get/miss", |b| {
        b.iter(|| {
            let mut shard = ks.lock(7);
            black_box(shard.get(0, 7, b"no-such-key", 1).is_some())
        })
    });
    g.bench_function("set/overwrite/100b", |b| {
        b.iter(|| {
            i = (i + 7919) % KEYS;
            ks.lock(slots[i]).set(0, slots[i], &keys[i], NewValue::Str(black_box(&value)), None, 1)
        })
    });
    g.bench_function("slot/crc16", |b| {
        b.iter(|| {
            i = (i + 7919) % KEYS;
            black_box(key_slot(&keys[i]))
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
