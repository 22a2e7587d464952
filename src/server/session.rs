//! Per-connection state that commands read and change.

use std::sync::Arc;
use std::time::Instant;

use super::blocking::Blocked;
use super::clients::ClientInfo;
use super::feed::{Feed, FeedTx, feed};
use super::pubsub::Subscriptions;
use super::watch::Watched;

pub struct Session {
    pub db: usize,
    pub authenticated: bool,
    /// CLIENT REPLY OFF is in effect.
    pub reply_off: bool,
    /// CLIENT REPLY SKIP: drop the next command's reply.
    pub skip_next: bool,
    /// Drop the reply of the command now running (CLIENT REPLY OFF/SKIP themselves, and
    /// the command after a SKIP). CLIENT REPLY ON clears it, so its `+OK` arrives.
    pub suppress_current: bool,
    /// The command now running replied with pub/sub pushes (subscribe and unsubscribe
    /// confirmations), which Redis 7.0 delivers whatever the CLIENT REPLY mode.
    pub replied_push: bool,
    /// Close the connection once the current reply is written (QUIT).
    pub close_after_reply: bool,
    pub info: Arc<ClientInfo>,
    /// When the last command finished (or the current batch started): the start time
    /// of the next command, for commandstats and the slowlog.
    pub mark: Instant,
    /// Output other connections push to this one (MONITOR lines, pub/sub messages),
    /// created on first use; the connection loop writes it out.
    pub pushed: Option<Feed>,
    pushed_tx: Option<FeedTx>,
    /// Channels and patterns subscribed to, once the client subscribed.
    pub pubsub: Option<Subscriptions>,
    /// Commands queued since MULTI.
    pub multi: Option<Multi>,
    /// Keys under WATCH.
    pub watched: Watched,
    /// EXEC is running the queued commands: blocking commands must not block.
    pub in_exec: bool,
    /// Set by a blocking command that found nothing: the connection waits, then runs
    /// the command again.
    pub blocked: Option<BlockState>,
    /// The waiter of a blocked command being run again, so it keeps its place in line.
    pub resume: Option<Blocked>,
    /// CLIENT PAUSE held the command just dispatched: its ticket in the line of held
    /// commands. The connection waits for its turn and runs it again.
    pub postponed: Option<u64>,
    /// A background save is writing, a part at a time, a large value the command just
    /// dispatched is about to touch: the connection lets others run, then runs the
    /// command again.
    pub save_ahead: bool,
    /// What the running command sends replicas instead of itself
    /// ([`crate::command::Ctx::replicate_as`]).
    pub effects: Option<Vec<Vec<bytes::Bytes>>>,
    /// Effects of the commands EXEC runs, sent as one MULTI ... EXEC: (database, command).
    pub exec_effects: Vec<(usize, Vec<bytes::Bytes>)>,
    /// The replication offset after this client's last write (WAIT waits for it).
    pub woff: u64,
    /// WAIT: (replicas, offset, deadline) while it waits for acknowledgements.
    pub wait_acks: Option<(usize, u64, std::time::Instant)>,
    /// This connection is the link from this replica's primary: its writes apply
    /// though the server is read only.
    pub master: bool,
    /// READONLY (cluster mode): reads of slots this node keeps copies of are served.
    pub readonly: bool,
    /// A cluster node's replica link: the slots it copies (REPLCONF cluster-slots).
    pub replica_slots: Option<Vec<bool>>,
    /// In cluster mode, the slot of this client's last write (WAIT counts its replicas).
    pub wslot: Option<u16>,
    /// In cluster mode, the link to a primary whose stream this client applies: that
    /// primary and the slots it applies to.
    pub master_scope: Option<std::sync::Arc<crate::cluster::replication::LinkScope>>,
    /// This connection is a replica's link (after PSYNC/SYNC): REPLCONF ACK counts.
    pub replica: bool,
    /// REPLCONF listening-port: where this replica link's server listens.
    pub replica_port: u16,
    /// The master link got REPLCONF GETACK: an acknowledgement goes out after the batch.
    pub getack: bool,
    /// CLIENT TRACKING's options while it is on (the registry holds them too).
    pub tracking: Option<super::tracking::Mode>,
    /// A cluster peer's link: the peer's announced address, once it presented itself
    /// (`crate::cluster::peer`).
    pub peer: Option<String>,
    /// CLIENT CACHING YES|NO, for the next command only.
    pub caching: Option<bool>,
}

