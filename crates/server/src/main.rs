//! `ivschat-server`: flags → configuration → logging → open → ready line → serve until
//! Ctrl-C / SIGTERM, then shut down in order (`server.rs`); or, given a command
//! (`rotate-token-key`), run it and exit.

use anyhow::Context;
use clap::Parser;
use ivschat_server::config::{Command, Config, Flags, LogFormat, DEV_ACCESS_KEY};
use ivschat_server::domain::clock::Clock;
use ivschat_server::Server;
use tracing_subscriber::EnvFilter;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    // Logged with the ready line, so start-up time can be read from the log
    // (bench/run-footprint.sh compares it with what an outside observer sees).
    let started = std::time::Instant::now();
    let mut flags = Flags::parse();
    let command = flags.command.take();
    let config = Config::from_flags(flags)?;
    init_logging(config.log_format);
    if let Some(command) = command {
        return run_command(command, &config).await;
    }
    // The same test as `Config::effective_credentials`: the dev key exists only without both.
    if config.credentials.is_empty() && config.users.is_empty() {
        tracing::warn!(
            "no credentials configured: accepting access key '{DEV_ACCESS_KEY}' with secret \
             '{DEV_ACCESS_KEY}' (loopback only). Set IVSCHAT_CREDENTIALS=AKID:SECRET to choose your own."
        );
    }
    let listener = ivschat_server::http_server::bind(config.listen)
        .with_context(|| format!("binding {}", config.listen))?;
    let address = listener.local_addr()?;
    let tls = config.tls.is_some();
    let server = Server::open(config.clone(), Clock::system()).await?;
    if let Some(address) = server.metrics_address() {
        tracing::info!(%address, "Prometheus metrics at /metrics");
    }
    tracing::info!(
        %address,
        data_dir = %config.data_dir.display(),
        region = %config.region,
        account_id = %config.account_id,
        startup_ms = started.elapsed().as_secs_f64() * 1000.0,
        "ivschat-server ready: control plane {http}://{address}, chat {ws}://{address}",
        http = if tls { "https" } else { "http" },
        ws = if tls { "wss" } else { "ws" },
    );
    server.run(listener, shutdown_signal()).await
}

/// Runs a command other than serving; says what it did on stdout.
async fn run_command(command: Command, config: &Config) -> anyhow::Result<()> {
    match command {
        Command::RotateTokenKey => {
            let rotation = ivschat_server::token_keys::rotate(config).await?;
            let time = ivschat_server::domain::clock::format_time_millis;
            let previous = rotation
                .keys
                .iter()
                .filter_map(|k| k.retire_micros)
                .max()
                .map_or_else(String::new, |retire| {
                    format!("; the previous key opens tokens until {}", time(retire))
                });
            println!(
                "chat-token key rotated: generation {} opens tokens now (running nodes read it \
                 within {} s) and seals them from {}{previous}",
                rotation.added.generation,
                ivschat_server::token_keys::POLL_EVERY.as_secs(),
                time(rotation.added.activate_micros),
            );
            Ok(())
        }
    }
}

fn init_logging(format: LogFormat) {
    let filter =
        EnvFilter::try_from_env("IVSCHAT_LOG").unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        // A log that cannot be written (full disk, closed pipe) loses its lines and nothing
        // else: by default the writer reports its own failure with `eprintln!`, which panics
        // inside whatever request was logging when standard error fails too.
        .log_internal_errors(false)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stdout()));
    match format {
        LogFormat::Json => builder.json().init(),
        LogFormat::Text => builder.init(),
    }
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = terminate => {},
    }
    tracing::info!("shutting down");
}
