//! CLIENT TRACKING (server-assisted client-side caching) over real connections: RESP3
//! pushes, REDIRECT to a RESP2 subscriber, BCAST prefixes, OPTIN/OPTOUT with CLIENT
//! CACHING, NOLOOP, invalidation on write, expiry and FLUSHALL, the bounded key table,
//! and the introspection commands, with Redis 7.0's reply shapes and error texts.

mod common;

use common::{Raw, TestServer, err, resp};
use redis::cmd;

fn resp3(s: &TestServer) -> Raw {
    let mut r = s.raw();
    r.send(&resp(&[b"HELLO", b"3"]));
    r.read_until(b"modules\r\n*0\r\n");
    r
}

fn invalidate(key: &str) -> Vec<u8> {
    format!(">2\r\n$10\r\ninvalidate\r\n*1\r\n${}\r\n{key}\r\n", key.len()).into_bytes()
}

#[test]
fn resp3_client_is_told_once_per_read_key() {
    let s = TestServer::start();
    let mut w = s.conn();
    let mut a = resp3(&s);
    a.roundtrip(&resp(&[b"CLIENT", b"TRACKING", b"ON"]), b"+OK\r\n");
    a.roundtrip(&resp(&[b"GET", b"k"]), b"_\r\n");
    a.roundtrip(&resp(&[b"MGET", b"m1", b"m2"]), b"*2\r\n_\r\n_\r\n");
    let _: () = cmd("SET").arg("k").arg("v").query(&mut w).unwrap();
    a.roundtrip(b"", &invalidate("k"));
    // Forgotten until read again: a second write says nothing.
    let _: () = cmd("SET").arg("k").arg("v2").query(&mut w).unwrap();
    a.roundtrip(&resp(&[b"PING"]), b"+PONG\r\n");
    let _: () = cmd("DEL").arg("m2").query(&mut w).unwrap();
    let _: () = cmd("SET").arg("m2").arg("x").query(&mut w).unwrap();
    a.roundtrip(b"", &invalidate("m2"));
    // Its own writes too, after the reply, unless NOLOOP.
    a.roundtrip(&resp(&[b"GET", b"k"]), b"$2\r\nv2\r\n");
    a.roundtrip(&resp(&[b"SET", b"k", b"mine"]), &[&b"+OK\r\n"[..], &invalidate("k")].concat());
    a.roundtrip(&resp(&[b"CLIENT", b"TRACKING", b"ON", b"NOLOOP"]), b"+OK\r\n");
    a.roundtrip(&resp(&[b"GET", b"k"]), b"$4\r\nmine\r\n");
    a.roundtrip(&resp(&[b"SET", b"k", b"again"]), b"+OK\r\n");
    a.roundtrip(&resp(&[b"PING"]), b"+PONG\r\n");
    // Expiry and FLUSHALL invalidate too.
    let _: () = cmd("SET").arg("short").arg("v").arg("PX").arg(50).query(&mut w).unwrap();
    a.roundtrip(&resp(&[b"GET", b"short"]), b"$1\r\nv\r\n");
    a.roundtrip(b"", &invalidate("short"));
    let _: () = cmd("FLUSHALL").query(&mut w).unwrap();
    a.roundtrip(b"", b">2\r\n$10\r\ninvalidate\r\n_\r\n");
    let n = common::info_field(&mut w, "clients", "tracking_clients");
    assert_eq!(n, 1);
    let list: String = cmd("CLIENT").arg("LIST").query(&mut w).unwrap();
    assert!(list.lines().any(|l| l.contains("flags=t") && l.contains("redir=0")), "{list}");
}

