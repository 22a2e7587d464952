//! The slot space as a consistent-hash ring.
//!
//! The 16384 Redis Cluster slots are the ring's positions: a key's slot is where it
//! sits. Each node holds up to [`TOKENS_PER_NODE`] tokens (positions), and a slot
//! belongs to the first token at or after it, wrapping around, so token `t` whose
//! predecessor on the ring is `p` owns the arc of slots `p+1 ..= t`. Each node
//! therefore owns a handful of contiguous slot ranges (`CLUSTER SLOTS` stays short),
//! and removing a node's tokens gives each of its arcs to the next token clockwise.
//!
//! Tokens are chosen once, when a node joins ([`Ring::place`]), and kept. Placement is
//! load-aware: token by token, the joining node takes the front part of the largest arc
//! of the node that is most loaded at that moment — half of it (no more than brings
//! that donor down to the mean), or more when the new node needs it to reach its share
//! in the tokens it has left, never a whole arc. That keeps every node within a few percent of the mean as
//! nodes join one at a time, and a join moves only the new node's share, all of it to
//! the new node, from at most as many nodes as it has tokens (the tests hold the
//! figures). Everything here is a pure function of the tokens: nodes that know the
//! same tokens compute the same map.
//!
//! Nodes are named here by their index in the cluster's member list, which is sorted
//! by node id, so "the lower index" breaks ties the same way on every node.

use super::slot::SLOTS;

/// Tokens a node holds at most, hence at most this many slot ranges per node.
pub const TOKENS_PER_NODE: usize = 16;

/// A node's index in the cluster's member list (sorted by node id).
pub type NodeIndex = u16;

/// Contiguous slots `start ..= end` (never wrapping) served by `node`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SlotRange {
    pub start: u16,
    pub end: u16,
    pub node: NodeIndex,
}

impl SlotRange {
    pub fn slots(&self) -> usize {
        (self.end - self.start) as usize + 1
    }
}

/// One token's arc: slots `after + 1 ..= at`, wrapping past 16383; `len` slots.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Arc {
    after: u16,
    at: u16,
    len: usize,
    node: NodeIndex,
}

/// The tokens of all members, sorted by position.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Ring {
    tokens: Vec<(u16, NodeIndex)>,
}

impl Ring {
    /// The ring of the given `(position, node)` tokens. Positions are taken modulo
    /// the slot count; where two nodes claim one position (only if two joins raced),
    /// the lower node index keeps it, the same on every node.
    pub fn new(tokens: impl IntoIterator<Item = (u16, NodeIndex)>) -> Ring {
        let mut tokens: Vec<(u16, NodeIndex)> =
            tokens.into_iter().map(|(pos, node)| (pos % SLOTS as u16, node)).collect();
        tokens.sort_unstable();
        tokens.dedup_by_key(|t| t.0);
        Ring { tokens }
    }

    pub fn is_empty(&self) -> bool {
        self.tokens.is_empty()
    }

    /// Every token, by position.
    pub fn tokens(&self) -> &[(u16, NodeIndex)] {
        &self.tokens
    }

