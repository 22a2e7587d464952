//! Sorted-set commands: ZADD and friends, ranges by rank, score and lex, pops,
//! random members, set algebra (ZUNION, ZINTER, ZDIFF and their STORE forms), ZSCAN.
//! Scores read and print as Redis's (`inf`, `-inf`, exclusive `(` bounds).

use bytes::Bytes;

use super::hash::{random_count, random_positions};
use super::list::mpop_args;
use super::table::*;
use super::{Ctx, ScanArgs};
use crate::cluster::slot::key_slot;
use crate::error::{self, CmdResult, CommandError};
use crate::protocol::args;
use crate::server::pubsub::events;
use crate::storage::{Object, Shard, ValueRef, ZSet};

const Z: u32 = SORTEDSET;

pub const COMMANDS: &[CommandSpec] = &[
    CommandSpec::new("zadd", -4, WRITE | DENYOOM | FAST, zadd).keys(1, 1, 1).acl(Z).group("sorted_set")
        .doc("Adds one or more members to a sorted set, or updates their scores. Creates the key if it doesn't exist.", "1.2.0"),
    CommandSpec::new("zincrby", 4, WRITE | DENYOOM | FAST, zincrby).keys(1, 1, 1).acl(Z).group("sorted_set")
        .doc("Increments the score of a member in a sorted set.", "1.2.0"),
    CommandSpec::new("zrem", -3, WRITE | FAST, zrem).keys(1, 1, 1).acl(Z).group("sorted_set")
        .doc("Removes one or more members from a sorted set. Deletes the sorted set if all members were removed.", "1.2.0"),
    CommandSpec::new("zscore", 3, READONLY | FAST, zscore).keys(1, 1, 1).acl(Z).group("sorted_set")
        .doc("Returns the score of a member in a sorted set.", "1.2.0"),
    CommandSpec::new("zmscore", -3, READONLY | FAST, zmscore).keys(1, 1, 1).acl(Z).group("sorted_set")
        .doc("Returns the score of one or more members in a sorted set.", "6.2.0"),
    CommandSpec::new("zcard", 2, READONLY | FAST, zcard).keys(1, 1, 1).acl(Z).group("sorted_set")
        .doc("Returns the number of members in a sorted set.", "1.2.0"),
    CommandSpec::new("zcount", 4, READONLY | FAST, zcount).keys(1, 1, 1).acl(Z).group("sorted_set")
        .doc("Returns the count of members in a sorted set that have scores within a range.", "2.0.0"),
    CommandSpec::new("zlexcount", 4, READONLY | FAST, zlexcount).keys(1, 1, 1).acl(Z).group("sorted_set")
        .doc("Returns the number of members in a sorted set within a lexicographical range.", "2.8.9"),
    CommandSpec::new("zrange", -4, READONLY, zrange).keys(1, 1, 1).acl(Z).group("sorted_set")
        .doc("Returns members in a sorted set within a range of indexes.", "1.2.0"),
    CommandSpec::new("zrangestore", -5, WRITE | DENYOOM, zrangestore).keys(1, 2, 1).acl(Z).group("sorted_set")
        .doc("Stores a range of members from sorted set in a key.", "6.2.0"),
    CommandSpec::new("zrangebyscore", -4, READONLY, zrangebyscore).keys(1, 1, 1).acl(Z).group("sorted_set")
        .doc("Returns members in a sorted set within a range of scores.", "1.0.5"),
    CommandSpec::new("zrevrange", -4, READONLY, zrevrange).keys(1, 1, 1).acl(Z).group("sorted_set")
        .doc("Returns members in a sorted set within a range of indexes in reverse order.", "1.2.0"),
    CommandSpec::new("zrevrangebyscore", -4, READONLY, zrevrangebyscore).keys(1, 1, 1).acl(Z).group("sorted_set")
        .doc("Returns members in a sorted set within a range of scores in reverse order.", "2.2.0"),
    CommandSpec::new("zrangebylex", -4, READONLY, zrangebylex).keys(1, 1, 1).acl(Z).group("sorted_set")
        .doc("Returns members in a sorted set within a lexicographical range.", "2.8.9"),
    CommandSpec::new("zrevrangebylex", -4, READONLY, zrevrangebylex).keys(1, 1, 1).acl(Z).group("sorted_set")
        .doc("Returns members in a sorted set within a lexicographical range in reverse order.", "2.8.9"),
    CommandSpec::new("zrank", -3, READONLY | FAST, zrank).keys(1, 1, 1).acl(Z).group("sorted_set")
        .doc("Returns the index of a member in a sorted set ordered by ascending scores.", "2.0.0"),
    CommandSpec::new("zrevrank", -3, READONLY | FAST, zrevrank).keys(1, 1, 1).acl(Z).group("sorted_set")
        .doc("Returns the index of a member in a sorted set ordered by descending scores.", "2.0.0"),
    CommandSpec::new("zremrangebyrank", 4, WRITE, zremrangebyrank).keys(1, 1, 1).acl(Z).group("sorted_set")
        .doc("Removes members in a sorted set within a range of indexes. Deletes the sorted set if all members were removed.", "2.0.0"),
    CommandSpec::new("zremrangebyscore", 4, WRITE, zremrangebyscore).keys(1, 1, 1).acl(Z).group("sorted_set")
        .doc("Removes members in a sorted set within a range of scores. Deletes the sorted set if all members were removed.", "1.2.0"),
    CommandSpec::new("zremrangebylex", 4, WRITE, zremrangebylex).keys(1, 1, 1).acl(Z).group("sorted_set")
        .doc("Removes members in a sorted set within a lexicographical range. Deletes the sorted set if all members were removed.", "2.8.9"),
    CommandSpec::new("zpopmin", -2, WRITE | FAST, zpopmin).keys(1, 1, 1).acl(Z).group("sorted_set")
        .doc("Returns the lowest-scoring members from a sorted set after removing them. Deletes the sorted set if the last member was popped.", "5.0.0"),
    CommandSpec::new("zpopmax", -2, WRITE | FAST, zpopmax).keys(1, 1, 1).acl(Z).group("sorted_set")
        .doc("Returns the highest-scoring members from a sorted set after removing them. Deletes the sorted set if the last member was popped.", "5.0.0"),
    CommandSpec::new("zmpop", -4, WRITE, zmpop).numkeys(1).acl(Z).group("sorted_set")
        .doc("Returns the highest- or lowest-scoring members from one or more sorted sets after removing them. Deletes the sorted set if the last member was popped.", "7.0.0"),
    CommandSpec::new("zrandmember", -2, READONLY, zrandmember).keys(1, 1, 1).acl(Z).group("sorted_set")
        .doc("Returns one or more random members from a sorted set.", "6.2.0"),
    CommandSpec::new("zunion", -3, READONLY, zunion).numkeys(1).acl(Z).group("sorted_set")
        .doc("Returns the union of multiple sorted sets.", "6.2.0"),
    CommandSpec::new("zinter", -3, READONLY, zinter).numkeys(1).acl(Z).group("sorted_set")
        .doc("Returns the intersect of multiple sorted sets.", "6.2.0"),
    CommandSpec::new("zdiff", -3, READONLY, zdiff).numkeys(1).acl(Z).group("sorted_set")
        .doc("Returns the difference between multiple sorted sets.", "6.2.0"),
    CommandSpec::new("zunionstore", -4, WRITE | DENYOOM, zunionstore).keys(1, 1, 1).numkeys(2).acl(Z).group("sorted_set")
        .doc("Stores the union of multiple sorted sets in a key.", "2.0.0"),
    CommandSpec::new("zinterstore", -4, WRITE | DENYOOM, zinterstore).keys(1, 1, 1).numkeys(2).acl(Z).group("sorted_set")
        .doc("Stores the intersect of multiple sorted sets in a key.", "2.0.0"),
    CommandSpec::new("zdiffstore", -4, WRITE | DENYOOM, zdiffstore).keys(1, 1, 1).numkeys(2).acl(Z).group("sorted_set")
        .doc("Stores the difference of multiple sorted sets in a key.", "6.2.0"),
    CommandSpec::new("zintercard", -3, READONLY, zintercard).numkeys(1).acl(Z).group("sorted_set")
        .doc("Returns the number of members of the intersect of multiple sorted sets.", "7.0.0"),
    CommandSpec::new("zscan", -3, READONLY, zscan).keys(1, 1, 1).acl(Z).group("sorted_set")
        .doc("Iterates over members and scores of a sorted set.", "2.8.0"),
];

