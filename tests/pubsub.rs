//! Pub/Sub over real connections: reply shapes (RESP2 and RESP3), subscribed mode,
//! patterns, shard channels, introspection, fan-out, slow subscribers and keyspace
//! notifications.

mod common;

use std::time::Duration;

use common::{Raw, TestServer, WAIT, eventually, resp};
use redis::{Commands, cmd};

/// `PUBSUB NUMSUB channel` from a fresh connection.
fn numsub(s: &TestServer, channel: &str) -> i64 {
    let v: (String, i64) = cmd("PUBSUB").arg("NUMSUB").arg(channel).query(&mut s.conn()).unwrap();
    v.1
}

#[test]
fn subscribe_publish_unsubscribe_resp2_shapes() {
    let s = TestServer::start();
    let mut sub = s.raw();
    sub.roundtrip(
        &resp(&[b"SUBSCRIBE", b"a", b"b"]),
        b"*3\r\n$9\r\nsubscribe\r\n$1\r\na\r\n:1\r\n*3\r\n$9\r\nsubscribe\r\n$1\r\nb\r\n:2\r\n",
    );
    // Subscribing twice to a channel keeps the count.
    sub.roundtrip(&resp(&[b"SUBSCRIBE", b"a"]), b"*3\r\n$9\r\nsubscribe\r\n$1\r\na\r\n:2\r\n");
    let mut publisher = s.conn();
    let receivers: i64 = publisher.publish("a", "hello").unwrap();
    assert_eq!(receivers, 1);
    let none: i64 = publisher.publish("nobody", "x").unwrap();
    assert_eq!(none, 0);
    let expected = resp(&[b"message", b"a", b"hello"]);
    assert_eq!(sub.read_exact(expected.len()), expected);
    sub.roundtrip(&resp(&[b"UNSUBSCRIBE", b"b"]), b"*3\r\n$11\r\nunsubscribe\r\n$1\r\nb\r\n:1\r\n");
    sub.roundtrip(&resp(&[b"UNSUBSCRIBE"]), b"*3\r\n$11\r\nunsubscribe\r\n$1\r\na\r\n:0\r\n");
    // With nothing left, UNSUBSCRIBE answers once with a null channel.
    sub.roundtrip(&resp(&[b"UNSUBSCRIBE"]), b"*3\r\n$11\r\nunsubscribe\r\n$-1\r\n:0\r\n");
    // Out of subscribed mode, ordinary commands work again.
    sub.roundtrip(&resp(&[b"SET", b"k", b"v"]), b"+OK\r\n");
    let after: i64 = publisher.publish("a", "unheard").unwrap();
    assert_eq!(after, 0);
}

#[test]
fn subscribed_resp2_connection_only_runs_pubsub_commands() {
    let s = TestServer::start();
    let mut sub = s.raw();
    sub.roundtrip(&resp(&[b"SUBSCRIBE", b"c"]), b"*3\r\n$9\r\nsubscribe\r\n$1\r\nc\r\n:1\r\n");
    sub.roundtrip(
        &resp(&[b"GET", b"k"]),
        b"-ERR Can't execute 'get': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET are \
          allowed in this context\r\n",
    );
    sub.roundtrip(&resp(&[b"PING"]), b"*2\r\n$4\r\npong\r\n$0\r\n\r\n");
    sub.roundtrip(&resp(&[b"PING", b"hi"]), b"*2\r\n$4\r\npong\r\n$2\r\nhi\r\n");
    // Still subscribed after the refusal.
    let n: i64 = s.conn().publish("c", "m").unwrap();
    assert_eq!(n, 1);
    let expected = resp(&[b"message", b"c", b"m"]);
    assert_eq!(sub.read_exact(expected.len()), expected);
    // RESET leaves subscribed mode and drops the subscriptions.
    sub.roundtrip(&resp(&[b"RESET"]), b"+RESET\r\n");
    sub.roundtrip(&resp(&[b"GET", b"k"]), b"$-1\r\n");
    assert_eq!(numsub(&s, "c"), 0);
}

