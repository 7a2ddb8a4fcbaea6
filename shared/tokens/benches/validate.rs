//! Validation throughput with a warm JWKS cache: the per-request cost a function pays after its
//! first call. Target: >= 15,000 tokens/s per core (RS256 verification dominates).

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use entra_sandbox::{Sandbox, SigningAlgorithm};
use entra_tokens::{CallerPolicy, KeySet, TokenValidator};

fn validate(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("tokio runtime");
    let (_sandbox, validator, remembering, token, bad_signature) = runtime.block_on(async {
        let sandbox = Sandbox::start_default().await.expect("sandbox starts");
        let config = sandbox.config();
        let policy = CallerPolicy::extension_callback(
            sandbox.tenant_id(),
            vec![
                config.extension_app_id.clone(),
                config.extension_app_id_uri.clone(),
            ],
        );
        let keys = KeySet::new(sandbox.discovery_url(), reqwest::Client::new());
        keys.warm().await.expect("JWKS fetch");
        let validator = TokenValidator::new(policy.clone(), keys.clone());
        let remembering = TokenValidator::new(policy, keys)
            .with_verified_cache(entra_tokens::DEFAULT_VERIFIED_CACHE_ENTRIES);
        let token = sandbox.extension_token().sign();
        let bad_signature = sandbox
            .extension_token()
            .algorithm(SigningAlgorithm::Rs256UntrustedKey)
            .sign();
        validator
            .validate(&token)
            .await
            .expect("genuine token validates");
        remembering
            .validate(&token)
            .await
            .expect("genuine token validates");
        (sandbox, validator, remembering, token, bad_signature)
    });

    let mut group = c.benchmark_group("validate");
    group.throughput(Throughput::Elements(1));
    group.bench_function("warm_cache_valid_v2", |b| {
        b.iter(|| {
            let caller = runtime.block_on(validator.validate(black_box(&token)));
            black_box(caller.is_ok())
        })
    });
    // The token Entra reuses, already verified: what most callouts cost (verified_cache.rs).
    group.bench_function("verified_cache_hit", |b| {
        b.iter(|| {
            let caller = runtime.block_on(remembering.validate(black_box(&token)));
            black_box(caller.is_ok())
        })
    });
    group.bench_function("warm_cache_bad_signature", |b| {
        b.iter(|| {
            let rejection = runtime.block_on(validator.validate(black_box(&bad_signature)));
            black_box(rejection.is_err())
        })
    });
    group.finish();
}

criterion_group!(benches, validate);
criterion_main!(benches);