/// A member with its score, owned.
pub type Scored = (Vec<u8>, f64);

/// One end of a score range: `1.5`, `(1.5` (exclusive), `-inf`, `+inf`.
#[derive(Clone, Copy)]
struct ScoreBound {
    value: f64,
    exclusive: bool,
}

fn score_bound(arg: &[u8]) -> Result<ScoreBound, CommandError> {
    let (exclusive, text) = match arg.first() {
        Some(b'(') => (true, &arg[1..]),
        _ => (false, arg),
    };
    let value = args::parse_f64(text).ok_or(error::MIN_MAX_NOT_FLOAT)?;
    Ok(ScoreBound { value, exclusive })
}

/// One end of a lex range: `-`, `+`, `[member` or `(member`.
#[derive(Clone)]
enum LexBound {
    Min,
    Max,
    Incl(Vec<u8>),
    Excl(Vec<u8>),
}

fn lex_bound(arg: &[u8]) -> Result<LexBound, CommandError> {
    match arg {
        b"-" => Ok(LexBound::Min),
        b"+" => Ok(LexBound::Max),
        [b'[', rest @ ..] => Ok(LexBound::Incl(rest.to_vec())),
        [b'(', rest @ ..] => Ok(LexBound::Excl(rest.to_vec())),
        _ => Err(error::BAD_LEX_RANGE),
    }
}

/// Ascending ranks `[start, end)` within a score range.
fn score_ranks(z: &ZSet, min: ScoreBound, max: ScoreBound) -> (usize, usize) {
    let start = z.partition_by_score(|s| if min.exclusive { s <= min.value } else { s < min.value });
    let end = z.partition_by_score(|s| if max.exclusive { s < max.value } else { s <= max.value });
    (start, end.max(start))
}

/// Ascending ranks `[start, end)` within a lex range (meaningful when all scores are
/// equal, as Redis documents).
fn lex_ranks(z: &ZSet, min: &LexBound, max: &LexBound) -> (usize, usize) {
    let before = |b: &LexBound, for_max: bool| match b {
        LexBound::Min => 0,
        LexBound::Max => z.len(),
        LexBound::Incl(v) if for_max => z.partition(|(_, m)| m <= &v[..]),
        LexBound::Incl(v) => z.partition(|(_, m)| m < &v[..]),
        LexBound::Excl(v) if for_max => z.partition(|(_, m)| m < &v[..]),
        LexBound::Excl(v) => z.partition(|(_, m)| m <= &v[..]),
    };
    let (start, end) = (before(min, false), before(max, true));
    (start, end.max(start))
}

