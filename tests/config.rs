//! CONFIG GET/SET as Redis 7.0: aliases answered under the name asked for, several
//! parameters and patterns at once, every Redis 7.0 parameter accepted and reported,
//! atomic SET with rollback, duplicate and grammar errors; and the binary started with
//! an unmodified Debian `/etc/redis/redis.conf`, daemonized, and with a busy default
//! metrics port.

mod common;

use std::collections::HashMap;

use common::{Proc, TestServer, err};
use redis::cmd;

fn get(c: &mut redis::Connection, names: &[&str]) -> HashMap<String, String> {
    cmd("CONFIG").arg("GET").arg(names).query(c).unwrap()
}

#[test]
fn config_get_answers_aliases_patterns_and_every_redis_parameter() {
    let s = TestServer::start();
    let mut c = s.conn();
    for (alias, value) in [
        ("hash-max-ziplist-value", "64"),
        ("hash-max-ziplist-entries", "128"),
        ("zset-max-ziplist-value", "64"),
        ("list-max-ziplist-size", "-2"),
        ("slave-priority", "100"),
        ("slave-read-only", "yes"),
        ("lua-time-limit", "5000"),
    ] {
        assert_eq!(get(&mut c, &[alias]), HashMap::from([(alias.to_string(), value.to_string())]), "{alias}");
    }
    // Several names at once, and an exact name is echoed as asked.
    let v = get(&mut c, &["maxmemory", "timeout", "repl-backlog-size", "maxmemory-clients", "MAXCLIENTS"]);
    assert_eq!(v.len(), 5, "{v:?}");
    assert_eq!(v["repl-backlog-size"], "1048576");
    assert_eq!(v["maxmemory-clients"], "0");
    assert_eq!(v["MAXCLIENTS"], "10000");
    // A pattern matches names and aliases.
    let v = get(&mut c, &["hash-max-*-entries"]);
    assert_eq!(v.len(), 2, "{v:?}");
    assert!(v.contains_key("hash-max-listpack-entries") && v.contains_key("hash-max-ziplist-entries"));
    let all = get(&mut c, &["*"]);
    for name in [
        "list-compress-depth",
        "appendfsync",
        "supervised",
        "jemalloc-bg-thread",
        "slave-serve-stale-data",
        "save",
        "bind",
    ] {
        assert!(all.contains_key(name), "{name} missing from CONFIG GET *");
    }
    assert!(all.len() > 190, "{}", all.len());
    assert!(get(&mut c, &["no-such-parameter"]).is_empty());

    // Setting through an alias changes the parameter under both names.
    let _: () = cmd("CONFIG").arg("SET").arg("hash-max-ziplist-entries").arg(7).query(&mut c).unwrap();
    assert_eq!(get(&mut c, &["hash-max-listpack-entries"])["hash-max-listpack-entries"], "7");
    let _: () = cmd("CONFIG")
        .arg("SET")
        .arg("repl-backlog-size")
        .arg("2mb")
        .arg("list-compress-depth")
        .arg(1)
        .query(&mut c)
        .unwrap();
    let v = get(&mut c, &["repl-backlog-size", "list-compress-depth"]);
    assert_eq!((v["repl-backlog-size"].as_str(), v["list-compress-depth"].as_str()), ("2097152", "1"));
}

