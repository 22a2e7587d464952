//! Pub/Sub commands: SUBSCRIBE, UNSUBSCRIBE, PSUBSCRIBE, PUNSUBSCRIBE, SSUBSCRIBE,
//! SUNSUBSCRIBE, PUBLISH, SPUBLISH and PUBSUB. The registry and message fan-out live in
//! `server::pubsub`.

use bytes::Bytes;

use super::Ctx;
use super::table::*;
use crate::error::CmdResult;
use crate::server::pubsub::Kind;

const SUB: u32 = PUBSUB | NOSCRIPT | LOADING | STALE;

pub const COMMANDS: &[CommandSpec] = &[
    CommandSpec::new("subscribe", -2, SUB, subscribe)
        .group("pubsub")
        .doc("Listens for messages published to channels.", "2.0.0"),
    CommandSpec::new("unsubscribe", -1, SUB, unsubscribe)
        .group("pubsub")
        .doc("Stops listening to messages posted to channels.", "2.0.0"),
    CommandSpec::new("psubscribe", -2, SUB, psubscribe)
        .group("pubsub")
        .doc("Listens for messages published to channels that match one or more patterns.", "2.0.0"),
    CommandSpec::new("punsubscribe", -1, SUB, punsubscribe)
        .group("pubsub")
        .doc("Stops listening to messages published to channels that match one or more patterns.", "2.0.0"),
    CommandSpec::new("ssubscribe", -2, SUB, ssubscribe)
        .keys(1, -1, 1)
        .group("pubsub")
        .doc("Listens for messages published to shard channels.", "7.0.0"),
    CommandSpec::new("sunsubscribe", -1, SUB, sunsubscribe)
        .keys(1, -1, 1)
        .group("pubsub")
        .doc("Stops listening to messages posted to shard channels.", "7.0.0"),
    CommandSpec::new("publish", 3, PUBSUB | LOADING | STALE | FAST, publish)
        .group("pubsub")
        .doc("Posts a message to a channel.", "2.0.0"),
    CommandSpec::new("spublish", 3, PUBSUB | LOADING | STALE | FAST, spublish)
        .keys(1, 1, 1)
        .group("pubsub")
        .doc("Post a message to a shard channel", "7.0.0"),
    CommandSpec::new("pubsub", -2, 0, pubsub_help)
        .group("pubsub")
        .doc("A container for Pub/Sub commands.", "2.8.0")
        .subs(PUBSUB_SUBCOMMANDS),
];

const INTROSPECT: u32 = PUBSUB | LOADING | STALE;

const PUBSUB_SUBCOMMANDS: &[CommandSpec] = &[
    CommandSpec::new("pubsub|channels", -2, INTROSPECT, pubsub_channels)
        .group("pubsub")
        .doc("Returns the active channels.", "2.8.0"),
    CommandSpec::new("pubsub|numsub", -2, INTROSPECT, pubsub_numsub)
        .group("pubsub")
        .doc("Returns a count of subscribers to channels.", "2.8.0"),
    CommandSpec::new("pubsub|numpat", 2, INTROSPECT, pubsub_numpat)
        .group("pubsub")
        .doc("Returns a count of unique pattern subscriptions.", "2.8.0"),
    CommandSpec::new("pubsub|shardchannels", -2, INTROSPECT, pubsub_shardchannels)
        .group("pubsub")
        .doc("Returns the active shard channels.", "7.0.0"),
    CommandSpec::new("pubsub|shardnumsub", -2, INTROSPECT, pubsub_shardnumsub)
        .group("pubsub")
        .doc("Returns the count of subscribers of shard channels.", "7.0.0"),
    CommandSpec::new("pubsub|help", 2, LOADING | STALE, pubsub_help)
        .group("pubsub")
        .doc("Returns helpful text about the different subcommands.", "6.2.0"),
];

/// `[verb, name, count]`: a push on RESP3, an array on RESP2, delivered even under
/// CLIENT REPLY OFF or SKIP, as Redis 7.0 marks every pub/sub reply a push.
fn confirm(ctx: &mut Ctx<'_>, verb: &str, name: Option<&[u8]>, count: usize) {
    ctx.session.replied_push = true;
    ctx.out.push(3);
    ctx.out.bulk(verb.as_bytes());
    match name {
        Some(n) => ctx.out.bulk(n),
        None => ctx.out.null(),
    }
    ctx.out.int(count as i64);
}

fn subscribe_to(ctx: &mut Ctx<'_>, kind: Kind, names: &[Bytes]) -> CmdResult {
    let server = ctx.server;
    for name in names {
        let subs = ctx.session.subscriptions();
        subs.subscribe(&server.pubsub, kind, name);
        let count = subs.count(kind);
        confirm(ctx, kind.verbs().0, Some(name), count);
    }
    Ok(())
}