/// Writes members, with their scores when asked: flat in RESP2, [member, score] pairs
/// in RESP3.
fn reply_members<'a>(
    ctx: &mut Ctx<'_>,
    items: impl ExactSizeIterator<Item = (&'a [u8], f64)>,
    withscores: bool,
) {
    let resp3 = ctx.out.resp3;
    let n = items.len();
    ctx.out.array(if withscores && !resp3 { n * 2 } else { n });
    for (m, s) in items {
        if withscores && resp3 {
            ctx.out.array(2);
        }
        ctx.out.bulk(m);
        if withscores {
            ctx.out.double(s);
        }
    }
}

/// Popped members as [member, score] pairs (ZMPOP, BZMPOP, and ZPOPMIN with a count in
/// RESP3).
pub fn reply_popped(ctx: &mut Ctx<'_>, items: &[Scored]) {
    ctx.out.array(items.len());
    for (m, s) in items {
        ctx.out.array(2);
        ctx.out.bulk(m);
        ctx.out.double(*s);
    }
}

// --- ZADD, ZINCRBY, ZREM --------------------------------------------------------------

/// ZADD's options.
struct AddFlags {
    nx: bool,
    xx: bool,
    gt: bool,
    lt: bool,
    ch: bool,
    incr: bool,
}

/// ZADD key [NX | XX] [GT | LT] [CH] [INCR] score member [score member ...]
fn zadd(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    let mut f = AddFlags { nx: false, xx: false, gt: false, lt: false, ch: false, incr: false };
    let mut i = 2;
    while i < argv.len() {
        let a = &argv[i];
        match () {
            _ if args::is(a, "NX") => f.nx = true,
            _ if args::is(a, "XX") => f.xx = true,
            _ if args::is(a, "GT") => f.gt = true,
            _ if args::is(a, "LT") => f.lt = true,
            _ if args::is(a, "CH") => f.ch = true,
            _ if args::is(a, "INCR") => f.incr = true,
            _ => break,
        }
        i += 1;
    }
    let pairs = &argv[i..];
    if pairs.is_empty() || !pairs.len().is_multiple_of(2) {
        return Err(error::SYNTAX);
    }
    if f.nx && f.xx {
        return Err(error::XX_AND_NX);
    }
    if (f.nx && (f.gt || f.lt)) || (f.gt && f.lt) {
        return Err(error::ZADD_GT_LT_NX);
    }
    if f.incr && pairs.len() > 2 {
        return Err(error::ZADD_INCR_PAIR);
    }
    let scores: Vec<f64> = pairs.chunks(2).map(|p| args::float(&p[0])).collect::<Result<_, _>>()?;
    let enc = ctx.encodings();
    let key = &argv[1];
    let mut shard = ctx.shard();
    let existing = ctx.write::<ZSet>(&mut shard, ctx.slot, key)?.is_some();
    if !existing && f.xx {
        if f.incr {
            ctx.out.null()
        } else {
            ctx.out.int(0)
        }
        return Ok(());
    }
    let longest = pairs.chunks(2).map(|p| p[1].len()).max().unwrap_or(0);
    let (z, existed) =
        ctx.upsert(&mut shard, ctx.slot, key, || ZSet::with_capacity(pairs.len() / 2, longest, &enc))?;
    let (mut added, mut changed) = (0, 0);
    let mut incr_result = None;
    for (p, &score) in pairs.chunks(2).zip(&scores) {
        let member = &p[1];
        match z.score(member) {
            Some(_) if f.nx => {}
            None if f.xx => {}
            Some(old) => {
                let new = if f.incr { old + score } else { score };
                if new.is_nan() {
                    return Err(error::SCORE_NAN);
                }
                if (f.gt && new <= old) || (f.lt && new >= old) {
                    continue;
                }
                incr_result = Some(new);
                if new != old {
                    z.set(member, new, &enc);
                    changed += 1;
                }
            }
            None => {
                z.set(member, score, &enc);
                incr_result = Some(score);
                added += 1;
            }
        }
    }
    let emptied = z.is_empty();
    if emptied {
        // Created for nothing (NX/GT/LT refused every member of a new key).
        shard.remove(ctx.db(), ctx.slot, key, ctx.now);
    } else if added + changed > 0 {
        ctx.written(events::ZSET, if f.incr { "zincr" } else { "zadd" }, key, existed);
        ctx.changed_elements((added + changed) as usize);
    }
    if f.incr {
        match incr_result {
            Some(s) => ctx.out.double(s),
            None => ctx.out.null(),
        }
    } else {
        ctx.out.int(if f.ch { added + changed } else { added });
    }
    Ok(())
}

/// ZINCRBY key increment member
fn zincrby(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    let by = args::float(&argv[2])?;
    let enc = ctx.encodings();
    let mut shard = ctx.shard();
    let (z, existed) =
        ctx.upsert(&mut shard, ctx.slot, &argv[1], || ZSet::with_capacity(1, argv[3].len(), &enc))?;
    let new = z.score(&argv[3]).unwrap_or(0.0) + by;
    if new.is_nan() {
        let emptied = z.is_empty();
        if emptied {
            shard.remove(ctx.db(), ctx.slot, &argv[1], ctx.now);
        }
        return Err(error::SCORE_NAN);
    }
    z.set(&argv[3], new, &enc);
    ctx.written(events::ZSET, "zincr", &argv[1], existed);
    ctx.out.double(new);
    Ok(())
}

/// ZREM key member [member ...]
fn zrem(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    let mut shard = ctx.shard();
    let Some(z) = ctx.write::<ZSet>(&mut shard, ctx.slot, &argv[1])? else {
        ctx.out.int(0);
        return Ok(());
    };
    let removed = argv[2..].iter().filter(|m| z.remove(m)).count();
    let emptied = z.is_empty();
    ctx.removed_from(&mut shard, ctx.slot, &argv[1], (events::ZSET, "zrem"), removed > 0, emptied);
    ctx.changed_elements(removed);
    ctx.out.int(removed as i64);
    Ok(())
}

