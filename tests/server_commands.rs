//! Server and connection commands: INFO, CONFIG, COMMAND, CLIENT, SLOWLOG, DEBUG,
//! MEMORY, TIME, LASTSAVE, PING/ECHO, RESET.

mod common;

use std::collections::HashMap;

use common::{TestServer, err, eventually, resp};
use redis::{Value, cmd};

fn info_map(c: &mut redis::Connection, section: &str) -> HashMap<String, String> {
    let text: String = cmd("INFO").arg(section).query(c).unwrap();
    text.lines()
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.to_string(), v.trim().to_string()))
        .collect()
}

#[test]
fn ping_echo_time_lastsave() {
    let s = TestServer::start();
    let mut c = s.conn();
    let p: String = cmd("PING").query(&mut c).unwrap();
    assert_eq!(p, "PONG");
    let p: String = cmd("PING").arg("hello").query(&mut c).unwrap();
    assert_eq!(p, "hello");
    let e: Vec<u8> = cmd("ECHO").arg(b"a\r\nb").query(&mut c).unwrap();
    assert_eq!(e, b"a\r\nb");
    let (secs, micros): (u64, u64) = cmd("TIME").query(&mut c).unwrap();
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
    assert!(secs.abs_diff(now) <= 2);
    assert!(micros < 1_000_000);
    let last: u64 = cmd("LASTSAVE").query(&mut c).unwrap();
    assert!(last <= now && last + 60 > now);
}

