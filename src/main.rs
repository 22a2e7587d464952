//! The `slotcache` binary: parse the command line, load the configuration, start the
//! server, wait for it to stop.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{ArgAction, Parser};
use slotcache::{Config, StartOptions};
use tracing_subscriber::filter::LevelFilter;
use tracing_subscriber::prelude::*;
use tracing_subscriber::{fmt, reload};

/// A Redis-compatible cache server.
///
/// Usage is Redis's: `slotcache [/path/to/slotcache.conf] [--directive value ...]`.
/// With no arguments it serves on 127.0.0.1:6379 with the embedded defaults.
#[derive(Parser)]
#[command(version = VERSION, about, long_about = None, disable_version_flag = true, after_help = HELP)]
struct Cli {
    /// Print the version and exit (as redis-server -v).
    #[arg(short = 'v', long = "version", action = ArgAction::Version)]
    version: (),
    /// An optional redis.conf-style configuration file, then directives that override
    /// it, e.g. `slotcache slotcache.conf --port 7000 --maxclients 100`.
    #[arg(allow_hyphen_values = true, trailing_var_arg = true, num_args = 0.., value_name = "CONFIG] [--DIRECTIVE VALUE")]
    args: Vec<String>,
}

const VERSION: &str =
    concat!(env!("CARGO_PKG_VERSION"), " (Redis 7.0.15 compatible) malloc=jemalloc bits=64");

const HELP: &str = "\
Examples:
  slotcache                                     (embedded defaults, 127.0.0.1:6379)
  slotcache /etc/redis/redis.conf               (a Redis 7.0 configuration file)
  slotcache --port 7777 --maxmemory 2gb --maxmemory-policy allkeys-lfu
  slotcache conf/slotcache.conf --loglevel verbose

Common directives (every one is documented in conf/slotcache.conf):
  --port, --bind, --unixsocket, --requirepass, --maxclients, --timeout,
  --maxmemory, --maxmemory-policy, --threads, --shards, --databases,
  --daemonize, --pidfile, --logfile, --loglevel, --dir,
  --metrics-port, --metrics-bind, --notify-keyspace-events";

/// `daemonize yes`: the process forks before any thread exists (no runtime, no
/// logger, no allocator background thread yet), the parent exits, and the child leaves
/// the terminal: a new session, standard streams on /dev/null.
fn daemonize() -> std::io::Result<()> {
    // SAFETY: called from main before any other thread is started; the child only
    // continues the single-threaded start-up.
    match unsafe { libc::fork() } {
        -1 => return Err(std::io::Error::last_os_error()),
        0 => {}
        _ => std::process::exit(0),
    }
    // SAFETY: plain system calls on the child's own process and descriptors.
    unsafe {
        libc::setsid();
        let null = libc::open(c"/dev/null".as_ptr(), libc::O_RDWR);
        if null >= 0 {
            libc::dup2(null, 0);
            libc::dup2(null, 1);
            libc::dup2(null, 2);
            if null > 2 {
                libc::close(null);
            }
        }
    }
    Ok(())
}

/// Where a daemonized server writes its pid when `pidfile` is not set (Redis uses
/// /var/run/redis.pid).
const DEFAULT_DAEMON_PIDFILE: &str = "/var/run/slotcache.pid";

fn main() -> ExitCode {
    let cli = Cli::parse();
    let (file, directives) = match cli.args.split_first() {
        Some((first, rest)) if !first.starts_with("--") => (Some(PathBuf::from(first)), rest),
        _ => (None, &cli.args[..]),
    };
    let mut config = match Config::load(file.as_deref(), directives) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::FAILURE;
        }
    };
    if config.daemonize {
        if let Err(e) = daemonize() {
            eprintln!("cannot daemonize: {e}");
            return ExitCode::FAILURE;
        }
        if config.pidfile.is_empty() {
            config.pidfile = DEFAULT_DAEMON_PIDFILE.into();
        }
    }
    if let Err(e) = init_logging(&config) {
        eprintln!("cannot open logfile '{}': {e}", config.logfile);
        return ExitCode::FAILURE;
    }
    for name in &config.inert {
        tracing::warn!("Directive '{name}' is accepted as in Redis 7.0 and has no effect in slotcache");
    }
    let summary = format!(
        "slotcache {} (Redis {} compatible) pid={} port={} threads={} shards={} config={}",
        slotcache::server::SLOTCACHE_VERSION,
        slotcache::server::REDIS_VERSION,
        std::process::id(),
        config.port,
        config.threads,
        config.shards,
        config.config_file.as_ref().map_or("(none)".to_string(), |p| p.display().to_string()),
    );
    let log_to_file = !config.logfile.is_empty();
    let handle = match slotcache::start(config, StartOptions { handle_signals: true }) {
        Ok(h) => h,
        Err(e) => {
            // Once: to the log file when there is one, else on the terminal.
            if log_to_file {
                tracing::error!("{e}");
            } else {
                eprintln!("{e}");
            }
            return ExitCode::FAILURE;
        }
    };
    tracing::info!("{summary}");
    let pidfile = handle.server.config().pidfile.clone();
    if !pidfile.is_empty()
        && let Err(e) = std::fs::write(&pidfile, format!("{}\n", std::process::id()))
    {
        tracing::warn!("failed to write pidfile {pidfile}: {e}");
    }
    for addr in &handle.addrs {
        tracing::info!("Ready to accept connections tcp {addr}");
    }
    if let Some(addr) = handle.metrics_addr {
        tracing::info!("Metrics at http://{addr}/metrics");
    }
    if let Some(path) = &handle.unix_socket {
        tracing::info!("Ready to accept connections unix {}", path.display());
    }
    let server = handle.server.clone();
    handle.wait();
    if !pidfile.is_empty() {
        let _ = std::fs::remove_file(&pidfile);
    }
    if server.failed.load(std::sync::atomic::Ordering::Relaxed) {
        return ExitCode::FAILURE;
    }
    tracing::info!("slotcache is now ready to exit, bye bye...");
    ExitCode::SUCCESS
}

/// Redis's `loglevel` names as tracing filters.
fn level_filter(loglevel: &str) -> LevelFilter {
    match loglevel {
        "debug" | "verbose" => LevelFilter::DEBUG,
        "warning" => LevelFilter::WARN,
        _ => LevelFilter::INFO,
    }
}

/// Logs go to stdout, or to `logfile` when set; `loglevel` can change at runtime
/// (CONFIG SET loglevel) through a reloadable filter.
fn init_logging(config: &Config) -> std::io::Result<()> {
    let (filter, handle) = reload::Layer::new(level_filter(&config.loglevel));
    let registry = tracing_subscriber::registry().with(filter);
    if config.logfile.is_empty() {
        // Colours only for a terminal, never into a pipe or a supervisor's log.
        let ansi = std::io::stdout().is_terminal();
        registry.with(fmt::layer().with_target(false).with_ansi(ansi).with_writer(std::io::stdout)).init();
    } else {
        let file = std::fs::OpenOptions::new().create(true).append(true).open(&config.logfile)?;
        registry
            .with(fmt::layer().with_target(false).with_ansi(false).with_writer(std::sync::Mutex::new(file)))
            .init();
    }
    let _ = slotcache::server::LOGLEVEL_HOOK.set(Box::new(move |name: &str| {
        let _ = handle.modify(|f| *f = level_filter(name));
    }));
    Ok(())
}
