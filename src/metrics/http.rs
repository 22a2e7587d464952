//! The side HTTP port: `GET /metrics`, `GET /healthz`, `GET /readyz`.
//!
//! Bounds: at most [`MAX_CONNECTIONS`] requests at once (further connections are
//! closed), request heads of at most [`MAX_HEAD`] bytes, [`REQUEST_TIMEOUT`] per
//! request. Rendering runs on the blocking pool so a scrape never delays accepting
//! clients.

use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;

use crate::server::Server;

pub const MAX_CONNECTIONS: usize = 64;
pub const MAX_HEAD: usize = 8 * 1024;
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

pub async fn serve(server: Arc<Server>, listener: TcpListener) {
    let slots = Arc::new(Semaphore::new(MAX_CONNECTIONS));
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
        tokio::spawn(async move {
            let _permit = permit;
            let _ = tokio::time::timeout(REQUEST_TIMEOUT, handle(server, stream)).await;
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
}

async fn handle(server: Arc<Server>, mut stream: TcpStream) -> std::io::Result<()> {
    let mut head = Vec::with_capacity(1024);
    let response = loop {
        if stream.read_buf(&mut head).await? == 0 {
            return Ok(());
        }
        let end = head.windows(4).position(|w| w == b"\r\n\r\n");
        if end.unwrap_or(head.len()) > MAX_HEAD {
            break Response::text("431 Request Header Fields Too Large", "request head too large\n");
        }
        if end.is_some() {
            break route(&server, &head).await;
        }
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

async fn route(server: &Arc<Server>, head: &[u8]) -> Response {
    let line = head.split(|&c| c == b'\r').next().unwrap_or_default();
    let mut parts = line.split(|&c| c == b' ');
    let (method, target) = (parts.next().unwrap_or_default(), parts.next().unwrap_or_default());
    let path = target.split(|&c| c == b'?').next().unwrap_or_default();
    if method != b"GET" && method != b"HEAD" {
        return Response::text("405 Method Not Allowed", "method not allowed\n");
    }
    match path {
        b"/metrics" => {
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
        b"/healthz" => Response::text("200 OK", "ok\n"),
        b"/readyz" if server.shutdown.is_cancelled() => {
            Response::text("503 Service Unavailable", "shutting down\n")
        }
        b"/readyz" => Response::text("200 OK", "ready\n"),
        _ => Response::text("404 Not Found", "not found\n"),
    }
}
