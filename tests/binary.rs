//! The real `slotcache` binary: configuration file and flags, start-up errors, signals,
//! SHUTDOWN, CONFIG REWRITE.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use common::{Proc, WAIT};
use redis::cmd;

fn temp_dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("slotcache-bin-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

const TEST_FLAGS: &[&str] = &["--bind", "127.0.0.1", "--port", "0", "--metrics-port", "0"];

#[test]
fn sigterm_and_sigint_shut_down_cleanly() {
    for sig in ["TERM", "INT"] {
        let p = Proc::start(TEST_FLAGS);
        let mut c = p.conn();
        let _: () = cmd("SET").arg("k").arg("v").query(&mut c).unwrap();
        p.signal(sig);
        let (code, log) = p.wait();
        assert_eq!(code, Some(0), "exit code after SIG{sig}");
        assert!(log.iter().any(|l| l.contains(&format!("Received SIG{sig}"))), "{log:?}");
        assert!(log.iter().any(|l| l.contains("ready to exit")), "{log:?}");
    }
}

#[test]
fn shutdown_does_not_hang_on_a_client_that_never_reads() {
    let p = Proc::start(TEST_FLAGS);
    let mut c = p.conn();
    let _: () = cmd("SET").arg("big").arg(vec![b'x'; 1 << 20]).query(&mut c).unwrap();
    let mut stuck = std::net::TcpStream::connect(p.addr).unwrap();
    stuck.set_write_timeout(Some(Duration::from_secs(2))).unwrap();
    let req = b"*2\r\n$3\r\nGET\r\n$3\r\nbig\r\n".repeat(200);
    let _ = std::io::Write::write_all(&mut stuck, &req);
    std::thread::sleep(Duration::from_millis(200));
    p.signal("TERM");
    let (code, _) = p.wait();
    assert_eq!(code, Some(0));
    drop(stuck);
}

#[test]
fn shutdown_command_exits_zero() {
    let dir = temp_dir("pid");
    let pidfile = dir.join("slotcache.pid");
    let p = Proc::start(&[TEST_FLAGS, &["--pidfile", pidfile.to_str().unwrap()]].concat());
    let written = std::fs::read_to_string(&pidfile).unwrap();
    assert_eq!(written.trim(), p.child.id().to_string());
    let mut c = p.conn();
    let r = cmd("SHUTDOWN").arg("NOSAVE").query::<()>(&mut c);
    assert!(r.is_err(), "SHUTDOWN closes the connection without a reply");
    let (code, log) = p.wait();
    assert_eq!(code, Some(0));
    assert!(log.iter().any(|l| l.contains("User requested shutdown")), "{log:?}");
    assert!(!pidfile.exists(), "the pidfile is removed on exit");
    let _ = std::fs::remove_dir_all(&dir);
}

fn write(path: &Path, text: &str) {
    std::fs::write(path, text).unwrap();
}

#[test]
fn config_file_include_quotes_and_flag_overrides() {
    let dir = temp_dir("conf");
    let inc = dir.join("extra.conf");
    write(&inc, "maxmemory-policy allkeys-lru\n");
    let conf = dir.join("slotcache.conf");
    write(
        &conf,
        &format!(
            "# a comment\n\nbind 127.0.0.1\nport 0\nmaxclients 123\nrequirepass \"pa ss\"\ninclude {}\nmaxmemory 10mb\nslowlog-max-len 7\nslave-priority 50\n",
            inc.display()
        ),
    );
    let p = Proc::start(&[
        conf.to_str().unwrap(),
        "--maxclients",
        "77",
        "--databases",
        "4",
        "--metrics-port",
        "0",
    ]);
    let client = redis::Client::open(format!("redis://:pa%20ss@{}/", p.addr)).unwrap();
    let mut c = client.get_connection_with_timeout(WAIT).unwrap();
    let v: std::collections::HashMap<String, String> = cmd("CONFIG")
        .arg("GET")
        .arg("maxclients")
        .arg("maxmemory")
        .arg("maxmemory-policy")
        .arg("databases")
        .arg("slowlog-max-len")
        .query(&mut c)
        .unwrap();
    assert_eq!(v["maxclients"], "77", "flags override the file");
    assert_eq!(v["maxmemory"], (10u64 << 20).to_string());
    assert_eq!(v["maxmemory-policy"], "allkeys-lru", "include works");
    assert_eq!(v["databases"], "4");
    assert_eq!(v["slowlog-max-len"], "7");
    let e = cmd("SELECT").arg(4).query::<()>(&mut c).unwrap_err();
    assert_eq!(e.detail(), Some("DB index is out of range"));

    // CONFIG REWRITE keeps comments, updates values in place, appends new ones.
    let _: () =
        cmd("CONFIG").arg("SET").arg("maxmemory").arg("20mb").arg("timeout").arg(9).query(&mut c).unwrap();
    // Redis parameters slotcache only keeps: an alias line is rewritten under the name,
    // one set at runtime is appended.
    let _: () = cmd("CONFIG")
        .arg("SET")
        .arg("replica-priority")
        .arg(60)
        .arg("repl-backlog-size")
        .arg("2mb")
        .query(&mut c)
        .unwrap();
    let _: () = cmd("CONFIG").arg("REWRITE").query(&mut c).unwrap();
    let text = std::fs::read_to_string(&conf).unwrap();
    assert!(text.starts_with("# a comment\n"), "{text}");
    assert!(text.contains(&format!("maxmemory {}\n", 20u64 << 20)), "{text}");
    assert!(text.contains("timeout 9\n"), "{text}");
    assert!(text.contains("requirepass \"pa ss\"\n"), "{text}");
    assert_eq!(text.matches("maxmemory ").count(), 1, "{text}");
    assert!(text.contains("replica-priority 60\n") && !text.contains("slave-priority"), "{text}");
    assert!(text.contains("repl-backlog-size 2097152\n"), "{text}");
    let _: () = cmd("SHUTDOWN").query(&mut c).unwrap_or(());
    let (code, _) = p.wait();
    assert_eq!(code, Some(0));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn bad_configuration_fails_at_start_naming_the_line() {
    let dir = temp_dir("bad");
    let conf = dir.join("bad.conf");
    write(&conf, "port 0\n# fine so far\nnosuchdirective 12\n");
    let out = Command::new(env!("CARGO_BIN_EXE_slotcache")).arg(&conf).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("bad.conf:3") && err.contains("nosuchdirective 12"), "{err}");
    assert!(err.contains("Bad directive"), "{err}");

    let out = Command::new(env!("CARGO_BIN_EXE_slotcache")).args(["--port", "notaport"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("port notaport"));

    let out =
        Command::new(env!("CARGO_BIN_EXE_slotcache")).args(["--maxmemory", "12parsecs"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("memory value"));

    // An error in an included file names that file and the including line.
    write(&dir.join("inner.conf"), "timeout 5\nmaxmemory lots\n");
    let outer = dir.join("outer.conf");
    write(&outer, "port 0\ninclude inner.conf\n");
    let out = Command::new(env!("CARGO_BIN_EXE_slotcache")).arg(&outer).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("inner.conf:2") && err.contains("included from") && err.contains("outer.conf:2"),
        "{err}"
    );
    assert_eq!(err.lines().count(), 1, "printed once: {err}");

    let out = Command::new(env!("CARGO_BIN_EXE_slotcache")).arg(dir.join("missing.conf")).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("can't open config file"));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn port_in_use_is_a_clear_error() {
    let holder = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = holder.local_addr().unwrap().port().to_string();
    let out = Command::new(env!("CARGO_BIN_EXE_slotcache"))
        .args(["--bind", "127.0.0.1", "--port", &port, "--metrics-port", "0"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("Could not create server TCP listening socket"), "{err}");
}

#[test]
fn shipped_config_file_loads() {
    let conf = Path::new(env!("CARGO_MANIFEST_DIR")).join("conf/slotcache.conf");
    let p = Proc::start(&[&[conf.to_str().unwrap()], TEST_FLAGS].concat());
    let mut c = p.conn();
    let pong: String = cmd("PING").query(&mut c).unwrap();
    assert_eq!(pong, "PONG");
    p.signal("TERM");
    assert_eq!(p.wait().0, Some(0));
}

#[test]
fn embedded_defaults_match_redis() {
    let cfg = slotcache::Config::load(None, &[]).unwrap();
    assert_eq!(cfg.port, 6379);
    assert_eq!(cfg.bind, vec!["127.0.0.1", "-::1"]);
    assert_eq!(cfg.databases, 16);
    assert_eq!(cfg.proto_max_bulk_len, 512 << 20);
    assert_eq!(cfg.client_query_buffer_limit, 1 << 30);
    assert!(cfg.threads >= 1 && cfg.shards == cfg.threads);
}

#[test]
fn loglevel_changes_at_runtime() {
    // Lowered to `warning` at runtime, the shutdown notice is not logged...
    let p = Proc::start(TEST_FLAGS);
    let mut c = p.conn();
    let _: () = cmd("CONFIG").arg("SET").arg("loglevel").arg("warning").query(&mut c).unwrap();
    let _ = cmd("SHUTDOWN").query::<()>(&mut c);
    let (code, log) = p.wait();
    assert_eq!(code, Some(0));
    assert!(!log.iter().any(|l| l.contains("User requested shutdown")), "{log:?}");
    // ...and raised back to `notice`, it is.
    let p = Proc::start(TEST_FLAGS);
    let mut c = p.conn();
    let _: () = cmd("CONFIG").arg("SET").arg("loglevel").arg("warning").query(&mut c).unwrap();
    let _: () = cmd("CONFIG").arg("SET").arg("loglevel").arg("notice").query(&mut c).unwrap();
    let _ = cmd("SHUTDOWN").query::<()>(&mut c);
    let (code, log) = p.wait();
    assert_eq!(code, Some(0));
    assert!(log.iter().any(|l| l.contains("User requested shutdown")), "{log:?}");
}

#[test]
fn metrics_port_in_use_is_a_start_up_error() {
    let holder = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = holder.local_addr().unwrap().port().to_string();
    let out = Command::new(env!("CARGO_BIN_EXE_slotcache"))
        .args(["--bind", "127.0.0.1", "--port", "0", "--metrics-port", &port])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("Could not create metrics listening socket") && err.contains("metrics-port"),
        "{err}"
    );
}
