//! The cluster state: one immutable value that dispatch and every CLUSTER reply read.
//!
//! It holds the members (sorted by node id, so every node numbers them alike), the
//! ring their tokens make, and what follows from it: which node serves each slot, as
//! per-range ownership with epochs (`cluster-replicas` will add each range's replicas,
//! the next distinct nodes clockwise; the rebalancing issue will hand ranges over one
//! at a time, so ownership is kept apart from the ring's answer even though, for now,
//! it is that answer). A member that has failed holds no slots: its arcs go to the next
//! token clockwise. States are built whole by [`ClusterState::build`] and published by
//! swapping an `Arc` ([`super::Cluster`]); nothing mutates one after it is built, so
//! nodes that know the same members print the same map, byte for byte.

use std::net::SocketAddr;

use super::ring::{NodeIndex, Ring, SlotRange};
use super::slot::SLOTS;

/// No node serves the slot.
const UNSERVED: NodeIndex = NodeIndex::MAX;

/// How a member looks from this node.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Health {
    Online,
    /// Not answering probes (`fail?` in CLUSTER NODES).
    Suspect,
    /// Declared failed by the cluster (`fail`): owns nothing until it rejoins.
    Failed,
}

/// One member of the cluster.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Node {
    /// 40 lowercase hex characters.
    pub id: String,
    pub ip: String,
    pub port: u16,
    /// Ring positions, empty until the node has been placed.
    pub tokens: Vec<u16>,
    /// The node's configuration epoch: it grows whenever the node's claim changes
    /// (placement, rejoin).
    pub epoch: u64,
    pub health: Health,
    /// Unix ms of the probe in flight, 0 if none (CLUSTER NODES `ping-sent`).
    pub ping_sent_ms: u64,
    /// Unix ms this node last heard from it (CLUSTER NODES `pong-recv`).
    pub pong_recv_ms: u64,
}

impl Node {
    /// Its client address (the IP as announced; loopback if that does not parse).
    pub fn addr(&self) -> SocketAddr {
        let ip = self.ip.parse().unwrap_or(std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST));
        SocketAddr::new(ip, self.port)
    }
}

/// An address as Redis Cluster prints it (`ip:port`, an IPv6 address unbracketed, as in
/// `-MOVED` and CLUSTER NODES), or in Rust's form (`[ip]:port`).
pub fn parse_addr(text: &str) -> Option<SocketAddr> {
    text.parse().ok().or_else(|| {
        let (ip, port) = text.rsplit_once(':')?;
        Some(SocketAddr::new(ip.parse().ok()?, port.parse().ok()?))
    })
}

/// Slots `start ..= end`, served by `primary` since `epoch`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OwnedRange {
    pub start: u16,
    pub end: u16,
    pub primary: NodeIndex,
    /// Filled in by replication (`cluster-replicas`); empty for now.
    pub replicas: Vec<NodeIndex>,
    pub epoch: u64,
}

impl OwnedRange {
    pub fn slots(&self) -> usize {
        (self.end - self.start) as usize + 1
    }
}

#[derive(Debug, Clone)]
pub struct ClusterState {
    /// Sorted by id.
    pub members: Vec<Node>,
    pub myself: NodeIndex,
    /// The ring of the members that have not failed.
    pub ring: Ring,
    /// In slot order; slots no live member serves are absent.
    pub ranges: Vec<OwnedRange>,
    /// The largest epoch known (CLUSTER INFO `cluster_current_epoch`).
    pub current_epoch: u64,
    owner: Box<[NodeIndex]>,
    assigned: usize,
}

impl ClusterState {
    /// The state of these members as `myself_id` sees them.
    pub fn build(mut members: Vec<Node>, myself_id: &str) -> ClusterState {
        members.sort_by(|a, b| a.id.cmp(&b.id));
        members.dedup_by(|a, b| a.id == b.id);
        let myself = members.iter().position(|m| m.id == myself_id).expect("myself is a member") as NodeIndex;
        let ring = Ring::new(
            members
                .iter()
                .enumerate()
                .filter(|(_, m)| m.health != Health::Failed)
                .flat_map(|(i, m)| m.tokens.iter().map(move |&t| (t, i as NodeIndex))),
        );
        let ranges: Vec<OwnedRange> = ring
            .ranges()
            .into_iter()
            .map(|SlotRange { start, end, node }| OwnedRange {
                start,
                end,
                primary: node,
                replicas: Vec::new(),
                epoch: members[node as usize].epoch,
            })
            .collect();
        let mut owner = vec![UNSERVED; SLOTS].into_boxed_slice();
        for r in &ranges {
            owner[r.start as usize..=r.end as usize].fill(r.primary);
        }
        let current_epoch = members.iter().map(|m| m.epoch).max().unwrap_or(0);
        let assigned = ranges.iter().map(OwnedRange::slots).sum();
        ClusterState { members, myself, ring, ranges, current_epoch, owner, assigned }
    }

    pub fn me(&self) -> &Node {
        &self.members[self.myself as usize]
    }

    /// The node serving `slot`, if any.
    pub fn owner(&self, slot: u16) -> Option<NodeIndex> {
        let n = self.owner[slot as usize];
        (n != UNSERVED).then_some(n)
    }

