//! `entra-hooks tenant create|show|delete`: the External ID tenant as an Azure resource
//! (`Microsoft.AzureActiveDirectory/ciamDirectories`, docs/protocols/tenant-lifecycle.md §1).
//!
//! `create` checks the name first, then creates the tenant and follows ARM's long-running operation
//! to its end (it can take many minutes), printing progress on stderr, and prints the new tenant id
//! and domain on stdout (`--json` for a machine-readable line) so the next step needs no second run.
//! `show` prints the same for an existing tenant; `delete` removes the resource (the directory must
//! be emptied through Graph first, §1.8) after a confirmation or `--yes`.
//!
//! Creating a tenant takes a signed-in person (app-only tokens are refused, §1.3), so the token comes
//! from the device-code flow (`--device-code`, the default), from the Azure CLI (`--azure-cli`:
//! `az account get-access-token`), or from a variable holding a token obtained elsewhere
//! (`--access-token-env VAR`). Tokens are never printed.
//!
//! Exit status: 0 done, 1 failed (name taken, provisioning failed, refused: ARM's code and message
//! are shown), 2 usage error.

use std::io::BufRead;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context as _, bail};
use clap::{Args, Subcommand};
use entra_graph::arm::{
    ARM_DEFAULT_SCOPE, ARM_DEFAULT_URL, CIAM_PREVIEW_API_VERSION, CiamDirectory, CiamDirectoryRef,
    CiamSku, DeleteOutcome, NewCiamDirectory, OperationProgress, PollingPolicy,
};
use entra_graph::device_code::AZURE_CLI_CLIENT_ID;
use entra_graph::{ArmClient, ArmConfig, ArmCredential, ArmError, DelegatedToken, DeviceCodeFlow};
use reqwest::Url;

/// `entra-hooks tenant …`.
#[derive(Debug, Subcommand)]
pub enum TenantAction {
    /// Create an External ID tenant (checks the name first, waits for the end, prints its id and domain).
    Create {
        #[command(flatten)]
        target: TargetArgs,
        /// Data residency, fixed for good: "United States", "Europe", "Asia Pacific" or "Australia".
        #[arg(long)]
        location: String,
        /// Two-letter country code of the tenant, e.g. US.
        #[arg(long)]
        country: String,
        /// The tenant's display name.
        #[arg(long)]
        display_name: String,
        /// sku.name (sources disagree: "Base" in the 2024-05-01 specification, "Standard" in examples).
        #[arg(long, default_value = "Base")]
        sku: String,
        /// Give up waiting after this many minutes (creation "can take up to 30 minutes").
        #[arg(long, default_value_t = 45)]
        timeout_minutes: u64,
        #[command(flatten)]
        sign_in: SignInArgs,
    },
    /// Show a tenant: provisioning state, tenant id and domain.
    Show {
        #[command(flatten)]
        target: TargetArgs,
        #[command(flatten)]
        sign_in: SignInArgs,
    },
    /// Delete a tenant resource (the last step of deleting a tenant: empty it through Graph first).
    Delete {
        #[command(flatten)]
        target: TargetArgs,
        /// Do not ask for confirmation.
        #[arg(long)]
        yes: bool,
        /// Give up waiting after this many minutes.
        #[arg(long, default_value_t = 45)]
        timeout_minutes: u64,
        #[command(flatten)]
        sign_in: SignInArgs,
    },
}

/// Which tenant resource, and where ARM is.
#[derive(Debug, Args)]
pub struct TargetArgs {
    /// Azure subscription id.
    #[arg(long)]
    subscription: String,
    /// Resource group of the tenant resource.
    #[arg(long)]
    resource_group: String,
    /// The tenant's initial domain, `contoso` or `contoso.onmicrosoft.com`.
    #[arg(long)]
    name: String,
    /// Send the resource name as the bare prefix (`contoso`) instead of the full domain
    /// (`contoso.onmicrosoft.com`); sources disagree on which the service wants.
    #[arg(long)]
    prefix_resource_name: bool,
    /// ARM api-version of Microsoft.AzureActiveDirectory/ciamDirectories.
    #[arg(long, default_value = CIAM_PREVIEW_API_VERSION)]
    api_version: String,
    /// ARM endpoint.
    #[arg(long, default_value = ARM_DEFAULT_URL)]
    arm_url: Url,
    /// Print the result as one JSON object on stdout.
    #[arg(long)]
    json: bool,
}

