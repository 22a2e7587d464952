//! The side HTTP port: `GET /metrics`, `GET /healthz`, `GET /readyz`, and (with
//! `http-api yes`) the JSON key API `POST /set` and `GET /get?key=...`; in cluster mode
//! `GET /cluster`, the cluster state as JSON, and `GET /`, a self-contained page that
//! draws the ring from it (`ring.html`, no external assets).
//!
//! HTTP/1.1 is hyper's, one request per connection. Bounds: at most
//! [`MAX_CONNECTIONS`] requests at once (further connections are closed), request heads
//! of at most [`MAX_HEAD`] bytes (hyper answers 431 past it), bodies of at most
//! [`MAX_BODY`] bytes, [`REQUEST_TIMEOUT`] per request. Rendering and key API calls run
//! on the blocking pool so they never delay accepting clients.
//!
//! Key API calls go through the real command path: one in-process client
//! ([`LocalClient`]) executes `RESET`, then `AUTH <bearer token>` when one is given,
//! then the `SET` or `GET`, so passwords are checked exactly as for RESP clients and
//! no authentication carries over from one request to the next. In cluster mode a key
//! another node serves is forwarded to it over RESP (the book's `forwardRequest`) and
//! answered as if asked there; `X-Slotcache-Node` names the node that served it.

