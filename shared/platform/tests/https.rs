//! The outbound HTTPS clients against a real TLS server on loopback, whose certificate a test CA
//! made with rcgen signs: the bundled roots refuse it (verification is on), the bundled roots plus
//! that CA accept it, and so does the system store given the same CA.

use std::net::SocketAddr;
use std::sync::Arc;

use entra_platform::https::{TrustRoots, client_builder, client_builder_with_extra_roots};
use rcgen::{BasicConstraints, CertificateParams, IsCa, KeyPair, SanType};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

struct TestCa {
    ca: CertificateDer<'static>,
    leaf: CertificateDer<'static>,
    leaf_key: PrivateKeyDer<'static>,
}

fn test_ca() -> TestCa {
    let ca_key = KeyPair::generate().unwrap();
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "entra-hooks test CA");
    let ca_cert = ca_params.self_signed(&ca_key).unwrap();
    let issuer = rcgen::Issuer::new(ca_params, ca_key);

    let leaf_key = KeyPair::generate().unwrap();
    let mut leaf_params = CertificateParams::new(vec!["localhost".to_owned()]).unwrap();
    leaf_params
        .subject_alt_names
        .push(SanType::IpAddress([127, 0, 0, 1].into()));
    let leaf = leaf_params.signed_by(&leaf_key, &issuer).unwrap();
    TestCa {
        ca: ca_cert.der().clone(),
        leaf: leaf.der().clone(),
        leaf_key: PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(leaf_key.serialize_der())),
    }
}

/// An HTTPS/1.1 server answering every request with `200 hello`, until the test ends.
async fn serve(ca: &TestCa) -> SocketAddr {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![ca.leaf.clone()], ca.leaf_key.clone_key())
        .unwrap();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    let acceptor = TlsAcceptor::from(Arc::new(config));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else {
                return;
            };
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                // A refused handshake is what some tests expect; the server just drops it.
                let Ok(mut tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let mut request = Vec::new();
                let mut buf = [0_u8; 1024];
                while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                    match tls.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => request.extend_from_slice(&buf[..n]),
                    }
                }
                let _ = tls
                    .write_all(
                        b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\nconnection: close\r\n\r\nhello",
                    )
                    .await;
                let _ = tls.shutdown().await;
            });
        }
    });
    addr
}

fn url(addr: SocketAddr) -> String {
    format!("https://localhost:{}/keys", addr.port())
}

#[tokio::test]
async fn bundled_roots_refuse_a_certificate_from_an_unknown_ca() {
    let ca = test_ca();
    let addr = serve(&ca).await;
    let client = client_builder(TrustRoots::Bundled)
        .resolve("localhost", addr)
        .build()
        .unwrap();
    let error = client.get(url(addr)).send().await.unwrap_err();
    assert!(error.is_connect(), "{error:?}");
    let chain = format!("{error:?}");
    assert!(chain.contains("UnknownIssuer"), "{chain}");
}

#[tokio::test]
async fn bundled_roots_with_the_ca_added_complete_the_request() {
    let ca = test_ca();
    let addr = serve(&ca).await;
    let client = client_builder_with_extra_roots([ca.ca.clone()])
        .unwrap()
        .resolve("localhost", addr)
        .build()
        .unwrap();
    let response = client.get(url(addr)).send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.text().await.unwrap(), "hello");
}

#[tokio::test]
async fn the_name_is_still_checked_with_the_ca_added() {
    let ca = test_ca();
    let addr = serve(&ca).await;
    let client = client_builder_with_extra_roots([ca.ca.clone()])
        .unwrap()
        .resolve("login.microsoftonline.com", addr)
        .build()
        .unwrap();
    let error = client
        .get(format!(
            "https://login.microsoftonline.com:{}/keys",
            addr.port()
        ))
        .send()
        .await
        .unwrap_err();
    assert!(
        format!("{error:?}").contains("NotValidForName"),
        "{error:?}"
    );
}

#[tokio::test]
async fn the_system_store_with_the_ca_merged_completes_the_request() {
    let ca = test_ca();
    let addr = serve(&ca).await;
    let client = client_builder(TrustRoots::System)
        .tls_certs_merge([reqwest::Certificate::from_der(ca.ca.as_ref()).unwrap()])
        .resolve("localhost", addr)
        .build()
        .unwrap();
    let response = client.get(url(addr)).send().await.unwrap();
    assert_eq!(response.text().await.unwrap(), "hello");
}
