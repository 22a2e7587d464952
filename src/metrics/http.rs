//! The side HTTP port: `GET /metrics`, `GET /healthz`, `GET /readyz`, and (with
//! `http-api yes`) the JSON key API `POST /set` and `GET /get?key=...`.
//!
//! Bounds: at most [`MAX_CONNECTIONS`] requests at once (further connections are
//! closed), request heads of at most [`MAX_HEAD`] bytes, bodies of at most
//! [`MAX_BODY`] bytes, [`REQUEST_TIMEOUT`] per request. Rendering and key API calls run
//! on the blocking pool so they never delay accepting clients.
//!
//! Key API calls go through the real command path: one in-process client
//! ([`LocalClient`]) executes `RESET`, then `AUTH <bearer token>` when one is given,
//! then the `SET` or `GET`, so passwords are checked exactly as for RESP clients and
//! no authentication carries over from one request to the next.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;

use crate::server::Server;
use crate::server::local::LocalClient;

pub const MAX_CONNECTIONS: usize = 64;
pub const MAX_HEAD: usize = 8 * 1024;
pub const MAX_BODY: usize = 16 * 1024 * 1024;
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// The key API's in-process client, created on first use.
type ApiClient = Arc<Mutex<Option<LocalClient>>>;

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
            let _ = tokio::time::timeout(REQUEST_TIMEOUT, handle(server, api, stream)).await;
        });
    }
}

struct Response {
    status: &'static str,
    content_type: &'static str,
    body: Vec<u8>,
}

impl Response {
    fn text(status: &'static str, body: &str) -> Response {
        Response { status, content_type: "text/plain; charset=utf-8", body: body.as_bytes().to_vec() }
    }

    fn json(status: &'static str, body: serde_json::Value) -> Response {
        let mut body = body.to_string().into_bytes();
        body.push(b'\n');
        Response { status, content_type: "application/json", body }
    }

    fn error(status: &'static str, message: &str) -> Response {
        Response::json(status, serde_json::json!({ "error": message }))
    }
}

/// A parsed request.
struct Request<'a> {
    method: &'a [u8],
    path: &'a [u8],
    query: &'a [u8],
    headers: Vec<(&'a [u8], &'a [u8])>,
    body: &'a [u8],
}

impl Request<'_> {
    fn header(&self, name: &str) -> Option<&[u8]> {
        self.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name.as_bytes())).map(|(_, v)| *v)
    }

    fn bearer_token(&self) -> Option<Vec<u8>> {
        let v = self.header("authorization")?;
        let token = v.strip_prefix(b"Bearer ").or_else(|| v.strip_prefix(b"bearer "))?;
        Some(token.to_vec())
    }
}

fn parse_head(head: &[u8]) -> Request<'_> {
    let mut lines = head.split(|&c| c == b'\n').map(|l| l.strip_suffix(b"\r").unwrap_or(l));
    let first = lines.next().unwrap_or_default();
    let mut parts = first.split(|&c| c == b' ');
    let method = parts.next().unwrap_or_default();
    let target = parts.next().unwrap_or_default();
    let (path, query) = match target.iter().position(|&c| c == b'?') {
        Some(i) => (&target[..i], &target[i + 1..]),
        None => (target, &target[target.len()..]),
    };
    let headers = lines
        .take_while(|l| !l.is_empty())
        .filter_map(|l| {
            let i = l.iter().position(|&c| c == b':')?;
            Some((&l[..i], l[i + 1..].trim_ascii()))
        })
        .collect();
    Request { method, path, query, headers, body: &[] }
}

async fn handle(server: Arc<Server>, api: ApiClient, mut stream: TcpStream) -> std::io::Result<()> {
    let mut buf = Vec::with_capacity(1024);
    let response = loop {
        if stream.read_buf(&mut buf).await? == 0 {
            return Ok(());
        }
        let end = buf.windows(4).position(|w| w == b"\r\n\r\n");
        if end.unwrap_or(buf.len()) > MAX_HEAD {
            break Response::text("431 Request Header Fields Too Large", "request head too large\n");
        }
        let Some(end) = end else { continue };
        let body_len = {
            let req = parse_head(&buf[..end + 2]);
            match req
                .header("content-length")
                .map(|v| std::str::from_utf8(v).ok().and_then(|v| v.parse().ok()))
            {
                None => 0,
                Some(Some(n)) if n <= MAX_BODY => n,
                Some(Some(_)) => break Response::error("413 Payload Too Large", "body too large"),
                Some(None) => break Response::error("400 Bad Request", "invalid Content-Length"),
            }
        };
        while buf.len() < end + 4 + body_len {
            if stream.read_buf(&mut buf).await? == 0 {
                return Ok(());
            }
        }
        let mut req = parse_head(&buf[..end + 2]);
        req.body = &buf[end + 4..end + 4 + body_len];
        break route(&server, &api, &req).await;
    };
    let mut out = format!(
        "HTTP/1.1 {}\r\nContent-Type: {}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        response.status,
        response.content_type,
        response.body.len()
    )
    .into_bytes();
    out.extend_from_slice(&response.body);
    stream.write_all(&out).await?;
    stream.shutdown().await
}