// --- Lookups ---------------------------------------------------------------------------

/// ZSCORE key member
fn zscore(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    let mut shard = ctx.shard();
    match ctx.read::<ZSet>(&mut shard, ctx.slot, &argv[1])?.and_then(|z| z.score(&argv[2])) {
        Some(s) => ctx.out.double(s),
        None => ctx.out.null(),
    }
    Ok(())
}

/// ZMSCORE key member [member ...]
fn zmscore(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    let mut shard = ctx.shard();
    let z = ctx.read::<ZSet>(&mut shard, ctx.slot, &argv[1])?;
    ctx.out.array(argv.len() - 2);
    for m in &argv[2..] {
        match z.and_then(|z| z.score(m)) {
            Some(s) => ctx.out.double(s),
            None => ctx.out.null(),
        }
    }
    Ok(())
}

/// ZCARD key
fn zcard(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    let mut shard = ctx.shard();
    let n = ctx.read::<ZSet>(&mut shard, ctx.slot, &argv[1])?.map_or(0, ZSet::len);
    ctx.out.int(n as i64);
    Ok(())
}

/// ZCOUNT key min max
fn zcount(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    let (min, max) = (score_bound(&argv[2])?, score_bound(&argv[3])?);
    let mut shard = ctx.shard();
    let n = ctx.read::<ZSet>(&mut shard, ctx.slot, &argv[1])?.map_or(0, |z| {
        let (s, e) = score_ranks(z, min, max);
        e - s
    });
    ctx.out.int(n as i64);
    Ok(())
}

/// ZLEXCOUNT key min max
fn zlexcount(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    let (min, max) = (lex_bound(&argv[2])?, lex_bound(&argv[3])?);
    let mut shard = ctx.shard();
    let n = ctx.read::<ZSet>(&mut shard, ctx.slot, &argv[1])?.map_or(0, |z| {
        let (s, e) = lex_ranks(z, &min, &max);
        e - s
    });
    ctx.out.int(n as i64);
    Ok(())
}

fn rank(ctx: &mut Ctx<'_>, argv: &[Bytes], rev: bool) -> CmdResult {
    let withscore = match argv.get(3) {
        Some(a) if args::is(a, "WITHSCORE") && argv.len() == 4 => true,
        Some(_) => return Err(error::SYNTAX),
        None => false,
    };
    let mut shard = ctx.shard();
    let found = ctx.read::<ZSet>(&mut shard, ctx.slot, &argv[1])?.and_then(|z| {
        let r = z.rank(&argv[2])?;
        Some((if rev { z.len() - 1 - r } else { r }, z.score(&argv[2])?))
    });
    match (found, withscore) {
        (None, false) => ctx.out.null(),
        (None, true) => ctx.out.null_array(),
        (Some((r, _)), false) => ctx.out.int(r as i64),
        (Some((r, s)), true) => {
            ctx.out.array(2);
            ctx.out.int(r as i64);
            ctx.out.double(s);
        }
    }
    Ok(())
}

/// ZRANK key member [WITHSCORE]
fn zrank(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    rank(ctx, argv, false)
}

/// ZREVRANK key member [WITHSCORE]
fn zrevrank(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    rank(ctx, argv, true)
}

// --- Ranges ------------------------------------------------------------------------------

/// What a range selects by.
enum By {
    Rank(i64, i64),
    Score(ScoreBound, ScoreBound),
    Lex(LexBound, LexBound),
}

/// A parsed range request (ZRANGE's general form; the older commands map onto it).
struct RangeSpec {
    by: By,
    rev: bool,
    /// LIMIT offset count (count < 0: all).
    limit: Option<(i64, i64)>,
    withscores: bool,
}

impl RangeSpec {
    /// The selected members, in reply order.
    fn select<'z>(&self, z: &'z ZSet) -> Vec<(&'z [u8], f64)> {
        let len = z.len();
        let (start, end) = match &self.by {
            By::Rank(a, b) => match super::list::index_range(*a, *b, len) {
                // A reversed rank range counts from the top.
                Some((s, e)) if self.rev => (len - e, len - s),
                Some(r) => r,
                None => return Vec::new(),
            },
            By::Score(min, max) => score_ranks(z, *min, *max),
            By::Lex(min, max) => lex_ranks(z, min, max),
        };
        let (offset, count) = self.limit.unwrap_or((0, -1));
        if offset < 0 {
            return Vec::new();
        }
        let take = if count < 0 { usize::MAX } else { count as usize };
        z.range(start, end, self.rev).skip(offset as usize).take(take).collect()
    }
}

/// Parses `start stop [BYSCORE | BYLEX] [REV] [LIMIT offset count] [WITHSCORES]` from
/// `argv[at..]`.
fn parse_zrange(argv: &[Bytes], at: usize, allow_withscores: bool) -> Result<RangeSpec, CommandError> {
    let (mut byscore, mut bylex, mut rev, mut limit, mut withscores) = (false, false, false, None, false);
    let mut i = at + 2;
    while i < argv.len() {
        let a = &argv[i];
        if args::is(a, "BYSCORE") {
            byscore = true;
        } else if args::is(a, "BYLEX") {
            bylex = true;
        } else if args::is(a, "REV") {
            rev = true;
        } else if args::is(a, "WITHSCORES") && allow_withscores {
            withscores = true;
        } else if args::is(a, "LIMIT") && i + 2 < argv.len() {
            limit = Some((args::int(&argv[i + 1])?, args::int(&argv[i + 2])?));
            i += 2;
        } else {
            return Err(error::SYNTAX);
        }
        i += 1;
    }
    if byscore && bylex {
        return Err(error::SYNTAX);
    }
    if limit.is_some() && !byscore && !bylex {
        return Err(error::LIMIT_NEEDS_BY);
    }
    if withscores && bylex {
        return Err(error::WITHSCORES_BYLEX);
    }
    // With REV, the first bound given is the high end.
    let (lo, hi) =
        if rev && (byscore || bylex) { (&argv[at + 1], &argv[at]) } else { (&argv[at], &argv[at + 1]) };
    let by = if byscore {
        By::Score(score_bound(lo)?, score_bound(hi)?)
    } else if bylex {
        By::Lex(lex_bound(lo)?, lex_bound(hi)?)
    } else {
        By::Rank(args::int(&argv[at])?, args::int(&argv[at + 1])?)
    };
    Ok(RangeSpec { by, rev, limit, withscores })
}

