//! One export pass: for each stream, re-check recent windows for late records, then export every
//! closed window after the checkpoint, one object per window, moving the checkpoint after each.
//!
//! Why this cannot leave a gap or a duplicate:
//! - A window is `[start, end)` on the record's own timestamp, asked of Graph as
//!   `ge start and lt end`; records Graph returns outside it are dropped (they belong to another
//!   window), and a record id seen twice in one window is written once.
//! - A window's object key is a function of the stream and the window, so writing it again replaces
//!   it whole; a window is only ever written complete (see `destination`), and the checkpoint moves
//!   after the object is durable. A crash before the move means the next run writes the same key
//!   again; a crash after it means the window is done.
//! - Only windows that end at least `lag` before now are exported, because Entra delivers records
//!   late; windows inside the re-check period after the checkpoint are read again on every run and
//!   rewritten when Graph holds more records for them than their object does (audit logs only grow
//!   within their retention, so a count is enough to notice).
//! - Failures never half-commit: a Graph error (after the client's retries), a malformed page or a
//!   failed upload abandons the window's object and leaves the checkpoint where it was.

use std::collections::HashSet;
use std::hash::{BuildHasher, Hasher};
use std::sync::Arc;
use std::time::Duration as StdDuration;

use entra_graph::{GraphClient, GraphError, Instant, ListQuery};
use serde_json::value::RawValue;
use time::{Duration, OffsetDateTime};

use crate::checkpoint::{
    Checkpoint, CheckpointError, CheckpointStore, ExportedWindow, StoredCheckpoint,
};
use crate::destination::{DestinationError, GzipObjectWriter, ObjectStore};
use crate::record::{AuditRecord, RecordError};
use crate::stream::AuditStream;
use crate::window::{Window, WindowSize, floor};

/// Graph's error code when the tenant's licence does not include a log (sign-ins need Entra ID P1
/// or P2 in workforce tenants; docs/protocols/graph-api.md A.10).
pub const LICENCE_ERROR_CODES: &[&str] = &["Authentication_RequestFromNonPremiumTenantOrB2CTenant"];

/// How the export behaves; from `[audit_export]`.
#[derive(Debug, Clone)]
pub struct ExportSettings {
    pub window: WindowSize,
    /// A window is exported once it ended this long ago.
    pub lag: Duration,
    /// Windows that ended within this period before the checkpoint are re-read for late records.
    pub recheck: Duration,
    /// Where a stream without a checkpoint starts.
    pub first_start: FirstStart,
    /// `$top` of each Graph page (Graph's maximum for sign-ins is 1,000).
    pub page_size: u32,
    /// No new window starts when less than this is left before the run's deadline.
    pub deadline_margin: StdDuration,
}

impl Default for ExportSettings {
    fn default() -> Self {
        Self {
            window: WindowSize::default(),
            lag: Duration::minutes(15),
            recheck: Duration::minutes(60),
            first_start: FirstStart::Ago(Duration::days(7)),
            page_size: 1000,
            deadline_margin: StdDuration::from_secs(30),
        }
    }
}

/// Where the first export of a stream begins.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FirstStart {
    /// This long before the run (e.g. 7 days: Entra keeps most logs 7 to 30 days).
    Ago(Duration),
    /// At this instant (rounded down to a window).
    At(OffsetDateTime),
}

/// What one run is asked to do.
#[derive(Debug, Clone, Copy)]
pub struct RunOptions {
    /// The run's idea of now (the clock, or a test's).
    pub now: OffsetDateTime,
    /// Export windows ending at or before this (never later than `now - lag`).
    pub until: Option<OffsetDateTime>,
    /// When the run must have stopped (the Lambda deadline).
    pub deadline: Option<Instant>,
}

impl RunOptions {
    pub fn now() -> Self {
        Self {
            now: OffsetDateTime::now_utc(),
            until: None,
            deadline: None,
        }
    }
}

/// How a stream's pass ended.
#[derive(Debug)]
pub enum StreamOutcome {
    /// Every closed window up to the horizon is exported.
    Complete,
    /// The deadline came first; the next run goes on from the checkpoint.
    StoppedForDeadline,
    /// The tenant's licence does not include this log (Graph's code kept).
    Unavailable { code: String },
    /// The pass stopped on an error; the checkpoint is where the report says.
    Failed(ExportError),
}

