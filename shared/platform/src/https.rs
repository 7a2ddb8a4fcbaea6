//! Outbound HTTPS clients (Entra's signing keys, Graph, the token endpoint) and the roots they trust.
//!
//! A function's cold start pays for whatever its HTTP client does when it is built, and reqwest's
//! default verifier (rustls-platform-verifier) reads the operating system's whole trust store then:
//! the bundle plus every file of `/etc/ssl/certs`, about 3 ms of a 7 ms init on the reference machine
//! (BENCHMARKS.md, "Cold start"). The endpoints we call (`login.microsoftonline.com`,
//! `*.ciamlogin.com`, `graph.microsoft.com`) chain to public roots, so by default the clients trust
//! Mozilla's root program compiled into the binary ([`TrustRoots::Bundled`]), which costs nothing to
//! load. Networks that inspect TLS with their own CA point `SSL_CERT_FILE` or `SSL_CERT_DIR` at it,
//! as for any OpenSSL tool; either variable switches to the system store ([`TrustRoots::System`]),
//! which honours them. Certificates are verified in both modes; only the anchors differ.

use std::sync::Arc;

use rustls::RootCertStore;
use rustls::pki_types::CertificateDer;

/// Which certificate authorities outbound HTTPS trusts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TrustRoots {
    /// Mozilla's root program as compiled into the binary (`webpki-roots`): nothing read at start.
    Bundled,
    /// The operating system's store via rustls-platform-verifier, honouring `SSL_CERT_FILE` and
    /// `SSL_CERT_DIR`; read when the client is built.
    System,
}

impl TrustRoots {
    /// [`TrustRoots::System`] when the environment names its own trust store (`SSL_CERT_FILE` or
    /// `SSL_CERT_DIR` set and not empty), else [`TrustRoots::Bundled`].
    pub fn from_env() -> Self {
        Self::from_lookup(|name| std::env::var_os(name).map(|value| !value.is_empty()))
    }

    /// [`TrustRoots::from_env`] over any lookup, so the rule is testable without the process
    /// environment: `lookup(name)` says whether the variable is set to something.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<bool>) -> Self {
        let named = |name| lookup(name).unwrap_or(false);
        if named("SSL_CERT_FILE") || named("SSL_CERT_DIR") {
            Self::System
        } else {
            Self::Bundled
        }
    }
}

/// A client builder for outbound HTTPS (TLS 1.2 or 1.3, HTTP/2 or 1.1) trusting `roots`; callers
/// add their own timeouts and user agent.
pub fn client_builder(roots: TrustRoots) -> reqwest::ClientBuilder {
    match roots {
        TrustRoots::Bundled => {
            reqwest::Client::builder().tls_backend_preconfigured(tls_config(bundled_roots()))
        }
        TrustRoots::System => {
            reqwest::Client::builder().tls_version_min(reqwest::tls::Version::TLS_1_2)
        }
    }
}

/// The client every function builds once at init for the tenant's signing keys and the like:
/// [`client_builder`] with the roots the environment asks for ([`TrustRoots::from_env`]).
pub fn default_client() -> Result<reqwest::Client, reqwest::Error> {
    client_builder(TrustRoots::from_env()).build()
}

/// A client trusting the bundled roots and `extra` as well: a private CA in front of a test or
/// staging endpoint, without giving up the public roots.
pub fn client_builder_with_extra_roots<'a>(
    extra: impl IntoIterator<Item = CertificateDer<'a>>,
) -> Result<reqwest::ClientBuilder, rustls::Error> {
    let mut roots = bundled_roots();
    for certificate in extra {
        roots.add(certificate)?;
    }
    Ok(reqwest::Client::builder().tls_backend_preconfigured(tls_config(roots)))
}

/// Mozilla's roots as rustls trust anchors: a copy of static slices, nothing parsed.
fn bundled_roots() -> RootCertStore {
    RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
    }
}

/// rustls with the workspace's one crypto backend (aws-lc-rs), TLS 1.2 and 1.3, and the ALPN
/// reqwest would offer itself (a preconfigured config is used as given).
fn tls_config(roots: RootCertStore) -> rustls::ClientConfig {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .expect("aws-lc-rs supports TLS 1.2 and 1.3")
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    config
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn either_ssl_variable_selects_the_system_store() {
        let env =
            |set: &'static [&'static str]| move |name: &str| set.contains(&name).then_some(true);
        assert_eq!(TrustRoots::from_lookup(env(&[])), TrustRoots::Bundled);
        assert_eq!(
            TrustRoots::from_lookup(env(&["SSL_CERT_FILE"])),
            TrustRoots::System
        );
        assert_eq!(
            TrustRoots::from_lookup(env(&["SSL_CERT_DIR"])),
            TrustRoots::System
        );
        assert_eq!(
            TrustRoots::from_lookup(env(&["OTHER"])),
            TrustRoots::Bundled
        );
    }

    #[test]
    fn an_empty_variable_does_not_count() {
        let empty = |name: &str| (name == "SSL_CERT_FILE").then_some(false);
        assert_eq!(TrustRoots::from_lookup(empty), TrustRoots::Bundled);
    }

    #[test]
    fn the_bundle_holds_the_roots_microsoft_endpoints_chain_to() {
        // login.microsoftonline.com and graph.microsoft.com chain to DigiCert Global Root G2;
        // *.ciamlogin.com to the same program. The anchors carry the subject as DER.
        let roots = bundled_roots();
        assert!(roots.roots.len() > 100, "{} roots", roots.roots.len());
        let names: Vec<String> = roots
            .roots
            .iter()
            .map(|anchor| String::from_utf8_lossy(anchor.subject.as_ref()).into_owned())
            .collect();
        assert!(
            names
                .iter()
                .any(|name| name.contains("DigiCert Global Root G2")),
            "DigiCert Global Root G2 is in the bundle"
        );
    }
}