/// Parses the older range commands' `[WITHSCORES] [LIMIT offset count]` tail.
fn parse_old_tail(
    argv: &[Bytes],
    at: usize,
    allow_withscores: bool,
    allow_limit: bool,
) -> Result<(bool, Option<(i64, i64)>), CommandError> {
    let (mut withscores, mut limit) = (false, None);
    let mut i = at;
    while i < argv.len() {
        if allow_withscores && args::is(&argv[i], "WITHSCORES") {
            withscores = true;
        } else if allow_limit && args::is(&argv[i], "LIMIT") && i + 2 < argv.len() {
            limit = Some((args::int(&argv[i + 1])?, args::int(&argv[i + 2])?));
            i += 2;
        } else {
            return Err(error::SYNTAX);
        }
        i += 1;
    }
    Ok((withscores, limit))
}

fn run_range(ctx: &mut Ctx<'_>, key: &[u8], spec: &RangeSpec) -> CmdResult {
    let mut shard = ctx.shard();
    let Some(z) = ctx.read::<ZSet>(&mut shard, ctx.slot, key)? else {
        ctx.out.array(0);
        return Ok(());
    };
    let items = spec.select(z);
    reply_members(ctx, items.into_iter(), spec.withscores);
    Ok(())
}

/// ZRANGE key start stop [BYSCORE | BYLEX] [REV] [LIMIT offset count] [WITHSCORES]
fn zrange(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    let spec = parse_zrange(argv, 2, true)?;
    run_range(ctx, &argv[1], &spec)
}

/// ZREVRANGE key start stop [WITHSCORES]
fn zrevrange(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    let (withscores, _) = parse_old_tail(argv, 4, true, false)?;
    let by = By::Rank(args::int(&argv[2])?, args::int(&argv[3])?);
    run_range(ctx, &argv[1], &RangeSpec { by, rev: true, limit: None, withscores })
}

fn by_score(ctx: &mut Ctx<'_>, argv: &[Bytes], rev: bool) -> CmdResult {
    let (withscores, limit) = parse_old_tail(argv, 4, true, true)?;
    let (lo, hi) = if rev { (&argv[3], &argv[2]) } else { (&argv[2], &argv[3]) };
    let by = By::Score(score_bound(lo)?, score_bound(hi)?);
    run_range(ctx, &argv[1], &RangeSpec { by, rev, limit, withscores })
}

/// ZRANGEBYSCORE key min max [WITHSCORES] [LIMIT offset count]
fn zrangebyscore(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    by_score(ctx, argv, false)
}

/// ZREVRANGEBYSCORE key max min [WITHSCORES] [LIMIT offset count]
fn zrevrangebyscore(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    by_score(ctx, argv, true)
}

fn by_lex(ctx: &mut Ctx<'_>, argv: &[Bytes], rev: bool) -> CmdResult {
    let (_, limit) = parse_old_tail(argv, 4, false, true)?;
    let (lo, hi) = if rev { (&argv[3], &argv[2]) } else { (&argv[2], &argv[3]) };
    let by = By::Lex(lex_bound(lo)?, lex_bound(hi)?);
    run_range(ctx, &argv[1], &RangeSpec { by, rev, limit, withscores: false })
}

/// ZRANGEBYLEX key min max [LIMIT offset count]
fn zrangebylex(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    by_lex(ctx, argv, false)
}

/// ZREVRANGEBYLEX key max min [LIMIT offset count]
fn zrevrangebylex(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    by_lex(ctx, argv, true)
}

/// A new sorted set holding `items`.
fn build(items: impl IntoIterator<Item = (Vec<u8>, f64)>, len: usize, ctx: &Ctx<'_>) -> ZSet {
    let enc = ctx.encodings();
    let items: Vec<(Vec<u8>, f64)> = items.into_iter().collect();
    let longest = items.iter().map(|(m, _)| m.len()).max().unwrap_or(0);
    let mut z = ZSet::with_capacity(len.max(items.len()), longest, &enc);
    for (m, s) in items {
        z.set(&m, s, &enc);
    }
    z
}

/// ZRANGESTORE dst src min max [BYSCORE | BYLEX] [REV] [LIMIT offset count]
fn zrangestore(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    let spec = parse_zrange(argv, 3, false)?;
    let (ds, ss) = (key_slot(&argv[1]), key_slot(&argv[2]));
    let mut locked = ctx.server.keyspace.lock_shards([ds, ss]);
    let items: Vec<Scored> = match ctx.read::<ZSet>(locked.shard(ss), ss, &argv[2])? {
        Some(z) => spec.select(z).into_iter().map(|(m, s)| (m.to_vec(), s)).collect(),
        None => Vec::new(),
    };
    let n = items.len();
    let z = build(items, 0, ctx);
    ctx.store(locked.shard(ds), ds, &argv[1], z, events::ZSET, "zrangestore");
    ctx.out.int(n as i64);
    Ok(())
}