impl StreamOutcome {
    pub fn label(&self) -> &'static str {
        match self {
            StreamOutcome::Complete => "complete",
            StreamOutcome::StoppedForDeadline => "stopped_for_deadline",
            StreamOutcome::Unavailable { .. } => "unavailable",
            StreamOutcome::Failed(_) => "failed",
        }
    }
}

/// What one stream's pass did.
#[derive(Debug)]
pub struct StreamReport {
    pub stream: AuditStream,
    pub outcome: StreamOutcome,
    /// New windows exported (checkpoint moved past them).
    pub windows: u32,
    /// Re-checked windows rewritten because late records arrived.
    pub rewritten: u32,
    /// Records written (new windows plus rewritten ones).
    pub records: u64,
    /// Compressed bytes written.
    pub bytes: u64,
    pub duration: StdDuration,
    /// The checkpoint after the pass.
    pub exported_until: Option<OffsetDateTime>,
    /// `now - exported_until`: how far behind the export is.
    pub lag: Option<Duration>,
}

/// Why a window (and so the stream's pass) failed.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error("window {window}: Graph: {source}")]
    Graph {
        window: Window,
        source: Box<GraphError>,
    },
    #[error("window {window}: {source}")]
    Record { window: Window, source: RecordError },
    #[error("window {window}: {source}")]
    Destination {
        window: Window,
        source: DestinationError,
    },
    #[error(transparent)]
    Checkpoint(#[from] CheckpointError),
    #[error("the configured start {0} cannot be read as a window start")]
    Start(OffsetDateTime),
}

/// What exporting one window produced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WindowOutcome {
    pub records: u64,
    pub bytes: u64,
    /// A re-check found the same records as before and left the object alone.
    pub unchanged: bool,
    /// Records Graph returned whose timestamp lies outside the window (dropped).
    pub outside: u64,
    /// Records returned twice within the window (written once).
    pub repeated: u64,
}

/// Called after every window, e.g. for the CLI's progress lines.
pub type Progress = Arc<dyn Fn(AuditStream, Window, &WindowOutcome) + Send + Sync>;

/// Exports audit streams from Graph into an object store, checkpointed.
pub struct Exporter {
    graph: GraphClient,
    objects: Arc<dyn ObjectStore>,
    checkpoints: Arc<dyn CheckpointStore>,
    settings: ExportSettings,
    progress: Option<Progress>,
}

impl Exporter {
    pub fn new(
        graph: GraphClient,
        objects: Arc<dyn ObjectStore>,
        checkpoints: Arc<dyn CheckpointStore>,
        settings: ExportSettings,
    ) -> Self {
        Self {
            graph,
            objects,
            checkpoints,
            settings,
            progress: None,
        }
    }

    pub fn with_progress(mut self, progress: Progress) -> Self {
        self.progress = Some(progress);
        self
    }

    pub fn settings(&self) -> &ExportSettings {
        &self.settings
    }

    /// One pass over each of `streams`, one after the other; a stream that fails or is unavailable
    /// does not stop the others.
    pub async fn run(&self, streams: &[AuditStream], options: RunOptions) -> Vec<StreamReport> {
        let mut reports = Vec::with_capacity(streams.len());
        for &stream in streams {
            reports.push(self.run_stream(stream, options).await);
        }
        reports
    }

    /// The newest window end this run may export.
    fn horizon(&self, options: &RunOptions) -> OffsetDateTime {
        let closed = options.now - self.settings.lag;
        let until = options.until.map_or(closed, |until| until.min(closed));
        floor(until, self.settings.window)
    }

    /// One pass over `stream`.
    pub async fn run_stream(&self, stream: AuditStream, options: RunOptions) -> StreamReport {
        let started = std::time::Instant::now();
        let mut report = StreamReport {
            stream,
            outcome: StreamOutcome::Complete,
            windows: 0,
            rewritten: 0,
            records: 0,
            bytes: 0,
            duration: StdDuration::ZERO,
            exported_until: None,
            lag: None,
        };
        let mut stored = None;
        report.outcome = match self.pass(stream, &options, &mut report, &mut stored).await {
            Ok(outcome) => outcome,
            Err(ExportError::Graph { source, .. }) if source.is_deadline_exceeded() => {
                StreamOutcome::StoppedForDeadline
            }
            Err(ExportError::Graph { source, .. }) if is_licence_error(&source) => {
                StreamOutcome::Unavailable {
                    code: source.code().unwrap_or_default().to_owned(),
                }
            }
            Err(error) => StreamOutcome::Failed(error),
        };
        report.exported_until = stored.map(|s: StoredCheckpoint| s.checkpoint.exported_until);
        report.lag = report.exported_until.map(|until| options.now - until);
        report.duration = started.elapsed();
        report
    }

