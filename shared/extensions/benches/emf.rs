//! What the per-callout metrics cost (entra_extensions::metrics): formatting one EMF line into
//! the reused buffer, formatting plus writing it whole to `/dev/null` under a lock (what the
//! stdout writer does, minus the pipe), and the callout scope every request runs in (task-local
//! record plus Graph usage scope) with metrics off, against the same work without the scope.
//!
//! Run: `cargo bench -p entra-extensions --bench emf -- --measurement-time 3 --warm-up-time 1`

use std::fs::File;
use std::hint::black_box;
use std::io::Write;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::response::Response;
use criterion::{Criterion, criterion_group, criterion_main};
use entra_extensions::metrics::{CalloutLine, observe, write_callout_line};
use entra_graph::GraphUsage;

fn line() -> CalloutLine<'static> {
    CalloutLine {
        function: "token-issuance-start",
        event: "tokenIssuanceStart",
        action: "provideClaimsForToken",
        correlation_id: "0c1d2e3f-4a5b-4c6d-8e7f-000000000003",
        fallback: false,
        status: 200,
        latency: Duration::from_micros(1_234),
        graph: GraphUsage {
            calls: 2,
            time: Duration::from_micros(812),
        },
        timestamp_ms: 1_795_728_000_000,
    }
}

fn bench(c: &mut Criterion) {
    let line = line();
    let mut buffer = Vec::with_capacity(1024);
    c.bench_function("emf: format one callout line", |b| {
        b.iter(|| {
            buffer.clear();
            write_callout_line(&mut buffer, black_box(&line));
            black_box(buffer.len())
        })
    });

    let null = Mutex::new(File::create("/dev/null").expect("/dev/null opens"));
    c.bench_function("emf: format and write one line (locked, one write)", |b| {
        b.iter(|| {
            buffer.clear();
            write_callout_line(&mut buffer, black_box(&line));
            let _ = null.lock().unwrap().write_all(&buffer);
        })
    });

    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime builds");
    c.bench_function("callout without the metrics scope", |b| {
        b.iter_custom(|iters| {
            runtime.block_on(async {
                let started = Instant::now();
                for _ in 0..iters {
                    black_box(async { Response::new(Body::empty()) }.await);
                }
                started.elapsed()
            })
        })
    });
    c.bench_function("callout inside the metrics scope, metrics off", |b| {
        b.iter_custom(|iters| {
            runtime.block_on(async {
                let started = Instant::now();
                for _ in 0..iters {
                    black_box(
                        observe("token-issuance-start", async {
                            Response::new(Body::empty())
                        })
                        .await,
                    );
                }
                started.elapsed()
            })
        })
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