fn remove_range(ctx: &mut Ctx<'_>, argv: &[Bytes], by: By, event: &str) -> CmdResult {
    let spec = RangeSpec { by, rev: false, limit: None, withscores: false };
    let mut shard = ctx.shard();
    let Some(z) = ctx.write::<ZSet>(&mut shard, ctx.slot, &argv[1])? else {
        ctx.out.int(0);
        return Ok(());
    };
    let doomed: Vec<Vec<u8>> = spec.select(z).into_iter().map(|(m, _)| m.to_vec()).collect();
    for m in &doomed {
        z.remove(m);
    }
    let emptied = z.is_empty();
    ctx.removed_from(&mut shard, ctx.slot, &argv[1], (events::ZSET, event), !doomed.is_empty(), emptied);
    ctx.changed_elements(doomed.len());
    ctx.out.int(doomed.len() as i64);
    Ok(())
}

/// ZREMRANGEBYRANK key start stop
fn zremrangebyrank(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    let by = By::Rank(args::int(&argv[2])?, args::int(&argv[3])?);
    remove_range(ctx, argv, by, "zremrangebyrank")
}

/// ZREMRANGEBYSCORE key min max
fn zremrangebyscore(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    let by = By::Score(score_bound(&argv[2])?, score_bound(&argv[3])?);
    remove_range(ctx, argv, by, "zremrangebyscore")
}

/// ZREMRANGEBYLEX key min max
fn zremrangebylex(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    let by = By::Lex(lex_bound(&argv[2])?, lex_bound(&argv[3])?);
    remove_range(ctx, argv, by, "zremrangebylex")
}

// --- Pops ------------------------------------------------------------------------------

/// Pops up to `count` lowest (or highest) members of the sorted set at `key`; None when
/// the key does not exist.
fn pop_from(
    ctx: &Ctx<'_>,
    shard: &mut Shard,
    slot: u16,
    key: &[u8],
    count: usize,
    min: bool,
) -> Result<Option<Vec<Scored>>, CommandError> {
    let Some(z) = ctx.write::<ZSet>(shard, slot, key)? else { return Ok(None) };
    let n = count.min(z.len());
    let items: Vec<Scored> = if min {
        z.range(0, n, false).map(|(m, s)| (m.to_vec(), s)).collect()
    } else {
        z.range(z.len() - n, z.len(), true).map(|(m, s)| (m.to_vec(), s)).collect()
    };
    for (m, _) in &items {
        z.remove(m);
    }
    let emptied = z.is_empty();
    let event = (events::ZSET, if min { "zpopmin" } else { "zpopmax" });
    ctx.removed_from(shard, slot, key, event, !items.is_empty(), emptied);
    ctx.changed_elements(items.len());
    Ok(Some(items))
}

/// Pops from the first non-empty sorted set of `keys`: (key, members).
pub fn mpop_zsets(
    ctx: &Ctx<'_>,
    keys: &[Bytes],
    min: bool,
    count: usize,
) -> Result<Option<(Bytes, Vec<Scored>)>, CommandError> {
    for key in keys {
        let slot = key_slot(key);
        let mut shard = ctx.server.keyspace.lock(slot);
        match pop_from(ctx, &mut shard, slot, key, count, min) {
            Ok(Some(items)) => return Ok(Some((key.clone(), items))),
            Ok(None) => {}
            // A woken client skips a key that is no longer a sorted set (Ctx::woken).
            Err(e) if e == error::WRONGTYPE && ctx.woken() => {}
            Err(e) => return Err(e),
        }
    }
    Ok(None)
}

/// ZPOPMIN/ZPOPMAX key [count]
fn zpop(ctx: &mut Ctx<'_>, argv: &[Bytes], min: bool) -> CmdResult {
    if argv.len() > 3 {
        return Err(error::SYNTAX);
    }
    let count = super::list::pop_count(argv.get(2))?;
    let mut shard = ctx.shard();
    let items = pop_from(ctx, &mut shard, ctx.slot, &argv[1], count.unwrap_or(1), min)?.unwrap_or_default();
    drop(shard);
    if count.is_some() && ctx.out.resp3 {
        reply_popped(ctx, &items);
    } else {
        // Flat [member, score, ...] (RESP3 too when no count was given, as Redis).
        ctx.out.array(items.len() * 2);
        for (m, s) in &items {
            ctx.out.bulk(m);
            ctx.out.double(*s);
        }
    }
    Ok(())
}

fn zpopmin(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    zpop(ctx, argv, true)
}

fn zpopmax(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    zpop(ctx, argv, false)
}

/// ZMPOP numkeys key [key ...] MIN|MAX [COUNT count]
fn zmpop(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    let (keys, word, count) = mpop_args(argv, 1, &["MIN", "MAX"])?;
    match mpop_zsets(ctx, keys, word == 0, count)? {
        Some((key, items)) => {
            ctx.out.array(2);
            ctx.out.bulk(&key);
            reply_popped(ctx, &items);
        }
        None => ctx.out.null_array(),
    }
    Ok(())
}

/// ZRANDMEMBER key [count [WITHSCORES]]
fn zrandmember(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    let count = match argv.get(2) {
        Some(c) => Some(random_count(c)?),
        None => None,
    };
    let withscores = match argv.get(3) {
        Some(a) if args::is(a, "WITHSCORES") && argv.len() == 4 => true,
        Some(_) => return Err(error::SYNTAX),
        None => false,
    };
    let mut shard = ctx.shard();
    let z = ctx.read::<ZSet>(&mut shard, ctx.slot, &argv[1])?;
    let Some(count) = count else {
        match z {
            Some(z) => ctx.out.bulk(z.random().0),
            None => ctx.out.null(),
        }
        return Ok(());
    };
    let Some(z) = z else {
        ctx.out.array(0);
        return Ok(());
    };
    let items: Vec<(&[u8], f64)> = if count < 0 {
        (0..count.unsigned_abs()).map(|_| z.random()).collect()
    } else {
        random_positions(z.len(), count).into_iter().map(|i| z.nth_stored(i)).collect()
    };
    reply_members(ctx, items.into_iter(), withscores);
    Ok(())
}

