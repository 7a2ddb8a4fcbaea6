//! `entra-hooks subscriptions list|sync --config …`: the subscription keeper by hand, the same code
//! as the scheduled function (`subscription_keeper::Keeper`).
//!
//! `list` shows the Graph subscriptions that deliver to our receiver (id, resource, change types,
//! expiry); `sync` runs one reconciliation pass and prints what it did, exiting 1 when a
//! subscription could not be kept (Graph's refusal is printed with what to do).

use std::path::Path;

use entra_platform::config::load_config_with_env;
use subscription_keeper::{Action, KeeperConfig};

/// `list`: one line per subscription of ours.
pub async fn list<I, K, V>(config: &Path, env: I) -> anyhow::Result<String>
where
    I: IntoIterator<Item = (K, V)>,
    K: Into<String>,
    V: Into<String>,
{
    let config: KeeperConfig = load_config_with_env(Some(config), env)?;
    let keeper = config.build(aws(&config).await.as_ref()).await?;
    let mut out = String::new();
    let held = keeper.ours().await?;
    if held.is_empty() {
        out.push_str("no subscription delivers to the receiver\n");
    }
    for subscription in held {
        out.push_str(&format!(
            "{}  {}  {}  expires {}  {}\n",
            subscription.id,
            subscription.resource,
            subscription.change_type,
            subscription.expiration_date_time,
            subscription.notification_url
        ));
    }
    Ok(out)
}

/// `sync`: one pass; the text to print and whether every subscription is kept.
pub async fn sync<I, K, V>(config: &Path, env: I) -> anyhow::Result<(String, bool)>
where
    I: IntoIterator<Item = (K, V)>,
    K: Into<String>,
    V: Into<String>,
{
    let config: KeeperConfig = load_config_with_env(Some(config), env)?;
    let keeper = config.build(aws(&config).await.as_ref()).await?;
    let actions = keeper.sync(time::OffsetDateTime::now_utc()).await?;
    let mut ok = true;
    let mut out = String::new();
    for action in actions {
        let line = match action {
            Action::Created { name, id, expires } => {
                format!("created   {name} ({id}), expires {expires}")
            }
            Action::Renewed { name, id, expires } => {
                format!("renewed   {name} ({id}), expires {expires}")
            }
            Action::Recreated { name, id, expires } => {
                format!("recreated {name} ({id}), expires {expires}")
            }
            Action::Kept { name, id, expires } => {
                format!("kept      {name} ({id}), expires {expires}")
            }
            Action::Deleted { id, reason } => format!("deleted   {id}: {reason}"),
            Action::Failed { name, problem } => {
                ok = false;
                format!("FAILED    {name}: {problem}")
            }
        };
        out.push_str(&line);
        out.push('\n');
    }
    Ok((out, ok))
}

/// The AWS configuration when a secret or the store lives in AWS.
async fn aws(config: &KeeperConfig) -> Option<aws_config::SdkConfig> {
    let in_aws = config.store.needs_aws()
        || std::iter::once(&config.graph.secret)
            .chain(
                config
                    .notifications
                    .subscriptions
                    .iter()
                    .map(|s| &s.client_state),
            )
            .any(|reference| reference.scheme() == "aws-sm");
    if in_aws {
        Some(aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await)
    } else {
        None
    }
}