#[test]
fn info_sections_and_counters() {
    let s = TestServer::start();
    let mut c = s.conn();
    let _: () = cmd("SET").arg("a").arg(1).query(&mut c).unwrap();
    let _: () = cmd("SET").arg("b").arg(1).arg("EX").arg(100).query(&mut c).unwrap();
    for _ in 0..3 {
        let _: Option<String> = cmd("GET").arg("a").query(&mut c).unwrap();
    }
    let _: Option<String> = cmd("GET").arg("nope").query(&mut c).unwrap();
    let _ = err(&mut c, cmd("INCR").arg("a").arg("extra"));
    let _ = err(&mut c, cmd("NOSUCHCMD"));

    let server = info_map(&mut c, "server");
    assert_eq!(server["redis_version"], "7.0.15");
    assert_eq!(server["slotcache_version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(server["redis_mode"], "standalone");
    assert_eq!(server["tcp_port"], s.addr.port().to_string());
    assert_eq!(server["run_id"].len(), 40);

    let stats = info_map(&mut c, "stats");
    assert_eq!(stats["keyspace_hits"], "3");
    assert_eq!(stats["keyspace_misses"], "1");
    assert_eq!(stats["total_error_replies"], "2");

    let ks = info_map(&mut c, "keyspace");
    assert_eq!(ks["db0"], "keys=2,expires=1,avg_ttl=0");

    let cs = info_map(&mut c, "commandstats");
    assert!(cs["cmdstat_get"].starts_with("calls=4,"), "{}", cs["cmdstat_get"]);
    assert!(cs["cmdstat_set"].starts_with("calls=2,"));
    assert!(cs["cmdstat_incr"].contains("rejected_calls=1,failed_calls=0"), "{}", cs["cmdstat_incr"]);

    let es = info_map(&mut c, "errorstats");
    assert_eq!(es["errorstat_ERR"], "count=2");

    let clients = info_map(&mut c, "clients");
    assert_eq!(clients["connected_clients"], "1");
    assert_eq!(clients["maxclients"], "10000");

    let mem = info_map(&mut c, "memory");
    assert!(mem["used_memory"].parse::<u64>().unwrap() > 0);
    assert!(mem["used_memory_rss"].parse::<u64>().unwrap() > 0);
    assert_eq!(mem["maxmemory_policy"], "noeviction");

    let repl = info_map(&mut c, "replication");
    assert_eq!(repl["role"], "master");
    assert_eq!(info_map(&mut c, "cluster")["cluster_enabled"], "0");
    assert!(info_map(&mut c, "cpu").contains_key("used_cpu_user"));
    assert!(info_map(&mut c, "persistence").contains_key("rdb_last_save_time"));

    let default: String = cmd("INFO").query(&mut c).unwrap();
    assert!(default.contains("# Server\r\n") && default.contains("# Keyspace\r\n"));
    assert!(!default.contains("# Commandstats"), "commandstats is not a default section");
    let everything: String = cmd("INFO").arg("everything").query(&mut c).unwrap();
    assert!(everything.contains("# Commandstats\r\n"));
    assert!(!default.contains("# Latencystats"), "latencystats is not a default section");
    let lat = info_map(&mut c, "latencystats");
    let get = &lat["latency_percentiles_usec_get"];
    assert!(get.starts_with("p50=") && get.contains(",p99=") && get.contains(",p99.9="), "{get}");
    let two: String = cmd("INFO").arg("server").arg("clients").query(&mut c).unwrap();
    assert!(two.starts_with("# Server\r\n") && two.contains("\r\n\r\n# Clients\r\n"));

    let _: () = cmd("CONFIG").arg("RESETSTAT").query(&mut c).unwrap();
    let stats = info_map(&mut c, "stats");
    assert_eq!(stats["keyspace_hits"], "0");
    assert_eq!(stats["total_error_replies"], "0");
}

#[test]
fn config_get_set_errors() {
    let s = TestServer::start();
    let mut c = s.conn();
    let v: HashMap<String, String> = cmd("CONFIG").arg("GET").arg("maxmemory*").query(&mut c).unwrap();
    assert_eq!(v["maxmemory"], "0");
    assert_eq!(v["maxmemory-policy"], "noeviction");
    assert_eq!(v["maxmemory-samples"], "5");
    let v: HashMap<String, String> =
        cmd("CONFIG").arg("GET").arg("save").arg("appendonly").query(&mut c).unwrap();
    assert_eq!(v["save"], "");
    assert_eq!(v["appendonly"], "no");
    let v: HashMap<String, String> = cmd("CONFIG").arg("GET").arg("nosuch").query(&mut c).unwrap();
    assert!(v.is_empty());

    let _: () =
        cmd("CONFIG").arg("SET").arg("maxmemory").arg("100mb").arg("timeout").arg(30).query(&mut c).unwrap();
    let v: HashMap<String, String> =
        cmd("CONFIG").arg("GET").arg("maxmemory").arg("timeout").query(&mut c).unwrap();
    assert_eq!(v["maxmemory"], (100u64 << 20).to_string());
    assert_eq!(v["timeout"], "30");
    assert_eq!(
        err(&mut c, cmd("CONFIG").arg("SET").arg("maxmemory").arg("lots")),
        "ERR CONFIG SET failed (possibly related to argument 'maxmemory') - argument must be a memory value"
    );
    assert_eq!(
        err(&mut c, cmd("CONFIG").arg("SET").arg("databases").arg(1)),
        "ERR CONFIG SET failed (possibly related to argument 'databases') - can't set immutable config"
    );
    assert_eq!(
        err(&mut c, cmd("CONFIG").arg("SET").arg("nosuch").arg(1)),
        "ERR Unknown option or number of arguments for CONFIG SET - 'nosuch'"
    );
    assert!(
        err(&mut c, cmd("CONFIG").arg("SET").arg("maxmemory-policy").arg("lru")).starts_with(
            "ERR CONFIG SET failed (possibly related to argument 'maxmemory-policy') - argument(s) must be one of the following"
        )
    );
    // All or nothing.
    let _ = err(&mut c, cmd("CONFIG").arg("SET").arg("timeout").arg(5).arg("maxmemory").arg("bad"));
    let v: HashMap<String, String> = cmd("CONFIG").arg("GET").arg("timeout").query(&mut c).unwrap();
    assert_eq!(v["timeout"], "30");
    assert_eq!(
        err(&mut c, cmd("CONFIG").arg("SET").arg("timeout")),
        "ERR wrong number of arguments for 'config|set' command"
    );
    assert_eq!(err(&mut c, cmd("CONFIG").arg("REWRITE")), "ERR The server is running without a config file");
    let help: Vec<String> = cmd("CONFIG").arg("HELP").query(&mut c).unwrap();
    assert!(help.len() > 4);

    // Runtime changes take effect: slowlog and maxclients.
    let _: () = cmd("CONFIG").arg("SET").arg("maxclients").arg(1).query(&mut c).unwrap();
    let mut r = s.raw();
    assert_eq!(r.read_to_close(), b"-ERR max number of clients reached\r\n");
}

#[test]
fn command_table_introspection() {
    let s = TestServer::start();
    let mut c = s.conn();
    let count: i64 = cmd("COMMAND").arg("COUNT").query(&mut c).unwrap();
    assert!(count >= 60, "{count}");
    let all: Vec<Value> = cmd("COMMAND").query(&mut c).unwrap();
    assert_eq!(all.len() as i64, count);

    let info: Vec<Value> =
        cmd("COMMAND").arg("INFO").arg("get").arg("mset").arg("nosuch").query(&mut c).unwrap();
    let Value::Array(get) = &info[0] else { panic!("{:?}", info[0]) };
    assert_eq!(get[0], Value::BulkString(b"get".to_vec()));
    assert_eq!(get[1], Value::Int(2));
    assert_eq!(get[3], Value::Int(1));
    assert_eq!(get[4], Value::Int(1));
    assert_eq!(get[5], Value::Int(1));
    let Value::Array(flags) = &get[2] else { panic!() };
    assert!(flags.contains(&Value::SimpleString("readonly".into())));
    assert!(flags.contains(&Value::SimpleString("fast".into())));
    let Value::Array(cats) = &get[6] else { panic!() };
    assert!(cats.contains(&Value::SimpleString("@read".into())));
    assert!(cats.contains(&Value::SimpleString("@string".into())));
    let Value::Array(mset) = &info[1] else { panic!() };
    assert_eq!(&mset[3..6], &[Value::Int(1), Value::Int(-1), Value::Int(2)]);
    assert_eq!(info[2], Value::Nil);

    let Value::Array(config) =
        &cmd("COMMAND").arg("INFO").arg("config").query::<Vec<Value>>(&mut c).unwrap()[0]
    else {
        panic!()
    };
    let Value::Array(subs) = &config[9] else { panic!() };
    assert!(subs.len() >= 4, "CONFIG lists its subcommands");

    let keys: Vec<String> =
        cmd("COMMAND").arg("GETKEYS").arg("MSET").arg("a").arg("1").arg("b").arg("2").query(&mut c).unwrap();
    assert_eq!(keys, vec!["a", "b"]);
    assert_eq!(
        err(&mut c, cmd("COMMAND").arg("GETKEYS").arg("PING").arg("x")),
        "ERR The command has no key arguments"
    );
    assert_eq!(
        err(&mut c, cmd("COMMAND").arg("GETKEYS").arg("NOSUCH").arg("x")),
        "ERR Invalid command specified"
    );
    assert_eq!(
        err(&mut c, cmd("COMMAND").arg("GETKEYS").arg("GET")),
        "ERR wrong number of arguments for 'command|getkeys' command"
    );
    let names: Vec<String> = cmd("COMMAND").arg("LIST").query(&mut c).unwrap();
    assert!(names.contains(&"config|get".to_string()) && names.contains(&"get".to_string()));
    let names: Vec<String> =
        cmd("COMMAND").arg("LIST").arg("FILTERBY").arg("PATTERN").arg("*expire*").query(&mut c).unwrap();
    assert!(names.contains(&"pexpireat".to_string()) && !names.contains(&"get".to_string()));
    let names: Vec<String> =
        cmd("COMMAND").arg("LIST").arg("FILTERBY").arg("ACLCAT").arg("string").query(&mut c).unwrap();
    assert!(names.contains(&"incr".to_string()) && !names.contains(&"del".to_string()));
    let docs: HashMap<String, Value> = cmd("COMMAND").arg("DOCS").arg("get").query(&mut c).unwrap();
    let Value::Array(doc) = &docs["get"] else { panic!() };
    assert_eq!(doc[0], Value::BulkString(b"summary".to_vec()));
}

#[test]
fn client_subcommands() {
    let s = TestServer::start();
    let mut c = s.conn();
    let id: i64 = cmd("CLIENT").arg("ID").query(&mut c).unwrap();
    assert!(id > 0);
    let name: Option<String> = cmd("CLIENT").arg("GETNAME").query(&mut c).unwrap();
    assert_eq!(name, None);
    let _: () = cmd("CLIENT").arg("SETNAME").arg("worker-1").query(&mut c).unwrap();
    let name: String = cmd("CLIENT").arg("GETNAME").query(&mut c).unwrap();
    assert_eq!(name, "worker-1");
    assert_eq!(
        err(&mut c, cmd("CLIENT").arg("SETNAME").arg("has space")),
        "ERR Client names cannot contain spaces, newlines or special characters."
    );
    let _: () = cmd("CLIENT").arg("SETINFO").arg("LIB-NAME").arg("redis-rs").query(&mut c).unwrap();
    let _: () = cmd("CLIENT").arg("SETINFO").arg("LIB-VER").arg("1.0").query(&mut c).unwrap();
    assert_eq!(
        err(&mut c, cmd("CLIENT").arg("SETINFO").arg("COLOR").arg("x")),
        "ERR Unrecognized option 'COLOR'"
    );
    let _: () = cmd("SELECT").arg(3).query(&mut c).unwrap();
    let info: String = cmd("CLIENT").arg("INFO").query(&mut c).unwrap();
    assert!(info.starts_with(&format!("id={id} addr=127.0.0.1:")), "{info}");
    assert!(
        info.contains(" name=worker-1 ") && info.contains(" db=3 ") && info.contains(" cmd=client|info ")
    );
    assert!(info.contains(" lib-name=redis-rs lib-ver=1.0"), "{info}");
    assert!(info.ends_with('\n'));

    let mut other = s.conn();
    let other_id: i64 = cmd("CLIENT").arg("ID").query(&mut other).unwrap();
    let list: String = cmd("CLIENT").arg("LIST").query(&mut c).unwrap();
    assert_eq!(list.lines().count(), 2);
    let list: String = cmd("CLIENT").arg("LIST").arg("ID").arg(other_id).query(&mut c).unwrap();
    assert_eq!(list.lines().count(), 1);
    assert!(list.starts_with(&format!("id={other_id} ")));

    // Kill by id, then by address.
    let n: i64 = cmd("CLIENT").arg("KILL").arg("ID").arg(other_id).query(&mut c).unwrap();
    assert_eq!(n, 1);
    assert!(cmd("PING").query::<String>(&mut other).is_err(), "killed client is disconnected");
    let mut third = s.raw();
    third.send(b"CLIENT INFO\r\n");
    let line = String::from_utf8(third.read_bulk()).unwrap();
    let addr = line.split(' ').find_map(|f| f.strip_prefix("addr=")).unwrap().to_string();
    let _: () = cmd("CLIENT").arg("KILL").arg(&addr).query(&mut c).unwrap();
    assert!(third.read_to_close().is_empty());
    assert_eq!(err(&mut c, cmd("CLIENT").arg("KILL").arg("1.2.3.4:5")), "ERR No such client");
    let n: i64 = cmd("CLIENT").arg("KILL").arg("ID").arg(id).query(&mut c).unwrap();
    assert_eq!(n, 0, "SKIPME yes by default");
    assert!(eventually(|| {
        cmd("CLIENT").arg("LIST").query::<String>(&mut c).unwrap().lines().count() == 1
    }));
    let _: () = cmd("CLIENT").arg("NO-EVICT").arg("on").query(&mut c).unwrap();
}

#[test]
fn client_reply_modes() {
    let s = TestServer::start();
    let mut r = s.raw();
    r.send(
        &[
            resp(&[b"CLIENT", b"REPLY", b"OFF"]),
            resp(&[b"SET", b"a", b"1"]),
            resp(&[b"GET", b"a"]),
            resp(&[b"CLIENT", b"REPLY", b"ON"]),
            resp(&[b"CLIENT", b"REPLY", b"SKIP"]),
            resp(&[b"GET", b"a"]),
            resp(&[b"INCR", b"a"]),
        ]
        .concat(),
    );
    assert_eq!(r.read_exact(b"+OK\r\n:2\r\n".len()), b"+OK\r\n:2\r\n");
    // ON right after SKIP: ON clears the skip, so its +OK arrives, as in Redis.
    r.send(&[resp(&[b"CLIENT", b"REPLY", b"SKIP"]), resp(&[b"CLIENT", b"REPLY", b"ON"])].concat());
    r.roundtrip(&resp(&[b"PING"]), b"+OK\r\n+PONG\r\n");
}

#[test]
fn reset_restores_defaults() {
    let s = TestServer::start();
    let mut r = s.raw();
    r.send(&resp(&[b"HELLO", b"3"]));
    let hello = r.read_until(b"$7\r\nmodules\r\n*0\r\n");
    assert!(hello.starts_with(b"%7\r\n"));
    r.roundtrip(&resp(&[b"GET", b"x"]), b"_\r\n");
    r.roundtrip(&resp(&[b"SELECT", b"2"]), b"+OK\r\n");
    r.roundtrip(&resp(&[b"RESET"]), b"+RESET\r\n");
    r.roundtrip(&resp(&[b"GET", b"x"]), b"$-1\r\n");
    r.roundtrip(&resp(&[b"CLIENT", b"INFO"]), b"$");
}

#[test]
fn slowlog_and_debug() {
    let s = TestServer::start_with(&["slowlog-log-slower-than", "0"]);
    let mut c = s.conn();
    let _: () = cmd("SLOWLOG").arg("RESET").query(&mut c).unwrap();
    let _: () = cmd("CLIENT").arg("SETNAME").arg("slowpoke").query(&mut c).unwrap();
    let _: () = cmd("DEBUG").arg("SLEEP").arg("0.05").query(&mut c).unwrap();
    let entries: Vec<Value> = cmd("SLOWLOG").arg("GET").arg(-1).query(&mut c).unwrap();
    let sleep = entries
        .iter()
        .find_map(|e| match e {
            Value::Array(f)
                if f[3]
                    == Value::Array(vec![
                        Value::BulkString(b"DEBUG".to_vec()),
                        Value::BulkString(b"SLEEP".to_vec()),
                        Value::BulkString(b"0.05".to_vec()),
                    ]) =>
            {
                Some(f.clone())
            }
            _ => None,
        })
        .expect("DEBUG SLEEP is in the slowlog");
    let Value::Int(micros) = sleep[2] else { panic!() };
    assert!(micros >= 50_000, "{micros}");
    assert_eq!(sleep[5], Value::BulkString(b"slowpoke".to_vec()));
    let Value::BulkString(addr) = &sleep[4] else { panic!() };
    assert!(addr.starts_with(b"127.0.0.1:"));
    let len: i64 = cmd("SLOWLOG").arg("LEN").query(&mut c).unwrap();
    assert!(len >= 2);
    let one: Vec<Value> = cmd("SLOWLOG").arg("GET").arg(1).query(&mut c).unwrap();
    assert_eq!(one.len(), 1);
    let _: () = cmd("SLOWLOG").arg("RESET").query(&mut c).unwrap();
    let _: () = cmd("CONFIG").arg("SET").arg("slowlog-log-slower-than").arg(-1).query(&mut c).unwrap();
    let _: () = cmd("DEBUG").arg("SLEEP").arg(0).query(&mut c).unwrap();
    let len: i64 = cmd("SLOWLOG").arg("LEN").query(&mut c).unwrap();
    assert!(len <= 1, "only the RESET itself may be logged before the threshold change");
    assert_eq!(
        err(&mut c, cmd("DEBUG").arg("NOSUCH")),
        "ERR unknown subcommand or wrong number of arguments for 'NOSUCH'. Try DEBUG HELP."
    );
}

#[test]
fn memory_usage_is_reported() {
    let s = TestServer::start();
    let mut c = s.conn();
    let _: () = cmd("SET").arg("key:0000001").arg("x".repeat(100)).query(&mut c).unwrap();
    let n: i64 = cmd("MEMORY").arg("USAGE").arg("key:0000001").query(&mut c).unwrap();
    assert!((112..=200).contains(&n), "{n}");
    let _: () = cmd("SET").arg("big").arg("x".repeat(10_000)).query(&mut c).unwrap();
    let n: i64 = cmd("MEMORY").arg("USAGE").arg("big").query(&mut c).unwrap();
    assert!(n >= 10_000, "{n}");
    let none: Option<i64> = cmd("MEMORY").arg("USAGE").arg("missing").query(&mut c).unwrap();
    assert_eq!(none, None);
    let n: i64 = cmd("MEMORY").arg("USAGE").arg("big").arg("SAMPLES").arg(5).query(&mut c).unwrap();
    assert!(n >= 10_000);

    let _: () = cmd("SELECT").arg(2).query(&mut c).unwrap();
    let _: () = cmd("SET").arg("in-db-2").arg("v").query(&mut c).unwrap();
    let stats: HashMap<String, Value> = cmd("MEMORY").arg("STATS").query(&mut c).unwrap();
    assert_eq!(stats["keys.count"], Value::Int(3));
    let Value::Int(total) = stats["total.allocated"] else { panic!("{stats:?}") };
    let Value::Int(peak) = stats["peak.allocated"] else { panic!("{stats:?}") };
    assert!(total > 0 && peak >= total, "{total} {peak}");
    assert!(stats.contains_key("db.0") && stats.contains_key("db.2") && !stats.contains_key("db.1"));
    assert!(stats.contains_key("fragmentation") && stats.contains_key("dataset.bytes"));
    let doctor: String = cmd("MEMORY").arg("DOCTOR").query(&mut c).unwrap();
    assert!(doctor.starts_with("Hi Sam") || doctor.starts_with("Sam,"), "{doctor}");
}

#[test]
fn latency_monitor_records_spikes() {
    let s = TestServer::start();
    let mut c = s.conn();
    let latest: Vec<Value> = cmd("LATENCY").arg("LATEST").query(&mut c).unwrap();
    assert!(latest.is_empty());
    let doctor: String = cmd("LATENCY").arg("DOCTOR").query(&mut c).unwrap();
    assert!(doctor.contains("disabled"), "{doctor}");

    let _: () = cmd("CONFIG").arg("SET").arg("latency-monitor-threshold").arg(20).query(&mut c).unwrap();
    let _: () = cmd("GET").arg("fast").query(&mut c).unwrap_or(());
    let _: () = cmd("DEBUG").arg("SLEEP").arg("0.05").query(&mut c).unwrap();
    let latest: Vec<(String, i64, i64, i64)> = cmd("LATENCY").arg("LATEST").query(&mut c).unwrap();
    assert_eq!(latest.len(), 1, "{latest:?}");
    let (event, at, last, max) = &latest[0];
    assert_eq!(event, "command");
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64;
    assert!((now - at).abs() <= 2);
    assert!(*last >= 50 && *max >= *last, "{last} {max}");
    let history: Vec<(i64, i64)> = cmd("LATENCY").arg("HISTORY").arg("command").query(&mut c).unwrap();
    assert_eq!(history.len(), 1);
    assert!(history[0].1 >= 50);
    let none: Vec<Value> = cmd("LATENCY").arg("HISTORY").arg("nosuchevent").query(&mut c).unwrap();
    assert!(none.is_empty());
    let doctor: String = cmd("LATENCY").arg("DOCTOR").query(&mut c).unwrap();
    assert!(doctor.contains("command: 1 latency spikes"), "{doctor}");

    let hist: HashMap<String, HashMap<String, Value>> =
        cmd("LATENCY").arg("HISTOGRAM").arg("debug").query(&mut c).unwrap();
    assert_eq!(hist["debug"]["calls"], Value::Int(1));
    let Value::Array(points) = &hist["debug"]["histogram_usec"] else { panic!("{hist:?}") };
    // One call, of at least 50 ms: one (bucket bound, cumulative count) point.
    let [Value::Int(bound), Value::Int(count)] = points.as_slice() else { panic!("{points:?}") };
    assert!(*bound >= 50_000 && *bound <= 1 << 20, "{bound}");
    assert!((*bound as u64).is_power_of_two(), "Redis 7.0's buckets are powers of two: {bound}");
    assert_eq!(*count, 1);

    let n: i64 = cmd("LATENCY").arg("RESET").query(&mut c).unwrap();
    assert_eq!(n, 1);
    let latest: Vec<Value> = cmd("LATENCY").arg("LATEST").query(&mut c).unwrap();
    assert!(latest.is_empty());
}

#[test]
fn monitor_streams_other_clients_commands() {
    let s = TestServer::start();
    let mut m = s.raw();
    m.roundtrip(b"MONITOR\r\n", b"+OK\r\n");
    let mut c = s.conn();
    let _: () = cmd("SET").arg("k").arg("v\n\"q\"").query(&mut c).unwrap();
    let _: HashMap<String, String> = cmd("CONFIG").arg("GET").arg("port").query(&mut c).unwrap();
    let _ = cmd("AUTH").arg("secret-password").query::<()>(&mut c);
    let _: Option<String> = cmd("GET").arg("k").query(&mut c).unwrap();
    let text = String::from_utf8(m.read_until(b"\"GET\" \"k\"\r\n")).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    let set = lines.iter().find(|l| l.contains("\"SET\"")).expect("SET was streamed");
    // +<seconds>.<micros> [<db> <addr>] "SET" "k" "v\n\"q\""
    let (ts, rest) = set.strip_prefix('+').unwrap().split_once(' ').unwrap();
    let (secs, micros) = ts.split_once('.').unwrap();
    assert!(secs.parse::<u64>().is_ok() && micros.len() == 6, "{set}");
    assert!(rest.starts_with("[0 127.0.0.1:"), "{set}");
    assert!(rest.ends_with("] \"SET\" \"k\" \"v\\n\\\"q\\\"\""), "{set}");
    assert!(lines.iter().any(|l| l.ends_with("\"AUTH\" \"(redacted)\"")), "{text}");
    assert!(!text.contains("secret-password"));
    assert!(!text.contains("\"CONFIG\""), "admin commands are not shown: {text}");
    let list: String = cmd("CLIENT").arg("LIST").query(&mut c).unwrap();
    assert_eq!(list.lines().filter(|l| l.contains(" flags=O ")).count(), 1, "{list}");
}

#[test]
fn slow_monitor_is_dropped_and_others_are_unaffected() {
    let s = TestServer::start();
    let mut m = s.raw();
    m.roundtrip(b"MONITOR\r\n", b"+OK\r\n");
    // The monitor never reads again; 1 MB lines pile up until its budget is spent.
    let mut c = s.conn();
    let big = vec![b'x'; 1 << 20];
    for i in 0..80 {
        let _: () = cmd("SET").arg(format!("k{i}")).arg(&big).query(&mut c).unwrap();
    }
    assert!(eventually(|| cmd("CLIENT").arg("LIST").query::<String>(&mut c).unwrap().lines().count() == 1));
    let n: i64 = cmd("DBSIZE").query(&mut c).unwrap();
    assert_eq!(n, 80);
}

/// Command metadata as Redis 7.0: a name with `|` is no command, GETKEYSANDFLAGS, the
/// GETKEYS errors in Redis's order, and movablekeys on the commands Redis marks.
#[test]
fn command_metadata_as_redis() {
    let s = TestServer::start();
    let mut c = s.conn();
    assert_eq!(
        err(&mut c, cmd("CONFIG|GET").arg("maxmemory")),
        "ERR unknown command 'CONFIG|GET', with args beginning with: 'maxmemory' "
    );
    assert_eq!(
        err(&mut c, cmd("GET|SET").arg("a")),
        "ERR unknown command 'GET|SET', with args beginning with: 'a' "
    );
    let v: Vec<(String, Vec<String>)> = cmd("COMMAND")
        .arg("GETKEYSANDFLAGS")
        .arg("LMOVE")
        .arg("a")
        .arg("b")
        .arg("LEFT")
        .arg("LEFT")
        .query(&mut c)
        .unwrap();
    let flags = |v: &[(String, Vec<String>)]| -> Vec<String> {
        v.iter().map(|(k, f)| format!("{k}:{}", f.join(","))).collect()
    };
    // Each key carries its own spec's flags, as Redis 7.0.
    assert_eq!(flags(&v), ["a:RW,access,delete", "b:RW,insert"]);
    let keys_and_flags = |c: &mut redis::Connection, args: &str| -> Vec<String> {
        let v: Vec<(String, Vec<String>)> =
            cmd("COMMAND").arg("GETKEYSANDFLAGS").arg(args.split(' ').collect::<Vec<_>>()).query(c).unwrap();
        flags(&v)
    };
    assert_eq!(keys_and_flags(&mut c, "GET k"), ["k:RO,access"]);
    // Flags that depend on the arguments, and SORT's STORE found by its own rule.
    assert_eq!(keys_and_flags(&mut c, "SET k v"), ["k:OW,update"]);
    assert_eq!(keys_and_flags(&mut c, "SET k v get"), ["k:RW,access,update"]);
    assert_eq!(keys_and_flags(&mut c, "BITFIELD k GET u8 0"), ["k:RO,access"]);
    assert_eq!(keys_and_flags(&mut c, "BITFIELD k INCRBY u8 0 1"), ["k:RW,access,update"]);
    assert_eq!(keys_and_flags(&mut c, "SORT s BY w GET o STORE d"), ["s:RO,access", "d:OW,update"]);
    assert_eq!(keys_and_flags(&mut c, "ZUNIONSTORE d 2 a b"), ["d:OW,update", "a:RO,access", "b:RO,access"]);
    assert_eq!(keys_and_flags(&mut c, "GETDEL k"), ["k:RW,access,delete"]);
    // Shard channels are `not_key` specs: no keys, as Redis says.
    assert_eq!(
        err(&mut c, cmd("COMMAND").arg("GETKEYS").arg("SSUBSCRIBE").arg("ch")),
        "ERR The command has no key arguments"
    );
    // COMMAND INFO: tips, and every key spec with its notes (SORT has three).
    let info: Vec<Value> = cmd("COMMAND").arg("INFO").arg("sort").arg("keys").query(&mut c).unwrap();
    let Value::Array(sort) = &info[0] else { panic!("{info:?}") };
    let Value::Array(specs) = &sort[8] else { panic!("{sort:?}") };
    assert_eq!(specs.len(), 3, "{specs:?}");
    let text = format!("{specs:?}");
    for part in ["OW", "update", "unknown", "For the optional STORE keyword"] {
        assert!(text.contains(part), "{part} in {text}");
    }
    let Value::Array(keys) = &info[1] else { panic!("{info:?}") };
    assert_eq!(
        keys[7],
        Value::Array(vec![
            Value::BulkString(b"request_policy:all_shards".to_vec()),
            Value::BulkString(b"nondeterministic_output_order".to_vec()),
        ])
    );
    assert_eq!(
        keys[6],
        Value::Array(vec![
            Value::SimpleString("@keyspace".into()),
            Value::SimpleString("@read".into()),
            Value::SimpleString("@slow".into()),
            Value::SimpleString("@dangerous".into()),
        ])
    );
    let getkeys = |args: &[&str]| {
        let mut command = cmd("COMMAND");
        command.arg("GETKEYS").arg(args);
        command
    };
    assert_eq!(err(&mut c, getkeys(&["PING", "x"])), "ERR The command has no key arguments");
    assert_eq!(err(&mut c, getkeys(&["NOSUCH", "x"])), "ERR Invalid command specified");
    assert_eq!(
        err(&mut c, getkeys(&["GET", "a", "b"])),
        "ERR Invalid number of arguments specified for command"
    );
    assert_eq!(
        err(&mut c, getkeys(&["ZUNIONSTORE", "d", "0", "z"])).as_str(),
        "ERR Invalid arguments specified for command"
    );
    let info: Vec<Value> = cmd("COMMAND")
        .arg("INFO")
        .arg("zunionstore")
        .arg("sort")
        .arg("blmpop")
        .arg("config|nosuch")
        .query(&mut c)
        .unwrap();
    for entry in &info[..3] {
        let Value::Array(fields) = entry else { panic!("{entry:?}") };
        let Value::Array(flags) = &fields[2] else { panic!() };
        assert!(flags.contains(&Value::SimpleString("movablekeys".into())), "{fields:?}");
        assert!(!flags.contains(&Value::SimpleString("noscript".into())), "{fields:?}");
    }
    assert_eq!(info[3], Value::Nil, "an unknown subcommand is a nil entry");
}

/// `maxmemory-clients`: when the clients together hold more than the limit, the one
/// holding the most is disconnected (logged, counted in `evicted_clients`) and the others
/// keep their partly sent commands; a CLIENT NO-EVICT client (flag `e`) is never chosen.
#[test]
fn client_eviction_under_maxmemory_clients() {
    let s = TestServer::start_with(&["maxmemory-clients", "1mb"]);
    let mut observer = s.conn();
    let set_header = |len: usize| format!("*3\r\n$3\r\nSET\r\n$1\r\nk\r\n${len}\r\n").into_bytes();
    let mut small = s.raw();
    small.roundtrip(b"CLIENT SETNAME small\r\n", b"+OK\r\n");
    small.send(&set_header(100_000));
    small.send(&[b'x'; 50_000]);
    let mut big = s.raw();
    big.roundtrip(b"CLIENT SETNAME big\r\n", b"+OK\r\n");
    big.send(&set_header(3_000_000));
    // The server may close it before all is sent.
    let _ = std::io::Write::write_all(&mut big.stream, &[b'x'; 1_200_000]);
    big.read_to_close();
    let list: String = cmd("CLIENT").arg("LIST").query(&mut observer).unwrap();
    assert!(list.contains("name=small") && !list.contains("name=big"), "{list}");
    assert_eq!(common::info_field(&mut observer, "stats", "evicted_clients"), 1);

    let mut keeper = s.raw();
    keeper.roundtrip(b"CLIENT NO-EVICT ON\r\n", b"+OK\r\n");
    keeper.send(b"CLIENT INFO\r\n");
    let info = String::from_utf8(keeper.read_bulk()).unwrap();
    assert!(info.contains(" flags=e "), "{info}");
    keeper.send(&set_header(1_500_000));
    keeper.send(&[b'x'; 1_400_000]);
    // Over the limit by itself: every other client goes, the keeper stays and finishes.
    small.read_to_close();
    keeper.send(&[b'x'; 100_000]);
    keeper.roundtrip(b"\r\n", b"+OK\r\n");
    keeper.send(b"STRLEN k\r\n");
    assert_eq!(keeper.read_until(b"\r\n"), b":1500000\r\n");
}

/// DEBUG is refused unless enable-debug-command allows it (`no` by default, as Redis
/// 7.0; `local` for loopback clients); DEBUG ERROR, DEBUG OBJECT; LOLWUT; CLIENT KILL
/// USER of an unknown user.
#[test]
fn debug_gating_and_subcommands() {
    let s = TestServer::start_with(&["enable-debug-command", "no"]);
    let mut c = s.conn();
    assert!(err(&mut c, cmd("DEBUG").arg("SLEEP").arg(0)).starts_with(
        "ERR DEBUG command not allowed. If the enable-debug-command option is set to \"local\""
    ));
    let s = TestServer::start_with(&["enable-debug-command", "local"]);
    let mut c = s.conn();
    assert_eq!(err(&mut c, cmd("DEBUG").arg("ERROR").arg("MYERR custom text")), "MYERR custom text");
    let mut r = s.raw();
    r.roundtrip(&common::resp(&[b"DEBUG", b"ERROR", b"boom\nline"]), b"-boom line\r\n");
    assert_eq!(err(&mut c, cmd("DEBUG").arg("OBJECT").arg("nokey")), "ERR no such key");
    let _: () = cmd("SET").arg("k").arg("v").query(&mut c).unwrap();
    let obj: String = cmd("DEBUG").arg("OBJECT").arg("k").query(&mut c).unwrap();
    for field in
        ["Value at:", " refcount:1", " encoding:embstr", " serializedlength:", " lru:", " lru_seconds_idle:"]
    {
        assert!(obj.contains(field), "{field} in {obj}");
    }
    assert_eq!(err(&mut c, cmd("MEMORY").arg("USAGE").arg("k").arg("SAMPLES").arg(-1)), "ERR syntax error");
    let replid = |c: &mut redis::Connection| -> String {
        let info: String = cmd("INFO").arg("replication").query(c).unwrap();
        info.lines().find_map(|l| l.strip_prefix("master_replid:")).unwrap().trim().to_string()
    };
    let before = replid(&mut c);
    let _: () = cmd("DEBUG").arg("CHANGE-REPL-ID").query(&mut c).unwrap();
    let after = replid(&mut c);
    assert!(after != before && after.len() == 40, "{before} -> {after}");
    let art: String = cmd("LOLWUT").query(&mut c).unwrap();
    assert!(art.ends_with("Redis ver. 7.0.15\n"), "{art}");
    assert_eq!(
        err(&mut c, cmd("LOLWUT").arg("VERSION").arg("x")),
        "ERR value is not an integer or out of range"
    );
    assert_eq!(err(&mut c, cmd("CLIENT").arg("KILL").arg("USER").arg("nobody")), "ERR No such user 'nobody'");
    let n: i64 =
        cmd("CLIENT").arg("KILL").arg("USER").arg("default").arg("SKIPME").arg("yes").query(&mut c).unwrap();
    assert_eq!(n, 1, "the raw connection, a default-user client, is killed");
}

/// CLIENT LIST's buffer fields as Redis means them: a client that sent part of a
/// command shows it in qbuf and argv-mem; an idle client gives its buffers back after
/// about 2 s (qbuf-free and rbs drop to 0) and still works afterwards.
#[test]
fn client_list_buffers_and_idle_release() {
    let s = TestServer::start();
    let mut c = s.conn();
    let field = |line: &str, name: &str| -> usize {
        line.split(' ')
            .find_map(|f| f.strip_prefix(&format!("{name}=")))
            .unwrap_or_else(|| panic!("{name} in {line}"))
            .parse()
            .unwrap()
    };
    let line_of = |c: &mut redis::Connection, id: i64| -> String {
        cmd("CLIENT").arg("LIST").arg("ID").arg(id).query(c).unwrap()
    };
    let mut partial = s.raw();
    partial.roundtrip(b"CLIENT ID\r\n", b":");
    let id: i64 = String::from_utf8(partial.read_until(b"\r\n")).unwrap().trim().parse().unwrap();
    partial.send(b"*3\r\n$3\r\nSET\r\n$5\r\nhello\r\n$10\r\nwor");
    assert!(common::eventually(|| field(&line_of(&mut c, id), "qbuf") > 0));
    let line = line_of(&mut c, id);
    assert_eq!(field(&line, "argv-mem"), "SET".len() + "hello".len(), "{line}");
    assert!(field(&line, "qbuf-free") > 0 && field(&line, "tot-mem") > field(&line, "qbuf"), "{line}");
    partial.roundtrip(b"ld12345\r\n", b"+OK\r\n");

    let mut idle = s.raw();
    idle.roundtrip(b"CLIENT ID\r\n", b":");
    let idle_id: i64 = String::from_utf8(idle.read_until(b"\r\n")).unwrap().trim().parse().unwrap();
    let before = line_of(&mut c, idle_id);
    assert!(field(&before, "qbuf-free") > 0 && field(&before, "rbs") > 0, "{before}");
    assert!(common::eventually(|| {
        let line = line_of(&mut c, idle_id);
        field(&line, "qbuf-free") == 0 && field(&line, "rbs") == 0
    }));
    assert!(field(&line_of(&mut c, idle_id), "tot-mem") < field(&before, "tot-mem"));
    idle.roundtrip(b"PING\r\n", b"+PONG\r\n");
    let big = "x".repeat(100_000);
    idle.send(&common::resp(&[b"SET", b"big", big.as_bytes()]));
    assert_eq!(idle.read_exact(5), b"+OK\r\n");
    idle.send(b"GET big\r\n");
    assert_eq!(
        idle.read_bulk(),
        big.as_bytes(),
        "a connection that gave its buffers back reads and writes whole"
    );
}

/// CLIENT PAUSE WRITE holds writes (and EXEC of a transaction that writes) but not
/// reads; held clients run in the order they were held once CLIENT UNPAUSE comes; a
/// pause ends by itself at its timeout; ALL holds every command; no active expiry
/// while paused.
#[test]
fn client_pause_and_unpause() {
    let s = TestServer::start();
    let mut c = s.conn();
    let addr = s.addr;
    assert_eq!(
        err(&mut c, cmd("CLIENT").arg("PAUSE").arg(100).arg("SOME")),
        "ERR CLIENT PAUSE mode must be WRITE or ALL"
    );
    assert_eq!(err(&mut c, cmd("CLIENT").arg("PAUSE").arg(-1)), "ERR timeout is negative");
    assert_eq!(
        err(&mut c, cmd("CLIENT").arg("PAUSE").arg("x")),
        "ERR timeout is not an integer or out of range"
    );

    let _: () = cmd("SET").arg("k").arg("before").query(&mut c).unwrap();
    let _: () = cmd("CLIENT").arg("PAUSE").arg(100_000).arg("WRITE").query(&mut c).unwrap();
    let v: String = cmd("GET").arg("k").query(&mut c).unwrap();
    assert_eq!(v, "before", "reads go on during a WRITE pause");
    let mut writers = Vec::new();
    for item in ["a", "b", "c"] {
        writers.push(common::in_background(move || {
            cmd("RPUSH").arg("order").arg(item).query::<i64>(&mut common::connect(addr)).unwrap()
        }));
        // Each is held before the next one sends.
        assert!(common::eventually(|| {
            let list: String = cmd("CLIENT").arg("LIST").query(&mut c).unwrap();
            list.matches("flags=b").count() == writers.len()
        }));
    }
    let tx = common::in_background(move || {
        let mut w = common::connect(addr);
        redis::pipe().atomic().cmd("SET").arg("k").arg("tx").ignore().query::<()>(&mut w).unwrap();
    });
    writers[0].assert_waiting(std::time::Duration::from_millis(200));
    tx.assert_waiting(std::time::Duration::from_millis(10));
    let (v,): (String,) = redis::pipe().atomic().cmd("GET").arg("k").query(&mut c).unwrap();
    assert_eq!(v, "before", "a read-only transaction is not held");
    let _: () = cmd("CLIENT").arg("UNPAUSE").query(&mut c).unwrap();
    let lens: Vec<i64> = writers.into_iter().map(|w| w.result()).collect();
    assert_eq!(lens, [1, 2, 3]);
    let order: Vec<String> = cmd("LRANGE").arg("order").arg(0).arg(-1).query(&mut c).unwrap();
    assert_eq!(order, ["a", "b", "c"], "held clients run in the order they were held");
    tx.result();
    let v: String = cmd("GET").arg("k").query(&mut c).unwrap();
    assert_eq!(v, "tx");

    // Nothing expires while paused, and expiry resumes after.
    let expired = |c: &mut redis::Connection| common::info_field(c, "stats", "expired_keys");
    let _: () = cmd("SET").arg("short").arg("v").arg("PX").arg(300).query(&mut c).unwrap();
    let _: () = cmd("CLIENT").arg("PAUSE").arg(100_000).arg("WRITE").query(&mut c).unwrap();
    let expired_before = expired(&mut c);
    // The key's time passes during the pause: it reads as missing, but nothing is
    // deleted (neither actively nor by the read) until the pause ends.
    std::thread::sleep(std::time::Duration::from_millis(700));
    let gone: Option<String> = cmd("GET").arg("short").query(&mut c).unwrap();
    assert_eq!(gone, None);
    assert_eq!(expired(&mut c), expired_before, "no expiry while paused");
    let _: () = cmd("CLIENT").arg("UNPAUSE").query(&mut c).unwrap();
    assert!(common::eventually(|| expired(&mut c) > expired_before), "active expiry resumes");

    // ALL, ended by its timeout: even PING waits.
    let _: () = cmd("CLIENT").arg("PAUSE").arg(700).arg("ALL").query(&mut c).unwrap();
    let ping =
        common::in_background(move || cmd("PING").query::<String>(&mut common::connect(addr)).unwrap());
    ping.assert_waiting(std::time::Duration::from_millis(400));
    assert_eq!(ping.result(), "PONG");
}

/// DEBUG DIGEST and DIGEST-VALUE use Redis's algorithm: the same data gives the digests
/// redis-server 7.0.15 printed for it (golden vectors taken from it), whatever the
/// encoding; DIGEST-SLOTS (slotcache's own) covers a slot range.
#[test]
fn debug_digest_matches_redis() {
    let s = TestServer::start();
    let mut c = s.conn();
    let digest = |c: &mut redis::Connection| -> String { cmd("DEBUG").arg("DIGEST").query(c).unwrap() };
    assert_eq!(digest(&mut c), "0".repeat(40), "an empty dataset");
    let _: () = cmd("SET").arg("s").arg("hello").query(&mut c).unwrap();
    let _: () = cmd("SET").arg("n").arg("12345").query(&mut c).unwrap();
    let _: () = cmd("RPUSH").arg("l").arg(&["a", "b", "c"]).query(&mut c).unwrap();
    let _: () = cmd("SADD").arg("st").arg(&["x", "y", "z", "1", "2"]).query(&mut c).unwrap();
    let _: () = cmd("ZADD").arg("z").arg(&["1", "a", "2.5", "b", "0.1", "c"]).query(&mut c).unwrap();
    let _: () = cmd("HSET").arg("h").arg(&["f1", "v1", "f2", "v2"]).query(&mut c).unwrap();
    let _: () = cmd("SET").arg("e").arg("v").arg("EX").arg(1000).query(&mut c).unwrap();
    let values: Vec<String> = cmd("DEBUG")
        .arg("DIGEST-VALUE")
        .arg(&["s", "n", "l", "st", "z", "h", "e", "nokey"])
        .query(&mut c)
        .unwrap();
    assert_eq!(
        values,
        [
            "36b23a1456b2dce2c3ed252c456761301dba8060",
            "e1cf90774e995ae03de66e8109dc5cb9d9c2dc83",
            "8bf72d812571eea9b927f3c11beb0c4165a6ff89",
            "e0f81c61943b16a653d76e4d2fe631764da8f43f",
            "ac3f88f74ce0703ae2c86046b8b8e8180f672692",
            "047cc60ea73a34cde6d08a2721a4a26d19ee6570",
            "311b17018163335616e089f6b951c82c477335ac",
            "0000000000000000000000000000000000000000",
        ]
    );
    assert_eq!(digest(&mut c), "14fbe495c3dcbbad460d1cbed36e78d3b1cf9c75");
    // The same data in another encoding (a sorted set past its listpack size and back
    // to three members) digests the same.
    let big: Vec<String> = (0..300).flat_map(|i| [i.to_string(), format!("m{i}")]).collect();
    let _: () = cmd("ZADD").arg("z").arg(&big).query(&mut c).unwrap();
    let members: Vec<String> = (0..300).map(|i| format!("m{i}")).collect();
    let _: () = cmd("ZREM").arg("z").arg(&members).query(&mut c).unwrap();
    assert_eq!(digest(&mut c), "14fbe495c3dcbbad460d1cbed36e78d3b1cf9c75");
    // Another database is mixed in by number.
    let _: () = redis::pipe()
        .cmd("SELECT")
        .arg(3)
        .cmd("SET")
        .arg("s")
        .arg("hello")
        .cmd("SELECT")
        .arg(0)
        .query(&mut c)
        .unwrap();
    assert_eq!(digest(&mut c), "d6a1a099577d141c72f042a5b38fe8680881c84d");
    // The slot range of every slot is the whole dataset; a range without keys is zero.
    let all: String = cmd("DEBUG").arg("DIGEST-SLOTS").arg(0).arg(16383).query(&mut c).unwrap();
    assert_eq!(all, "d6a1a099577d141c72f042a5b38fe8680881c84d");
    let slot = slotcache::cluster::slot::key_slot(b"s");
    let one: String = cmd("DEBUG").arg("DIGEST-SLOTS").arg(slot).arg(slot).query(&mut c).unwrap();
    assert_ne!(one, "0".repeat(40), "the slot of key s has keys");
    let other = if slot == 0 { 1 } else { slot - 1 };
    let keys_there = ["s", "n", "l", "st", "z", "h", "e"]
        .iter()
        .any(|k| slotcache::cluster::slot::key_slot(k.as_bytes()) == other);
    let none: String = cmd("DEBUG").arg("DIGEST-SLOTS").arg(other).arg(other).query(&mut c).unwrap();
    assert_eq!(none == "0".repeat(40), !keys_there);
    assert_eq!(
        err(&mut c, cmd("DEBUG").arg("DIGEST-SLOTS").arg(0).arg(16384)),
        "ERR Invalid or out of range slot"
    );
}
