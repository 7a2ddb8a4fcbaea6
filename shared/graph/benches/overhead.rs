//! What the client's pipeline (token cache, correlation id, retry bookkeeping, typed decoding) costs
//! on top of a bare HTTP call: `GET /v1.0/users/{id}` against the sandbox on loopback, once through
//! `GraphClient` and once through plain `reqwest` with the same bearer token, both decoding into the
//! same `User` type. Target: less than 10 % overhead.
//!
//! Run: `cargo bench -p entra-graph --bench overhead -- --measurement-time 3 --warm-up-time 1`

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use entra_graph::{ClientCredential, GraphClient, GraphConfig, User};
use entra_sandbox::Sandbox;
use entra_sandbox::directory::DEMO_USER_ID;

struct Setup {
    _sandbox: Sandbox,
    graph: GraphClient,
    bare: reqwest::Client,
    token: String,
    url: url::Url,
}

async fn setup() -> Setup {
    let sandbox = Sandbox::start_default().await.expect("sandbox starts");
    let config = GraphConfig::new(
        sandbox.tenant_id(),
        sandbox.config().graph_client_id.clone(),
        ClientCredential::secret(sandbox.config().graph_client_secret.clone()),
    )
    .with_authority_host(sandbox.url())
    .with_graph_base_url(sandbox.graph_url());
    let graph = GraphClient::new(config).expect("client builds");
    graph
        .users()
        .get(DEMO_USER_ID, &[])
        .await
        .expect("warm-up call");
    let bare = reqwest::Client::new();
    let response: serde_json::Value = bare
        .post(sandbox.token_endpoint_url())
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", sandbox.config().graph_client_id.as_str()),
            (
                "client_secret",
                sandbox.config().graph_client_secret.as_str(),
            ),
            ("scope", "https://graph.microsoft.com/.default"),
        ])
        .send()
        .await
        .expect("token request")
        .json()
        .await
        .expect("token response");
    let token = response["access_token"]
        .as_str()
        .expect("access token")
        .to_owned();
    let url = graph.url(&["users", DEMO_USER_ID]);
    Setup {
        _sandbox: sandbox,
        graph,
        bare,
        token,
        url,
    }
}

async fn via_client(setup: &Setup) -> User {
    setup
        .graph
        .users()
        .get(DEMO_USER_ID, &[])
        .await
        .expect("client call")
}

async fn via_reqwest(setup: &Setup) -> User {
    let response = setup
        .bare
        .get(setup.url.clone())
        .bearer_auth(&setup.token)
        .send()
        .await
        .expect("bare call");
    let body = response.bytes().await.expect("bare body");
    serde_json::from_slice(&body).expect("bare decode")
}

fn overhead(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let setup = runtime.block_on(setup());

    let mut group = c.benchmark_group("get_user");
    group.bench_function("graph_client", |b| {
        b.iter(|| black_box(runtime.block_on(via_client(&setup))))
    });
    group.bench_function("bare_reqwest", |b| {
        b.iter(|| black_box(runtime.block_on(via_reqwest(&setup))))
    });
    group.finish();

    // Interleaved rounds, so drift (other processes, CPU frequency) hits both sides alike.
    let rounds = 2_000;
    let (mut client_total, mut bare_total) = (Duration::ZERO, Duration::ZERO);
    for _ in 0..rounds {
        let start = Instant::now();
        black_box(runtime.block_on(via_client(&setup)));
        client_total += start.elapsed();
        let start = Instant::now();
        black_box(runtime.block_on(via_reqwest(&setup)));
        bare_total += start.elapsed();
    }
    let client_mean = client_total.as_secs_f64() * 1e6 / f64::from(rounds);
    let bare_mean = bare_total.as_secs_f64() * 1e6 / f64::from(rounds);
    println!(
        "interleaved {rounds} rounds: GraphClient {client_mean:.1} µs, bare reqwest {bare_mean:.1} µs, overhead {:+.1} %",
        (client_mean / bare_mean - 1.0) * 100.0
    );
}

criterion_group!(benches, overhead);
criterion_main!(benches);
