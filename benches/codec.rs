//! RESP request decoding: typical single commands and a pipelined batch.

use std::hint::black_box;

use bytes::BytesMut;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use slotcache::protocol::{Limits, RequestParser};

use slotcache::protocol::request::encode as resp;

fn decode_all(input: &[u8], parser: &mut RequestParser) -> usize {
    let mut buf = BytesMut::from(input);
    let mut n = 0;
    while let Some(argv) = parser.next(&mut buf, Limits::bulk(512 << 20)).unwrap() {
        n += argv.len();
    }
    n
}

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("decode");
    let get = resp(&[b"GET", b"key:000000012345"]);
    let set16 = resp(&[b"SET", b"key:000000012345", &[b'x'; 16]]);
    let set100 = resp(&[b"SET", b"key:000000012345", &[b'x'; 100]]);
    let pipeline: Vec<u8> = get.repeat(64);
    let mut parser = RequestParser::new();
    g.throughput(Throughput::Elements(1));
    g.bench_function("get", |b| b.iter(|| decode_all(black_box(&get), &mut parser)));
    g.bench_function("set/16b", |b| b.iter(|| decode_all(black_box(&set16), &mut parser)));
    g.bench_function("set/100b", |b| b.iter(|| decode_all(black_box(&set100), &mut parser)));
    g.bench_function("inline/ping", |b| b.iter(|| decode_all(black_box(b"PING\r\n"), &mut parser)));
    g.throughput(Throughput::Elements(64));
    g.bench_function("pipeline/64", |b| b.iter(|| decode_all(black_box(&pipeline), &mut parser)));
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