use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::header::{AUTHORIZATION, CONTENT_LENGTH, CONTENT_TYPE, HeaderValue};
use hyper::{Method, Request, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::sync::Semaphore;

use crate::server::Server;
use crate::server::local::LocalClient;

pub const MAX_CONNECTIONS: usize = 64;
/// hyper's smallest read buffer, which bounds a request head.
pub const MAX_HEAD: usize = 8 * 1024;
pub const MAX_BODY: usize = 16 * 1024 * 1024;
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// The key API's in-process client, created on first use.
type ApiClient = Arc<Mutex<Option<LocalClient>>>;

type Response = hyper::Response<Full<Bytes>>;

pub async fn serve(server: Arc<Server>, listener: TcpListener) {
    let slots = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    let api: ApiClient = Arc::new(Mutex::new(None));
    loop {
        let accepted = tokio::select! {
            _ = server.shutdown.cancelled() => return,
            r = listener.accept() => r,
        };
        let Ok((stream, _)) = accepted else {
            tokio::time::sleep(Duration::from_millis(10)).await;
            continue;
        };
        let Ok(permit) = slots.clone().try_acquire_owned() else {
            tracing::warn!("metrics port: too many concurrent requests, closing one");
            continue;
        };
        let server = server.clone();
        let api = api.clone();
        tokio::spawn(async move {
            let _permit = permit;
            let service = hyper::service::service_fn(move |req| {
                let (server, api) = (server.clone(), api.clone());
                async move { Ok::<_, Infallible>(handle(server, api, req).await) }
            });
            // One request per connection, its head within MAX_HEAD and read in time.
            let conn = hyper::server::conn::http1::Builder::new()
                .keep_alive(false)
                .max_buf_size(MAX_HEAD)
                .timer(TokioTimer::new())
                .header_read_timeout(REQUEST_TIMEOUT)
                .serve_connection(TokioIo::new(stream), service);
            let _ = tokio::time::timeout(REQUEST_TIMEOUT, conn).await;
        });
    }
}

fn respond(status: StatusCode, content_type: &'static str, body: impl Into<Bytes>) -> Response {
    let mut r = hyper::Response::new(Full::new(body.into()));
    *r.status_mut() = status;
    r.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    r
}

fn text(status: StatusCode, body: &'static str) -> Response {
    respond(status, "text/plain; charset=utf-8", body)
}

fn json(status: StatusCode, body: serde_json::Value) -> Response {
    let mut body = body.to_string().into_bytes();
    body.push(b'\n');
    respond(status, "application/json", body)
}

fn error(status: StatusCode, message: &str) -> Response {
    json(status, serde_json::json!({ "error": message }))
}

async fn handle(server: Arc<Server>, api: ApiClient, req: Request<Incoming>) -> Response {
    let (method, path) = (req.method().clone(), req.uri().path().to_string());
    let query = req.uri().query().unwrap_or_default().as_bytes().to_vec();
    let token = req
        .headers()
        .get(AUTHORIZATION)
        .and_then(|v| v.as_bytes().strip_prefix(b"Bearer ").or_else(|| v.as_bytes().strip_prefix(b"bearer ")))
        .map(<[u8]>::to_vec);
    let get = method == Method::GET || method == Method::HEAD;
    match (get, method == Method::POST, path.as_str()) {
        (true, _, "/metrics") => {
            let server = server.clone();
            match tokio::task::spawn_blocking(move || super::render(&server)).await {
                Ok(body) => respond(StatusCode::OK, "text/plain; version=0.0.4; charset=utf-8", body),
                Err(_) => text(StatusCode::INTERNAL_SERVER_ERROR, "rendering failed\n"),
            }
        }
        (true, _, "/healthz") => text(StatusCode::OK, "ok\n"),
        (true, _, "/readyz") if server.shutdown.is_cancelled() => {
            text(StatusCode::SERVICE_UNAVAILABLE, "shutting down\n")
        }
        (true, _, "/readyz") if server.cluster.as_ref().is_some_and(|c| !c.is_ok(&c.state())) => {
            text(StatusCode::SERVICE_UNAVAILABLE, "cluster state fail\n")
        }
        (true, _, "/readyz") => text(StatusCode::OK, "ready\n"),
        (true, _, "/") if server.cluster.is_some() => {
            respond(StatusCode::OK, "text/html; charset=utf-8", include_str!("ring.html"))
        }
        (true, _, "/cluster") => match &server.cluster {
            Some(_) => {
                let server = server.clone();
                match tokio::task::spawn_blocking(move || cluster_json(&server)).await {
                    Ok(body) => json(StatusCode::OK, body),
                    Err(_) => text(StatusCode::INTERNAL_SERVER_ERROR, "rendering failed\n"),
                }
            }
            None => text(StatusCode::NOT_FOUND, "cluster mode is off\n"),
        },
        (_, _, "/set" | "/get") if !server.config().http_api => text(StatusCode::NOT_FOUND, "not found\n"),
        (_, true, "/set") => {
            let declared =
                req.headers().get(CONTENT_LENGTH).and_then(|v| v.to_str().ok()?.parse::<usize>().ok());
            if declared.is_some_and(|n| n > MAX_BODY) {
                return error(StatusCode::PAYLOAD_TOO_LARGE, "body too large");
            }
            let body = match Limited::new(req.into_body(), MAX_BODY).collect().await {
                Ok(b) => b.to_bytes(),
                Err(_) => return error(StatusCode::PAYLOAD_TOO_LARGE, "body too large"),
            };
            match set_command(&body) {
                Ok(cmd) => api_call(&server, &api, token, cmd).await,
                Err(why) => error(StatusCode::BAD_REQUEST, why),
            }
        }
        (true, _, "/get") if method == Method::GET => match query_param(&query, b"key") {
            Some(key) => api_call(&server, &api, token, vec![b"GET".to_vec(), key]).await,
            None => error(StatusCode::BAD_REQUEST, "missing query parameter 'key'"),
        },
        (_, _, "/metrics" | "/healthz" | "/readyz" | "/set" | "/get" | "/cluster") => {
            text(StatusCode::METHOD_NOT_ALLOWED, "method not allowed\n")
        }
        _ => text(StatusCode::NOT_FOUND, "not found\n"),
    }
}

/// `{"key": "...", "value": "...", "ttl_ms": n}` → `SET key value [PX n]`.
/// The error is the message of a 400 reply.
fn set_command(body: &[u8]) -> Result<Vec<Vec<u8>>, &'static str> {
    let bad = |m: &'static str| m;
    let v: serde_json::Value = serde_json::from_slice(body).map_err(|_| bad("body is not valid JSON"))?;
    let key = v.get("key").and_then(|k| k.as_str()).ok_or_else(|| bad("'key' must be a string"))?;
    let value = v.get("value").and_then(|k| k.as_str()).ok_or_else(|| bad("'value' must be a string"))?;
    let mut cmd = vec![b"SET".to_vec(), key.as_bytes().to_vec(), value.as_bytes().to_vec()];
    match v.get("ttl_ms") {
        None | Some(serde_json::Value::Null) => {}
        Some(t) => match t.as_u64() {
            Some(ms) if ms > 0 => {
                cmd.push(b"PX".to_vec());
                cmd.push(ms.to_string().into_bytes());
            }
            _ => return Err(bad("'ttl_ms' must be a positive integer")),
        },
    }
    Ok(cmd)
}