#[test]
fn redirect_to_a_resp2_subscriber_bcast_and_optin() {
    let s = TestServer::start();
    let mut w = s.conn();
    let mut sub = s.raw();
    sub.roundtrip(&resp(&[b"CLIENT", b"ID"]), b":");
    let sub_id = String::from_utf8(sub.read_until(b"\r\n")).unwrap().trim().to_string();
    sub.roundtrip(
        &resp(&[b"SUBSCRIBE", b"__redis__:invalidate"]),
        b"*3\r\n$9\r\nsubscribe\r\n$20\r\n__redis__:invalidate\r\n:1\r\n",
    );
    let mut a = s.raw();
    a.roundtrip(&resp(&[b"CLIENT", b"TRACKING", b"ON", b"REDIRECT", sub_id.as_bytes()]), b"+OK\r\n");
    a.roundtrip(&resp(&[b"CLIENT", b"GETREDIR"]), format!(":{sub_id}\r\n").as_bytes());
    a.roundtrip(&resp(&[b"GET", b"k"]), b"$-1\r\n");
    let _: () = cmd("SET").arg("k").arg("v").query(&mut w).unwrap();
    sub.roundtrip(b"", b"*3\r\n$7\r\nmessage\r\n$20\r\n__redis__:invalidate\r\n*1\r\n$1\r\nk\r\n");

    // BCAST: every key under the prefixes, read or not.
    let mut b = resp3(&s);
    b.roundtrip(
        &resp(&[b"CLIENT", b"TRACKING", b"ON", b"BCAST", b"PREFIX", b"user:", b"PREFIX", b"job:"]),
        b"+OK\r\n",
    );
    let _: () = cmd("SET").arg("other").arg("1").query(&mut w).unwrap();
    let _: () = cmd("SET").arg("user:1").arg("1").query(&mut w).unwrap();
    b.roundtrip(b"", &invalidate("user:1"));
    let info: std::collections::HashMap<String, redis::Value> =
        cmd("CLIENT").arg("TRACKINGINFO").query(&mut w).unwrap();
    assert_eq!(info["redirect"], redis::Value::Int(-1), "not tracking: -1");
    b.roundtrip(
        &resp(&[b"CLIENT", b"TRACKINGINFO"]),
        b"%3\r\n$5\r\nflags\r\n~2\r\n$2\r\non\r\n$5\r\nbcast\r\n$8\r\nredirect\r\n:0\r\n$8\r\nprefixes\r\n*2\r\n$5\r\nuser:\r\n$4\r\njob:\r\n",
    );

    // OPTIN: only reads right after CLIENT CACHING YES are remembered.
    let mut o = resp3(&s);
    o.roundtrip(&resp(&[b"CLIENT", b"TRACKING", b"ON", b"OPTIN"]), b"+OK\r\n");
    o.roundtrip(&resp(&[b"GET", b"a"]), b"_\r\n");
    o.roundtrip(&resp(&[b"CLIENT", b"CACHING", b"YES"]), b"+OK\r\n");
    o.roundtrip(&resp(&[b"GET", b"b"]), b"_\r\n");
    o.roundtrip(&resp(&[b"GET", b"c"]), b"_\r\n");
    let _: () = cmd("MSET").arg(&["a", "1", "b", "2", "c", "3"]).query(&mut w).unwrap();
    o.roundtrip(b"", &invalidate("b"));
    o.roundtrip(&resp(&[b"PING"]), b"+PONG\r\n");
}

