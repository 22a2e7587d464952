//! The side HTTP port: /metrics after a known workload (exact values), /healthz,
//! /readyz, and the HTTP server's bounds.

mod common;

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};

use common::{TestServer, WAIT};
use redis::cmd;
use slotcache::metrics::names::ALL;

/// A port that was free a moment ago (the metrics port cannot be 0: that disables it).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn start() -> (TestServer, SocketAddr) {
    let port = free_port().to_string();
    let s = TestServer::start_with(&["metrics-port", &port]);
    let addr = s.handle.as_ref().unwrap().metrics_addr.expect("metrics enabled");
    (s, addr)
}

/// Sends a raw HTTP request; returns (status line, body).
fn http(addr: SocketAddr, request: &[u8]) -> (String, String) {
    let mut stream = TcpStream::connect_timeout(&addr, WAIT).unwrap();
    stream.set_read_timeout(Some(WAIT)).unwrap();
    stream.write_all(request).unwrap();
    let mut response = Vec::new();
    stream.read_to_end(&mut response).unwrap();
    let text = String::from_utf8(response).unwrap();
    let (head, body) = text.split_once("\r\n\r\n").expect("a complete response");
    (head.lines().next().unwrap().to_string(), body.to_string())
}

fn get(addr: SocketAddr, path: &str) -> (String, String) {
    http(addr, format!("GET {path} HTTP/1.1\r\nHost: localhost\r\n\r\n").as_bytes())
}

/// Parses the exposition into `series -> value`, checking every sample has a TYPE.
fn scrape(addr: SocketAddr) -> HashMap<String, f64> {
    let (status, body) = get(addr, "/metrics");
    assert_eq!(status, "HTTP/1.1 200 OK");
    let mut typed = Vec::new();
    let mut samples = HashMap::new();
    for line in body.lines() {
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').unwrap();
            let metric = ALL.iter().find(|m| m.name == name).unwrap_or_else(|| panic!("{name} is not named"));
            assert_eq!(kind, metric.kind.as_str(), "{name}");
            assert!(body.contains(&format!("# HELP {name} {}\n", metric.help)), "{name} has its HELP");
            assert!(!typed.iter().any(|t| t == name), "{name} typed twice");
            typed.push(name.to_string());
        } else if !line.starts_with('#') && !line.is_empty() {
            let (series, value) = line.rsplit_once(' ').unwrap();
            let name = series.split('{').next().unwrap();
            let base = name.trim_end_matches("_bucket").trim_end_matches("_sum").trim_end_matches("_count");
            assert!(typed.iter().any(|t| t == name || t == base), "{name} has no # TYPE line");
            let previous = samples.insert(series.to_string(), value.parse::<f64>().unwrap());
            assert!(previous.is_none(), "duplicate series {series}");
        }
    }
    samples
}

