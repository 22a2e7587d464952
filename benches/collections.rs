//! The large collection forms: sorted-set insert, rank and range; set and hash
//! insert and lookup (the structures behind ZADD, ZRANK, ZRANGE, SADD, HSET, HGET).

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use slotcache::storage::{Encodings, Hash, Set, ZSet};

const N: usize = 100_000;

fn bench(c: &mut Criterion) {
    let enc = Encodings::default();
    let members: Vec<Vec<u8>> = (0..N).map(|i| format!("member:{i:07}").into_bytes()).collect();
    let mut z = ZSet::default();
    let mut s = Set::default();
    let mut h = Hash::default();
    for (i, m) in members.iter().enumerate() {
        z.set(m, (i * 7919 % N) as f64, &enc);
        s.add(m, &enc);
        h.set(m, b"value", &enc);
    }
    let mut g = c.benchmark_group("collections");
    g.throughput(Throughput::Elements(1));
    let mut i = 0usize;
    let mut round = 0usize;
    g.bench_function("zset/rescore", |b| {
        b.iter(|| {
            i = (i + 7919) % N;
            round += 1;
            z.set(&members[i], black_box((round % N) as f64), &enc)
        })
    });
    g.bench_function("zset/rank", |b| {
        b.iter(|| {
            i = (i + 7919) % N;
            black_box(z.rank(&members[i]))
        })
    });
    g.bench_function("zset/range10", |b| {
        b.iter(|| {
            i = (i + 7919) % (N - 10);
            black_box(z.range(i, i + 10, false).count())
        })
    });
    g.bench_function("set/contains", |b| {
        b.iter(|| {
            i = (i + 7919) % N;
            black_box(s.contains(&members[i]))
        })
    });
    g.bench_function("hash/get", |b| {
        b.iter(|| {
            i = (i + 7919) % N;
            black_box(h.get(&members[i]).map(<[u8]>::len))
        })
    });
    g.bench_function("hash/set-existing", |b| {
        b.iter(|| {
            i = (i + 7919) % N;
            h.set(&members[i], black_box(b"other"), &enc)
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