/// Runs a command through the in-process client and maps its reply to HTTP.
async fn api_call(
    server: &Arc<Server>,
    api: &ApiClient,
    token: Option<Vec<u8>>,
    cmd: Vec<Vec<u8>>,
) -> Response {
    let server = server.clone();
    let api = api.clone();
    let run = move || {
        let mut guard = api.lock().unwrap_or_else(|p| p.into_inner());
        if guard.is_none() {
            *guard = LocalClient::new(server.clone());
        }
        let Some(client) = guard.as_mut() else {
            return error(StatusCode::SERVICE_UNAVAILABLE, "max number of clients reached");
        };
        client.run(&[b"RESET"]);
        if let Some(token) = &token
            && let Reply::Error(e) = Reply::parse(&client.run(&[b"AUTH", token]))
        {
            return error(StatusCode::UNAUTHORIZED, &e);
        }
        let args: Vec<&[u8]> = cmd.iter().map(|a| a.as_slice()).collect();
        let mut reply = client.run(&args);
        let mut served_by = server.cluster.as_ref().map(|c| c.state().me().id.clone());
        if let (Some(cluster), Reply::Error(e)) = (&server.cluster, Reply::parse(&reply))
            && let Some(owner) = e.strip_prefix("MOVED ").and_then(|r| r.split(' ').nth(1))
        {
            // Another node serves the key: ask it, as a client would after -MOVED.
            reply = match forward(owner, token.as_deref(), &args, cluster.node_timeout()) {
                Ok(r) => r,
                Err(why) => return error(StatusCode::BAD_GATEWAY, &format!("forwarding to {owner}: {why}")),
            };
            let state = cluster.state();
            let owner = crate::cluster::state::parse_addr(owner);
            served_by = state.members.iter().find(|m| Some(m.addr()) == owner).map(|m| m.id.clone());
        }
        let mut response = match Reply::parse(&reply) {
            Reply::Error(e) if e.starts_with("NOAUTH") => error(StatusCode::UNAUTHORIZED, &e),
            Reply::Error(e) => error(StatusCode::BAD_REQUEST, &e),
            Reply::Bulk(None) => error(StatusCode::NOT_FOUND, "no such key"),
            Reply::Bulk(Some(v)) => {
                json(StatusCode::OK, serde_json::json!({ "value": String::from_utf8_lossy(&v) }))
            }
            Reply::Status => json(StatusCode::OK, serde_json::json!({ "ok": true })),
        };
        if let Some(id) = served_by.and_then(|id| HeaderValue::from_str(&id).ok()) {
            response.headers_mut().insert("x-slotcache-node", id);
        }
        response
    };
    tokio::task::spawn_blocking(run)
        .await
        .unwrap_or_else(|_| error(StatusCode::INTERNAL_SERVER_ERROR, "request failed"))
}

/// Sends one command (after `AUTH token` when given) to the node at `addr` over RESP
/// and returns its reply, read whole within `timeout`.
fn forward(addr: &str, token: Option<&[u8]>, args: &[&[u8]], timeout: Duration) -> Result<Vec<u8>, String> {
    use std::io::{Read, Write};
    let addr = crate::cluster::state::parse_addr(addr).ok_or_else(|| "bad address".to_string())?;
    let mut stream = std::net::TcpStream::connect_timeout(&addr, timeout).map_err(|e| e.to_string())?;
    stream.set_read_timeout(Some(timeout)).map_err(|e| e.to_string())?;
    stream.set_write_timeout(Some(timeout)).map_err(|e| e.to_string())?;
    let mut request = Vec::new();
    if let Some(token) = token {
        request.extend(crate::protocol::request::encode(&[b"AUTH", token]));
    }
    request.extend(crate::protocol::request::encode(args));
    stream.write_all(&request).map_err(|e| e.to_string())?;
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let mut skip = token.is_some();
    loop {
        use redis_protocol::resp2::decode::decode;
        match decode(&buf) {
            // AUTH refused: that is the answer.
            Ok(Some((redis_protocol::resp2::types::OwnedFrame::Error(e), _))) if skip => {
                return Ok(format!("-{e}\r\n").into_bytes());
            }
            Ok(Some((_, used))) if skip => {
                buf.drain(..used);
                skip = false;
                continue;
            }
            Ok(Some((_, used))) => return Ok(buf[..used].to_vec()),
            Ok(None) => {}
            Err(e) => return Err(e.to_string()),
        }
        if buf.len() > MAX_BODY + 1024 {
            return Err("reply too large".into());
        }
        let n = stream.read(&mut chunk).map_err(|e| e.to_string())?;
        if n == 0 {
            return Err("connection closed".into());
        }
        buf.extend_from_slice(&chunk[..n]);
    }
}