/// A blocked command's registration and what it answers when the wait times out.
pub struct BlockState {
    pub blocked: Blocked,
    pub on_timeout: TimeoutReply,
}

/// The reply of a blocking command that timed out.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum TimeoutReply {
    /// BLPOP, BRPOP, BLMPOP, BZPOPMIN, BZPOPMAX, BZMPOP.
    NullArray,
    /// BLMOVE, BRPOPLPUSH.
    Null,
}

/// A transaction being queued.
#[derive(Default)]
pub struct Multi {
    pub queue: Vec<Vec<bytes::Bytes>>,
    /// Bytes of queued arguments (bounded by `client-query-buffer-limit`).
    pub bytes: usize,
    /// A command was refused while queuing: EXEC will answer EXECABORT.
    pub aborted: bool,
    /// Some queued command may grow memory (EXEC then checks maxmemory).
    pub denyoom: bool,
    /// Some queued command writes (CLIENT PAUSE WRITE holds EXEC then).
    pub writes: bool,
}

impl Session {
    pub fn new(info: Arc<ClientInfo>, needs_auth: bool) -> Session {
        Session {
            db: 0,
            authenticated: !needs_auth,
            reply_off: false,
            skip_next: false,
            suppress_current: false,
            replied_push: false,
            close_after_reply: false,
            info,
            mark: Instant::now(),
            pushed: None,
            pushed_tx: None,
            pubsub: None,
            multi: None,
            watched: Watched::default(),
            in_exec: false,
            blocked: None,
            resume: None,
            postponed: None,
            save_ahead: false,
            effects: None,
            exec_effects: Vec::new(),
            woff: 0,
            wait_acks: None,
            master: false,
            master_scope: None,
            readonly: false,
            replica_slots: None,
            wslot: None,
            replica: false,
            replica_port: 0,
            getack: false,
            tracking: None,
            peer: None,
            caching: None,
        }
    }

    /// The sending end of this connection's pushed output.
    pub fn push_tx(&mut self) -> FeedTx {
        if let Some(tx) = &self.pushed_tx {
            return tx.clone();
        }
        let (tx, rx) = feed();
        self.pushed = Some(rx);
        self.pushed_tx = Some(tx.clone());
        tx
    }

    /// The connection's subscriptions, created on first use.
    pub fn subscriptions(&mut self) -> &mut Subscriptions {
        let tx = self.push_tx();
        let info = self.info.clone();
        self.pubsub.get_or_insert_with(|| Subscriptions::new(tx, info))
    }

    /// Leaves MULTI and forgets watched keys (EXEC, DISCARD, RESET, disconnect).
    pub fn end_transaction(&mut self, watches: &super::watch::Watches) {
        self.multi = None;
        self.info.multi.store(-1, std::sync::atomic::Ordering::Relaxed);
        self.watched.clear(watches);
    }

    /// Gives up what the connection holds in server-wide registries (MONITOR,
    /// subscriptions, watched keys) and leaves MULTI: RESET and disconnect.
    pub fn release(&mut self, server: &super::Server) {
        server.monitors.unsubscribe(self.info.id);
        self.info.monitor.store(false, std::sync::atomic::Ordering::Relaxed);
        if let Some(subs) = self.pubsub.as_mut() {
            subs.clear(&server.pubsub);
        }
        self.end_transaction(&server.watches);
        self.blocked = None;
        self.resume = None;
        self.stop_tracking(server);
        if self.replica {
            server.replication.drop_link(self.info.id);
        }
    }

    /// CLIENT TRACKING OFF (also RESET and disconnect).
    pub fn stop_tracking(&mut self, server: &super::Server) {
        if self.tracking.take().is_some() {
            server.tracking.disable(self.info.id);
        }
        self.info.tracking_redir.store(-1, std::sync::atomic::Ordering::Relaxed);
    }

    /// In RESP2 subscribed mode: only (un)subscribe commands, PING, QUIT and RESET run.
    pub fn subscribed(&self) -> bool {
        self.pubsub.as_ref().is_some_and(|p| p.total() > 0)
    }

    pub fn select(&mut self, db: usize) {
        self.db = db;
        self.info.set_db(db);
    }
}