#[test]
fn resp3_subscriptions_are_pushes_and_other_commands_still_run() {
    let s = TestServer::start();
    let mut sub = s.raw();
    sub.send(&resp(&[b"HELLO", b"3"]));
    sub.read_until(b"modules\r\n*0\r\n");
    sub.roundtrip(&resp(&[b"SUBSCRIBE", b"r3"]), b">3\r\n$9\r\nsubscribe\r\n$2\r\nr3\r\n:1\r\n");
    sub.roundtrip(&resp(&[b"GET", b"missing"]), b"_\r\n");
    sub.roundtrip(&resp(&[b"PING"]), b"+PONG\r\n");
    let n: i64 = s.conn().publish("r3", "pushed").unwrap();
    assert_eq!(n, 1);
    sub.roundtrip(b"", b">3\r\n$7\r\nmessage\r\n$2\r\nr3\r\n$6\r\npushed\r\n");
    sub.roundtrip(&resp(&[b"UNSUBSCRIBE"]), b">3\r\n$11\r\nunsubscribe\r\n$2\r\nr3\r\n:0\r\n");
    sub.roundtrip(&resp(&[b"UNSUBSCRIBE"]), b">3\r\n$11\r\nunsubscribe\r\n_\r\n:0\r\n");
}

#[test]
fn a_resp3_client_blocked_in_blpop_still_receives_its_pushes() {
    let s = TestServer::start();
    let mut sub = s.raw();
    sub.send(&resp(&[b"HELLO", b"3"]));
    sub.read_until(b"modules\r\n*0\r\n");
    sub.roundtrip(&resp(&[b"SUBSCRIBE", b"news"]), b">3\r\n$9\r\nsubscribe\r\n$4\r\nnews\r\n:1\r\n");
    sub.send(&resp(&[b"BLPOP", b"jobs", b"0"]));
    let mut c = s.conn();
    assert!(eventually(|| {
        let info: String = cmd("INFO").arg("clients").query(&mut c).unwrap();
        info.contains("blocked_clients:1")
    }));
    let n: i64 = c.publish("news", "while blocked").unwrap();
    assert_eq!(n, 1);
    sub.roundtrip(b"", b">3\r\n$7\r\nmessage\r\n$4\r\nnews\r\n$13\r\nwhile blocked\r\n");
    let _: () = cmd("RPUSH").arg("jobs").arg("j1").query(&mut c).unwrap();
    sub.roundtrip(b"", b"*2\r\n$4\r\njobs\r\n$2\r\nj1\r\n");
}

#[test]
fn patterns_match_and_a_client_matching_twice_receives_twice() {
    let s = TestServer::start();
    let mut sub = s.raw();
    sub.roundtrip(&resp(&[b"PSUBSCRIBE", b"news.*"]), b"*3\r\n$10\r\npsubscribe\r\n$6\r\nnews.*\r\n:1\r\n");
    // Channels and patterns share the count.
    sub.roundtrip(
        &resp(&[b"SUBSCRIBE", b"news.tech"]),
        b"*3\r\n$9\r\nsubscribe\r\n$9\r\nnews.tech\r\n:2\r\n",
    );
    let mut publisher = s.conn();
    let n: i64 = publisher.publish("news.tech", "rust").unwrap();
    assert_eq!(n, 2, "once by channel, once by pattern");
    let direct = resp(&[b"message", b"news.tech", b"rust"]);
    let by_pattern = resp(&[b"pmessage", b"news.*", b"news.tech", b"rust"]);
    assert_eq!(sub.read_exact(direct.len()), direct);
    assert_eq!(sub.read_exact(by_pattern.len()), by_pattern);
    let n: i64 = publisher.publish("sports", "x").unwrap();
    assert_eq!(n, 0);
    let numpat: i64 = cmd("PUBSUB").arg("NUMPAT").query(&mut publisher).unwrap();
    assert_eq!(numpat, 1);
    sub.roundtrip(&resp(&[b"PUNSUBSCRIBE"]), b"*3\r\n$12\r\npunsubscribe\r\n$6\r\nnews.*\r\n:1\r\n");
    let numpat: i64 = cmd("PUBSUB").arg("NUMPAT").query(&mut publisher).unwrap();
    assert_eq!(numpat, 0);
}

