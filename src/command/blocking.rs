//! Blocking commands: BLPOP, BRPOP, BLMOVE, BRPOPLPUSH, BLMPOP, BZPOPMIN, BZPOPMAX,
//! BZMPOP. Each first tries as its non-blocking form; finding nothing, it registers a
//! waiter ([`crate::server::blocking`]), tries once more, and leaves the waiting to the
//! connection, which runs it again when woken. Inside a transaction they never block.

use bytes::Bytes;

use super::Ctx;
use super::list::{move_element, mpop_args, mpop_lists, reply_key_items, side};
use super::table::*;
use super::zset::{mpop_zsets, reply_popped};
use crate::error::{self, CmdResult, CommandError};
use crate::protocol::args;
use crate::server::session::{BlockState, TimeoutReply};

pub const COMMANDS: &[CommandSpec] = &[
    CommandSpec::new("blpop", -3, WRITE | NOSCRIPT | BLOCKING, blpop).keys(1, -2, 1).acl(LIST).group("list")
        .doc("Removes and returns the first element in a list. Blocks until an element is available otherwise. Deletes the list if the last element was popped.", "2.0.0"),
    CommandSpec::new("brpop", -3, WRITE | NOSCRIPT | BLOCKING, brpop).keys(1, -2, 1).acl(LIST).group("list")
        .doc("Removes and returns the last element in a list. Blocks until an element is available otherwise. Deletes the list if the last element was popped.", "2.0.0"),
    CommandSpec::new("blmove", 6, WRITE | DENYOOM | NOSCRIPT | BLOCKING, blmove).keys(1, 2, 1).acl(LIST).group("list")
        .doc("Pops an element from a list, pushes it to another list and returns it. Blocks until an element is available otherwise. Deletes the list if the last element was moved.", "6.2.0"),
    CommandSpec::new("brpoplpush", 4, WRITE | DENYOOM | NOSCRIPT | BLOCKING, brpoplpush).keys(1, 2, 1).acl(LIST).group("list")
        .doc("Pops an element from a list, pushes it to another list and returns it. Block until an element is available otherwise. Deletes the list if the last element was popped.", "2.2.0"),
    CommandSpec::new("blmpop", -5, WRITE | BLOCKING, blmpop).numkeys(2).acl(LIST).group("list")
        .doc("Pops the first element from one of multiple lists. Blocks until an element is available otherwise. Deletes the list if the last element was popped.", "7.0.0"),
    CommandSpec::new("bzpopmin", -3, WRITE | NOSCRIPT | FAST | BLOCKING, bzpopmin).keys(1, -2, 1).acl(SORTEDSET).group("sorted_set")
        .doc("Removes and returns the member with the lowest score from one or more sorted sets. Blocks until a member is available otherwise. Deletes the sorted set if the last element was popped.", "5.0.0"),
    CommandSpec::new("bzpopmax", -3, WRITE | NOSCRIPT | FAST | BLOCKING, bzpopmax).keys(1, -2, 1).acl(SORTEDSET).group("sorted_set")
        .doc("Removes and returns the member with the highest score from one or more sorted sets. Blocks until a member available otherwise.  Deletes the sorted set if the last element was popped.", "5.0.0"),
    CommandSpec::new("bzmpop", -5, WRITE | BLOCKING, bzmpop).numkeys(2).acl(SORTEDSET).group("sorted_set")
        .doc("Removes and returns a member by score from one or more sorted sets. Blocks until a member is available otherwise. Deletes the sorted set if the last element was popped.", "7.0.0"),
];

/// A blocking timeout in seconds (fractions allowed, 0 = forever) as a deadline in Unix
/// milliseconds, with Redis's errors.
fn deadline(ctx: &Ctx<'_>, arg: &[u8]) -> Result<Option<u64>, CommandError> {
    let secs = args::parse_f64(arg).filter(|s| s.is_finite()).ok_or(error::TIMEOUT_NOT_FLOAT)?;
    if secs < 0.0 {
        return Err(error::TIMEOUT_NEGATIVE);
    }
    let ms = (secs * 1000.0).ceil();
    if ms > (u64::MAX / 2) as f64 {
        return Err(error::TIMEOUT_OUT_OF_RANGE);
    }
    Ok(if ms == 0.0 { None } else { Some(ctx.now + ms as u64) })
}

