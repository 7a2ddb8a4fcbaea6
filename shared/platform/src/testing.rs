//! Test support (feature `test-support`): a real `moto_server` process for AWS adapter tests.
//!
//! Our AWS adapters are tested against moto over loopback HTTP with the real SDK, so what is tested
//! is the code that runs in Lambda (docs/protocols/aws-lambda-platform.md section 4). moto keeps state in
//! memory per process: share one server per test binary ([`MotoServer::shared`]) and give every
//! test its own resource names.
//!
//! The server runs under a small `sh` guard that reads our end of a pipe: when this process exits
//! for any reason (including a panic or Ctrl-C, when no destructor runs) the pipe closes and the
//! guard stops moto, so no server outlives its test binary.

use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_secretsmanager::config::Credentials;

/// Environment variable naming the `moto_server` executable explicitly.
pub const MOTO_SERVER_BIN_ENV: &str = "MOTO_SERVER_BIN";
/// How long to wait for `GET /moto-api/` to answer after starting.
pub const MOTO_START_TIMEOUT: Duration = Duration::from_secs(20);
/// Region every test client uses (moto ignores it, SigV4 needs one).
pub const TEST_REGION: &str = "us-east-1";

const LOG_TAIL_LINES: usize = 40;

/// Why moto could not be started or used.
#[derive(Debug, thiserror::Error)]
pub enum MotoError {
    /// No executable found anywhere we look.
    #[error(
        "moto_server not found: run ./scripts/test (it installs moto into .venv) or pip install 'moto[server]' (looked in: {searched})"
    )]
    NotFound { searched: String },
    /// The process could not be spawned.
    #[error("could not start {bin}: {source}")]
    Spawn {
        bin: PathBuf,
        source: std::io::Error,
    },
    /// moto exited during start-up.
    #[error("moto_server exited during start-up; its last output:\n{log}")]
    Exited { log: String },
    /// moto did not answer in time.
    #[error("moto_server did not answer on {endpoint} within {timeout:?}; its last output:\n{log}")]
    Timeout {
        endpoint: String,
        timeout: Duration,
        log: String,
    },
    /// A control request (e.g. reset) failed.
    #[error("moto request {what} failed: {reason}")]
    Request { what: String, reason: String },
    /// The shared server failed to start earlier in this test binary.
    #[error("the shared moto_server failed to start: {0}")]
    Shared(String),
}

/// A running `moto_server` on `127.0.0.1` and a free port; stopped on drop.
#[derive(Debug)]
pub struct MotoServer {
    guard: Child,
    /// Our end of the guard's pipe; closing it stops moto.
    lifeline: Option<ChildStdin>,
    endpoint: String,
    addr: SocketAddr,
}

impl MotoServer {
    /// Start a new server and wait until it answers.
    ///
    /// The executable is `$MOTO_SERVER_BIN`, else `.venv/bin/moto_server` in the workspace (or any
    /// directory above this crate), else `moto_server` on `PATH`.
    pub fn start() -> Result<MotoServer, MotoError> {
        let bin = find_moto_server()?;
        // The port is free when probed; if moto loses a race for it, it exits and we try another.
        let mut last_error = None;
        for _ in 0..3 {
            match Self::start_on_free_port(&bin) {
                Ok(server) => return Ok(server),
                Err(err @ MotoError::Exited { .. }) => last_error = Some(err),
                Err(err) => return Err(err),
            }
        }
        Err(last_error.unwrap_or(MotoError::Exited { log: String::new() }))
    }