#[test]
fn key_table_is_bounded_and_errors_are_redis_texts() {
    let s = TestServer::start();
    let mut c = s.conn();
    let _: () = cmd("CONFIG").arg("SET").arg("tracking-table-max-keys").arg(10).query(&mut c).unwrap();
    let mut a = resp3(&s);
    a.roundtrip(&resp(&[b"CLIENT", b"TRACKING", b"ON"]), b"+OK\r\n");
    let mut stream = Vec::new();
    for i in 0..20 {
        a.send(&resp(&[b"GET", format!("key{i}").as_bytes()]));
        stream.extend(a.read_until(b"_\r\n"));
    }
    // Pushes queued by the reads go out before the reply to a later command.
    a.send(&resp(&[b"PING"]));
    stream.extend(a.read_until(b"+PONG\r\n"));
    let pushes = stream.windows(10).filter(|w| w == b"invalidate").count();
    assert!(pushes >= 9, "{pushes} keys pushed out of the table");
    assert!(common::info_field(&mut c, "stats", "tracking_total_keys") <= 10);

    let tracking = |c: &mut redis::Connection, args: &[&str]| err(c, cmd("CLIENT").arg("TRACKING").arg(args));
    assert_eq!(
        tracking(&mut c, &["ON", "PREFIX", "x"]),
        "ERR PREFIX option requires BCAST mode to be enabled"
    );
    assert_eq!(
        tracking(&mut c, &["ON", "OPTIN", "OPTOUT"]),
        "ERR You can't specify both OPTIN mode and OPTOUT mode"
    );
    assert_eq!(
        tracking(&mut c, &["ON", "BCAST", "OPTIN"]),
        "ERR OPTIN and OPTOUT are not compatible with BCAST"
    );
    assert_eq!(
        tracking(&mut c, &["ON", "REDIRECT", "99999"]),
        "ERR The client ID you want redirect to does not exist"
    );
    assert_eq!(
        tracking(&mut c, &["ON", "BCAST", "PREFIX", "ab", "PREFIX", "a"]),
        "ERR Prefix 'ab' overlaps with another provided prefix 'a'. Prefixes for a single client must not overlap."
    );
    assert_eq!(tracking(&mut c, &["maybe"]), "ERR syntax error");
    assert_eq!(
        err(&mut c, cmd("CLIENT").arg("CACHING").arg("YES")),
        "ERR CLIENT CACHING can be called only when the client is in tracking mode with OPTIN or OPTOUT mode enabled"
    );
    let _: () = cmd("CLIENT").arg("TRACKING").arg("ON").arg("OPTIN").query(&mut c).unwrap();
    assert_eq!(
        err(&mut c, cmd("CLIENT").arg("CACHING").arg("NO")),
        "ERR CLIENT CACHING NO is only valid when tracking is enabled in OPTOUT mode."
    );
    assert_eq!(
        err(&mut c, cmd("CLIENT").arg("TRACKING").arg("ON").arg("BCAST")),
        "ERR You can't switch BCAST mode on/off before disabling tracking for this client, and then re-enabling it with a different mode."
    );
    let _: () = cmd("RESET").query(&mut c).unwrap();
    let redir: i64 = cmd("CLIENT").arg("GETREDIR").query(&mut c).unwrap();
    assert_eq!(redir, -1, "RESET turns tracking off");
}

/// A BCAST client that never reads its pushes is disconnected once they pass the
/// normal clients' output limit, as Redis does, instead of queueing without bound.
#[test]
fn a_tracking_client_that_never_reads_is_bounded() {
    let s = TestServer::start_with(&["client-output-buffer-limit", "normal 256kb 0 0"]);
    let mut w = s.conn();
    let mut a = resp3(&s);
    a.roundtrip(&resp(&[b"CLIENT", b"TRACKING", b"ON", b"BCAST", b"PREFIX", b"k:"]), b"+OK\r\n");
    assert_eq!(common::info_field(&mut w, "clients", "tracking_clients"), 1);
    // Far more pushes than the socket buffers and the limit hold; `a` reads none.
    for chunk in 0..400 {
        let pairs: Vec<String> =
            (0..1000).flat_map(|i| [format!("k:{chunk}:{i}"), "v".to_string()]).collect();
        let _: () = cmd("MSET").arg(&pairs).query(&mut w).unwrap();
        if common::info_field(&mut w, "clients", "tracking_clients") == 0 {
            break;
        }
    }
    assert!(
        common::eventually(|| common::info_field(&mut w, "clients", "tracking_clients") == 0),
        "the client that never read was disconnected"
    );
    let pong: String = cmd("PING").query(&mut w).unwrap();
    assert_eq!(pong, "PONG");
    drop(a);
}
