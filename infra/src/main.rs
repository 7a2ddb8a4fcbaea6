//! `entra-hooks`: deployment helpers and tenant management for entra-hooks.

/// mimalloc: the callout path allocates per request; glibc's malloc, free and consolidation were
/// about 8 % of a served callout's CPU (BENCHMARKS.md, "Validated callbacks per core").
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::io::Read;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use clap::{Parser, Subcommand};
use entra_infra::replay::{Function, GraphSource, ReplayOptions, replay, replay_traced};

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
    /// Serve every extension function on one plain HTTP port (containers, own gateway, load tests),
    /// built from a real tenant's configuration exactly as in Lambda. Stops on SIGTERM or Ctrl-C
    /// after answering the requests in flight; `GET /health` answers while it runs.
    Serve {
        /// Platform configuration (TOML; ENTRA_HOOKS_* variables override it, as in Lambda).
        #[arg(long)]
        config: Option<PathBuf>,
        /// Rules file for every function (overrides the configuration's `rules`).
        #[arg(long)]
        rules: Option<PathBuf>,
        /// Address to listen on (0.0.0.0:8080 in a container).
        #[arg(long, default_value = entra_infra::serve::DEFAULT_BIND)]
        bind: std::net::SocketAddr,
    },
    /// Validate a function configuration (file + ENTRA_HOOKS_* environment) as a function would at start.
    CheckConfig {
        /// TOML file; without it only the environment is read.
        file: Option<PathBuf>,
    },
    /// Run a captured callout payload through the rules and print the response the function would send.
    Replay {
        /// Which function's decision to replay.
        #[arg(value_enum)]
        function: Function,
        /// The captured request body (a file, or - for standard input).
        payload: PathBuf,
        /// The rules file (without it: the function's defaults).
        #[arg(long, visible_alias = "config")]
        rules: Option<PathBuf>,
        /// Read Graph from the tenant in this platform configuration file instead of the embedded
        /// simulated tenant.
        #[arg(long)]
        tenant_config: Option<PathBuf>,
        /// password-submit: PEM private key that decrypts the captured encryptedPasswordContext.
        #[arg(long)]
        private_key: Option<PathBuf>,
        /// password-submit without the key: the username of the sign-in to decide on.
        #[arg(long, requires = "password")]
        username: Option<String>,
        /// password-submit without the key: the password of that sign-in.
        #[arg(long, requires = "username")]
        password: Option<String>,
        /// email-otp-send: write the email into this folder (otherwise it is only logged).
        #[arg(long)]
        mail_dir: Option<PathBuf>,
        /// Also print the rule trace (every rule evaluated, what it read, gave, which fallback) to
        /// stderr: `--trace` or `--trace text`, or `--trace json` for one JSON object.
        #[arg(long, value_enum, num_args = 0..=1, default_missing_value = "text")]
        trace: Option<TraceFormat>,
    },
    /// Replay every saved test case (*.json: a callout and the expected answer) in a folder through
    /// the rules, against the embedded simulated tenant; prints pass/fail with a diff.
    ///
    /// The local host's page writes cases with "save as test case"; the format is documented in
    /// the `entra_infra::cases` module. Exit status: 0 all passed, 1 a case failed, 2 usage error.
    Test {
        /// The folder of cases (searched recursively).
        dir: PathBuf,
        /// Use this rules file for every case (instead of each case's `rules`).
        #[arg(long)]
        rules: Option<PathBuf>,
    },
    /// Decrypt every item of a captured rich change notification and print each resource's JSON.
    ///
    /// Runs the receiver's own parsing and decryption. Each resource goes to stdout (pretty JSON);
    /// stderr says, per item (index and subscriptionId), that it decrypted or exactly which check
    /// failed. Exit status: 0 all decrypted, 1 an item failed, 2 usage or input error.
    Decrypt {
        /// PEM private key (PKCS#8 or PKCS#1, optionally followed by its certificate for the
        /// thumbprint check). Without --key-id it is tried for any certificate id.
        #[arg(long, conflicts_with = "pfx", required_unless_present = "pfx")]
        key: Option<PathBuf>,
        /// PKCS#12 (PFX) file holding the private key (DER, or its base64 text). Without --key-id
        /// it is tried for any certificate id.
        #[arg(long, requires = "password_env")]
        pfx: Option<PathBuf>,
        /// Environment variable holding the PFX password (never pass it as an argument).
        #[arg(long, requires = "pfx")]
        password_env: Option<String>,
        /// Use the key only for items naming this encryptionCertificateId, as the receiver does;
        /// other ids are reported as unknown.
        #[arg(long)]
        key_id: Option<String>,
        /// The captured POST body: a changeNotificationCollection or a single notification (a
        /// file, or - for standard input).
        notification: PathBuf,
    },
    /// Show or reconcile the Graph subscriptions of [notifications] (the subscription keeper by hand).
    Subscriptions {
        #[command(subcommand)]
        action: SubscriptionsAction,
    },
    /// Compare a tenant file (tenant.toml) with the tenant and print the changes `apply` would make.
    ///
    /// Exit status: 0 no changes, 2 changes, 1 error (the file's errors name file:line:column).
    Plan {
        /// The tenant file.
        #[arg(short = 'f', long = "file")]
        file: PathBuf,
        /// The connection: a configuration file with [tenant] and [graph] (other sections ignored).
        #[arg(long)]
        config: PathBuf,
        /// Print the plan as JSON instead of a table.
        #[arg(long)]
        json: bool,
        /// Plan deletes of managed objects missing from the file (otherwise they are only listed).
        #[arg(long)]
        delete: bool,
    },
    /// Make the tenant match a tenant file: creates and updates in dependency order, deletes only
    /// with --delete. A failure stops the run and says what was and was not applied; run it again to
    /// finish. Exit status: 0 done (or nothing to do), 1 error.
    Apply {
        #[arg(short = 'f', long = "file")]
        file: PathBuf,
        #[arg(long)]
        config: PathBuf,
        /// Also delete managed objects missing from the file.
        #[arg(long)]
        delete: bool,
    },
    /// Create or complete the app registrations: the management app with its Graph permissions,
    /// GitHub federated credentials, a client secret (to a file), the extension API. Idempotent.
    Bootstrap {
        /// The connection ([tenant], [graph]): an app or admin allowed to create applications.
        #[arg(long)]
        config: PathBuf,
        /// Display name of the management application.
        #[arg(long, default_value = "entra-hooks management")]
        management_app: String,
        /// ORG/REPO: trust its GitHub Actions pull requests and main branch (OIDC, no secret).
        #[arg(long)]
        github_repo: Option<String>,
        /// Also trust jobs of this GitHub environment.
        #[arg(long, requires = "github_repo")]
        github_environment: Option<String>,
        /// Add a client secret to the management app and write it to this new file (mode 0600).
        #[arg(long)]
        secret_out: Option<PathBuf>,
        /// Upload this certificate (PEM, public part) as a credential of the management app.
        #[arg(long)]
        certificate: Option<PathBuf>,
        /// Register the extension API for this host (identifier URI api://HOST/APPID).
        #[arg(long)]
        extension_host: Option<String>,
        /// Display name of the extension API's application.
        #[arg(long, default_value = "entra-hooks extension API")]
        extension_app: String,
        /// Call Graph with a person's access token from this variable instead of the
        /// connection's app (e.g. `az account get-access-token --resource
        /// https://graph.microsoft.com`); [tenant] and [graph] base_url still come from --config.
        #[arg(long, value_name = "VAR")]
        access_token_env: Option<String>,
    },
    /// Print the tenant's managed objects as a tenant file (`plan` on it shows no changes).
    Export {
        #[arg(long)]
        config: PathBuf,
    },
    /// Create, show or delete the External ID tenant itself (an Azure resource, through ARM).
    ///
    /// Exit status: 0 done, 1 failed (ARM's code and message are shown), 2 usage error.
    Tenant {
        #[command(subcommand)]
        action: Box<entra_infra::tenant_lifecycle::TenantAction>,
    },
    /// Export directory audits and sign-ins: every closed window after the checkpoint, once.
    AuditExport {
        /// The configuration file ([tenant], [graph], [audit_export], [store] for S3).
        #[arg(long)]
        config: PathBuf,
        /// Only this stream (repeatable): directoryAudits or signIns.
        #[arg(long = "stream")]
        streams: Vec<String>,
        /// Export windows ending at or before this RFC 3339 instant (never later than now minus
        /// the configured lag).
        #[arg(long)]
        until: Option<String>,
        /// Print the run summary as JSON on stdout.
        #[arg(long)]
        json: bool,
    },
}