#[test]
fn metrics_count_a_known_workload_exactly() {
    let (s, addr) = start();
    let mut c = s.conn();
    for i in 0..100 {
        let _: () = cmd("SET").arg(format!("k{i}")).arg(i).query(&mut c).unwrap();
    }
    // 50 GETs, 20 of them on keys that do not exist.
    for i in 0..50 {
        let key = if i < 30 { format!("k{i}") } else { format!("missing{i}") };
        let _: Option<String> = cmd("GET").arg(key).query(&mut c).unwrap();
    }
    let _: () = cmd("SET").arg("ttl").arg(1).arg("EX").arg(100).query(&mut c).unwrap();
    let _ = cmd("INCR").arg("nope").arg("extra").query::<i64>(&mut c).unwrap_err();
    let _ = cmd("GET").arg("k1").arg("extra").query::<String>(&mut c).unwrap_err();

    let m = scrape(addr);
    assert_eq!(m["redis_up"], 1.0);
    assert_eq!(m["redis_commands_total{cmd=\"set\"}"], 101.0);
    assert_eq!(m["redis_commands_total{cmd=\"get\"}"], 50.0);
    assert_eq!(m["redis_commands_rejected_calls_total{cmd=\"get\"}"], 1.0);
    assert_eq!(m["redis_commands_rejected_calls_total{cmd=\"incr\"}"], 1.0);
    assert_eq!(m["redis_keyspace_hits_total"], 30.0);
    assert_eq!(m["redis_keyspace_misses_total"], 20.0);
    assert_eq!(m["redis_errors_total{err=\"ERR\"}"], 2.0);
    assert_eq!(m["redis_db_keys{db=\"db0\"}"], 101.0);
    assert_eq!(m["redis_db_keys_expiring{db=\"db0\"}"], 1.0);
    assert_eq!(m["redis_connected_clients"], 1.0);
    assert_eq!(m["redis_config_maxclients"], 10000.0);
    assert!(m["redis_memory_used_bytes"] > 0.0);
    assert!(m["redis_net_input_bytes_total"] > 0.0);
    // The histogram agrees with the counter, and its buckets are cumulative.
    assert_eq!(m["slotcache_command_duration_seconds_count{cmd=\"get\"}"], 50.0);
    assert_eq!(m["slotcache_command_duration_seconds_bucket{cmd=\"get\",le=\"+Inf\"}"], 50.0);
    let small = m["slotcache_command_duration_seconds_bucket{cmd=\"get\",le=\"0.000008\"}"];
    let larger = m["slotcache_command_duration_seconds_bucket{cmd=\"get\",le=\"0.001024\"}"];
    assert!(small <= larger && larger <= 50.0);
    let shard_keys: f64 = (0..4).map(|i| m[&format!("slotcache_shard_keys{{shard=\"{i}\"}}")]).sum();
    assert_eq!(shard_keys, 101.0);
    assert!(m.contains_key("slotcache_shard_lock_wait_seconds_count{shard=\"0\"}"));

    // INFO reads the same counters.
    let info: String = cmd("INFO").arg("stats").query(&mut c).unwrap();
    assert!(info.contains("keyspace_hits:30\r\n") && info.contains("keyspace_misses:20\r\n"));

    // Counters keep counting between scrapes.
    let _: Option<String> = cmd("GET").arg("k1").query(&mut c).unwrap();
    let m = scrape(addr);
    assert_eq!(m["redis_commands_total{cmd=\"get\"}"], 51.0);

    // CONFIG RESETSTAT starts them again, and series of what was reset go away.
    let _: () = cmd("CONFIG").arg("RESETSTAT").query(&mut c).unwrap();
    let _: () = cmd("FLUSHALL").query(&mut c).unwrap();
    let m = scrape(addr);
    assert_eq!(m["redis_keyspace_hits_total"], 0.0);
    assert!(!m.contains_key("redis_commands_total{cmd=\"get\"}"), "{m:?}");
    assert!(!m.contains_key("redis_db_keys{db=\"db0\"}"));
    assert_eq!(m["redis_commands_total{cmd=\"flushall\"}"], 1.0);
}

#[test]
fn health_endpoints_and_http_bounds() {
    let (s, addr) = start();
    assert_eq!(get(addr, "/healthz"), ("HTTP/1.1 200 OK".into(), "ok\n".into()));
    assert_eq!(get(addr, "/readyz"), ("HTTP/1.1 200 OK".into(), "ready\n".into()));
    assert_eq!(get(addr, "/metrics?x=1").0, "HTTP/1.1 200 OK");
    assert_eq!(get(addr, "/nope").0, "HTTP/1.1 404 Not Found");
    assert_eq!(http(addr, b"DELETE /metrics HTTP/1.1\r\n\r\n").0, "HTTP/1.1 405 Method Not Allowed");
    let huge = format!("GET /metrics HTTP/1.1\r\nX-Big: {}\r\n\r\n", "a".repeat(10_000));
    assert_eq!(http(addr, huge.as_bytes()).0, "HTTP/1.1 431 Request Header Fields Too Large");
    // The data port is unaffected by anything above.
    let mut c = s.conn();
    let pong: String = cmd("PING").query(&mut c).unwrap();
    assert_eq!(pong, "PONG");
}

#[test]
fn metrics_port_zero_disables_it() {
    let s = TestServer::start();
    assert!(s.handle.as_ref().unwrap().metrics_addr.is_none());
}