/// Where the person's ARM token comes from.
#[derive(Debug, Args)]
pub struct SignInArgs {
    /// Read an ARM access token from this environment variable (obtained elsewhere; never printed).
    #[arg(long, value_name = "VAR", conflicts_with_all = ["azure_cli", "device_code"])]
    access_token_env: Option<String>,
    /// Take the token of the Azure CLI's signed-in account (`az account get-access-token`).
    #[arg(long, conflicts_with = "device_code")]
    azure_cli: bool,
    /// Sign in with a device code (the default when no other source is given).
    #[arg(long)]
    device_code: bool,
    /// Token authority for the device-code sign-in.
    #[arg(long, default_value = "https://login.microsoftonline.com/")]
    authority_host: Url,
    /// Tenant to sign in to: the subscription's home tenant (id or domain) or `organizations`.
    #[arg(long, default_value = "organizations")]
    tenant: String,
    /// Public client id the device-code sign-in uses (default: the Azure CLI's).
    #[arg(long, default_value = AZURE_CLI_CLIENT_ID)]
    client_id: String,
}

/// Runs a tenant action; failures are printed and become exit status 1.
pub async fn run(action: TenantAction) -> ExitCode {
    match execute(action).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::from(1)
        }
    }
}

async fn execute(action: TenantAction) -> anyhow::Result<()> {
    match action {
        TenantAction::Create {
            target,
            location,
            country,
            display_name,
            sku,
            timeout_minutes,
            sign_in,
        } => {
            let client = client(&target, &sign_in, timeout_minutes).await?;
            let directories = client.ciam_directories();
            let resource = resource(&target);
            eprintln!("checking that {} is available…", domain_of(&target.name));
            if directories.get(&resource).await?.is_none() {
                let availability = directories
                    .check_name_availability(&target.subscription, &resource.name, &country)
                    .await
                    .context("checking the name")?;
                if !availability.name_available {
                    bail!(
                        "the name {} is not available: {}: {}",
                        domain_of(&target.name),
                        availability.reason.as_deref().unwrap_or("NotAvailable"),
                        availability.message.as_deref().unwrap_or("no reason given")
                    );
                }
            }
            let mut new = NewCiamDirectory::new(location, display_name, country);
            new.sku = CiamSku {
                name: sku,
                ..CiamSku::default()
            };
            eprintln!(
                "creating {} in {}/{} (api-version {}); this can take many minutes…",
                resource.name, target.subscription, target.resource_group, target.api_version
            );
            let created = directories
                .create(&resource, &new, print_progress)
                .await
                .map_err(explain)
                .context("creating the tenant")?;
            print_tenant("created", &created, target.json)?;
            Ok(())
        }
        TenantAction::Show {
            target, sign_in, ..
        } => {
            let client = client(&target, &sign_in, 1).await?;
            let resource = resource(&target);
            let found = client
                .ciam_directories()
                .get(&resource)
                .await
                .map_err(explain)?;
            match found {
                Some(directory) => print_tenant("found", &directory, target.json),
                None => bail!(
                    "no tenant resource {} in {}/{}",
                    resource.name,
                    target.subscription,
                    target.resource_group
                ),
            }
        }
        TenantAction::Delete {
            target,
            yes,
            timeout_minutes,
            sign_in,
        } => {
            let resource = resource(&target);
            if !yes {
                confirm(&resource.name)?;
            }
            let client = client(&target, &sign_in, timeout_minutes).await?;
            eprintln!("deleting {}…", resource.name);
            let outcome = client
                .ciam_directories()
                .delete(&resource, print_progress)
                .await
                .map_err(explain)
                .context("deleting the tenant")?;
            let text = match outcome {
                DeleteOutcome::Deleted => "deleted",
                DeleteOutcome::Absent => "absent",
            };
            if target.json {
                println!(
                    "{}",
                    serde_json::json!({"name": resource.name, "outcome": text})
                );
            } else {
                println!("tenant {}: {text}", resource.name);
            }
            Ok(())
        }
    }
}

/// `contoso.onmicrosoft.com` for `contoso` or itself.
fn domain_of(name: &str) -> String {
    if name.contains('.') {
        name.to_owned()
    } else {
        format!("{name}.onmicrosoft.com")
    }
}

fn resource(target: &TargetArgs) -> CiamDirectoryRef {
    let name = if target.prefix_resource_name {
        target
            .name
            .split('.')
            .next()
            .unwrap_or(&target.name)
            .to_owned()
    } else {
        domain_of(&target.name)
    };
    CiamDirectoryRef::new(&target.subscription, &target.resource_group, name)
}

fn confirm(name: &str) -> anyhow::Result<()> {
    eprintln!("type the tenant name ({name}) to delete it, or pass --yes:");
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .context("reading the confirmation")?;
    if line.trim().eq_ignore_ascii_case(name) {
        Ok(())
    } else {
        bail!("not confirmed; nothing was deleted")
    }
}