    async fn pass(
        &self,
        stream: AuditStream,
        options: &RunOptions,
        report: &mut StreamReport,
        stored: &mut Option<StoredCheckpoint>,
    ) -> Result<StreamOutcome, ExportError> {
        // A window already started may run on until a third of the margin is left: time kept back
        // for abandoning its upload and writing the report.
        let graph = match options.deadline {
            Some(deadline) => self.graph.with_deadline(
                deadline
                    .checked_sub(self.settings.deadline_margin / 3)
                    .unwrap_or_else(Instant::now),
            ),
            None => self.graph.clone(),
        };
        let loaded = self.checkpoints.load(stream).await?;
        *stored = loaded.clone();
        let mut checkpoint = match &loaded {
            Some(stored) => stored.checkpoint.clone(),
            None => self.first_checkpoint(options)?,
        };
        let mut version = loaded;
        let size = self.settings.window;

        // 1. Late records in recent windows.
        let recheck_from = checkpoint.exported_until - self.settings.recheck;
        let recent: Vec<ExportedWindow> = checkpoint
            .recent
            .iter()
            .filter(|w| w.start >= recheck_from)
            .cloned()
            .collect();
        for exported in recent {
            if self.out_of_time(options) {
                return Ok(StreamOutcome::StoppedForDeadline);
            }
            let Some(window) = Window::starting_at(exported.start, size) else {
                continue; // written with another window size; no longer re-checked
            };
            let outcome = self
                .export_window(&graph, stream, window, Some(exported.records))
                .await?;
            self.notify(stream, window, &outcome);
            if outcome.unchanged {
                continue;
            }
            report.rewritten += 1;
            report.records += outcome.records;
            report.bytes += outcome.bytes;
            for entry in &mut checkpoint.recent {
                if entry.start == exported.start {
                    entry.records = outcome.records;
                }
            }
            let saved = self
                .checkpoints
                .save(stream, version.as_ref(), &checkpoint)
                .await?;
            *stored = Some(saved.clone());
            version = Some(saved);
        }

        // 2. New closed windows.
        let horizon = self.horizon(options);
        let mut window = Window::starting_at(checkpoint.exported_until, size)
            .unwrap_or_else(|| Window::containing(checkpoint.exported_until, size));
        while window.end() <= horizon {
            if self.out_of_time(options) {
                return Ok(StreamOutcome::StoppedForDeadline);
            }
            let outcome = self.export_window(&graph, stream, window, None).await?;
            self.notify(stream, window, &outcome);
            report.windows += 1;
            report.records += outcome.records;
            report.bytes += outcome.bytes;
            checkpoint.exported_until = window.end();
            checkpoint.recent.push(ExportedWindow {
                start: window.start(),
                records: outcome.records,
            });
            let keep_from = checkpoint.exported_until - self.settings.recheck;
            checkpoint.recent.retain(|w| w.start >= keep_from);
            let saved = self
                .checkpoints
                .save(stream, version.as_ref(), &checkpoint)
                .await?;
            *stored = Some(saved.clone());
            version = Some(saved);
            window = window.next();
        }
        if stored.is_none() {
            // Nothing closed yet: still record where the stream starts, so the start does not drift.
            let saved = self.checkpoints.save(stream, None, &checkpoint).await?;
            *stored = Some(saved);
        }
        Ok(StreamOutcome::Complete)
    }

    fn first_checkpoint(&self, options: &RunOptions) -> Result<Checkpoint, ExportError> {
        let start = match self.settings.first_start {
            FirstStart::Ago(period) => options.now - period,
            FirstStart::At(instant) => instant,
        };
        let aligned = floor(start, self.settings.window);
        if aligned > options.now {
            return Err(ExportError::Start(start));
        }
        Ok(Checkpoint {
            exported_until: aligned,
            recent: Vec::new(),
        })
    }

    fn out_of_time(&self, options: &RunOptions) -> bool {
        options.deadline.is_some_and(|deadline| {
            deadline.saturating_duration_since(Instant::now()) < self.settings.deadline_margin
        })
    }