#[test]
fn shard_channels_are_their_own_namespace() {
    let s = TestServer::start();
    let mut sub = s.raw();
    sub.roundtrip(&resp(&[b"SSUBSCRIBE", b"orders"]), b"*3\r\n$10\r\nssubscribe\r\n$6\r\norders\r\n:1\r\n");
    let mut c = s.conn();
    let plain: i64 = c.publish("orders", "x").unwrap();
    assert_eq!(plain, 0, "PUBLISH does not reach shard subscribers");
    let n: i64 = cmd("SPUBLISH").arg("orders").arg("o1").query(&mut c).unwrap();
    assert_eq!(n, 1);
    let expected = resp(&[b"smessage", b"orders", b"o1"]);
    assert_eq!(sub.read_exact(expected.len()), expected);
    let shard: Vec<String> = cmd("PUBSUB").arg("SHARDCHANNELS").query(&mut c).unwrap();
    assert_eq!(shard, vec!["orders"]);
    let plain: Vec<String> = cmd("PUBSUB").arg("CHANNELS").query(&mut c).unwrap();
    assert!(plain.is_empty());
    let counts: (String, i64) = cmd("PUBSUB").arg("SHARDNUMSUB").arg("orders").query(&mut c).unwrap();
    assert_eq!(counts, ("orders".into(), 1));
    sub.roundtrip(&resp(&[b"SUNSUBSCRIBE"]), b"*3\r\n$12\r\nsunsubscribe\r\n$6\r\norders\r\n:0\r\n");
}

#[test]
fn introspection_and_cleanup_on_disconnect() {
    let s = TestServer::start();
    let mut c = s.conn();
    let mut subs: Vec<Raw> = Vec::new();
    for (i, ch) in ["alpha", "beta", "alpha"].iter().enumerate() {
        let mut r = s.raw();
        let reply = format!("*3\r\n$9\r\nsubscribe\r\n${}\r\n{ch}\r\n:1\r\n", ch.len());
        r.roundtrip(&resp(&[b"SUBSCRIBE", ch.as_bytes()]), reply.as_bytes());
        subs.push(r);
        let _ = i;
    }
    let mut channels: Vec<String> = cmd("PUBSUB").arg("CHANNELS").query(&mut c).unwrap();
    channels.sort();
    assert_eq!(channels, vec!["alpha", "beta"]);
    let matching: Vec<String> = cmd("PUBSUB").arg("CHANNELS").arg("a*").query(&mut c).unwrap();
    assert_eq!(matching, vec!["alpha"]);
    let counts: Vec<redis::Value> =
        cmd("PUBSUB").arg("NUMSUB").arg("alpha").arg("beta").arg("gamma").query(&mut c).unwrap();
    assert_eq!(counts.len(), 6);
    assert_eq!(counts[1], redis::Value::Int(2));
    assert_eq!(counts[3], redis::Value::Int(1));
    assert_eq!(counts[5], redis::Value::Int(0));
    let info: String = cmd("INFO").arg("stats").query(&mut c).unwrap();
    assert!(info.contains("pubsub_channels:2\r\n"), "{info}");
    let list: String = cmd("CLIENT").arg("LIST").arg("TYPE").arg("pubsub").query(&mut c).unwrap();
    assert_eq!(list.lines().count(), 3, "{list}");
    assert!(list.lines().all(|l| l.contains("flags=P") && l.contains(" sub=1 ")), "{list}");
    let normal: String = cmd("CLIENT").arg("LIST").arg("TYPE").arg("normal").query(&mut c).unwrap();
    assert_eq!(normal.lines().count(), 1, "{normal}");
    // A disconnected subscriber is forgotten.
    drop(subs.remove(0));
    assert!(eventually(|| numsub(&s, "alpha") == 1));
    // CLIENT KILL TYPE pubsub closes the rest.
    let killed: i64 = cmd("CLIENT").arg("KILL").arg("TYPE").arg("pubsub").query(&mut c).unwrap();
    assert_eq!(killed, 2);
    assert!(eventually(|| numsub(&s, "alpha") == 0 && numsub(&s, "beta") == 0));
    let channels: Vec<String> = cmd("PUBSUB").arg("CHANNELS").query(&mut c).unwrap();
    assert!(channels.is_empty());
}