/// How `replay --trace` prints the trace.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum TraceFormat {
    Text,
    Json,
}

#[derive(Debug, Subcommand)]
enum SubscriptionsAction {
    /// The subscriptions that deliver to our receiver.
    List {
        /// The configuration file ([tenant], [graph], [notifications]).
        #[arg(long)]
        config: PathBuf,
    },
    /// One reconciliation pass: create, renew, recreate, delete.
    Sync {
        /// The configuration file ([tenant], [graph], [notifications]).
        #[arg(long)]
        config: PathBuf,
    },
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    match run().await {
        Ok(code) => code,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::from(2)
        }
    }
}

async fn run() -> anyhow::Result<ExitCode> {
    match Cli::parse().command {
        Command::Decrypt {
            key,
            key_id,
            pfx,
            password_env,
            notification,
        } => {
            let payload = if notification.as_os_str() == "-" {
                let mut bytes = Vec::new();
                std::io::stdin()
                    .read_to_end(&mut bytes)
                    .context("reading the notification from stdin")?;
                bytes
            } else {
                std::fs::read(&notification)
                    .with_context(|| format!("cannot read {}", notification.display()))?
            };
            let source = match (key, pfx) {
                (Some(path), _) => entra_infra::decrypt::KeySource::Pem { path, id: key_id },
                (None, Some(path)) => {
                    let variable = password_env.unwrap_or_default();
                    let password = std::env::var(&variable).with_context(|| {
                        format!("--password-env {variable}: the variable is not set; export the PFX password in it")
                    })?;
                    entra_infra::decrypt::KeySource::Pfx {
                        path,
                        password,
                        id: key_id,
                    }
                }
                (None, None) => anyhow::bail!("give --key or --pfx"),
            };
            let keys = entra_infra::decrypt::load_keys(&source)?;
            let decrypted = entra_infra::decrypt::decrypt(&payload, &keys)?;
            for line in &decrypted.report {
                eprintln!("{line}");
            }
            for resource in &decrypted.resources {
                println!("{resource}");
            }
            Ok(if decrypted.ok {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            })
        }
        Command::Subscriptions { action } => {
            let env = std::env::vars().filter(|(name, _)| name.starts_with("ENTRA_HOOKS_"));
            match action {
                SubscriptionsAction::List { config } => {
                    print!("{}", entra_infra::subscriptions::list(&config, env).await?);
                    Ok(ExitCode::SUCCESS)
                }
                SubscriptionsAction::Sync { config } => {
                    let (text, ok) = entra_infra::subscriptions::sync(&config, env).await?;
                    print!("{text}");
                    Ok(if ok {
                        ExitCode::SUCCESS
                    } else {
                        ExitCode::from(1)
                    })
                }
            }
        }
        Command::Plan {
            file,
            config,
            json,
            delete,
        } => Ok(failure_is_1(
            tenant_plan(&file, &config, json, delete).await,
        )),
        Command::Apply {
            file,
            config,
            delete,
        } => Ok(failure_is_1(tenant_apply(&file, &config, delete).await)),
        Command::Bootstrap {
            config,
            management_app,
            github_repo,
            github_environment,
            secret_out,
            certificate,
            extension_host,
            extension_app,
            access_token_env,
        } => {
            let options = entra_infra::bootstrap::BootstrapOptions {
                management_app,
                github_repo,
                github_environment,
                secret_out,
                certificate,
                extension_host,
                extension_app,
            };
            Ok(failure_is_1(
                tenant_bootstrap(&config, access_token_env.as_deref(), &options).await,
            ))
        }
        Command::Export { config } => Ok(failure_is_1(tenant_export(&config).await)),
        Command::Tenant { action } => Ok(entra_infra::tenant_lifecycle::run(*action).await),
        Command::AuditExport {
            config,
            streams,
            until,
            json,
        } => {
            let options = entra_infra::audit_export::AuditExportOptions {
                config: &config,
                streams,
                until,
                json,
            };
            let env = std::env::vars().filter(|(name, _)| name.starts_with("ENTRA_HOOKS_"));
            let ok = entra_infra::audit_export::run(&options, env).await?;
            Ok(if ok {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            })
        }
        Command::Serve {
            config,
            rules,
            bind,
        } => {
            entra_infra::serve::run(entra_infra::serve::ServeOptions {
                config,
                rules,
                bind,
            })
            .await?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Test { dir, rules } => {
            let results = entra_infra::cases::run_dir(&dir, rules.as_deref()).await?;
            let (text, ok) = entra_infra::cases::report(&results);
            print!("{text}");
            Ok(if ok {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            })
        }
        Command::CheckConfig { file } => {
            let env = std::env::vars().filter(|(name, _)| name.starts_with("ENTRA_HOOKS_"));
            print!("{}", entra_infra::check_config(file.as_deref(), env)?);
            Ok(ExitCode::SUCCESS)
        }
        Command::Replay {
            function,
            payload,
            rules,
            tenant_config,
            private_key,
            username,
            password,
            mail_dir,
            trace,
        } => {
            let (bytes, origin) = if payload.as_os_str() == "-" {
                let mut bytes = Vec::new();
                std::io::stdin()
                    .read_to_end(&mut bytes)
                    .context("reading the payload from stdin")?;
                (bytes, "stdin".to_owned())
            } else {
                let bytes = std::fs::read(&payload)
                    .with_context(|| format!("cannot read the payload {}", payload.display()))?;
                (bytes, payload.display().to_string())
            };
            let options = ReplayOptions {
                function,
                payload: bytes,
                payload_origin: origin,
                rules,
                graph: tenant_config.map_or(GraphSource::Sandbox, GraphSource::Tenant),
                private_key,
                username,
                password,
                mail_dir,
            };
            let outcome = match trace {
                None => replay(&options).await?,
                Some(format) => {
                    let (outcome, trace) = replay_traced(&options).await?;
                    match format {
                        TraceFormat::Text => eprint!("rule trace:\n{trace}"),
                        TraceFormat::Json => eprintln!("{}", serde_json::to_string(&trace)?),
                    }
                    outcome
                }
            };
            eprintln!(
                "{}: HTTP {}, action {}, fallback {}, decided in {:.1} ms",
                function.name(),
                outcome.status,
                outcome.action,
                outcome.fallback,
                outcome.elapsed.as_secs_f64() * 1000.0
            );
            if let Some(response) = &outcome.response {
                println!("{}", serde_json::to_string_pretty(response)?);
            }
            Ok(if outcome.status == 200 {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            })
        }
    }
}

/// For plan, apply and export an error exits 1 (plan's 2 means "changes"), message first.
fn failure_is_1(result: anyhow::Result<ExitCode>) -> ExitCode {
    result.unwrap_or_else(|error| {
        eprintln!("error: {error:#}");
        ExitCode::from(1)
    })
}

async fn tenant_export(config: &std::path::Path) -> anyhow::Result<ExitCode> {
    let graph =
        entra_infra::tenant_config::connect(config, config_env(), |name| std::env::var(name).ok())
            .await?;
    print!("{}", entra_infra::tenant_config::export(&graph).await?);
    Ok(ExitCode::SUCCESS)
}

async fn tenant_bootstrap(
    config: &std::path::Path,
    access_token_env: Option<&str>,
    options: &entra_infra::bootstrap::BootstrapOptions,
) -> anyhow::Result<ExitCode> {
    let graph = match access_token_env {
        Some(variable) => {
            let token = std::env::var(variable).unwrap_or_default();
            if token.trim().is_empty() {
                anyhow::bail!(
                    "--access-token-env {variable}: the variable is not set or empty; export a Graph access token in it"
                );
            }
            entra_infra::tenant_config::connect_with_token(config, config_env(), token.trim())?
        }
        None => {
            entra_infra::tenant_config::connect(config, config_env(), |name| {
                std::env::var(name).ok()
            })
            .await?
        }
    };
    print!(
        "{}",
        entra_infra::bootstrap::bootstrap(&graph, options).await?
    );
    Ok(ExitCode::SUCCESS)
}

/// The `ENTRA_HOOKS_*` variables, which override the configuration file as in Lambda.
fn config_env() -> impl Iterator<Item = (String, String)> {
    std::env::vars().filter(|(name, _)| name.starts_with("ENTRA_HOOKS_"))
}

fn deletes(delete: bool) -> entra_infra::tenant_config::plan::Deletes {
    if delete {
        entra_infra::tenant_config::plan::Deletes::Apply
    } else {
        entra_infra::tenant_config::plan::Deletes::Keep
    }
}

async fn tenant_plan(
    file: &std::path::Path,
    config: &std::path::Path,
    json: bool,
    delete: bool,
) -> anyhow::Result<ExitCode> {
    use entra_infra::tenant_config;
    let desired = tenant_config::file::load(file)?;
    let graph =
        tenant_config::connect(config, config_env(), |name| std::env::var(name).ok()).await?;
    let (plan, _) = tenant_config::plan_file(&graph, &desired, deletes(delete)).await?;
    if json {
        println!("{}", serde_json::to_string_pretty(&plan)?);
    } else {
        print!("{}", tenant_config::plan::render_table(&plan));
    }
    Ok(if plan.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(2)
    })
}

async fn tenant_apply(
    file: &std::path::Path,
    config: &std::path::Path,
    delete: bool,
) -> anyhow::Result<ExitCode> {
    use entra_infra::tenant_config;
    let desired = tenant_config::file::load(file)?;
    let graph =
        tenant_config::connect(config, config_env(), |name| std::env::var(name).ok()).await?;
    let report = tenant_config::apply(&graph, &desired, deletes(delete), |n, total, what| {
        eprintln!("[{n}/{total}] {what}");
    })
    .await?;
    if report.applied.is_empty() && report.is_complete() {
        println!("No changes: the tenant matches the file.");
        return Ok(ExitCode::SUCCESS);
    }
    println!("Applied {} change(s):", report.applied.len());
    for what in &report.applied {
        println!("  done      {what}");
    }
    match &report.failed {
        None => Ok(ExitCode::SUCCESS),
        Some((what, why)) => {
            println!("  FAILED    {what}: {why}");
            for rest in &report.not_applied {
                println!("  not done  {rest}");
            }
            println!("Fix the cause and run apply again: it plans only what is left.");
            Ok(ExitCode::from(1))
        }
    }
}
