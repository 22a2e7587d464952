//! Output pushed to a connection by other connections (MONITOR lines, pub/sub
//! messages): a queue of encoded frames per receiving connection, with the bytes queued
//! but not yet taken counted, so senders can bound how far a receiver falls behind.
//!
//! Senders never wait: a receiver past its limit is disconnected by the sender's caller,
//! as Redis does when a client passes its output buffer limit.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};

use bytes::Bytes;
use tokio::sync::mpsc::{UnboundedReceiver, UnboundedSender, unbounded_channel};

use crate::protocol::Reply;

/// The sending half; cheap to clone.
#[derive(Clone)]
pub struct FeedTx {
    tx: UnboundedSender<Bytes>,
    pending: Arc<AtomicUsize>,
}

/// The receiving half, held by the connection it writes to.
pub struct Feed {
    rx: UnboundedReceiver<Bytes>,
    pending: Arc<AtomicUsize>,
}

pub fn feed() -> (FeedTx, Feed) {
    let (tx, rx) = unbounded_channel();
    let pending = Arc::new(AtomicUsize::new(0));
    (FeedTx { tx, pending: pending.clone() }, Feed { rx, pending })
}

impl FeedTx {
    /// Bytes queued and not yet taken by the receiver.
    pub fn pending(&self) -> usize {
        self.pending.load(Relaxed)
    }

    /// Whether the receiver is gone.
    pub fn is_closed(&self) -> bool {
        self.tx.is_closed()
    }

    /// Queues one frame; false when the receiver is gone.
    pub fn send(&self, frame: Bytes) -> bool {
        self.pending.fetch_add(frame.len(), Relaxed);
        self.tx.send(frame).is_ok()
    }
}

impl Feed {
    /// Waits for the next frame, then takes every frame already queued (one write for
    /// the lot). Frames that are RESP2 arrays (`*`) go out as RESP3 pushes (`>`) on a
    /// RESP3 connection. False once every sender is gone.
    pub async fn next_batch(&mut self, out: &mut Reply) -> bool {
        let Some(frame) = self.rx.recv().await else { return false };
        let mut taken = frame.len();
        put(out, &frame);
        while let Ok(frame) = self.rx.try_recv() {
            taken += frame.len();
            put(out, &frame);
        }
        self.pending.fetch_sub(taken, Relaxed);
        true
    }
}

fn put(out: &mut Reply, frame: &[u8]) {
    match frame.split_first() {
        Some((b'*', rest)) if out.resp3 => {
            out.buf.push(b'>');
            out.buf.extend_from_slice(rest);
        }
        _ => out.buf.extend_from_slice(frame),
    }
}

/// Waits on an optional feed; never completes without one.
pub async fn next_batch(feed: Option<&mut Feed>, out: &mut Reply) -> bool {
    match feed {
        Some(f) => f.next_batch(out).await,
        None => std::future::pending().await,
    }
}