#[test]
fn fan_out_to_a_hundred_subscribers_in_order() {
    let s = TestServer::start();
    let mut subs: Vec<Raw> = (0..100).map(|_| s.raw()).collect();
    for (i, sub) in subs.iter_mut().enumerate() {
        // Half by channel, half by pattern.
        if i % 2 == 0 {
            sub.roundtrip(&resp(&[b"SUBSCRIBE", b"fan"]), b"*3\r\n$9\r\nsubscribe\r\n$3\r\nfan\r\n:1\r\n");
        } else {
            sub.roundtrip(&resp(&[b"PSUBSCRIBE", b"f?n"]), b"*3\r\n$10\r\npsubscribe\r\n$3\r\nf?n\r\n:1\r\n");
        }
    }
    let mut publisher = s.conn();
    for m in 0..50 {
        let n: i64 = publisher.publish("fan", format!("m{m}")).unwrap();
        assert_eq!(n, 100);
    }
    for (i, sub) in subs.iter_mut().enumerate() {
        for m in 0..50 {
            let payload = format!("m{m}");
            let expected = if i % 2 == 0 {
                resp(&[b"message", b"fan", payload.as_bytes()])
            } else {
                resp(&[b"pmessage", b"f?n", b"fan", payload.as_bytes()])
            };
            assert_eq!(sub.read_exact(expected.len()), expected, "subscriber {i} message {m}");
        }
    }
}

#[test]
fn a_subscriber_that_never_reads_is_disconnected_at_its_limit() {
    let s = TestServer::start_with(&["client-output-buffer-limit", "pubsub 1mb 0 0"]);
    let mut slow = s.raw();
    slow.roundtrip(&resp(&[b"SUBSCRIBE", b"flood"]), b"*3\r\n$9\r\nsubscribe\r\n$5\r\nflood\r\n:1\r\n");
    let mut reader = s.raw();
    reader.roundtrip(&resp(&[b"SUBSCRIBE", b"flood"]), b"*3\r\n$9\r\nsubscribe\r\n$5\r\nflood\r\n:1\r\n");
    let mut publisher = s.conn();
    let payload = vec![b'x'; 64 * 1024];
    let frame = resp(&[b"message", b"flood", &payload]);
    // Up to 64 MB: far past the 1 MB limit plus what the kernel buffers; the slow
    // subscriber must be cut off well before the end. The reader keeps up.
    let mut published = 0;
    for _ in 0..1024 {
        let _: i64 = publisher.publish("flood", &payload).unwrap();
        assert_eq!(reader.read_exact(frame.len()), frame);
        published += 1;
        if numsub(&s, "flood") == 1 {
            break;
        }
    }
    assert!(published < 1024, "the slow subscriber was never disconnected");
    // The server and the other subscriber are unaffected.
    let n: i64 = publisher.publish("flood", "after").unwrap();
    assert_eq!(n, 1);
    let expected = resp(&[b"message", b"flood", b"after"]);
    assert_eq!(reader.read_exact(expected.len()), expected);
    let pong: String = cmd("PING").query(&mut publisher).unwrap();
    assert_eq!(pong, "PONG");
}