/// One stderr line per poll.
fn print_progress(progress: &OperationProgress) {
    let elapsed = progress.elapsed.as_secs();
    let mut line = format!(
        "  [{:02}:{:02}] {} (poll {}",
        elapsed / 60,
        elapsed % 60,
        progress.status,
        progress.polls
    );
    if let Some(percent) = progress.percent_complete {
        line.push_str(&format!(", {percent:.0} %"));
    }
    if let Some(next) = progress.next_poll_in {
        line.push_str(&format!(", next check in {}s", next.as_secs()));
    }
    line.push(')');
    eprintln!("{line}");
}

fn print_tenant(verb: &str, directory: &CiamDirectory, json: bool) -> anyhow::Result<()> {
    if json {
        println!(
            "{}",
            serde_json::json!({
                "tenantId": directory.tenant_id(),
                "domainName": directory.domain_name(),
                "provisioningState": directory.provisioning_state(),
                "id": directory.id,
                "name": directory.name,
                "location": directory.location,
            })
        );
        return Ok(());
    }
    println!("tenant {verb}: {}", directory.name);
    println!(
        "  state        {}",
        directory.provisioning_state().unwrap_or("unknown")
    );
    println!(
        "  tenant id    {}",
        directory.tenant_id().unwrap_or("(not assigned yet)")
    );
    println!(
        "  domain       {}",
        directory.domain_name().unwrap_or("(not assigned yet)")
    );
    println!("  resource id  {}", directory.id);
    Ok(())
}

/// Adds what to do to errors people meet.
fn explain(error: ArmError) -> anyhow::Error {
    let hint = if error.is_unauthenticated() {
        Some(
            "ARM refused the token: creating or deleting a tenant needs a signed-in person (Tenant Creator and write access to the resource group); app-only tokens are refused. Sign in with --device-code or --azure-cli, or check that the token is for https://management.azure.com and not expired",
        )
    } else if error.code() == Some("MissingSubscriptionRegistration") {
        Some(
            "register the resource provider once: az provider register --namespace Microsoft.AzureActiveDirectory",
        )
    } else if error.code() == Some("NoRegisteredProviderFound") {
        Some("choose another --api-version (2023-05-17-preview is the documented one)")
    } else {
        None
    };
    match hint {
        Some(hint) => anyhow::Error::new(error).context(hint),
        None => anyhow::Error::new(error),
    }
}

async fn client(
    target: &TargetArgs,
    sign_in: &SignInArgs,
    timeout_minutes: u64,
) -> anyhow::Result<ArmClient> {
    let token = user_token(sign_in, &target.subscription).await?;
    let config = ArmConfig::new(ArmCredential::User(token))
        .with_base_url(target.arm_url.clone())
        .with_api_version(&target.api_version)
        .with_polling(PollingPolicy {
            timeout: Duration::from_secs(timeout_minutes.max(1) * 60),
            ..PollingPolicy::default()
        });
    ArmClient::new(config).context("building the ARM client")
}

async fn user_token(sign_in: &SignInArgs, subscription: &str) -> anyhow::Result<DelegatedToken> {
    if let Some(variable) = &sign_in.access_token_env {
        let value = std::env::var(variable).unwrap_or_default();
        if value.trim().is_empty() {
            bail!(
                "--access-token-env {variable}: the variable is not set or empty; export an ARM access token in it"
            );
        }
        return Ok(DelegatedToken::new(value.trim(), None));
    }
    if sign_in.azure_cli {
        return azure_cli_token(subscription).await;
    }
    let flow = DeviceCodeFlow::new(
        sign_in.authority_host.clone(),
        &sign_in.tenant,
        &sign_in.client_id,
        ARM_DEFAULT_SCOPE,
    )
    .context("building the device-code sign-in")?;
    let challenge = flow
        .start()
        .await
        .context("starting the device-code sign-in")?;
    eprintln!("{}", challenge.instruction());
    let token = flow
        .wait_for_token(&challenge, |polls| {
            if polls % 6 == 1 {
                eprintln!("  waiting for the sign-in…");
            }
        })
        .await
        .context("signing in with the device code")?;
    eprintln!("signed in");
    Ok(token)
}

/// `az account get-access-token --resource https://management.azure.com --subscription … --output json`.
async fn azure_cli_token(subscription: &str) -> anyhow::Result<DelegatedToken> {
    let output = tokio::process::Command::new("az")
        .args([
            "account",
            "get-access-token",
            "--resource",
            "https://management.azure.com",
            "--subscription",
            subscription,
            "--output",
            "json",
        ])
        .stdin(std::process::Stdio::null())
        .output()
        .await
        .context(
            "running `az account get-access-token` (is the Azure CLI installed and on PATH?)",
        )?;
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        bail!(
            "`az account get-access-token` failed ({}): {}; run `az login` first",
            output.status,
            stderr.trim()
        );
    }
    let text = String::from_utf8(output.stdout).context("the Azure CLI output is not UTF-8")?;
    Ok(DelegatedToken::from_azure_cli_json(&text)?)
}