    /// The positions `node` holds, in ring order.
    pub fn tokens_of(&self, node: NodeIndex) -> impl Iterator<Item = u16> + '_ {
        self.tokens.iter().filter(move |t| t.1 == node).map(|t| t.0)
    }

    /// The ring without `node`'s tokens: each of its arcs joins the next arc clockwise.
    pub fn without(&self, node: NodeIndex) -> Ring {
        Ring { tokens: self.tokens.iter().copied().filter(|t| t.1 != node).collect() }
    }

    /// The node a slot belongs to: the first token at or after it, wrapping.
    pub fn owner(&self, slot: u16) -> Option<NodeIndex> {
        let first = self.tokens.first()?;
        let i = self.tokens.partition_point(|t| t.0 < slot);
        Some(self.tokens.get(i).unwrap_or(first).1)
    }

    /// The first `n` distinct nodes other than `primary` clockwise after the token
    /// that owns `slot` (Dynamo's preference list: a range's replicas). Fewer when the
    /// ring has fewer nodes.
    pub fn successors(&self, slot: u16, primary: NodeIndex, n: usize) -> Vec<NodeIndex> {
        let mut out = Vec::with_capacity(n);
        let len = self.tokens.len();
        let at = self.tokens.partition_point(|t| t.0 < slot) % len.max(1);
        for step in 1..len {
            if out.len() == n {
                break;
            }
            let node = self.tokens[(at + step) % len].1;
            if node != primary && !out.contains(&node) {
                out.push(node);
            }
        }
        out
    }

    fn arcs(&self) -> impl Iterator<Item = Arc> + '_ {
        let n = self.tokens.len();
        (0..n).map(move |i| {
            let (at, node) = self.tokens[i];
            let after = self.tokens[(i + n - 1) % n].0;
            let len = match (at as usize + SLOTS - after as usize) % SLOTS {
                0 => SLOTS,
                len => len,
            };
            Arc { after, at, len, node }
        })
    }

    /// Slots owned per node, for nodes `0 .. nodes`.
    pub fn loads(&self, nodes: usize) -> Vec<usize> {
        let mut loads = vec![0; nodes];
        for arc in self.arcs() {
            if let Some(load) = loads.get_mut(arc.node as usize) {
                *load += arc.len;
            }
        }
        loads
    }

    /// The whole slot space as ranges in slot order, each as long as one node's run
    /// (a node's adjacent arcs merge, and an arc that wraps is split at slot 0). Empty
    /// for an empty ring.
    pub fn ranges(&self) -> Vec<SlotRange> {
        let Some(&(last, _)) = self.tokens.last() else {
            return Vec::new();
        };
        let mut out: Vec<SlotRange> = Vec::with_capacity(self.tokens.len() + 1);
        let mut start = 0u16;
        // Slots past the last token wrap to the first token's owner.
        let tail = (last != SLOTS as u16 - 1).then(|| self.tokens[0].1);
        for &(pos, node) in &self.tokens {
            match out.last_mut() {
                Some(prev) if prev.node == node => prev.end = pos,
                _ => out.push(SlotRange { start, end: pos, node }),
            }
            start = pos.wrapping_add(1);
        }
        debug_assert_eq!(start, last.wrapping_add(1));
        if let Some(node) = tail {
            match out.last_mut() {
                Some(prev) if prev.node == node => prev.end = SLOTS as u16 - 1,
                _ => out.push(SlotRange { start, end: SLOTS as u16 - 1, node }),
            }
        }
        out
    }

    /// Tokens for `node` joining this ring, whose members are nodes `0 .. nodes`
    /// (`node` itself may be among them, holding nothing yet). The first node of a
    /// cluster spreads its tokens evenly, the last on slot 16383, so that while it is
    /// a member no arc wraps past slot 0 and each token is one range in `CLUSTER
    /// SLOTS`; every later node carves its share out of the most loaded nodes'
    /// largest arcs (module doc). The same ring and node always give the same tokens.
    pub fn place(&self, nodes: usize, node: NodeIndex) -> Vec<u16> {
        const STEP: usize = SLOTS / TOKENS_PER_NODE;
        let donors: Vec<(u16, NodeIndex)> = self.tokens.iter().copied().filter(|t| t.1 != node).collect();
        let mut ring = Ring { tokens: donors };
        if ring.is_empty() {
            return (1..=TOKENS_PER_NODE).map(|i| (i * STEP - 1) as u16).collect();
        }
        let members = nodes.max(node as usize + 1);
        // The new node's share; the others hold the rest. Members without tokens
        // (joining, not yet placed) are not counted: they will take their own share.
        let holders =
            (0..members).filter(|&n| n == node as usize || ring.tokens_of(n as NodeIndex).next().is_some());
        let share = SLOTS / holders.count();
        let mut loads = ring.loads(members);
        let mut need = share;
        let mut placed = Vec::with_capacity(TOKENS_PER_NODE);
        while need > 0 && placed.len() < TOKENS_PER_NODE {
            let left = TOKENS_PER_NODE - placed.len();
            // The most loaded node (lower index on a tie) and its largest arc (lower
            // position on a tie).
            let Some(donor) = (0..members)
                .filter(|&n| n != node as usize)
                .max_by_key(|&n| (loads[n], std::cmp::Reverse(n)))
            else {
                break;
            };
            let Some(arc) = ring
                .arcs()
                .filter(|a| a.node as usize == donor)
                .max_by_key(|a| (a.len, std::cmp::Reverse(a.at)))
            else {
                break;
            };
            let take = need
                .div_ceil(left)
                .max((arc.len / 2).min(loads[donor].saturating_sub(share)))
                .min(need)
                .min(arc.len - 1);
            if take == 0 {
                break;
            }
            let pos = ((arc.after as usize + take) % SLOTS) as u16;
            placed.push(pos);
            let i = ring.tokens.partition_point(|t| t.0 < pos);
            ring.tokens.insert(i, (pos, node));
            loads[donor] -= take;
            need -= take;
        }
        placed.sort_unstable();
        placed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Joins `count` nodes one at a time, handing each step's rings to `check`.
    fn grow(count: usize, mut check: impl FnMut(usize, &Ring, &Ring, &[u16])) -> Ring {
        let mut ring = Ring::default();
        for n in 0..count {
            let node = n as NodeIndex;
            let placed = ring.place(n + 1, node);
            let next = Ring::new(ring.tokens().iter().copied().chain(placed.iter().map(|&p| (p, node))));
            check(n + 1, &ring, &next, &placed);
            ring = next;
        }
        ring
    }

    #[test]
    fn joins_keep_the_ring_balanced_and_move_only_the_new_nodes_share() {
        let (mut worst, mut most_moved, mut most_ranges, mut shortest) = (0f64, 0f64, 0, SLOTS);
        grow(32, |nodes, before, after, placed| {
            let new = (nodes - 1) as NodeIndex;
            assert!(
                !placed.is_empty() && placed.len() <= TOKENS_PER_NODE,
                "{nodes} nodes: {} tokens",
                placed.len()
            );
            let loads = after.loads(nodes);
            assert_eq!(loads.iter().sum::<usize>(), SLOTS);
            let mean = SLOTS as f64 / nodes as f64;
            let max = *loads.iter().max().unwrap() as f64 / mean;
            if nodes >= 3 {
                assert!(max <= 1.10, "{nodes} nodes: most loaded at {max:.3} x mean: {loads:?}");
                worst = worst.max(max);
            }
            if nodes >= 2 {
                let mut moved = 0;
                let mut donors = std::collections::BTreeSet::new();
                for slot in 0..SLOTS as u16 {
                    let (was, is) = (before.owner(slot).unwrap(), after.owner(slot).unwrap());
                    if was != is {
                        assert_eq!(
                            is, new,
                            "{nodes} nodes: slot {slot} moved from {was} to {is}, not to the new node"
                        );
                        moved += 1;
                        donors.insert(was);
                    }
                }
                assert!(
                    moved as f64 <= 1.1 * mean,
                    "{nodes} nodes: join moved {moved} slots, mean {mean:.0}"
                );
                most_moved = f64::max(most_moved, moved as f64 / mean);
                assert!(
                    donors.len() <= placed.len(),
                    "{nodes} nodes: {} donors for {} tokens",
                    donors.len(),
                    placed.len()
                );
            }
            for node in 0..nodes as NodeIndex {
                let ranges = after.ranges().iter().filter(|r| r.node == node).count();
                assert!(ranges <= TOKENS_PER_NODE, "{nodes} nodes: node {node} has {ranges} ranges");
                most_ranges = most_ranges.max(ranges);
            }
            shortest = after.ranges().iter().map(SlotRange::slots).min().unwrap_or(SLOTS).min(shortest);
        });
        assert!(worst > 1.0, "the check above ran");
        // The README's figures: `cargo test --lib ring -- --nocapture`.
        println!(
            "3..32 nodes joining one at a time: most loaded node {worst:.3} x mean, a join moves at most \
             {most_moved:.3} x the mean share, at most {most_ranges} ranges per node, shortest range {shortest} slots"
        );
    }

    #[test]
    fn a_slot_belongs_to_the_first_token_at_or_after_it() {
        let ring = Ring::new([(100, 0), (5000, 1), (9000, 2), (16000, 0)]);
        assert_eq!(ring.owner(0), Some(0));
        assert_eq!(ring.owner(100), Some(0));
        assert_eq!(ring.owner(101), Some(1));
        assert_eq!(ring.owner(5000), Some(1));
        assert_eq!(ring.owner(9001), Some(0));
        assert_eq!(ring.owner(16383), Some(0), "past the last token wraps to the first");
        assert_eq!(
            ring.ranges(),
            vec![
                SlotRange { start: 0, end: 100, node: 0 },
                SlotRange { start: 101, end: 5000, node: 1 },
                SlotRange { start: 5001, end: 9000, node: 2 },
                SlotRange { start: 9001, end: 16383, node: 0 },
            ]
        );
        assert_eq!(ring.loads(3), vec![101 + 7383, 4900, 4000]);
        assert_eq!(Ring::default().owner(7), None);
        assert!(Ring::default().ranges().is_empty());
        let one = Ring::new([(16383, 4)]);
        assert_eq!(one.ranges(), vec![SlotRange { start: 0, end: 16383, node: 4 }]);
        assert_eq!(one.loads(5)[4], SLOTS);
    }

    #[test]
    fn ranges_match_owner_for_every_slot() {
        let ring = grow(7, |_, _, _, _| {});
        let ranges = ring.ranges();
        assert_eq!(ranges.iter().map(SlotRange::slots).sum::<usize>(), SLOTS);
        let mut next = 0usize;
        for (i, r) in ranges.iter().enumerate() {
            assert_eq!(r.start as usize, next, "ranges cover the slots in order");
            next = r.end as usize + 1;
            if i > 0 {
                assert_ne!(ranges[i - 1].node, r.node, "adjacent ranges of one node are merged");
            }
            for slot in r.start..=r.end {
                assert_eq!(ring.owner(slot), Some(r.node));
            }
        }
    }

    #[test]
    fn placement_is_reproducible_and_a_rejoining_node_is_placed_afresh() {
        let a = grow(5, |_, _, _, _| {});
        let b = grow(5, |_, _, _, _| {});
        assert_eq!(a, b);
        // Node 2 placed again on the ring that still has its tokens gets the same
        // kind of share, never a token on another node's position.
        let again = a.place(5, 2);
        assert!(!again.is_empty());
        let others: Vec<u16> = a.tokens().iter().filter(|t| t.1 != 2).map(|t| t.0).collect();
        assert!(again.iter().all(|p| !others.contains(p)));
    }

    #[test]
    fn a_removed_nodes_arcs_go_to_the_next_token_clockwise() {
        let ring = grow(4, |_, _, _, _| {});
        let without = ring.without(1);
        let mut at = vec![None; SLOTS];
        for &(pos, node) in ring.tokens().iter().filter(|t| t.1 != 1) {
            at[pos as usize] = Some(node);
        }
        for slot in 0..SLOTS as u16 {
            let owner = ring.owner(slot).unwrap();
            if owner != 1 {
                assert_eq!(without.owner(slot), Some(owner), "slot {slot} of a live node stays");
            } else {
                // Walk clockwise from the slot to the first token of another node.
                let next = (0..SLOTS).find_map(|d| at[(slot as usize + d) % SLOTS]);
                assert_eq!(without.owner(slot), next, "slot {slot}");
            }
        }
    }

    #[test]
    fn a_position_claimed_twice_goes_to_the_lower_index() {
        let ring = Ring::new([(10, 3), (10, 1), (20, 2)]);
        assert_eq!(ring.tokens(), &[(10, 1), (20, 2)]);
    }

    #[test]
    fn a_ring_of_single_slot_arcs_places_nothing_more() {
        let ring = Ring::new((0..SLOTS as u16).map(|s| (s, s % 64)));
        assert!(ring.place(65, 64).is_empty());
    }
}
