//! `cargo run -p entra-local`: the whole service on one port against a simulated tenant.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;

use clap::Parser;
use entra_local::{LocalHost, LocalHostOptions};

/// Runs every entra-hooks function locally against an embedded simulated External ID tenant.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Args {
    /// Port for the functions.
    #[arg(long, env = "ENTRA_LOCAL_PORT", default_value_t = 7071)]
    port: u16,
    /// Port for the simulated tenant (0 = any free port).
    #[arg(long, env = "ENTRA_LOCAL_SANDBOX_PORT", default_value_t = 0)]
    sandbox_port: u16,
    /// Address to bind; loopback unless you mean to expose it.
    #[arg(long, default_value = "127.0.0.1")]
    bind: IpAddr,
    /// One rules file for every function (default: each function's rules.example.toml).
    #[arg(long, env = "ENTRA_HOOKS_RULES")]
    rules: Option<PathBuf>,
    /// Folder the one-time-code emails are written to.
    #[arg(long, default_value = ".local/mail")]
    mail_dir: PathBuf,
    /// Synthetic audit records per stream in the simulated tenant (over the last two days).
    #[arg(long, default_value_t = entra_local::DEFAULT_AUDIT_RECORDS)]
    audit_records: u64,
    /// Folder for the files the banner's commands use (audit-export.toml, its exports).
    #[arg(long, default_value = ".local")]
    state_dir: PathBuf,
    /// Do not run the worker and the poller: queued messages stay queued (to measure the receiver).
    #[arg(long)]
    no_reactions: bool,
    /// Folder the playground's "save as test case" writes to (run them with `entra-hooks test`).
    #[arg(long, default_value = "rules")]
    cases_dir: PathBuf,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    entra_platform::init_tracing(None, None)?;
    let args = Args::parse();
    let host = LocalHost::start(LocalHostOptions {
        bind: SocketAddr::new(args.bind, args.port),
        sandbox_bind: SocketAddr::new(args.bind, args.sandbox_port),
        rules: args.rules,
        mail_dir: args.mail_dir,
        audit_records: args.audit_records,
        state_dir: args.state_dir,
        reactions: !args.no_reactions,
        cases_dir: args.cases_dir,
    })
    .await?;
    println!("{}", host.banner());
    tokio::signal::ctrl_c().await?;
    println!("stopping");
    Ok(())
}
