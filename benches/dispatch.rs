//! End to end without a socket: request bytes through the parser, dispatch, real
//! shards and the reply writer.

use std::hint::black_box;
use std::sync::Arc;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use slotcache::Config;
use slotcache::server::Server;
use slotcache::server::local::LocalClient;

use slotcache::protocol::request::encode as resp;

fn bench(c: &mut Criterion) {
    let config = Config::load(None, &["--shards".into(), "2".into()]).unwrap();
    let server = Arc::new(Server::new(config));
    let mut client = LocalClient::new(server).unwrap();
    let value = [b'x'; 100];
    let set = resp(&[b"SET", b"key:000000000042", &value]);
    let get = resp(&[b"GET", b"key:000000000042"]);
    let incr = resp(&[b"INCR", b"counter"]);
    let pipeline: Vec<u8> =
        (0..64).flat_map(|i| resp(&[b"GET", format!("key:{i:012}").as_bytes()])).collect();
    client.feed(&set).unwrap();

    let mut g = c.benchmark_group("dispatch");
    g.throughput(Throughput::Elements(1));
    for (name, req) in [("set/100b", &set), ("get/100b", &get), ("incr", &incr)] {
        g.bench_function(name, |b| {
            b.iter(|| {
                client.out.buf.clear();
                client.feed(black_box(req)).unwrap();
                black_box(client.out.buf.len())
            })
        });
    }
    g.throughput(Throughput::Elements(64));
    g.bench_function("pipeline/64", |b| {
        b.iter(|| {
            client.out.buf.clear();
            client.feed(black_box(&pipeline)).unwrap();
            black_box(client.out.buf.len())
        })
    });
    g.finish();
}

/// The hit path on a resident set: 1,000,000 keys of 100 bytes on one shard (as one
/// server thread on one core), pipelines of 16 GETs and of 16 SETs over uniformly random
/// keys, every GET a hit. The working set is larger than the CPU caches, as a real
/// cache's is, so misses in the tables show here.
fn hit_path(c: &mut Criterion) {
    const KEYS: u64 = 1_000_000;
    const PIPELINES: usize = 4096;
    let config = Config::load(None, &["--shards".into(), "1".into()]).unwrap();
    let server = Arc::new(Server::new(config));
    let mut client = LocalClient::new(server.clone()).unwrap();
    let value = [b'v'; 100];
    for chunk in (0..KEYS).collect::<Vec<_>>().chunks(1000) {
        let load: Vec<u8> =
            chunk.iter().flat_map(|i| resp(&[b"SET", format!("key:{i:012}").as_bytes(), &value])).collect();
        client.out.buf.clear();
        client.feed(&load).unwrap();
    }
    let mut seed = 0x9e37_79b9_7f4a_7c15_u64;
    let mut random_key = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        format!("key:{:012}", seed % KEYS)
    };
    let gets: Vec<Vec<u8>> = (0..PIPELINES)
        .map(|_| (0..16).flat_map(|_| resp(&[b"GET", random_key().as_bytes()])).collect())
        .collect();
    let sets: Vec<Vec<u8>> = (0..PIPELINES)
        .map(|_| (0..16).flat_map(|_| resp(&[b"SET", random_key().as_bytes(), &value])).collect())
        .collect();

    let mut g = c.benchmark_group("hit_path_1m_keys");
    g.throughput(Throughput::Elements(16));
    for (name, pipelines) in [("get/P16", &gets), ("set/P16", &sets)] {
        let mut i = 0;
        g.bench_function(name, |b| {
            b.iter(|| {
                i = (i + 1) % PIPELINES;
                client.out.buf.clear();
                client.feed(black_box(&pipelines[i])).unwrap();
                black_box(client.out.buf.len())
            })
        });
    }
    g.finish();
    assert_eq!(server.stats_snapshot().keyspace_misses, 0, "every GET hits");
}

criterion_group!(benches, bench, hit_path);
criterion_main!(benches);