async fn route(server: &Arc<Server>, api: &ApiClient, req: &Request<'_>) -> Response {
    match (req.method, req.path) {
        (b"GET" | b"HEAD", b"/metrics") => {
            let server = server.clone();
            match tokio::task::spawn_blocking(move || super::render(&server)).await {
                Ok(body) => Response {
                    status: "200 OK",
                    content_type: "text/plain; version=0.0.4; charset=utf-8",
                    body: body.into_bytes(),
                },
                Err(_) => Response::text("500 Internal Server Error", "rendering failed\n"),
            }
        }
        (b"GET" | b"HEAD", b"/healthz") => Response::text("200 OK", "ok\n"),
        (b"GET" | b"HEAD", b"/readyz") if server.shutdown.is_cancelled() => {
            Response::text("503 Service Unavailable", "shutting down\n")
        }
        (b"GET" | b"HEAD", b"/readyz") => Response::text("200 OK", "ready\n"),
        (_, b"/set" | b"/get") if !server.config().http_api => Response::text("404 Not Found", "not found\n"),
        (b"POST", b"/set") => match set_command(req.body) {
            Ok(cmd) => api_call(server, api, req.bearer_token(), cmd).await,
            Err(r) => r,
        },
        (b"GET", b"/get") => match query_param(req.query, b"key") {
            Some(key) => api_call(server, api, req.bearer_token(), vec![b"GET".to_vec(), key]).await,
            None => Response::error("400 Bad Request", "missing query parameter 'key'"),
        },
        (_, b"/metrics" | b"/healthz" | b"/readyz" | b"/set" | b"/get") => {
            Response::text("405 Method Not Allowed", "method not allowed\n")
        }
        _ => Response::text("404 Not Found", "not found\n"),
    }
}

/// `{"key": "...", "value": "...", "ttl_ms": n}` → `SET key value [PX n]`.
fn set_command(body: &[u8]) -> Result<Vec<Vec<u8>>, Response> {
    let bad = |m: &str| Response::error("400 Bad Request", m);
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
            *guard = LocalClient::new(server);
        }
        let Some(client) = guard.as_mut() else {
            return Response::error("503 Service Unavailable", "max number of clients reached");
        };
        client.run(&[b"RESET"]);
        if let Some(token) = token
            && let RespReply::Error(e) = RespReply::parse(&client.run(&[b"AUTH", &token]))
        {
            return Response::error("401 Unauthorized", &e);
        }
        let args: Vec<&[u8]> = cmd.iter().map(|a| a.as_slice()).collect();
        match RespReply::parse(&client.run(&args)) {
            RespReply::Error(e) if e.starts_with("NOAUTH") => Response::error("401 Unauthorized", &e),
            RespReply::Error(e) => Response::error("400 Bad Request", &e),
            RespReply::Bulk(None) => Response::error("404 Not Found", "no such key"),
            RespReply::Bulk(Some(v)) => {
                Response::json("200 OK", serde_json::json!({ "value": String::from_utf8_lossy(&v) }))
            }
            RespReply::Status => Response::json("200 OK", serde_json::json!({ "ok": true })),
        }
    };
    tokio::task::spawn_blocking(run)
        .await
        .unwrap_or_else(|_| Response::error("500 Internal Server Error", "request failed"))
}

/// The replies SET and GET can give.
enum RespReply {
    Status,
    Error(String),
    Bulk(Option<Vec<u8>>),
}

impl RespReply {
    fn parse(reply: &[u8]) -> RespReply {
        let line_end = reply.iter().position(|&c| c == b'\r').unwrap_or(reply.len());
        let line = String::from_utf8_lossy(&reply[1.min(reply.len())..line_end]).into_owned();
        match reply.first() {
            Some(b'-') => RespReply::Error(line),
            Some(b'$') if line == "-1" => RespReply::Bulk(None),
            Some(b'$') => {
                let len: usize = line.parse().unwrap_or(0);
                let start = line_end + 2;
                RespReply::Bulk(Some(reply.get(start..start + len).unwrap_or_default().to_vec()))
            }
            _ => RespReply::Status,
        }
    }
}

/// The percent-decoded value of `name` in a query string.
fn query_param(query: &[u8], name: &[u8]) -> Option<Vec<u8>> {
    query.split(|&c| c == b'&').find_map(|pair| {
        let (k, v) = match pair.iter().position(|&c| c == b'=') {
            Some(i) => (&pair[..i], &pair[i + 1..]),
            None => (pair, &pair[pair.len()..]),
        };
        (percent_decode(k) == name).then(|| percent_decode(v))
    })
}

fn percent_decode(s: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(s.len());
    let mut i = 0;
    while i < s.len() {
        match s[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < s.len() => {
                let hex = |c: u8| (c as char).to_digit(16);
                match (hex(s[i + 1]), hex(s[i + 2])) {
                    (Some(h), Some(l)) => {
                        out.push((h * 16 + l) as u8);
                        i += 2;
                    }
                    _ => out.push(b'%'),
                }
            }
            c => out.push(c),
        }
        i += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_decoding() {
        assert_eq!(query_param(b"key=a%20b+c&x=1", b"key"), Some(b"a b c".to_vec()));
        assert_eq!(query_param(b"x=1", b"key"), None);
        assert_eq!(percent_decode(b"%zz%41"), b"%zzA");
        assert_eq!(percent_decode(b"100%"), b"100%");
    }

    #[test]
    fn reply_parsing() {
        assert!(matches!(RespReply::parse(b"+OK\r\n"), RespReply::Status));
        assert!(matches!(RespReply::parse(b"$-1\r\n"), RespReply::Bulk(None)));
        assert!(matches!(RespReply::parse(b"$3\r\nabc\r\n"), RespReply::Bulk(Some(v)) if v == b"abc"));
        assert!(matches!(RespReply::parse(b"-ERR x\r\n"), RespReply::Error(e) if e == "ERR x"));
    }
}
