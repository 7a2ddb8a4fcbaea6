//! Where the client gets tokens, where it sends Graph calls, and how patient it is.
//!
//! Defaults follow docs/protocols/graph-api.md: authority `https://login.microsoftonline.com/` (b.1),
//! Graph root `https://graph.microsoft.com/v1.0/`, scope `{graph root}/.default` for the known clouds
//! (b.1 national clouds), retries on 429/503/504 with `Retry-After` or exponential backoff ((c) rows
//! 4, 9-12), tokens refreshed five minutes before expiry (b.4).

use std::time::Duration;

use url::Url;

use crate::credential::ClientCredential;

/// Graph hosts whose scope is `https://{host}/.default` (graph-api.md b.1).
const KNOWN_GRAPH_HOSTS: [&str; 4] = [
    "graph.microsoft.com",
    "graph.microsoft.us",
    "dod-graph.microsoft.us",
    "microsoftgraph.chinacloudapi.cn",
];

/// The global Graph scope, also used when the Graph URL points at an emulator or proxy standing in
/// for global Graph (such as the sandbox).
pub const GRAPH_DEFAULT_SCOPE: &str = "https://graph.microsoft.com/.default";

/// How hard the client tries before giving up on a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts per request, the first one included (1 = never retry).
    pub max_attempts: u32,
    /// First backoff step when the server gives no `Retry-After`; doubles per retry (full jitter).
    pub base_delay: Duration,
    /// Ceiling of one backoff step (a server's `Retry-After` is honoured even when longer).
    pub max_delay: Duration,
    /// Ceiling of all waits of one request together; past it the last error is returned.
    pub max_total_wait: Duration,
}

impl RetryPolicy {
    /// One attempt, no retries.
    pub fn none() -> Self {
        Self {
            max_attempts: 1,
            ..Self::default()
        }
    }
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_attempts: 4,
            base_delay: Duration::from_millis(500),
            max_delay: Duration::from_secs(30),
            max_total_wait: Duration::from_secs(120),
        }
    }
}

/// Everything a [`crate::GraphClient`] needs.
#[derive(Debug, Clone)]
pub struct GraphConfig {
    /// Directory (tenant) id or domain, used in the token endpoint path.
    pub tenant_id: String,
    /// Application (client) id of the app registration.
    pub client_id: String,
    pub credential: ClientCredential,
    /// Token authority host, e.g. `https://login.microsoftonline.com/`.
    pub authority_host: Url,
    /// Graph root including the version, e.g. `https://graph.microsoft.com/v1.0/`.
    pub graph_base_url: Url,
    /// Token scope; `None` derives it from the Graph host (see [`GraphConfig::scope`]).
    pub scope: Option<String>,
    pub retry: RetryPolicy,
    /// Limit for one HTTP attempt (connect, send and read the whole body).
    pub request_timeout: Duration,
    /// Refresh the cached token when it has less than this left (Entra tokens live 60-90 minutes).
    /// Keep it well below the token lifetime: with a margin longer than the lifetime every call would
    /// start a refresh.
    pub token_refresh_margin: Duration,
}

impl GraphConfig {
    /// A configuration for global Azure with the defaults above.
    pub fn new(
        tenant_id: impl Into<String>,
        client_id: impl Into<String>,
        credential: ClientCredential,
    ) -> Self {
        Self {
            tenant_id: tenant_id.into(),
            client_id: client_id.into(),
            credential,
            authority_host: Url::parse("https://login.microsoftonline.com/")
                .expect("constant URL is valid"),
            graph_base_url: Url::parse("https://graph.microsoft.com/v1.0/")
                .expect("constant URL is valid"),
            scope: None,
            retry: RetryPolicy::default(),
            request_timeout: Duration::from_secs(30),
            token_refresh_margin: Duration::from_secs(300),
        }
    }

    /// Another authority (national cloud, `https://{tenant}.ciamlogin.com/`, or a test tenant).
    pub fn with_authority_host(mut self, authority_host: Url) -> Self {
        self.authority_host = with_trailing_slash(authority_host);
        self
    }

