//! The shard GET/SET path: lock a shard, look up or write a key, unlock; and the same
//! from several threads at once (shard-lock contention).

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

/// Shard-lock contention: N threads (one shard per thread, as the server runs) each
/// doing GETs on 1,000,000 keys, uniform or Zipf-skewed (s = 1: a few keys take most
/// reads, and with them their shards' locks). Throughput is for all threads together;
/// on a machine with fewer cores than threads it shows the cost of sharing a core,
/// not of the locks.
fn contention(c: &mut Criterion) {
    const KEYS: usize = 1_000_000;
    const OPS: usize = 20_000;
    let keys: Vec<Vec<u8>> = (0..KEYS).map(|i| format!("key:{i:012}").into_bytes()).collect();
    let slots: Vec<u16> = keys.iter().map(|k| key_slot(k)).collect();
    let value = [b'v'; 100];
    // Zipf(1) by inverse transform over the harmonic numbers, deterministic.
    let harmonic: Vec<f64> = (1..=KEYS)
        .scan(0.0, |acc, k| {
            *acc += 1.0 / k as f64;
            Some(*acc)
        })
        .collect();
    let mut seed = 0x2545_f491_4f6c_dd1d_u64;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let uniform: Vec<usize> = (0..OPS).map(|_| next() as usize % KEYS).collect();
    let zipf: Vec<usize> = (0..OPS)
        .map(|_| {
            let u = (next() >> 11) as f64 / (1u64 << 53) as f64 * harmonic[KEYS - 1];
            harmonic.partition_point(|&h| h < u).min(KEYS - 1)
        })
        .collect();
    let mut g = c.benchmark_group("contention_1m_keys");
    g.sample_size(10);
    for threads in [1usize, 2, 4] {
        let ks = Keyspace::new(threads, 1);
        for (k, &s) in keys.iter().zip(&slots) {
            ks.lock(s).set(0, s, k, NewValue::Str(&value), None, 0);
        }
        g.throughput(Throughput::Elements((OPS * threads) as u64));
        for (name, picks) in [("uniform", &uniform), ("zipf", &zipf)] {
            g.bench_function(format!("get/{name}/{threads}t"), |b| {
                b.iter(|| {
                    std::thread::scope(|scope| {
                        for t in 0..threads {
                            let (ks, keys, slots) = (&ks, &keys, &slots);
                            scope.spawn(move || {
                                let mut found = 0;
                                for (j, &i) in picks.iter().enumerate() {
                                    // Each thread starts at a different point of the sequence.
                                    let i = if t == 0 { i } else { picks[(j + t * 997) % picks.len()] };
                                    let mut shard = ks.lock(slots[i]);
                                    found += shard.get(0, slots[i], &keys[i], 1).is_some() as usize;
                                }
                                black_box(found)
                            });
                        }
                    })
                })
            });
        }
    }
    g.finish();
}

criterion_group!(benches, bench, contention);
criterion_main!(benches);
