//! The cluster state: one immutable value that dispatch and every CLUSTER reply read.
//!
//! It holds the members (sorted by node id, so every node numbers them alike), the
//! ring their tokens make, and what follows from it: which node serves each slot, as
//! per-range ownership with epochs, and each range's replicas — the next
//! `cluster-replicas` distinct live nodes clockwise after the range (Dynamo's preference
//! list). Ownership is kept apart from the ring's answer (the rebalancing issue will
//! hand ranges over one at a time) even though, for now, it mostly is that answer.
//!
//! A member that has failed holds no slots: each of its arcs goes to the first member
//! clockwise that says it holds the arc's current keys ([`Node::caught_up`]: it copied
//! them, or serves them already), or to the first one clockwise if none does. A member
//! that is not *ready* (it joined, or came back after a restart or a failure, and has
//! not caught up yet) serves nothing either: its arcs are served as if it had failed,
//! and it is one more replica of the ranges over them, until it has copied them and
//! says it is ready.
//!
//! A copy is only as good as its link: a member that became a replica of a range (the
//! ring changed around it) holds nothing of it until its link loads a snapshot. Until
//! it says it is caught up there, the members further clockwise that hold the range
//! stay its replicas too, so that `cluster-replicas` copies that hold the keys remain,
//! and they come first in the takeover order (the order `WAIT` counts in).
//!
//! States are built whole by [`ClusterState::build`] and published by swapping an
//! `Arc` ([`super::Cluster`]); nothing mutates one after it is built, so nodes that
//! know the same members print the same map, byte for byte.

use std::net::SocketAddr;

use super::ring::{NodeIndex, Ring, SlotRange};
use super::slot::SLOTS;

/// No node serves the slot.
const UNSERVED: NodeIndex = NodeIndex::MAX;

/// What this node does for a slot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// It serves the slot's reads and writes and streams them to the replicas.
    Primary,
    /// It keeps a copy, fed by the primary's stream (reads with READONLY).
    Replica,
    /// It holds nothing of the slot.
    None,
}

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
    /// It holds its arcs' keys and serves them; until then it copies them (module doc).
    pub ready: bool,
    /// The slots whose keys it holds up to date, as its latest heartbeat said: those
    /// it serves and those its copy links have loaded a snapshot of (sorted, disjoint
    /// ranges).
    pub caught_up: Vec<(u16, u16)>,
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

    /// It serves its arcs: not failed, and ready.
    pub fn serves(&self) -> bool {
        self.health != Health::Failed && self.ready
    }

    /// It said it holds the current keys of every slot `start ..= end`.
    pub fn caught_up_on(&self, start: u16, end: u16) -> bool {
        self.caught_up.iter().any(|&(a, b)| a <= start && end <= b)
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

/// Sorted disjoint slot ranges as peers send them: `a-b,c-d`.
pub fn encode_ranges(ranges: &[(u16, u16)]) -> String {
    ranges.iter().map(|(a, b)| format!("{a}-{b}")).collect::<Vec<_>>().join(",")
}

/// [`encode_ranges`]'s text read back: None unless every range is well formed, in
/// order, apart from the others and within the slot space.
pub fn decode_ranges(text: &[u8]) -> Option<Vec<(u16, u16)>> {
    let text = std::str::from_utf8(text).ok()?;
    let mut out: Vec<(u16, u16)> = Vec::new();
    for part in text.split(',').filter(|p| !p.is_empty()) {
        let (a, b) = part.split_once('-')?;
        let (a, b): (u16, u16) = (a.parse().ok()?, b.parse().ok()?);
        if a > b || b as usize >= SLOTS || out.last().is_some_and(|&(_, end)| a <= end) {
            return None;
        }
        out.push((a, b));
    }
    Some(out)
}

/// Slots `start ..= end`, served by `primary` since `epoch`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OwnedRange {
    pub start: u16,
    pub end: u16,
    pub primary: NodeIndex,
    /// The nodes that keep a copy of it, first the one that takes it over if the
    /// primary fails.
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
    /// The ring of the members that have not failed, ready or not: where each one's
    /// arcs are (new tokens are placed on it).
    pub ring: Ring,
    /// In slot order; slots no live member serves are absent.
    pub ranges: Vec<OwnedRange>,
    /// The largest epoch known (CLUSTER INFO `cluster_current_epoch`).
    pub current_epoch: u64,
    owner: Box<[NodeIndex]>,
    /// Per slot, the node whose arc it is on `ring` (its owner once that node is ready).
    arc_owner: Box<[NodeIndex]>,
    /// This node's role per slot.
    roles: Box<[Role]>,
    assigned: usize,
}