    fn notify(&self, stream: AuditStream, window: Window, outcome: &WindowOutcome) {
        if let Some(progress) = &self.progress {
            progress(stream, window, outcome);
        }
    }

    /// Writes every record of `window` to its object. With `previous` (a re-check), the object is
    /// left alone when Graph still holds exactly that many records.
    pub async fn export_window(
        &self,
        graph: &GraphClient,
        stream: AuditStream,
        window: Window,
        previous: Option<u64>,
    ) -> Result<WindowOutcome, ExportError> {
        let key = window.object_key("", stream);
        let query = ListQuery::new()
            .filter(window.filter(stream.time_field.name()))
            .top(self.settings.page_size);
        let mut pager = graph.pages::<Box<RawValue>>(graph.url(stream.path), &query);
        let mut writer: Option<GzipObjectWriter> = None;
        let mut seen = SeenIds::default();
        let mut outcome = WindowOutcome {
            records: 0,
            bytes: 0,
            unchanged: false,
            outside: 0,
            repeated: 0,
        };
        let mut lines = Vec::new();
        while let Some(page) = pager.next_page().await {
            let result = match page {
                Ok(page) => self.page_lines(
                    stream,
                    window,
                    page.items,
                    &mut seen,
                    &mut lines,
                    &mut outcome,
                ),
                Err(source) => Err(ExportError::Graph {
                    window,
                    source: Box::new(source),
                }),
            };
            if let Err(error) = result {
                abandon(writer).await;
                return Err(error);
            }
            if lines.is_empty() {
                continue;
            }
            if writer.is_none() {
                let upload = self
                    .objects
                    .begin(&key)
                    .await
                    .map_err(|source| ExportError::Destination { window, source })?;
                writer = Some(GzipObjectWriter::new(upload));
            }
            if let Some(open) = writer.as_mut()
                && let Err(source) = open.write(&lines).await
            {
                abandon(writer).await;
                return Err(ExportError::Destination { window, source });
            }
            lines.clear();
        }
        if previous == Some(outcome.records) {
            abandon(writer).await;
            outcome.unchanged = true;
            return Ok(outcome);
        }
        if let Some(writer) = writer {
            outcome.bytes = writer
                .finish()
                .await
                .map_err(|source| ExportError::Destination { window, source })?;
        }
        Ok(outcome)
    }

    fn page_lines(
        &self,
        stream: AuditStream,
        window: Window,
        items: Vec<Box<RawValue>>,
        seen: &mut SeenIds,
        lines: &mut Vec<u8>,
        outcome: &mut WindowOutcome,
    ) -> Result<(), ExportError> {
        for raw in items {
            let record = AuditRecord::read(raw, stream.time_field)
                .map_err(|source| ExportError::Record { window, source })?;
            if !window.contains(record.time()) {
                outcome.outside += 1;
                continue;
            }
            if !seen.insert(record.id()) {
                outcome.repeated += 1;
                continue;
            }
            record.write_line(lines);
            outcome.records += 1;
        }
        Ok(())
    }
}

async fn abandon(writer: Option<GzipObjectWriter>) {
    if let Some(writer) = writer {
        writer.abort().await;
    }
}

fn is_licence_error(error: &GraphError) -> bool {
    error.status() == Some(http::StatusCode::FORBIDDEN)
        && error
            .code()
            .is_some_and(|code| LICENCE_ERROR_CODES.contains(&code))
}

/// The ids written in one window, as 128-bit hashes (16 bytes a record; two independent SipHash
/// keys make a collision, which would drop a record, practically impossible).
#[derive(Default)]
struct SeenIds {
    hashes: HashSet<u128>,
    keys: SeenKeys,
}

struct SeenKeys(std::hash::RandomState, std::hash::RandomState);

impl Default for SeenKeys {
    fn default() -> Self {
        Self(std::hash::RandomState::new(), std::hash::RandomState::new())
    }
}

impl SeenIds {
    fn insert(&mut self, id: &str) -> bool {
        let mut first = self.keys.0.build_hasher();
        first.write(id.as_bytes());
        let mut second = self.keys.1.build_hasher();
        second.write(id.as_bytes());
        let hash = (u128::from(first.finish()) << 64) | u128::from(second.finish());
        self.hashes.insert(hash)
    }
}