#[test]
fn config_set_is_atomic_and_validates_every_grammar() {
    let s = TestServer::start();
    let mut c = s.conn();
    let set = |args: &[&str]| {
        let mut command = cmd("CONFIG");
        command.arg("SET").arg(args);
        command
    };
    let failed = |arg: &str, why: &str| {
        format!("ERR CONFIG SET failed (possibly related to argument '{arg}') - {why}")
    };
    assert_eq!(err(&mut c, set(&["save", "garbage"])), failed("save", "Invalid save parameters"));
    assert_eq!(err(&mut c, set(&["save", "10"])), failed("save", "Invalid save parameters"));
    let _: () = set(&["save", "900 1 300 10"]).query(&mut c).unwrap();
    assert_eq!(get(&mut c, &["save"])["save"], "900 1 300 10");
    assert_eq!(
        err(&mut c, set(&["maxmemory", "1mb", "maxmemory", "2mb"])),
        failed("maxmemory", "duplicate parameter")
    );
    assert_eq!(
        err(&mut c, set(&["hash-max-listpack-value", "10", "hash-max-ziplist-value", "20"])),
        failed("hash-max-ziplist-value", "duplicate parameter")
    );
    assert_eq!(err(&mut c, set(&["daemonize", "yes"])), failed("daemonize", "can't set immutable config"));
    assert_eq!(
        err(&mut c, set(&["appendfsync", "sometimes"])),
        failed("appendfsync", "argument(s) must be one of the following: everysec, always, no")
    );
    assert_eq!(
        err(&mut c, set(&["activerehashing", "maybe"])),
        failed("activerehashing", "argument must be 'yes' or 'no'")
    );
    assert!(
        err(&mut c, set(&["repl-backlog-size", "0"]))
            .starts_with(&failed("repl-backlog-size", "argument must be between 1"))
    );
    // All or nothing: a bad second value leaves the first unchanged.
    let _ = err(&mut c, set(&["maxmemory", "10mb", "maxmemory-policy", "bogus"]));
    assert_eq!(get(&mut c, &["maxmemory"])["maxmemory"], "0");
    let _: () = set(&["maxmemory", "10mb", "maxmemory-policy", "allkeys-lru"]).query(&mut c).unwrap();
    let v = get(&mut c, &["maxmemory", "maxmemory-policy"]);
    assert_eq!((v["maxmemory"].as_str(), v["maxmemory-policy"].as_str()), ("10485760", "allkeys-lru"));
}

