//! Handing this node's ranges over before it stops (SHUTDOWN, SIGTERM), so that a
//! rolling restart loses nothing and clients see only redirections:
//!
//! 1. writes are held (as CLIENT PAUSE WRITE holds them), reads go on;
//! 2. the first replica of each range this node serves — the one that takes it over —
//!    acknowledges every write this node made, within `shutdown-timeout`;
//! 3. the node says it is not ready ([`super::Inbound::StepDown`], a new epoch): the
//!    replicas holding its arcs take them over at once, as after a failure but with
//!    nothing missing;
//! 4. the held writes run again and get `-MOVED` to the new owners; then the server
//!    stops.
//!
//! Past `shutdown-timeout` without the acknowledgements it steps down anyway, as Redis
//! shuts down when its replicas do not catch up in time.

use std::sync::Arc;
use std::time::{Duration, Instant};

use super::Inbound;
use crate::server::Server;
use crate::server::pause::PauseKind;

/// How long the held writes get to run and be redirected before the server stops.
const REDIRECT_GRACE: Duration = Duration::from_millis(200);

/// Hands the ranges over (module doc), then stops the server, on a thread of its own:
/// the caller (a command, the signal task) must not wait for the replicas.
pub fn hand_over_then_stop(server: Arc<Server>) {
    let spawned = std::thread::Builder::new().name("slotcache-handover".into()).spawn({
        let server = server.clone();
        move || {
            hand_over(&server);
            server.shutdown.cancel();
        }
    });
    if let Err(e) = spawned {
        tracing::warn!("cannot hand the ranges over: {e}");
        server.shutdown.cancel();
    }
}

fn hand_over(server: &Server) {
    let Some(cluster) = &server.cluster else { return };
    let timeout = server
        .config()
        .get("shutdown-timeout")
        .and_then(|v| v.parse::<u64>().ok())
        .map_or(Duration::from_secs(10), Duration::from_secs);
    let deadline = Instant::now() + timeout;
    let state = cluster.state();
    let serving = state.slots_of(state.myself);
    if serving == 0 {
        return;
    }
    // Held writes run again if this thread never gets to release them.
    let end = Duration::from_millis(crate::storage::clock::now_ms()) + timeout + REDIRECT_GRACE * 5;
    server.pause_clients(PauseKind::Write, end.as_millis() as u64);
    let offset = server.replication.stream().offset;
    server.replication.ask_acks();
    server.replication.flush();
    let acknowledged = || {
        let state = cluster.state();
        state
            .ranges_of(state.myself)
            .filter(|r| !r.replicas.is_empty())
            .all(|r| server.acked_for(offset, Some(r.start)) >= 1)
    };
    let mut asked = Instant::now();
    while !acknowledged() && Instant::now() < deadline {
        if asked.elapsed() >= Duration::from_millis(100) {
            server.replication.ask_acks();
            server.replication.flush();
            asked = Instant::now();
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    if acknowledged() {
        tracing::info!(
            "Cluster: the replicas hold every write up to offset {offset}; handing {serving} slots over"
        );
    } else {
        tracing::warn!(
            "Cluster: some replica did not acknowledge offset {offset} within {timeout:?}; handing {serving} slots over anyway"
        );
    }
    if cluster.deliver(Inbound::StepDown) {
        let stepped = Instant::now() + cluster.node_timeout();
        while cluster.state().slots_of(state.myself) > 0 && Instant::now() < stepped {
            std::thread::sleep(Duration::from_millis(5));
        }
        // The new owners hear of it from the announcement sent with the step down.
        std::thread::sleep(REDIRECT_GRACE);
    }
    server.unpause_clients();
    std::thread::sleep(REDIRECT_GRACE);
}