/// Runs `attempt` (true: it found data and replied); when it finds nothing, blocks on
/// `keys` — or, inside a transaction, answers the timeout reply at once.
fn block_on(
    ctx: &mut Ctx<'_>,
    keys: &[Bytes],
    deadline: Option<u64>,
    on_timeout: TimeoutReply,
    attempt: impl Fn(&mut Ctx<'_>) -> Result<bool, CommandError>,
) -> CmdResult {
    if attempt(ctx)? {
        return Ok(());
    }
    if ctx.session.in_exec {
        match on_timeout {
            TimeoutReply::NullArray => ctx.out.null_array(),
            TimeoutReply::Null => ctx.out.null(),
        }
        return Ok(());
    }
    let blocked = match ctx.session.resume.take() {
        // Woken, and still registered since before the look: nothing slipped past.
        Some(b) => b,
        None => {
            let b = ctx.server.blocking.register(ctx.session.info.id, ctx.db(), keys, deadline);
            // Registered first, then looked again: a push in between is not missed.
            if attempt(ctx)? {
                return Ok(());
            }
            b
        }
    };
    ctx.session.blocked = Some(BlockState { blocked, on_timeout });
    Ok(())
}

/// BLPOP/BRPOP key [key ...] timeout
fn bpop(ctx: &mut Ctx<'_>, argv: &[Bytes], front: bool) -> CmdResult {
    let deadline = deadline(ctx, &argv[argv.len() - 1])?;
    let keys = &argv[1..argv.len() - 1];
    block_on(ctx, keys, deadline, TimeoutReply::NullArray, |ctx| match mpop_lists(ctx, keys, front, 1)? {
        Some((key, items)) => {
            ctx.out.array(2);
            ctx.out.bulk(&key);
            ctx.out.bulk(&items[0]);
            let pop = if front { "LPOP" } else { "RPOP" };
            ctx.replicate_as(vec![vec![Bytes::from_static(pop.as_bytes()), Bytes::copy_from_slice(&key)]]);
            Ok(true)
        }
        None => Ok(false),
    })
}

fn blpop(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    bpop(ctx, argv, true)
}

fn brpop(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    bpop(ctx, argv, false)
}

fn bmove(ctx: &mut Ctx<'_>, argv: &[Bytes], from_left: bool, to_left: bool, timeout: &[u8]) -> CmdResult {
    let deadline = deadline(ctx, timeout)?;
    let (src, dst) = (&argv[1], &argv[2]);
    block_on(ctx, &argv[1..2], deadline, TimeoutReply::Null, |ctx| {
        match move_element(ctx, src, dst, from_left, to_left)? {
            Some(item) => {
                ctx.out.bulk(&item);
                let side = |left| Bytes::from_static(if left { b"LEFT" } else { b"RIGHT" });
                ctx.replicate_as(vec![vec![
                    Bytes::from_static(b"LMOVE"),
                    src.clone(),
                    dst.clone(),
                    side(from_left),
                    side(to_left),
                ]]);
                Ok(true)
            }
            None => Ok(false),
        }
    })
}

/// BLMOVE source destination LEFT|RIGHT LEFT|RIGHT timeout
fn blmove(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    let (from_left, to_left) = (side(&argv[3])?, side(&argv[4])?);
    bmove(ctx, argv, from_left, to_left, &argv[5])
}

/// BRPOPLPUSH source destination timeout
fn brpoplpush(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    bmove(ctx, argv, false, true, &argv[3])
}

/// BLMPOP timeout numkeys key [key ...] LEFT|RIGHT [COUNT count]
fn blmpop(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    let deadline = deadline(ctx, &argv[1])?;
    let (keys, word, count) = mpop_args(argv, 2, &["LEFT", "RIGHT"])?;
    block_on(ctx, keys, deadline, TimeoutReply::NullArray, |ctx| {
        match mpop_lists(ctx, keys, word == 0, count)? {
            Some((key, items)) => {
                reply_key_items(ctx, &key, &items);
                let pop = if word == 0 { "LPOP" } else { "RPOP" };
                ctx.replicate_as(vec![vec![
                    Bytes::from_static(pop.as_bytes()),
                    Bytes::copy_from_slice(&key),
                    Bytes::from(items.len().to_string()),
                ]]);
                Ok(true)
            }
            None => Ok(false),
        }
    })
}

/// BZPOPMIN/BZPOPMAX key [key ...] timeout: [key, member, score].
fn bzpop(ctx: &mut Ctx<'_>, argv: &[Bytes], min: bool) -> CmdResult {
    let deadline = deadline(ctx, &argv[argv.len() - 1])?;
    let keys = &argv[1..argv.len() - 1];
    block_on(ctx, keys, deadline, TimeoutReply::NullArray, |ctx| match mpop_zsets(ctx, keys, min, 1)? {
        Some((key, items)) => {
            let (member, score) = &items[0];
            ctx.out.array(3);
            ctx.out.bulk(&key);
            ctx.out.bulk(member);
            ctx.out.double(*score);
            let pop = if min { "ZPOPMIN" } else { "ZPOPMAX" };
            ctx.replicate_as(vec![vec![Bytes::from_static(pop.as_bytes()), Bytes::copy_from_slice(&key)]]);
            Ok(true)
        }
        None => Ok(false),
    })
}

fn bzpopmin(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    bzpop(ctx, argv, true)
}

fn bzpopmax(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    bzpop(ctx, argv, false)
}

/// BZMPOP timeout numkeys key [key ...] MIN|MAX [COUNT count]
fn bzmpop(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    let deadline = deadline(ctx, &argv[1])?;
    let (keys, word, count) = mpop_args(argv, 2, &["MIN", "MAX"])?;
    block_on(ctx, keys, deadline, TimeoutReply::NullArray, |ctx| {
        match mpop_zsets(ctx, keys, word == 0, count)? {
            Some((key, items)) => {
                ctx.out.array(2);
                ctx.out.bulk(&key);
                reply_popped(ctx, &items);
                let pop = if word == 0 { "ZPOPMIN" } else { "ZPOPMAX" };
                ctx.replicate_as(vec![vec![
                    Bytes::from_static(pop.as_bytes()),
                    Bytes::copy_from_slice(&key),
                    Bytes::from(items.len().to_string()),
                ]]);
                Ok(true)
            }
            None => Ok(false),
        }
    })
}