/// The Debian package's redis.conf, unmodified: slotcache starts with it (the paths it
/// names are moved into a temporary directory by flags), warns once for each directive
/// that has no effect here, and serves.
#[test]
fn starts_with_an_unmodified_debian_redis_conf() {
    let conf = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/debian-redis-7.0.conf");
    let dir = std::env::temp_dir().join(format!("slotcache-debian-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let d = dir.to_str().unwrap().to_string();
    let pidfile = format!("{d}/redis.pid");
    let p = Proc::start(&[
        conf,
        "--port",
        "0",
        "--daemonize",
        "no",
        "--logfile",
        "",
        "--dir",
        &d,
        "--pidfile",
        &pidfile,
        "--metrics-port",
        "0",
        "--enable-debug-command",
        "local",
    ]);
    let mut c = p.conn();
    let pong: String = cmd("PING").query(&mut c).unwrap();
    assert_eq!(pong, "PONG");
    let v = get(&mut c, &["list-compress-depth", "supervised", "jemalloc-bg-thread", "hz"]);
    assert_eq!(v["hz"], "10");
    assert_eq!(v["supervised"], "no");
    let pid: u32 = std::fs::read_to_string(&pidfile).unwrap().trim().parse().unwrap();
    assert_eq!(pid, p.child.id());
    p.signal("TERM");
    let (code, log) = p.wait();
    assert_eq!(code, Some(0));
    let warned = |name: &str| {
        log.iter().filter(|l| l.contains(&format!("'{name}'")) && l.contains("no effect")).count()
    };
    assert_eq!(warned("always-show-logo"), 1, "{log:?}");
    assert_eq!(warned("repl-diskless-sync"), 1, "{log:?}");
    assert_eq!(warned("port"), 0, "port is slotcache's own directive");
    assert_eq!(warned("enable-debug-command"), 0, "slotcache acts on it");
    assert!(!std::path::Path::new(&pidfile).exists(), "the pidfile is removed at exit");
    let _ = std::fs::remove_dir_all(&dir);
}

/// `daemonize yes`: the command returns at once, the server keeps running in the
/// background with its pid in the pidfile, and SHUTDOWN ends it and removes the file.
#[test]
fn daemonize_forks_writes_the_pidfile_and_serves() {
    let dir = std::env::temp_dir().join(format!("slotcache-daemon-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let pidfile = dir.join("slotcache.pid");
    let logfile = dir.join("slotcache.log");
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let status = std::process::Command::new(env!("CARGO_BIN_EXE_slotcache"))
        .args([
            "--bind",
            "127.0.0.1",
            "--port",
            &port.to_string(),
            "--metrics-port",
            "0",
            "--daemonize",
            "yes",
        ])
        .args(["--pidfile", pidfile.to_str().unwrap(), "--logfile", logfile.to_str().unwrap()])
        .status()
        .unwrap();
    assert!(status.success(), "the parent exits with 0");
    assert!(common::eventually(|| std::fs::read_to_string(&pidfile).is_ok_and(|s| s.ends_with('\n'))));
    let pid: i32 = std::fs::read_to_string(&pidfile).unwrap().trim().parse().unwrap();
    let mut c = common::connect(format!("127.0.0.1:{port}").parse().unwrap());
    let info: String = cmd("INFO").arg("server").query(&mut c).unwrap();
    assert!(info.contains(&format!("process_id:{pid}")), "{info}");
    let _ = cmd("SHUTDOWN").arg("NOSAVE").query::<()>(&mut c);
    assert!(common::eventually(|| !pidfile.exists()), "SHUTDOWN removes the pidfile");
    assert!(common::eventually(|| !std::path::Path::new(&format!("/proc/{pid}")).exists()));
    let log = std::fs::read_to_string(&logfile).unwrap();
    assert!(log.contains("Ready to accept connections"), "{log}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// The default metrics port in use (say by a redis_exporter): one warning, and the
/// server runs without it; a metrics port set explicitly is fatal when busy.
#[test]
fn a_busy_default_metrics_port_is_skipped_an_explicit_one_is_fatal() {
    // Held busy here whether or not something else already holds it.
    let _busy = std::net::TcpListener::bind(("127.0.0.1", slotcache::config::DEFAULT_METRICS_PORT));
    let p = Proc::start(&["--bind", "127.0.0.1", "--port", "0", "--metrics-bind", "127.0.0.1"]);
    let pong: String = cmd("PING").query(&mut p.conn()).unwrap();
    assert_eq!(pong, "PONG");
    p.signal("TERM");
    let (code, log) = p.wait();
    assert_eq!(code, Some(0));
    assert_eq!(log.iter().filter(|l| l.contains("serving without /metrics")).count(), 1, "{log:?}");

    let busy = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = busy.local_addr().unwrap().port().to_string();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_slotcache"))
        .args(["--bind", "127.0.0.1", "--port", "0", "--metrics-bind", "127.0.0.1", "--metrics-port", &port])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        stderr.matches("Could not create metrics listening socket").count(),
        1,
        "printed once: {stderr}"
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(!stdout.contains("Could not create"), "not twice: {stdout}");
    assert!(!stdout.contains('\x1b'), "no colours into a pipe: {stdout}");
}

/// CONFIG SET port and bind rebind the listeners at runtime, as Redis 7.0: new clients
/// connect to the new address, connections already open stay, and a port or address
/// that cannot be bound is refused with Redis's text, changing nothing.
#[test]
fn config_set_port_and_bind_rebind() {
    let s = TestServer::start();
    let mut c = s.conn();
    let free = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let _: () = cmd("CONFIG").arg("SET").arg("port").arg(free).query(&mut c).unwrap();
    let pong: String = cmd("PING").query(&mut c).unwrap();
    assert_eq!(pong, "PONG", "the connection made before stays");
    let moved: std::net::SocketAddr = format!("127.0.0.1:{free}").parse().unwrap();
    let mut n = common::connect(moved);
    let port = common::info_field(&mut n, "server", "tcp_port");
    assert_eq!(port, free as u64);
    assert!(
        common::eventually(|| std::net::TcpStream::connect(s.addr).is_err()),
        "the old port no longer accepts"
    );

    let busy = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let busy_port = busy.local_addr().unwrap().port();
    assert_eq!(
        err(&mut n, cmd("CONFIG").arg("SET").arg("port").arg(busy_port)),
        "ERR CONFIG SET failed (possibly related to argument 'port') - Unable to listen on this port"
    );
    assert_eq!(
        err(&mut n, cmd("CONFIG").arg("SET").arg("bind").arg("192.0.2.1")),
        "ERR CONFIG SET failed (possibly related to argument 'bind') - Failed to bind to specified addresses."
    );
    let v: std::collections::HashMap<String, String> =
        cmd("CONFIG").arg("GET").arg("port").arg("bind").query(&mut n).unwrap();
    assert_eq!(v["port"], free.to_string());
    assert_eq!(v["bind"], "127.0.0.1");
    let _: String = cmd("PING").query(&mut common::connect(moved)).unwrap();
}
