//! The `slotcache` binary: parse the command line, load the configuration, start the
//! server, wait for it to stop.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use slotcache::{Config, StartOptions};
use tracing_subscriber::filter::LevelFilter;
use tracing_subscriber::prelude::*;
use tracing_subscriber::{fmt, reload};

/// A Redis-compatible cache server.
///
/// Usage is Redis's: `slotcache [/path/to/slotcache.conf] [--directive value ...]`.
/// With no arguments it serves on 127.0.0.1:6379 with the embedded defaults.
#[derive(Parser)]
#[command(version, about, long_about = None)]
struct Cli {
    /// An optional redis.conf-style configuration file, then directives that override
    /// it, e.g. `slotcache slotcache.conf --port 7000 --maxclients 100`.
    #[arg(allow_hyphen_values = true, trailing_var_arg = true, num_args = 0.., value_name = "CONFIG] [--DIRECTIVE VALUE")]
    args: Vec<String>,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let (file, directives) = match cli.args.split_first() {
        Some((first, rest)) if !first.starts_with("--") => (Some(PathBuf::from(first)), rest),
        _ => (None, &cli.args[..]),
    };
    let config = match Config::load(file.as_deref(), directives) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::FAILURE;
        }
    };
    if let Err(e) = init_logging(&config) {
        eprintln!("cannot open logfile '{}': {e}", config.logfile);
        return ExitCode::FAILURE;
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
    let handle = match slotcache::start(config, StartOptions { handle_signals: true }) {
        Ok(h) => h,
        Err(e) => {
            tracing::error!("{e}");
            eprintln!("{e}");
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
    handle.wait();
    if !pidfile.is_empty() {
        let _ = std::fs::remove_file(&pidfile);
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
        registry.with(fmt::layer().with_target(false).with_writer(std::io::stdout)).init();
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