// --- Set algebra ---------------------------------------------------------------------------

#[derive(Clone, Copy, PartialEq)]
enum Aggregate {
    Sum,
    Min,
    Max,
}

#[derive(Clone, Copy, PartialEq)]
enum Op {
    Union,
    Inter,
    Diff,
}

/// The inputs and options of ZUNION/ZINTER/ZDIFF (and STORE forms) after `numkeys`.
struct Algebra<'a> {
    keys: &'a [Bytes],
    weights: Vec<f64>,
    aggregate: Aggregate,
    withscores: bool,
}

fn parse_algebra<'a>(
    argv: &'a [Bytes],
    numkeys_at: usize,
    op: Op,
    store: bool,
    cmd: &str,
) -> Result<Algebra<'a>, CommandError> {
    let numkeys = args::int(&argv[numkeys_at])?;
    if numkeys <= 0 {
        return Err(at_least_one_key(cmd));
    }
    let first = numkeys_at + 1;
    let Some(end) = first.checked_add(numkeys as usize).filter(|&e| e <= argv.len()) else {
        return Err(error::SYNTAX);
    };
    let mut a = Algebra {
        keys: &argv[first..end],
        weights: vec![1.0; numkeys as usize],
        aggregate: Aggregate::Sum,
        withscores: false,
    };
    let mut i = end;
    while i < argv.len() {
        let opt = &argv[i];
        if op != Op::Diff && args::is(opt, "WEIGHTS") && i + a.keys.len() < argv.len() {
            for (w, arg) in a.weights.iter_mut().zip(&argv[i + 1..=i + a.keys.len()]) {
                *w = args::parse_f64(arg).ok_or(error::WEIGHT_NOT_FLOAT)?;
            }
            i += a.keys.len();
        } else if op != Op::Diff && args::is(opt, "AGGREGATE") && i + 1 < argv.len() {
            a.aggregate = match args::keyword(&argv[i + 1], &["SUM", "MIN", "MAX"]) {
                Some(0) => Aggregate::Sum,
                Some(1) => Aggregate::Min,
                Some(_) => Aggregate::Max,
                None => return Err(error::SYNTAX),
            };
            i += 1;
        } else if !store && args::is(opt, "WITHSCORES") {
            a.withscores = true;
        } else {
            return Err(error::SYNTAX);
        }
        i += 1;
    }
    Ok(a)
}

/// A sorted set or a plain set (members scored 1) copied out, for the algebra.
fn load_input(
    ctx: &Ctx<'_>,
    shard: &mut Shard,
    slot: u16,
    key: &[u8],
) -> Result<Option<Vec<Scored>>, CommandError> {
    let Some(e) = shard.get(ctx.db(), slot, key, ctx.now) else { return Ok(None) };
    match e.into_entry().value() {
        ValueRef::Obj(Object::ZSet(z)) => {
            Ok(Some(z.range(0, z.len(), false).map(|(m, s)| (m.to_vec(), s)).collect()))
        }
        ValueRef::Obj(Object::Set(s)) => Ok(Some(s.iter().map(|m| (m.into_owned(), 1.0)).collect())),
        _ => Err(error::WRONGTYPE),
    }
}

fn combine(acc: f64, v: f64, agg: Aggregate) -> f64 {
    let r = match agg {
        Aggregate::Sum => acc + v,
        Aggregate::Min => acc.min(v),
        Aggregate::Max => acc.max(v),
    };
    // inf + -inf: Redis takes 0.
    if r.is_nan() { 0.0 } else { r }
}

/// Computes the operation over the inputs (all shards involved locked together, with
/// the destination's when storing), in member order of the result.
fn compute(ctx: &Ctx<'_>, a: &Algebra<'_>, op: Op, dst: Option<&Bytes>) -> Result<Vec<Scored>, CommandError> {
    let slots: Vec<u16> = a.keys.iter().chain(dst).map(|k| key_slot(k)).collect();
    let mut locked = ctx.server.keyspace.lock_shards(slots.iter().copied());
    let mut inputs = Vec::with_capacity(a.keys.len());
    for (k, &slot) in a.keys.iter().zip(&slots) {
        inputs.push(load_input(ctx, locked.shard(slot), slot, k)?.unwrap_or_default());
    }
    drop(locked);
    let weighted = |s: f64, w: f64| {
        let v = s * w;
        if v.is_nan() { 0.0 } else { v }
    };
    let mut acc: hashbrown::HashMap<Vec<u8>, f64> = hashbrown::HashMap::new();
    match op {
        Op::Union => {
            for (input, &w) in inputs.iter().zip(&a.weights) {
                for (m, s) in input {
                    let v = weighted(*s, w);
                    acc.entry_ref(m.as_slice()).and_modify(|x| *x = combine(*x, v, a.aggregate)).or_insert(v);
                }
            }
        }
        Op::Inter => {
            let (first, rest) = inputs.split_first().expect("at least one input");
            let rest: Vec<hashbrown::HashMap<&[u8], f64>> =
                rest.iter().map(|input| input.iter().map(|(m, s)| (m.as_slice(), *s)).collect()).collect();
            'members: for (m, s) in first {
                let mut v = weighted(*s, a.weights[0]);
                for (input, &w) in rest.iter().zip(&a.weights[1..]) {
                    match input.get(m.as_slice()) {
                        Some(s) => v = combine(v, weighted(*s, w), a.aggregate),
                        None => continue 'members,
                    }
                }
                acc.insert(m.clone(), v);
            }
        }
        Op::Diff => {
            let (first, rest) = inputs.split_first().expect("at least one input");
            let others: hashbrown::HashSet<&[u8]> =
                rest.iter().flatten().map(|(m, _)| m.as_slice()).collect();
            for (m, s) in first {
                if !others.contains(m.as_slice()) {
                    acc.insert(m.clone(), *s);
                }
            }
        }
    }
    let mut out: Vec<Scored> = acc.into_iter().collect();
    out.sort_by(|x, y| {
        x.1.partial_cmp(&y.1).unwrap_or(std::cmp::Ordering::Equal).then_with(|| x.0.cmp(&y.0))
    });
    Ok(out)
}

