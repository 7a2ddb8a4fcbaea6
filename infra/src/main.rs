//! `entra-hooks`: deployment helpers and tenant management for entra-hooks.

use std::path::PathBuf;

use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    version,
    about = "entra-hooks deployment helpers and tenant management"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Validate a function configuration (file + ENTRA_HOOKS_* environment) as a function would at start.
    CheckConfig {
        /// TOML file; without it only the environment is read.
        file: Option<PathBuf>,
    },
}

fn main() -> anyhow::Result<()> {
    match Cli::parse().command {
        Command::CheckConfig { file } => {
            let env = std::env::vars().filter(|(name, _)| name.starts_with("ENTRA_HOOKS_"));
            print!("{}", entra_infra::check_config(file.as_deref(), env)?);
        }
    }
    Ok(())
}