/// Unsubscribes from the names given, or from every subscription of the kind.
fn unsubscribe_from(ctx: &mut Ctx<'_>, kind: Kind, names: &[Bytes]) -> CmdResult {
    let server = ctx.server;
    let verb = kind.verbs().1;
    let names = match names {
        [] => ctx.session.pubsub.as_ref().map(|s| s.names(kind)).unwrap_or_default(),
        given => given.to_vec(),
    };
    if names.is_empty() {
        let count = ctx.session.pubsub.as_ref().map_or(0, |s| s.count(kind));
        confirm(ctx, verb, None, count);
        return Ok(());
    }
    for name in &names {
        let count = match ctx.session.pubsub.as_mut() {
            Some(subs) => {
                subs.unsubscribe(&server.pubsub, kind, name);
                subs.count(kind)
            }
            None => 0,
        };
        confirm(ctx, verb, Some(name), count);
    }
    Ok(())
}

/// SUBSCRIBE channel [channel ...]
fn subscribe(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    subscribe_to(ctx, Kind::Channel, &argv[1..])
}

/// UNSUBSCRIBE [channel [channel ...]]
fn unsubscribe(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    unsubscribe_from(ctx, Kind::Channel, &argv[1..])
}

/// PSUBSCRIBE pattern [pattern ...]
fn psubscribe(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    subscribe_to(ctx, Kind::Pattern, &argv[1..])
}

/// PUNSUBSCRIBE [pattern [pattern ...]]
fn punsubscribe(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    unsubscribe_from(ctx, Kind::Pattern, &argv[1..])
}

/// SSUBSCRIBE shardchannel [shardchannel ...]
fn ssubscribe(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    subscribe_to(ctx, Kind::Shard, &argv[1..])
}

/// SUNSUBSCRIBE [shardchannel [shardchannel ...]]
fn sunsubscribe(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    unsubscribe_from(ctx, Kind::Shard, &argv[1..])
}

/// PUBLISH channel message
/// In cluster mode the message reaches the other nodes' subscribers too; the reply
/// counts this node's, as in Redis.
fn publish(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    if let Some(cluster) = &ctx.server.cluster
        && !cluster.forward_publish(argv[1].clone(), argv[2].clone())
    {
        tracing::warn!("cluster: a PUBLISH was not forwarded (the peer queue is full)");
    }
    let n = ctx.server.pubsub.publish(false, &argv[1], &argv[2]);
    ctx.out.int(n as i64);
    Ok(())
}

/// SPUBLISH shardchannel message
fn spublish(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    let n = ctx.server.pubsub.publish(true, &argv[1], &argv[2]);
    ctx.out.int(n as i64);
    Ok(())
}

fn channels(ctx: &mut Ctx<'_>, kind: Kind, argv: &[Bytes]) -> CmdResult {
    if argv.len() > 3 {
        return Err(crate::error::wrong_arity(if kind == Kind::Shard {
            "pubsub|shardchannels"
        } else {
            "pubsub|channels"
        }));
    }
    let names = ctx.server.pubsub.active(kind, argv.get(2).map(|p| &p[..]));
    ctx.out.bulks(names.iter().map(|n| &n[..]));
    Ok(())
}

fn numsub(ctx: &mut Ctx<'_>, kind: Kind, argv: &[Bytes]) -> CmdResult {
    let names = &argv[2..];
    ctx.out.array(names.len() * 2);
    for name in names {
        ctx.out.bulk(name);
        ctx.out.int(ctx.server.pubsub.subscribers(kind, name) as i64);
    }
    Ok(())
}

/// PUBSUB CHANNELS [pattern]
fn pubsub_channels(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    channels(ctx, Kind::Channel, argv)
}

/// PUBSUB SHARDCHANNELS [pattern]
fn pubsub_shardchannels(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    channels(ctx, Kind::Shard, argv)
}

/// PUBSUB NUMSUB [channel [channel ...]]
fn pubsub_numsub(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    numsub(ctx, Kind::Channel, argv)
}

/// PUBSUB SHARDNUMSUB [shardchannel [shardchannel ...]]
fn pubsub_shardnumsub(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    numsub(ctx, Kind::Shard, argv)
}

/// PUBSUB NUMPAT
fn pubsub_numpat(ctx: &mut Ctx<'_>, _argv: &[Bytes]) -> CmdResult {
    ctx.out.int(ctx.server.pubsub.count(Kind::Pattern) as i64);
    Ok(())
}

/// PUBSUB HELP
fn pubsub_help(ctx: &mut Ctx<'_>, _argv: &[Bytes]) -> CmdResult {
    super::connection::help(
        ctx,
        "PUBSUB",
        &[
            "CHANNELS [<pattern>]",
            "    Return the currently active channels matching a <pattern> (default: '*').",
            "NUMPAT",
            "    Return number of subscriptions to patterns.",
            "NUMSUB [<channel> ...]",
            "    Return the number of subscribers for the specified channels, excluding",
            "    pattern subscriptions(default: no channels).",
            "SHARDCHANNELS [<pattern>]",
            "    Return the currently active shard level channels matching a <pattern> (default: '*').",
            "SHARDNUMSUB [<shardchannel> ...]",
            "    Return the number of subscribers for the specified shard level channel(s)",
        ],
    );
    Ok(())
}