impl ClusterState {
    /// The state of these members as `myself_id` sees them, with `replicas` copies of
    /// each range besides the primary's (module doc).
    pub fn build(mut members: Vec<Node>, myself_id: &str, replicas: usize) -> ClusterState {
        members.sort_by(|a, b| a.id.cmp(&b.id));
        members.dedup_by(|a, b| a.id == b.id);
        let myself = members.iter().position(|m| m.id == myself_id).expect("myself is a member") as NodeIndex;
        let ring_of = |failed_too: bool| {
            Ring::new(
                members
                    .iter()
                    .enumerate()
                    .filter(|(_, m)| failed_too || m.health != Health::Failed)
                    .flat_map(|(i, m)| m.tokens.iter().map(move |&t| (t, i as NodeIndex))),
            )
        };
        let (ring, home) = (ring_of(false), ring_of(true));
        let mut arc_owner = vec![UNSERVED; SLOTS].into_boxed_slice();
        for r in ring.ranges() {
            arc_owner[r.start as usize..=r.end as usize].fill(r.node);
        }
        let mut ranges: Vec<OwnedRange> = Vec::new();
        for SlotRange { start, end, node: home_node } in home.ranges() {
            let current = |n: NodeIndex| members[n as usize].caught_up_on(start, end);
            // The members that serve, clockwise from the arc.
            let serving: Vec<NodeIndex> = home
                .successors(end, home_node, members.len())
                .into_iter()
                .filter(|&n| members[n as usize].serves())
                .collect();
            let primary = if members[home_node as usize].serves() {
                home_node
            } else {
                match serving.iter().find(|&&n| current(n)).or(serving.first()) {
                    Some(&n) => n,
                    None => continue,
                }
            };
            let mut copies: Vec<NodeIndex> = Vec::new();
            let mut current_copies = 0;
            for (i, n) in serving.into_iter().filter(|&n| n != primary).enumerate() {
                if i >= replicas && current_copies >= replicas {
                    break;
                }
                if i < replicas || current(n) {
                    copies.push(n);
                    current_copies += usize::from(current(n));
                }
            }
            // Takeover order: those holding the keys first.
            copies.sort_by_key(|&n| !current(n));
            let arc = arc_owner[start as usize];
            if arc != UNSERVED && arc != primary && !copies.contains(&arc) {
                copies.push(arc);
            }
            match ranges.last_mut() {
                Some(last) if last.end + 1 == start && last.primary == primary && last.replicas == copies => {
                    last.end = end
                }
                _ => ranges.push(OwnedRange {
                    start,
                    end,
                    primary,
                    replicas: copies,
                    epoch: members[primary as usize].epoch,
                }),
            }
        }
        let mut owner = vec![UNSERVED; SLOTS].into_boxed_slice();
        let mut roles = vec![Role::None; SLOTS].into_boxed_slice();
        for r in &ranges {
            owner[r.start as usize..=r.end as usize].fill(r.primary);
            let role = if r.primary == myself {
                Role::Primary
            } else if r.replicas.contains(&myself) {
                Role::Replica
            } else {
                continue;
            };
            roles[r.start as usize..=r.end as usize].fill(role);
        }
        let current_epoch = members.iter().map(|m| m.epoch).max().unwrap_or(0);
        let assigned = ranges.iter().map(OwnedRange::slots).sum();
        ClusterState { members, myself, ring, ranges, current_epoch, owner, arc_owner, roles, assigned }
    }

