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

criterion_group!(benches, bench);
criterion_main!(benches);