fn post(addr: SocketAddr, path: &str, body: &str, auth: Option<&str>) -> (String, String) {
    let auth = auth.map(|t| format!("Authorization: Bearer {t}\r\n")).unwrap_or_default();
    let req = format!(
        "POST {path} HTTP/1.1\r\nHost: localhost\r\n{auth}Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    http(addr, req.as_bytes())
}

fn get_auth(addr: SocketAddr, path: &str, token: &str) -> (String, String) {
    http(addr, format!("GET {path} HTTP/1.1\r\nAuthorization: Bearer {token}\r\n\r\n").as_bytes())
}

fn start_api(extra: &[&str]) -> (TestServer, SocketAddr) {
    let port = free_port().to_string();
    let mut directives = vec!["metrics-port", port.as_str(), "http-api", "yes"];
    directives.extend_from_slice(extra);
    let s = TestServer::start_with(&directives);
    let addr = s.handle.as_ref().unwrap().metrics_addr.unwrap();
    (s, addr)
}

#[test]
fn json_key_api_round_trips() {
    let (s, addr) = start_api(&[]);
    let (status, body) = post(addr, "/set", r#"{"key": "user:1", "value": "Ada \"L\" ☃"}"#, None);
    assert_eq!((status.as_str(), body.as_str()), ("HTTP/1.1 200 OK", "{\"ok\":true}\n"));
    let (status, body) = get(addr, "/get?key=user%3A1");
    assert_eq!(status, "HTTP/1.1 200 OK");
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["value"], "Ada \"L\" ☃");
    assert_eq!(get(addr, "/get?key=nope").0, "HTTP/1.1 404 Not Found");

    // ttl_ms becomes a real TTL, visible over RESP.
    let (status, _) = post(addr, "/set", r#"{"key": "t", "value": "x", "ttl_ms": 60000}"#, None);
    assert_eq!(status, "HTTP/1.1 200 OK");
    let mut c = s.conn();
    let pttl: i64 = cmd("PTTL").arg("t").query(&mut c).unwrap();
    assert!(pttl > 50_000 && pttl <= 60_000, "{pttl}");
    // And RESP writes are visible over HTTP.
    let _: () = cmd("SET").arg("fromresp").arg("yes").query(&mut c).unwrap();
    assert!(get(addr, "/get?key=fromresp").1.contains("\"yes\""));

    for bad in [
        r#"not json"#,
        r#"{"key": 1, "value": "x"}"#,
        r#"{"key": "k"}"#,
        r#"{"key": "k", "value": "v", "ttl_ms": -5}"#,
    ] {
        assert_eq!(post(addr, "/set", bad, None).0, "HTTP/1.1 400 Bad Request", "{bad}");
    }
    assert_eq!(get(addr, "/get").0, "HTTP/1.1 400 Bad Request");
    assert_eq!(get(addr, "/set").0, "HTTP/1.1 405 Method Not Allowed");
}

#[test]
fn json_key_api_follows_requirepass() {
    let (_s, addr) = start_api(&["requirepass", "s3cret"]);
    let set = r#"{"key": "k", "value": "v"}"#;
    assert_eq!(post(addr, "/set", set, None).0, "HTTP/1.1 401 Unauthorized");
    assert_eq!(post(addr, "/set", set, Some("wrong")).0, "HTTP/1.1 401 Unauthorized");
    assert_eq!(post(addr, "/set", set, Some("s3cret")).0, "HTTP/1.1 200 OK");
    // Authentication does not carry over to the next request.
    assert_eq!(get(addr, "/get?key=k").0, "HTTP/1.1 401 Unauthorized");
    let (status, body) = get_auth(addr, "/get?key=k", "s3cret");
    assert_eq!((status.as_str(), body.as_str()), ("HTTP/1.1 200 OK", "{\"value\":\"v\"}\n"));
}

#[test]
fn json_key_api_is_off_by_default() {
    let (_s, addr) = start();
    assert_eq!(post(addr, "/set", r#"{"key": "k", "value": "v"}"#, None).0, "HTTP/1.1 404 Not Found");
    assert_eq!(get(addr, "/get?key=k").0, "HTTP/1.1 404 Not Found");
}

#[test]
fn json_key_api_survives_an_oversized_value() {
    let (_s, addr) = start_api(&["proto-max-bulk-len", "1mb"]);
    let big = format!(r#"{{"key": "k", "value": "{}"}}"#, "x".repeat(2 * 1024 * 1024));
    let (status, body) = post(addr, "/set", &big, None);
    assert_eq!(status, "HTTP/1.1 400 Bad Request");
    assert!(body.contains("Protocol error: invalid bulk length"), "{body}");
    assert_eq!(post(addr, "/set", r#"{"key": "k", "value": "small"}"#, None).0, "HTTP/1.1 200 OK");
    assert!(get(addr, "/get?key=k").1.contains("\"small\""));
}

#[test]
fn cluster_mode_is_measured_and_readyz_follows_the_cluster_state() {
    let dir = std::env::temp_dir().join(format!("slotcache-metrics-cluster-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let dir_s = dir.to_string_lossy().into_owned();
    let port = free_port().to_string();
    // A first node alone owns every slot and is ok.
    let s = TestServer::start_with(&["metrics-port", &port, "cluster-enabled", "yes", "dir", &dir_s]);
    let addr = s.handle.as_ref().unwrap().metrics_addr.unwrap();
    let mut c = s.conn();
    let e = common::err(&mut c, cmd("MSET").arg("{a}1").arg(1).arg("{b}1").arg(2));
    assert_eq!(e, "CROSSSLOT Keys in request don't hash to the same slot");
    let m = scrape(addr);
    assert_eq!(m["redis_cluster_enabled"], 1.0);
    assert_eq!(m["slotcache_cluster_state_ok"], 1.0);
    assert_eq!(m["slotcache_cluster_known_nodes"], 1.0);
    assert_eq!(m["slotcache_cluster_slots_owned"], 16384.0);
    assert_eq!(m["slotcache_cluster_redirects_total{kind=\"crossslot\"}"], 1.0);
    assert_eq!(m["slotcache_cluster_redirects_total{kind=\"moved\"}"], 0.0);
    assert_eq!(get(addr, "/readyz").0, "HTTP/1.1 200 OK");
    drop(s);
    std::fs::remove_dir_all(&dir).unwrap();

    // A node whose seed never answers serves nothing and is not ready.
    std::fs::create_dir_all(&dir).unwrap();
    let port = free_port().to_string();
    let seed = format!("127.0.0.1:{}", free_port());
    let s = TestServer::start_with(&[
        "metrics-port",
        &port,
        "cluster-enabled",
        "yes",
        "dir",
        &dir_s,
        "cluster-seeds",
        &seed,
    ]);
    let addr = s.handle.as_ref().unwrap().metrics_addr.unwrap();
    let mut c = s.conn();
    assert_eq!(common::err(&mut c, cmd("GET").arg("k")), "CLUSTERDOWN Hash slot not served");
    let m = scrape(addr);
    assert_eq!(m["slotcache_cluster_state_ok"], 0.0);
    assert_eq!(m["slotcache_cluster_slots_owned"], 0.0);
    assert_eq!(m["slotcache_cluster_redirects_total{kind=\"clusterdown\"}"], 1.0);
    let (status, body) = get(addr, "/readyz");
    assert_eq!(status, "HTTP/1.1 503 Service Unavailable");
    assert_eq!(body, "cluster state fail\n");
    drop(s);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn not_in_cluster_mode_the_cluster_commands_say_so() {
    let (s, addr) = start();
    let mut c = s.conn();
    assert_eq!(
        common::err(&mut c, cmd("CLUSTER").arg("INFO")),
        "ERR This instance has cluster support disabled"
    );
    assert_eq!(common::err(&mut c, cmd("READONLY")), "ERR This instance has cluster support disabled");
    let m = scrape(addr);
    assert_eq!(m["redis_cluster_enabled"], 0.0);
    assert!(!m.keys().any(|k| k.starts_with("slotcache_cluster_")), "no cluster series outside cluster mode");
}