    pub fn is_mine(&self, slot: u16) -> bool {
        self.owner[slot as usize] == self.myself
    }

    /// Slots served by some member.
    pub fn slots_assigned(&self) -> usize {
        self.assigned
    }

    /// Slots served by a member in the given health.
    pub fn slots_in(&self, health: Health) -> usize {
        self.ranges
            .iter()
            .filter(|r| self.members[r.primary as usize].health == health)
            .map(OwnedRange::slots)
            .sum()
    }

    /// Members serving at least one slot (CLUSTER INFO `cluster_size`).
    pub fn size(&self) -> usize {
        let mut serving: Vec<NodeIndex> = self.ranges.iter().map(|r| r.primary).collect();
        serving.sort_unstable();
        serving.dedup();
        serving.len()
    }

    /// The ranges one member serves, in slot order.
    pub fn ranges_of(&self, node: NodeIndex) -> impl Iterator<Item = &OwnedRange> {
        self.ranges.iter().filter(move |r| r.primary == node)
    }

    /// How many slots one member serves.
    pub fn slots_of(&self, node: NodeIndex) -> usize {
        self.ranges_of(node).map(OwnedRange::slots).sum()
    }

    /// Slots that `self` serves on this node and `next` does not, in slot order: what
    /// this node must drop when `next` is published.
    pub fn slots_lost(&self, next: &ClusterState) -> Vec<u16> {
        // This node's index in `next` (members may have come or gone around it).
        let me = next.members.iter().position(|m| m.id == self.me().id).map(|i| i as NodeIndex);
        self.ranges_of(self.myself).flat_map(|r| r.start..=r.end).filter(|&s| next.owner(s) != me).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(id: char, tokens: &[u16], health: Health) -> Node {
        Node {
            id: id.to_string().repeat(40),
            ip: "127.0.0.1".into(),
            port: 7000 + id as u16,
            tokens: tokens.to_vec(),
            epoch: id as u64,
            health,
            ping_sent_ms: 0,
            pong_recv_ms: 0,
        }
    }

    #[test]
    fn addresses_parse_as_redis_prints_them_and_bracketed() {
        let v6: SocketAddr = "[::1]:7000".parse().unwrap();
        assert_eq!(parse_addr("::1:7000"), Some(v6));
        assert_eq!(parse_addr("[::1]:7000"), Some(v6));
        assert_eq!(parse_addr("127.0.0.1:7000"), Some("127.0.0.1:7000".parse().unwrap()));
        assert_eq!(parse_addr("nonsense"), None);
        let mut n = node('a', &[1], Health::Online);
        (n.ip, n.port) = ("::1".into(), 7000);
        assert_eq!(n.addr(), v6);
        assert_eq!(parse_addr(&n.addr().to_string()), Some(v6), "what is written is read back");
    }

    #[test]
    fn members_are_numbered_by_id_and_slots_follow_the_tokens() {
        let members = vec![
            node('c', &[12000], Health::Online),
            node('a', &[4000], Health::Online),
            node('b', &[8000, 16383], Health::Suspect),
        ];
        let state = ClusterState::build(members, &"a".repeat(40));
        assert_eq!(state.myself, 0);
        assert_eq!(state.members.iter().map(|m| &m.id[..1]).collect::<Vec<_>>(), ["a", "b", "c"]);
        assert_eq!(state.owner(0), Some(0));
        assert_eq!(state.owner(4001), Some(1));
        assert_eq!(state.owner(12000), Some(2));
        assert_eq!(state.owner(12001), Some(1));
        assert!(state.is_mine(4000) && !state.is_mine(4001));
        assert_eq!(state.slots_assigned(), SLOTS);
        assert_eq!(state.size(), 3);
        assert_eq!(state.slots_in(Health::Suspect), 4000 + 4383, "a suspect keeps its slots");
        assert_eq!(state.ranges[0].epoch, 'a' as u64);
    }

    #[test]
    fn a_failed_members_slots_go_clockwise_and_the_loser_drops_them() {
        let healthy = vec![
            node('a', &[4000], Health::Online),
            node('b', &[8000], Health::Online),
            node('c', &[16383], Health::Online),
        ];
        let mut failed = healthy.clone();
        failed[1].health = Health::Failed;
        let before = ClusterState::build(healthy.clone(), &"c".repeat(40));
        let after = ClusterState::build(failed, &"c".repeat(40));
        assert_eq!(after.owner(5000), Some(2), "b's arc goes to the next token, c's");
        assert_eq!(after.slots_in(Health::Failed), 0);
        assert!(before.slots_lost(&after).is_empty());
        // When b comes back, c hands its arc back and must drop what it held there.
        let lost = after.slots_lost(&before);
        assert_eq!(lost.len(), 4000);
        assert_eq!((lost[0], lost[3999]), (4001, 8000));
    }

    #[test]
    fn without_tokens_nothing_is_served() {
        let state = ClusterState::build(vec![node('a', &[], Health::Online)], &"a".repeat(40));
        assert_eq!(state.owner(0), None);
        assert_eq!(state.slots_assigned(), 0);
        assert_eq!(state.size(), 0);
    }
}
