//! CLIENT PAUSE: holding client commands for a while, with Redis 7.0's semantics.
//!
//! `ALL` holds every command of every client; `WRITE` holds commands that write (and
//! EXEC of a transaction that queued one), letting reads through. A held command gets
//! no reply yet: dispatch marks the session postponed, the connection waits on
//! [`Pause::released`], then runs the command again. Pauses combine as Redis's do (the
//! stricter kind, the later end). The pause ends at CLIENT UNPAUSE or when the cron sees
//! its end time pass (within one cron tick), and held clients then run in the order they
//! were held: each takes a ticket when held and waits for its turn after release. While
//! a pause is on no key expires: the cron skips active expiry, and an expired key reads
//! as missing but stays in place ([`crate::storage::Keyspace::hold_expiry`]).

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};

use tokio::sync::Notify;

/// What a pause holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum PauseKind {
    Write,
    All,
}

#[derive(Default)]
pub struct Pause {
    /// The pause in force: its kind and end (Unix ms).
    state: Mutex<Option<(PauseKind, u64)>>,
    /// Whether a pause is in force: the one load dispatch pays when there is none.
    active: AtomicBool,
    /// Tickets handed to held commands, and the next ticket allowed to run.
    issued: AtomicU64,
    next: AtomicU64,
    /// Rung at release and after each released command runs.
    turn: Notify,
}

impl Pause {
    /// Pauses until `end_ms`, combined with a pause already in force.
    pub fn pause(&self, kind: PauseKind, end_ms: u64) {
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        let next = match *state {
            Some((k, e)) => (k.max(kind), e.max(end_ms)),
            None => (kind, end_ms),
        };
        *state = Some(next);
        self.active.store(true, Relaxed);
        tracing::info!("clients paused: {:?} until {} ms", next.0, next.1);
    }

    /// Ends the pause (CLIENT UNPAUSE, or its end time passed): held clients run.
    /// Returns whether a pause was in force.
    pub fn unpause(&self) -> bool {
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        if state.take().is_none() {
            return false;
        }
        self.active.store(false, Relaxed);
        tracing::info!("clients unpaused");
        self.turn.notify_waiters();
        true
    }

    /// Whether the pause in force has reached its end time (the cron then ends it).
    pub fn due(&self, now_ms: u64) -> bool {
        self.state.lock().unwrap_or_else(|p| p.into_inner()).is_some_and(|(_, end)| end <= now_ms)
    }

    /// Whether a pause is in force now.
    pub fn paused(&self) -> bool {
        self.active.load(Relaxed)
    }

    /// Whether a command that `writes` must be held now.
    pub fn holds(&self, writes: bool) -> bool {
        if !self.active.load(Relaxed) {
            return false;
        }
        match *self.state.lock().unwrap_or_else(|p| p.into_inner()) {
            Some((PauseKind::All, _)) => true,
            Some((PauseKind::Write, _)) => writes,
            None => false,
        }
    }

    /// A ticket for a command being held: its place in line at release.
    pub fn ticket(&self) -> u64 {
        self.issued.fetch_add(1, Relaxed)
    }

    /// `ticket`'s place in line, given up when the guard drops: after its command ran,
    /// or when the client went away while waiting. Taken before waiting, so no exit path
    /// can stall the clients behind it.
    pub fn hold(&self, ticket: u64) -> Held<'_> {
        Held { pause: self, ticket }
    }

    /// Resolves when the pause has ended and it is `ticket`'s turn to run.
    pub async fn released(&self, ticket: u64) {
        loop {
            let turn = self.turn.notified();
            tokio::pin!(turn);
            // Registered before looking, so a release in between is not missed.
            turn.as_mut().enable();
            if !self.active.load(Relaxed) && self.next.load(Relaxed) >= ticket {
                return;
            }
            turn.await;
        }
    }

    /// The held command with `ticket` ran (or its client went away): the next one may.
    fn done(&self, ticket: u64) {
        self.next.fetch_max(ticket + 1, Relaxed);
        self.turn.notify_waiters();
    }
}

/// A held command's place in line; see [`Pause::hold`].
pub struct Held<'a> {
    pause: &'a Pause,
    ticket: u64,
}

impl Drop for Held<'_> {
    fn drop(&mut self) {
        self.pause.done(self.ticket);
    }
}