/// `GET /cluster`: members (address, health, tokens, epoch, slots), and the ranges
/// with their primary, replicas, epoch and, for the ranges this node serves, keys.
fn cluster_json(server: &Server) -> serde_json::Value {
    use crate::cluster::state::Health;
    let Some(cluster) = &server.cluster else { return serde_json::Value::Null };
    let state = cluster.state();
    let health = |h: Health| match h {
        Health::Online => "online",
        Health::Suspect => "fail?",
        Health::Failed => "fail",
    };
    let members: Vec<serde_json::Value> = state
        .members
        .iter()
        .enumerate()
        .map(|(i, m)| {
            let slots = state.slots_of(i as u16);
            serde_json::json!({
                "id": m.id,
                "address": m.addr().to_string(),
                "health": health(m.health),
                "myself": i == state.myself as usize,
                "tokens": m.tokens,
                "epoch": m.epoch,
                "slots": slots,
            })
        })
        .collect();
    let ranges: Vec<serde_json::Value> = state
        .ranges
        .iter()
        .map(|r| {
            let keys = (r.primary == state.myself).then(|| {
                (r.start..=r.end)
                    .map(|slot| {
                        let shard = server.keyspace.lock(slot);
                        shard.dbs[0].slot_len(shard.local(slot))
                    })
                    .sum::<usize>()
            });
            serde_json::json!({
                "start": r.start,
                "end": r.end,
                "primary": state.members[r.primary as usize].id,
                "replicas": r.replicas.iter().map(|&n| state.members[n as usize].id.clone()).collect::<Vec<_>>(),
                "epoch": r.epoch,
                "keys": keys,
            })
        })
        .collect();
    serde_json::json!({
        "myself": state.me().id,
        "state": if cluster.is_ok(&state) { "ok" } else { "fail" },
        "current_epoch": state.current_epoch,
        "members": members,
        "ranges": ranges,
    })
}

/// The replies SET and GET can give, decoded with the `redis-protocol` crate.
enum Reply {
    Status,
    Error(String),
    Bulk(Option<Vec<u8>>),
}

impl Reply {
    fn parse(reply: &[u8]) -> Reply {
        use redis_protocol::resp2::{decode::decode, types::OwnedFrame};
        match decode(reply) {
            Ok(Some((OwnedFrame::Error(e), _))) => Reply::Error(e),
            Ok(Some((OwnedFrame::BulkString(v), _))) => Reply::Bulk(Some(v)),
            Ok(Some((OwnedFrame::Null, _))) => Reply::Bulk(None),
            Ok(Some(_)) => Reply::Status,
            Ok(None) | Err(_) => Reply::Error("ERR incomplete reply".into()),
        }
    }
}

/// The percent-decoded value of `name` in a query string (`+` is a space).
fn query_param(query: &[u8], name: &[u8]) -> Option<Vec<u8>> {
    let decode = |s: &[u8]| -> Vec<u8> {
        let spaced: Vec<u8> = s.iter().map(|&c| if c == b'+' { b' ' } else { c }).collect();
        percent_encoding::percent_decode(&spaced).collect()
    };
    query.split(|&c| c == b'&').find_map(|pair| {
        let (k, v) = match pair.iter().position(|&c| c == b'=') {
            Some(i) => (&pair[..i], &pair[i + 1..]),
            None => (pair, &pair[pair.len()..]),
        };
        (decode(k) == name).then(|| decode(v))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_decoding() {
        assert_eq!(query_param(b"key=a%20b+c&x=1", b"key"), Some(b"a b c".to_vec()));
        assert_eq!(query_param(b"x=1", b"key"), None);
        assert_eq!(query_param(b"key=%zz%41", b"key"), Some(b"%zzA".to_vec()));
        assert_eq!(query_param(b"key=100%", b"key"), Some(b"100%".to_vec()));
    }

    #[test]
    fn reply_parsing() {
        assert!(matches!(Reply::parse(b"+OK\r\n"), Reply::Status));
        assert!(matches!(Reply::parse(b"$-1\r\n"), Reply::Bulk(None)));
        assert!(matches!(Reply::parse(b"$3\r\nabc\r\n"), Reply::Bulk(Some(v)) if v == b"abc"));
        assert!(matches!(Reply::parse(b"-ERR x\r\n"), Reply::Error(e) if e == "ERR x"));
    }
}
