//! Per-connection state that commands read and change.

use std::sync::Arc;
use std::time::Instant;

use super::clients::ClientInfo;
use super::monitor::MonitorFeed;

pub struct Session {
    pub db: usize,
    pub authenticated: bool,
    /// CLIENT REPLY OFF is in effect.
    pub reply_off: bool,
    /// CLIENT REPLY SKIP: drop the next command's reply.
    pub skip_next: bool,
    /// Drop the reply of the command now running (CLIENT REPLY OFF/SKIP themselves).
    pub suppress_current: bool,
    /// Close the connection once the current reply is written (QUIT).
    pub close_after_reply: bool,
    pub info: Arc<ClientInfo>,
    /// When the last command finished (or the current batch started): the start time
    /// of the next command, for commandstats and the slowlog.
    pub mark: Instant,
    /// Set once the client ran MONITOR: the lines to stream to it.
    pub monitor: Option<MonitorFeed>,
}

impl Session {
    pub fn new(info: Arc<ClientInfo>, needs_auth: bool) -> Session {
        Session {
            db: 0,
            authenticated: !needs_auth,
            reply_off: false,
            skip_next: false,
            suppress_current: false,
            close_after_reply: false,
            info,
            mark: Instant::now(),
            monitor: None,
        }
    }

    pub fn select(&mut self, db: usize) {
        self.db = db;
        self.info.set_db(db);
    }
}