    /// One server shared by every test in this test binary, started on first use.
    pub fn shared() -> Result<&'static MotoServer, MotoError> {
        static SHARED: OnceLock<Result<MotoServer, String>> = OnceLock::new();
        SHARED
            .get_or_init(|| MotoServer::start().map_err(|err| err.to_string()))
            .as_ref()
            .map_err(|err| MotoError::Shared(err.clone()))
    }

    /// Base URL, e.g. `http://127.0.0.1:41234`.
    pub fn endpoint_url(&self) -> &str {
        &self.endpoint
    }

    /// An `SdkConfig` pointed at this server (see [`sdk_config_for`]).
    pub async fn sdk_config(&self) -> SdkConfig {
        sdk_config_for(&self.endpoint).await
    }

    /// Wipe all of moto's state (`POST /moto-api/reset`).
    pub fn reset(&self) -> Result<(), MotoError> {
        let status = http_status(self.addr, "POST", "/moto-api/reset").map_err(|err| {
            MotoError::Request {
                what: "reset".into(),
                reason: err.to_string(),
            }
        })?;
        if status == 200 {
            Ok(())
        } else {
            Err(MotoError::Request {
                what: "reset".into(),
                reason: format!("HTTP {status}"),
            })
        }
    }

    fn start_on_free_port(bin: &Path) -> Result<MotoServer, MotoError> {
        let port = free_port().map_err(|source| MotoError::Spawn {
            bin: bin.to_path_buf(),
            source,
        })?;
        let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
        // $0 = moto_server, $1 = port. fd 3 keeps our pipe for the watcher: background jobs get
        // /dev/null as stdin. The shell waits for moto, so moto exiting ends the shell too.
        let script = r#"exec 3<&0
"$0" -H 127.0.0.1 -p "$1" &
pid=$!
( read -r _ <&3; kill "$pid" 2>/dev/null ) &
wait "$pid""#;
        let mut guard = Command::new("sh")
            .arg("-c")
            .arg(script)
            .arg(bin)
            .arg(port.to_string())
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|source| MotoError::Spawn {
                bin: bin.to_path_buf(),
                source,
            })?;
        let lifeline = guard.stdin.take();
        let log = Arc::new(Mutex::new(VecDeque::new()));
        if let Some(stderr) = guard.stderr.take() {
            let log = Arc::clone(&log);
            // Drained continuously: a full pipe would block moto's request logging.
            std::thread::spawn(move || {
                for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                    let mut tail = log
                        .lock()
                        .unwrap_or_else(std::sync::PoisonError::into_inner);
                    if tail.len() == LOG_TAIL_LINES {
                        tail.pop_front();
                    }
                    tail.push_back(line);
                }
            });
        }
        let mut server = MotoServer {
            guard,
            lifeline,
            endpoint: format!("http://{addr}"),
            addr,
        };
        let render_log = || {
            let tail = log
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            tail.iter().cloned().collect::<Vec<_>>().join("\n")
        };

        let deadline = Instant::now() + MOTO_START_TIMEOUT;
        loop {
            if matches!(http_status(addr, "GET", "/moto-api/"), Ok(200)) {
                return Ok(server);
            }
            if let Ok(Some(_)) = server.guard.try_wait() {
                // Give the drain thread a moment to collect moto's last words.
                std::thread::sleep(Duration::from_millis(100));
                return Err(MotoError::Exited { log: render_log() });
            }
            if Instant::now() >= deadline {
                return Err(MotoError::Timeout {
                    endpoint: server.endpoint.clone(),
                    timeout: MOTO_START_TIMEOUT,
                    log: render_log(),
                });
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for MotoServer {
    fn drop(&mut self) {
        // Closing the pipe makes the guard stop moto and exit; kill the guard if it lingers.
        drop(self.lifeline.take());
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.guard.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.guard.kill();
        let _ = self.guard.wait();
    }
}

/// An `SdkConfig` for a local AWS emulator at `endpoint_url`: static test credentials (so the SDK
/// never walks the credential chain to IMDS), region `us-east-1`, two attempts with a 10 ms
/// back-off and short timeouts, so a failing test fails fast. Touches no environment variables.
pub async fn sdk_config_for(endpoint_url: &str) -> SdkConfig {
    aws_config::defaults(BehaviorVersion::latest())
        .endpoint_url(endpoint_url)
        .region(Region::new(TEST_REGION))
        .credentials_provider(Credentials::new(
            "testing",
            "testing",
            None,
            None,
            "entra-platform-tests",
        ))
        .retry_config(
            RetryConfig::standard()
                .with_max_attempts(2)
                .with_initial_backoff(Duration::from_millis(10)),
        )
        .timeout_config(
            TimeoutConfig::builder()
                .connect_timeout(Duration::from_secs(2))
                .operation_timeout(Duration::from_secs(10))
                .build(),
        )
        .load()
        .await
}

/// Creates a table in the shape the [`crate::store::DynamoDbStore`] adapter expects (partition key
/// `pk`, String; on-demand billing), as template.yaml declares its tables. Panics on failure: test
/// set-up only.
pub async fn create_store_table(client: &aws_sdk_dynamodb::Client, name: &str) {
    use aws_sdk_dynamodb::types::{
        AttributeDefinition, BillingMode, KeySchemaElement, KeyType, ScalarAttributeType,
    };
    client
        .create_table()
        .table_name(name)
        .attribute_definitions(
            AttributeDefinition::builder()
                .attribute_name("pk")
                .attribute_type(ScalarAttributeType::S)
                .build()
                .expect("attribute definition"),
        )
        .key_schema(
            KeySchemaElement::builder()
                .attribute_name("pk")
                .key_type(KeyType::Hash)
                .build()
                .expect("key schema"),
        )
        .billing_mode(BillingMode::PayPerRequest)
        .send()
        .await
        .unwrap_or_else(|e| panic!("creating table {name}: {e:?}"));
}

fn find_moto_server() -> Result<PathBuf, MotoError> {
    let mut searched = Vec::new();
    if let Some(bin) = std::env::var_os(MOTO_SERVER_BIN_ENV) {
        let bin = PathBuf::from(bin);
        if bin.is_file() {
            return Ok(bin);
        }
        searched.push(format!("${MOTO_SERVER_BIN_ENV}={}", bin.display()));
    }
    for dir in Path::new(env!("CARGO_MANIFEST_DIR")).ancestors() {
        let candidate = dir.join(".venv").join("bin").join("moto_server");
        if candidate.is_file() {
            return Ok(candidate);
        }
    }
    searched.push(format!(
        "{}/../.venv/bin (and every directory above)",
        env!("CARGO_MANIFEST_DIR")
    ));
    if let Some(path) = std::env::var_os("PATH") {
        for dir in std::env::split_paths(&path) {
            let candidate = dir.join("moto_server");
            if candidate.is_file() {
                return Ok(candidate);
            }
        }
    }
    searched.push("PATH".to_owned());
    Err(MotoError::NotFound {
        searched: searched.join(", "),
    })
}

fn free_port() -> std::io::Result<u16> {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?;
    Ok(listener.local_addr()?.port())
}

/// A one-shot HTTP/1.1 request on loopback; returns the status code.
fn http_status(addr: SocketAddr, method: &str, path: &str) -> std::io::Result<u16> {
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(1))?;
    stream.set_read_timeout(Some(Duration::from_secs(5)))?;
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    )?;
    let mut head = [0u8; 12];
    stream.read_exact(&mut head)?;
    // Drain the rest so moto does not see a reset connection mid-response.
    let _ = std::io::copy(&mut stream, &mut std::io::sink());
    std::str::from_utf8(&head[9..12])
        .ok()
        .and_then(|code| code.parse().ok())
        .ok_or_else(|| std::io::Error::new(std::io::ErrorKind::InvalidData, "not an HTTP response"))
}