#[test]
fn a_subscriber_over_the_soft_limit_for_its_seconds_is_disconnected() {
    // No hard limit: only "over 1 MB for more than 1 second" applies.
    let s = TestServer::start_with(&["client-output-buffer-limit", "pubsub 0 1mb 1"]);
    let mut slow = s.raw();
    slow.roundtrip(&resp(&[b"SUBSCRIBE", b"soft"]), b"*3\r\n$9\r\nsubscribe\r\n$4\r\nsoft\r\n:1\r\n");
    let mut publisher = s.conn();
    let payload = vec![b'y'; 64 * 1024];
    let started = std::time::Instant::now();
    let mut disconnected = false;
    // Bounded: 2000 publishes of 64 KB, 5 ms apart (10 s at most).
    for _ in 0..2000 {
        let _: i64 = publisher.publish("soft", &payload).unwrap();
        if numsub(&s, "soft") == 0 {
            disconnected = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    assert!(disconnected, "the slow subscriber stayed over the soft limit");
    assert!(started.elapsed() >= Duration::from_secs(1), "cut before the soft limit's second passed");
}

#[test]
fn pubsub_clients_are_exempt_from_the_idle_timeout() {
    let s = TestServer::start_with(&["timeout", "1"]);
    let mut sub = s.raw();
    sub.roundtrip(&resp(&[b"SUBSCRIBE", b"quiet"]), b"*3\r\n$9\r\nsubscribe\r\n$5\r\nquiet\r\n:1\r\n");
    let mut idle = s.raw();
    idle.roundtrip(&resp(&[b"PING"]), b"+PONG\r\n");
    // The idle normal client is closed; the subscriber stays.
    assert_eq!(idle.read_to_close(), b"");
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(numsub(&s, "quiet"), 1);
    let n: i64 = s.conn().publish("quiet", "still here").unwrap();
    assert_eq!(n, 1);
}

/// Subscribes a redis-crate pub/sub connection to `patterns`.
fn listen(ps: &mut redis::PubSub<'_>, patterns: &[&str]) {
    ps.set_read_timeout(Some(WAIT)).unwrap();
    for p in patterns {
        ps.psubscribe(*p).unwrap();
    }
}

/// The next (channel, payload) a listening connection receives.
fn next(ps: &mut redis::PubSub<'_>) -> (String, String) {
    let msg = ps.get_message().expect("a notification");
    (msg.get_channel_name().to_string(), msg.get_payload().unwrap())
}

fn pair(channel: &str, payload: &str) -> (String, String) {
    (channel.to_string(), payload.to_string())
}

#[test]
fn keyspace_notifications_for_string_and_generic_commands() {
    let s = TestServer::start();
    let mut c = s.conn();
    let _: () = cmd("CONFIG").arg("SET").arg("notify-keyspace-events").arg("KEA").query(&mut c).unwrap();
    let flags: Vec<String> = cmd("CONFIG").arg("GET").arg("notify-keyspace-events").query(&mut c).unwrap();
    assert_eq!(flags[1], "AKE");
    let mut lc = s.conn();
    let mut l = lc.as_pubsub();
    listen(&mut l, &["__keyspace@0__:*", "__keyevent@0__:*"]);

    let _: () = c.set("k", "v").unwrap();
    assert_eq!(next(&mut l), pair("__keyspace@0__:k", "set"));
    assert_eq!(next(&mut l), pair("__keyevent@0__:set", "k"));
    let _: () = cmd("SET").arg("k").arg("v").arg("EX").arg(100).query(&mut c).unwrap();
    assert_eq!(next(&mut l), pair("__keyspace@0__:k", "set"));
    assert_eq!(next(&mut l), pair("__keyevent@0__:set", "k"));
    assert_eq!(next(&mut l), pair("__keyspace@0__:k", "expire"));
    assert_eq!(next(&mut l), pair("__keyevent@0__:expire", "k"));
    let _: i64 = c.incr("n", 5).unwrap();
    assert_eq!(next(&mut l), pair("__keyspace@0__:n", "incrby"));
    assert_eq!(next(&mut l), pair("__keyevent@0__:incrby", "n"));
    let _: i64 = c.append("k", "w").unwrap();
    assert_eq!(next(&mut l), pair("__keyspace@0__:k", "append"));
    assert_eq!(next(&mut l), pair("__keyevent@0__:append", "k"));
    let _: () = c.rename("k", "k2").unwrap();
    assert_eq!(next(&mut l), pair("__keyspace@0__:k", "rename_from"));
    assert_eq!(next(&mut l), pair("__keyevent@0__:rename_from", "k"));
    assert_eq!(next(&mut l), pair("__keyspace@0__:k2", "rename_to"));
    assert_eq!(next(&mut l), pair("__keyevent@0__:rename_to", "k2"));
    let _: bool = c.persist("k2").unwrap();
    assert_eq!(next(&mut l), pair("__keyspace@0__:k2", "persist"));
    assert_eq!(next(&mut l), pair("__keyevent@0__:persist", "k2"));
    let _: i64 = c.del(&["k2", "absent"]).unwrap();
    assert_eq!(next(&mut l), pair("__keyspace@0__:k2", "del"));
    assert_eq!(next(&mut l), pair("__keyevent@0__:del", "k2"));
    // Reads publish nothing: the next event is the one after them.
    let _: Option<String> = c.get("n").unwrap();
    let _: Option<String> = c.get("absent").unwrap();
    let _: i64 = c.del("n").unwrap();
    assert_eq!(next(&mut l), pair("__keyspace@0__:n", "del"));
}

#[test]
fn keyspace_notification_classes_filter_events() {
    let s = TestServer::start();
    let mut c = s.conn();
    // Key events only, new keys and misses only.
    let _: () = cmd("CONFIG").arg("SET").arg("notify-keyspace-events").arg("Enm").query(&mut c).unwrap();
    let flags: Vec<String> = cmd("CONFIG").arg("GET").arg("notify-keyspace-events").query(&mut c).unwrap();
    assert_eq!(flags[1], "nEm");
    let mut lc = s.conn();
    let mut l = lc.as_pubsub();
    listen(&mut l, &["__key*__:*"]);
    let _: () = c.set("fresh", "1").unwrap();
    assert_eq!(next(&mut l), pair("__keyevent@0__:new", "fresh"));
    let _: () = c.set("fresh", "2").unwrap();
    let _: Option<String> = c.get("ghost").unwrap();
    assert_eq!(next(&mut l), pair("__keyevent@0__:keymiss", "ghost"));
    let bad = common::err(&mut c, cmd("CONFIG").arg("SET").arg("notify-keyspace-events").arg("Kw"));
    assert!(bad.contains("Invalid event class character"), "{bad}");
}

#[test]
fn expired_keys_are_notified_lazily_and_by_the_sweep() {
    let s = TestServer::start();
    let mut c = s.conn();
    let _: () = cmd("CONFIG").arg("SET").arg("notify-keyspace-events").arg("Ex").query(&mut c).unwrap();
    let mut lc = s.conn();
    let mut l = lc.as_pubsub();
    listen(&mut l, &["__keyevent@*__:expired"]);
    // Found expired by the active sweep (no one reads it).
    let _: () = cmd("SET").arg("swept").arg("v").arg("PX").arg(50).query(&mut c).unwrap();
    assert_eq!(next(&mut l), pair("__keyevent@0__:expired", "swept"));
    // Found expired by a read, with the sweep off.
    let _: () = cmd("DEBUG").arg("SET-ACTIVE-EXPIRE").arg(0).query(&mut c).unwrap();
    let _: () = cmd("SELECT").arg(3).query(&mut c).unwrap();
    let _: () = cmd("SET").arg("lazy").arg("v").arg("PX").arg(20).query(&mut c).unwrap();
    std::thread::sleep(Duration::from_millis(60));
    let got: Option<String> = c.get("lazy").unwrap();
    assert_eq!(got, None);
    assert_eq!(next(&mut l), pair("__keyevent@3__:expired", "lazy"));
}

#[test]
fn keyspace_notifications_for_data_type_commands() {
    let s = TestServer::start();
    let mut c = s.conn();
    let _: () = cmd("CONFIG").arg("SET").arg("notify-keyspace-events").arg("E$lshzg").query(&mut c).unwrap();
    let mut lc = s.conn();
    let mut l = lc.as_pubsub();
    listen(&mut l, &["__keyevent@0__:*"]);
    // A command, then the (event, key) notifications it publishes, in order.
    type Step<'a> = (&'a [&'a str], &'a [(&'a str, &'a str)]);
    let steps: &[Step<'_>] = &[
        (&["HSET", "h", "f", "v"], &[("hset", "h")]),
        (&["HDEL", "h", "f"], &[("hdel", "h"), ("del", "h")]),
        (&["RPUSH", "l", "a", "b"], &[("rpush", "l")]),
        (&["LMOVE", "l", "l2", "LEFT", "LEFT"], &[("lpop", "l"), ("lpush", "l2")]),
        (&["RPOP", "l"], &[("rpop", "l"), ("del", "l")]),
        (&["SADD", "s", "m"], &[("sadd", "s")]),
        (&["SREM", "s", "m"], &[("srem", "s"), ("del", "s")]),
        (&["ZADD", "z", "1", "m"], &[("zadd", "z")]),
        (&["ZINCRBY", "z", "2", "m"], &[("zincr", "z")]),
        (&["ZPOPMIN", "z"], &[("zpopmin", "z"), ("del", "z")]),
        (&["SETBIT", "b", "3", "1"], &[("setbit", "b")]),
        (&["PFADD", "p", "x"], &[("pfadd", "p")]),
    ];
    for (command, events) in steps {
        let mut command_cmd = cmd(command[0]);
        for a in &command[1..] {
            command_cmd.arg(*a);
        }
        let _: redis::Value = command_cmd.query(&mut c).unwrap();
        for (event, key) in *events {
            assert_eq!(next(&mut l), pair(&format!("__keyevent@0__:{event}"), key), "after {command:?}");
        }
    }
}

/// CLIENT REPLY OFF silences replies but not pub/sub: Redis 7.0 marks every pub/sub
/// reply a push, so confirmations and messages still arrive, in RESP2 and RESP3.
#[test]
fn client_reply_off_still_delivers_pubsub() {
    let s = TestServer::start();
    let mut c = s.conn();
    for resp3 in [false, true] {
        let mut sub = s.raw();
        let (head, null) = if resp3 {
            sub.send(&resp(&[b"HELLO", b"3"]));
            sub.read_until(b"modules\r\n*0\r\n");
            (">3", "_")
        } else {
            ("*3", "$-1")
        };
        sub.send(&resp(&[b"CLIENT", b"REPLY", b"OFF"]));
        sub.send(&resp(&[b"PING"]));
        let sub_reply = format!("{head}\r\n$9\r\nsubscribe\r\n$2\r\nch\r\n:1\r\n");
        sub.roundtrip(&resp(&[b"SUBSCRIBE", b"ch"]), sub_reply.as_bytes());
        assert!(eventually(|| numsub(&s, "ch") == 1));
        let n: i64 = c.publish("ch", "hi").unwrap();
        assert_eq!(n, 1);
        let msg = format!("{head}\r\n$7\r\nmessage\r\n$2\r\nch\r\n$2\r\nhi\r\n");
        sub.roundtrip(b"", msg.as_bytes());
        let unsub = format!("{head}\r\n$11\r\nunsubscribe\r\n$2\r\nch\r\n:0\r\n");
        sub.roundtrip(&resp(&[b"UNSUBSCRIBE", b"ch"]), unsub.as_bytes());
        let none = format!("{head}\r\n$12\r\npunsubscribe\r\n{null}\r\n:0\r\n");
        sub.roundtrip(&resp(&[b"PUNSUBSCRIBE"]), none.as_bytes());
        // Ordinary replies stay silenced until REPLY ON, whose +OK arrives.
        sub.send(&resp(&[b"PING"]));
        sub.roundtrip(&resp(&[b"CLIENT", b"REPLY", b"ON"]), b"+OK\r\n");
    }
}