    /// This state with the probe times of `members`, when nothing else about them
    /// changed (what the ranges are built from is the same); None otherwise. Most
    /// membership messages change only those times, and a build walks every slot.
    pub fn with_times_of(&self, mut members: Vec<Node>) -> Option<ClusterState> {
        members.sort_by(|a, b| a.id.cmp(&b.id));
        members.dedup_by(|a, b| a.id == b.id);
        let untimed = |n: &Node| Node { ping_sent_ms: 0, pong_recv_ms: 0, ..n.clone() };
        let same = members.len() == self.members.len()
            && members.iter().zip(&self.members).all(|(a, b)| untimed(a) == untimed(b));
        same.then(|| ClusterState { members, ..self.clone() })
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

    /// Whether `slot` is on this node's arcs: it serves it once it is ready.
    pub fn on_my_arcs(&self, slot: u16) -> bool {
        self.arc_owner[slot as usize] == self.myself
    }

    /// While this node is not ready: the members serving its arcs meanwhile (the
    /// primaries it copies them from), and whether some of its arcs nobody serves
    /// (nothing to copy there).
    pub fn serving_my_arcs(&self) -> (Vec<NodeIndex>, bool) {
        let mut from: Vec<NodeIndex> = Vec::new();
        let mut unserved = false;
        for s in (0..SLOTS as u16).filter(|&s| self.on_my_arcs(s)) {
            match self.owner(s) {
                None => unserved = true,
                Some(p) if p != self.myself && !from.contains(&p) => from.push(p),
                Some(_) => {}
            }
        }
        from.sort_unstable();
        (from, unserved)
    }

    /// What this node does for `slot`.
    pub fn role(&self, slot: u16) -> Role {
        self.roles[slot as usize]
    }

    /// This node holds the slot's keys, as its primary or a replica.
    pub fn holds(&self, slot: u16) -> bool {
        self.roles[slot as usize] != Role::None
    }

    /// The range `slot` is in, if a member serves it.
    pub fn range(&self, slot: u16) -> Option<&OwnedRange> {
        let i = self.ranges.partition_point(|r| r.end < slot);
        self.ranges.get(i).filter(|r| r.start <= slot)
    }

    /// The member with this id.
    pub fn index_of(&self, id: &str) -> Option<NodeIndex> {
        self.members.iter().position(|m| m.id == id).map(|i| i as NodeIndex)
    }

    /// The ranges `node` keeps a copy of, in slot order.
    pub fn replicated_by(&self, node: NodeIndex) -> impl Iterator<Item = &OwnedRange> {
        self.ranges.iter().filter(move |r| r.replicas.contains(&node))
    }

    /// The slots this node keeps copies of from `primary`.
    pub fn slots_copied_from(&self, primary: NodeIndex) -> Vec<u16> {
        self.replicated_by(self.myself)
            .filter(|r| r.primary == primary)
            .flat_map(|r| r.start..=r.end)
            .collect()
    }

    /// The slots this node keeps copies of from `primary` (its id), among those
    /// `covers` flags (a link's).
    pub fn copied_slots(&self, primary: &str, covers: &[bool]) -> Vec<u16> {
        let Some(p) = self.index_of(primary) else { return Vec::new() };
        self.slots_copied_from(p)
            .into_iter()
            .filter(|&s| covers.get(s as usize).is_some_and(|&c| c))
            .collect()
    }

    /// The primaries this node replicates some range of.
    pub fn my_primaries(&self) -> Vec<NodeIndex> {
        let mut out: Vec<NodeIndex> = self.replicated_by(self.myself).map(|r| r.primary).collect();
        out.sort_unstable();
        out.dedup();
        out
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

    /// Slots whose keys this node holds in `self` (as primary or replica) and not in
    /// `next`, in slot order: what it must drop when `next` is published.
    pub fn slots_lost(&self, next: &ClusterState) -> Vec<u16> {
        (0..SLOTS as u16).filter(|&s| self.holds(s) && !next.holds(s)).collect()
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
            ready: true,
            caught_up: Vec::new(),
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
        let state = ClusterState::build(members, &"a".repeat(40), 0);
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
        let before = ClusterState::build(healthy.clone(), &"c".repeat(40), 0);
        let after = ClusterState::build(failed, &"c".repeat(40), 0);
        assert_eq!(after.owner(5000), Some(2), "b's arc goes to the next token, c's");
        assert_eq!(after.slots_in(Health::Failed), 0);
        assert!(before.slots_lost(&after).is_empty());
        // When b comes back, c hands its arc back and must drop what it held there.
        let lost = after.slots_lost(&before);
        assert_eq!(lost.len(), 4000);
        assert_eq!((lost[0], lost[3999]), (4001, 8000));
    }

    #[test]
    fn each_range_is_copied_by_the_next_nodes_clockwise_who_take_it_over() {
        let healthy = vec![
            node('a', &[4000, 10000], Health::Online),
            node('b', &[8000], Health::Online),
            node('c', &[16383], Health::Online),
        ];
        let state = ClusterState::build(healthy.clone(), &"c".repeat(40), 1);
        let copies = |s: &ClusterState, slot: u16| s.range(slot).unwrap().replicas.clone();
        assert_eq!(copies(&state, 100), [1], "a's first arc is copied by b, next clockwise");
        assert_eq!(copies(&state, 9000), [2], "a's second arc by c");
        assert_eq!(copies(&state, 5000), [0], "b's by a");
        assert_eq!(copies(&state, 12000), [0], "c's by a (wrapping)");
        assert_eq!(
            (state.role(12000), state.role(9000), state.role(100)),
            (Role::Primary, Role::Replica, Role::None)
        );
        assert_eq!(state.my_primaries(), [0]);
        assert_eq!(state.slots_copied_from(0).len(), 2000);
        let two = ClusterState::build(healthy.clone(), &"c".repeat(40), 2);
        assert_eq!(copies(&two, 100), [1, 2]);
        assert_eq!(copies(&two, 5000), [0, 2]);
        // b fails: its arc goes to the node that copied it, and the ranges now around
        // it are copied by the next live node.
        let mut failed = healthy;
        failed[1].health = Health::Failed;
        let after = ClusterState::build(failed, &"c".repeat(40), 1);
        assert_eq!(after.owner(5000), Some(0), "a already holds b's keys");
        assert_eq!(after.range(5000).unwrap().start, 0, "a's arcs merged into one range");
        assert_eq!(copies(&after, 5000), [2]);
        assert_eq!(after.role(100), Role::Replica, "c copies the merged range now");
        assert!(state.slots_lost(&after).is_empty(), "c keeps everything it held");
        // When b returns, c copies a's second arc only again and drops the rest.
        assert_eq!(after.slots_lost(&state), (0..=8000).collect::<Vec<u16>>());
    }

    #[test]
    fn a_member_not_ready_copies_its_arcs_from_whoever_serves_them_meanwhile() {
        let mut members = vec![
            node('a', &[4000, 10000], Health::Online),
            node('b', &[8000], Health::Online),
            node('c', &[16383], Health::Online),
        ];
        members[1].ready = false;
        let b = ClusterState::build(members.clone(), &"b".repeat(40), 1);
        assert_eq!(b.owner(5000), Some(0), "b's arc is served by a, next clockwise");
        assert_eq!(b.range(5000).map(|r| (r.start, r.end)), Some((4001, 8000)), "cut at b's arc");
        assert_eq!(b.range(5000).unwrap().replicas, [2, 1], "a's usual replica first, then b");
        assert_eq!(b.range(9000).unwrap().replicas, [2], "a's own arc is not b's to copy");
        assert_eq!(b.role(5000), Role::Replica);
        assert!(b.on_my_arcs(5000) && !b.on_my_arcs(9000));
        assert_eq!(b.serving_my_arcs(), (vec![0], false));
        assert_eq!(b.slots_of(1), 0);
        assert_eq!(b.ring.owner(5000), Some(1), "new tokens are placed around b's");
        // Ready, b serves its arc; a keeps it as b's replica.
        members[1].ready = true;
        let ready = ClusterState::build(members.clone(), &"a".repeat(40), 1);
        assert_eq!((ready.owner(5000), ready.role(5000)), (Some(1), Role::Replica));
        let before = ClusterState::build(
            members
                .clone()
                .into_iter()
                .map(|mut m| {
                    m.ready = m.id.starts_with('a') || m.id.starts_with('c');
                    m
                })
                .collect(),
            &"a".repeat(40),
            1,
        );
        assert!(before.slots_lost(&ready).is_empty(), "a hands the arc over and keeps its keys");
        // Nobody ready: nothing served, every arc has nothing to copy from.
        let none = ClusterState::build(
            members.into_iter().map(|m| Node { ready: false, ..m }).collect(),
            &"c".repeat(40),
            1,
        );
        assert_eq!(none.slots_assigned(), 0);
        assert_eq!(none.serving_my_arcs(), (vec![], true));
    }

    #[test]
    fn replicas_holding_the_keys_stay_until_a_new_one_has_copied_them_and_take_over_first() {
        // a 0..4000, b 4001..8000, c 8001..12000, d 12001..16383; replicas 1.
        let mut members = vec![
            node('a', &[4000], Health::Online),
            node('b', &[8000], Health::Online),
            node('c', &[12000], Health::Online),
            node('d', &[16383], Health::Online),
        ];
        // b just became ready: it is a's replica now but has not copied a's arc, which
        // c (a's replica before b came back) still holds.
        members[1].caught_up = vec![(4001, 8000)];
        members[2].caught_up = vec![(0, 4000), (8001, 12000)];
        let state = ClusterState::build(members.clone(), &"c".repeat(40), 1);
        let copies = |s: &ClusterState, slot: u16| s.range(slot).unwrap().replicas.clone();
        assert_eq!(copies(&state, 100), [2, 1], "c keeps its copy and comes first; b copies");
        assert_eq!(state.role(100), Role::Replica);
        assert_eq!(copies(&state, 5000), [2], "a range whose replica is current has no other");
        // a fails now: its arc goes to c, which holds it, not to b, next clockwise.
        members[0].health = Health::Failed;
        let failed = ClusterState::build(members.clone(), &"c".repeat(40), 1);
        assert_eq!(failed.owner(100), Some(2));
        assert_eq!(copies(&failed, 100), [1], "b copies it from c");
        assert_eq!(failed.owner(5000), Some(1), "b still serves its own arc");
        // Nobody holds it: the first member clockwise serves it.
        let mut nobody = members.clone();
        nobody[2].caught_up.clear();
        assert_eq!(ClusterState::build(nobody, &"c".repeat(40), 1).owner(100), Some(1));
        // b has copied it: c is no longer needed (and drops it).
        members[0].health = Health::Online;
        members[1].caught_up = vec![(0, 8000)];
        let done = ClusterState::build(members, &"c".repeat(40), 1);
        assert_eq!(copies(&done, 100), [1]);
        assert_eq!(state.slots_lost(&done), (0..=4000).collect::<Vec<u16>>());
    }

    #[test]
    fn slot_ranges_travel_as_text_and_malformed_ones_are_refused() {
        let ranges = vec![(0, 10), (12, 12), (100, 16383)];
        assert_eq!(decode_ranges(encode_ranges(&ranges).as_bytes()), Some(ranges));
        assert_eq!(decode_ranges(b""), Some(vec![]));
        for bad in ["5-3", "0-16384", "0-10,10-12", "4-8,1-2", "x", "1-"] {
            assert_eq!(decode_ranges(bad.as_bytes()), None, "{bad}");
        }
    }

    #[test]
    fn without_tokens_nothing_is_served() {
        let state = ClusterState::build(vec![node('a', &[], Health::Online)], &"a".repeat(40), 1);
        assert_eq!(state.owner(0), None);
        assert_eq!(state.slots_assigned(), 0);
        assert_eq!(state.size(), 0);
    }
}