    /// Another Graph root (national cloud, proxy, or the sandbox).
    pub fn with_graph_base_url(mut self, graph_base_url: Url) -> Self {
        self.graph_base_url = with_trailing_slash(graph_base_url);
        self
    }

    /// An explicit token scope instead of the one derived from the Graph host.
    pub fn with_scope(mut self, scope: impl Into<String>) -> Self {
        self.scope = Some(scope.into());
        self
    }

    /// Replaces the retry policy.
    pub fn with_retry(mut self, retry: RetryPolicy) -> Self {
        self.retry = retry;
        self
    }

    /// Replaces the per-attempt timeout.
    pub fn with_request_timeout(mut self, timeout: Duration) -> Self {
        self.request_timeout = timeout;
        self
    }

    /// Replaces how long before expiry the token is refreshed.
    pub fn with_token_refresh_margin(mut self, margin: Duration) -> Self {
        self.token_refresh_margin = margin;
        self
    }

    /// The scope tokens are requested for: the explicit one, else `https://{host}/.default` for a
    /// known Graph cloud, else the global Graph scope (emulators and proxies stand in for global Graph,
    /// and Entra only issues Graph tokens for a Graph resource).
    pub fn scope(&self) -> String {
        if let Some(scope) = &self.scope {
            return scope.clone();
        }
        match self.graph_base_url.host_str() {
            Some(host) if KNOWN_GRAPH_HOSTS.contains(&host) => {
                format!("https://{host}/.default")
            }
            _ => GRAPH_DEFAULT_SCOPE.to_owned(),
        }
    }

    /// `{authority_host}{tenant_id}/oauth2/v2.0/token`, also the `aud` of client assertions.
    pub fn token_endpoint(&self) -> Result<Url, url::ParseError> {
        with_trailing_slash(self.authority_host.clone())
            .join(&format!("{}/oauth2/v2.0/token", self.tenant_id))
    }
}

/// `Url::join` drops the last segment of a base without a trailing slash (`.../v1.0` + `users` would
/// become `.../users`), so bases are normalised.
pub(crate) fn with_trailing_slash(mut url: Url) -> Url {
    if !url.path().ends_with('/') {
        let path = format!("{}/", url.path());
        url.set_path(&path);
    }
    url
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(graph: &str) -> GraphConfig {
        GraphConfig::new("tid", "cid", ClientCredential::secret("s"))
            .with_graph_base_url(Url::parse(graph).unwrap())
    }

    #[test]
    fn scope_follows_the_graph_cloud() {
        assert_eq!(
            config("https://graph.microsoft.com/v1.0/").scope(),
            "https://graph.microsoft.com/.default"
        );
        assert_eq!(
            config("https://dod-graph.microsoft.us/v1.0").scope(),
            "https://dod-graph.microsoft.us/.default"
        );
        assert_eq!(
            config("https://microsoftgraph.chinacloudapi.cn/v1.0/").scope(),
            "https://microsoftgraph.chinacloudapi.cn/.default"
        );
        assert_eq!(
            config("http://127.0.0.1:8080/v1.0/").scope(),
            GRAPH_DEFAULT_SCOPE
        );
        assert_eq!(
            config("http://127.0.0.1:8080/v1.0/")
                .with_scope("https://graph.microsoft.us/.default")
                .scope(),
            "https://graph.microsoft.us/.default"
        );
    }

    #[test]
    fn urls_are_normalised() {
        let config = config("http://127.0.0.1:1/v1.0")
            .with_authority_host(Url::parse("http://127.0.0.1:2/base").unwrap());
        assert_eq!(config.graph_base_url.as_str(), "http://127.0.0.1:1/v1.0/");
        assert_eq!(
            config.token_endpoint().unwrap().as_str(),
            "http://127.0.0.1:2/base/tid/oauth2/v2.0/token"
        );
    }
}