fn algebra(ctx: &mut Ctx<'_>, argv: &[Bytes], op: Op, cmd: &str) -> CmdResult {
    let a = parse_algebra(argv, 1, op, false, cmd)?;
    let items = compute(ctx, &a, op, None)?;
    reply_members(ctx, items.iter().map(|(m, s)| (&m[..], *s)), a.withscores);
    Ok(())
}

fn algebra_store(ctx: &mut Ctx<'_>, argv: &[Bytes], op: Op, cmd: &str) -> CmdResult {
    let a = parse_algebra(argv, 2, op, true, cmd)?;
    let items = compute(ctx, &a, op, Some(&argv[1]))?;
    let n = items.len();
    let z = build(items, n, ctx);
    let slot = key_slot(&argv[1]);
    let mut shard = ctx.server.keyspace.lock(slot);
    ctx.store(&mut shard, slot, &argv[1], z, events::ZSET, cmd);
    ctx.out.int(n as i64);
    Ok(())
}

/// ZUNION numkeys key [key ...] [WEIGHTS weight ...] [AGGREGATE SUM|MIN|MAX] [WITHSCORES]
fn zunion(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    algebra(ctx, argv, Op::Union, "zunion")
}

/// ZINTER numkeys key [key ...] [WEIGHTS weight ...] [AGGREGATE SUM|MIN|MAX] [WITHSCORES]
fn zinter(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    algebra(ctx, argv, Op::Inter, "zinter")
}

/// ZDIFF numkeys key [key ...] [WITHSCORES]
fn zdiff(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    algebra(ctx, argv, Op::Diff, "zdiff")
}

/// ZUNIONSTORE destination numkeys key [key ...] [WEIGHTS ...] [AGGREGATE ...]
fn zunionstore(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    algebra_store(ctx, argv, Op::Union, "zunionstore")
}

/// ZINTERSTORE destination numkeys key [key ...] [WEIGHTS ...] [AGGREGATE ...]
fn zinterstore(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    algebra_store(ctx, argv, Op::Inter, "zinterstore")
}

/// ZDIFFSTORE destination numkeys key [key ...]
fn zdiffstore(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    algebra_store(ctx, argv, Op::Diff, "zdiffstore")
}

/// ZINTERCARD numkeys key [key ...] [LIMIT limit]
fn zintercard(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    // ZINTERCARD reads numkeys as ZINTER does (its own texts), then LIMIT.
    let numkeys = args::int(&argv[1])?;
    if numkeys <= 0 {
        return Err(at_least_one_key("zintercard"));
    }
    let Some(end) = 2usize.checked_add(numkeys as usize).filter(|&e| e <= argv.len()) else {
        return Err(error::SYNTAX);
    };
    let keys = &argv[2..end];
    let limit = intercard_limit(&argv[end..])?;
    let a = Algebra { keys, weights: vec![1.0; keys.len()], aggregate: Aggregate::Sum, withscores: false };
    let n = compute(ctx, &a, Op::Inter, None)?.len();
    ctx.out.int(if limit > 0 { n.min(limit) } else { n } as i64);
    Ok(())
}

fn at_least_one_key(cmd: &str) -> CommandError {
    CommandError::owned(format!("ERR at least 1 input key is needed for '{cmd}' command"))
}

/// `[LIMIT limit]` after the keys of ZINTERCARD and SINTERCARD.
fn intercard_limit(rest: &[Bytes]) -> Result<usize, CommandError> {
    match rest {
        [] => Ok(0),
        [l, v] if args::is(l, "LIMIT") => Ok(args::uint(v, error::LIMIT_NEGATIVE)? as usize),
        _ => Err(error::SYNTAX),
    }
}

/// `numkeys key [key ...] [LIMIT limit]` of SINTERCARD.
pub fn intercard_args(argv: &[Bytes]) -> Result<(&[Bytes], usize), CommandError> {
    let numkeys = args::numkeys(&argv[1])?;
    let Some(end) = 2usize.checked_add(numkeys).filter(|&e| e <= argv.len()) else {
        return Err(error::NUMKEYS_OVER_ARGS);
    };
    Ok((&argv[2..end], intercard_limit(&argv[end..])?))
}

/// ZSCAN key cursor [MATCH pattern] [COUNT count]
fn zscan(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    let opts = ScanArgs::parse(argv, 2, None)?;
    let mut shard = ctx.shard();
    let (items, next) = match ctx.read::<ZSet>(&mut shard, ctx.slot, &argv[1])? {
        Some(z) => z.scan(opts.cursor, opts.count),
        None => (Vec::new(), 0),
    };
    let kept: Vec<_> = items.into_iter().filter(|(m, _)| opts.matches(m)).collect();
    ctx.out.array(2);
    ctx.out.bulk_int(next as i64);
    ctx.out.array(kept.len() * 2);
    for (m, s) in kept {
        ctx.out.bulk(m);
        ctx.out.bulk(crate::protocol::reply::d2string(s).as_bytes());
    }
    Ok(())
}
