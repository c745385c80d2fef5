//! Prometheus metrics: what an operator counts and times. Every metric is named
//! here once (README, Operations); the code that sees the event calls the helper.
//! Without `INTAKE_METRICS_ADDR` no recorder is installed and each call is a no-op.

use crate::model::{ImportStatus, JobKind};
use axum::extract::{MatchedPath, Request};
use axum::http::Method;
use axum::middleware::Next;
use axum::response::Response;
use metrics::{counter, gauge, histogram};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

pub const IMPORTS_STARTED: &str = "intake_imports_started_total";
pub const IMPORTS_FINISHED: &str = "intake_imports_finished_total";
pub const ALREADY_RUNNING: &str = "intake_already_running_total";
pub const STALE_TAKEOVERS: &str = "intake_stale_takeovers_total";
pub const FENCED_WRITES: &str = "intake_fenced_writes_total";
pub const REQUEUES: &str = "intake_requeues_total";
pub const ROWS_PROCESSED: &str = "intake_rows_processed_total";
pub const QUEUE_DEPTH: &str = "intake_queue_depth";
pub const BATCH_COMMIT_SECONDS: &str = "intake_batch_commit_seconds";
pub const HTTP_REQUESTS: &str = "intake_http_requests_total";
pub const HTTP_REQUEST_SECONDS: &str = "intake_http_request_duration_seconds";

/// Seconds, from a millisecond to a minute: batch commits and requests both fall in it.
const LATENCY_BUCKETS: [f64; 12] = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0, 60.0];

/// The process's recorder, installed on first use: the `metrics` facade has one
/// global recorder per process.
pub fn recorder() -> Result<PrometheusHandle, String> {
    static HANDLE: OnceLock<Result<PrometheusHandle, String>> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            PrometheusBuilder::new()
                .set_buckets_for_metric(Matcher::Suffix("_seconds".to_owned()), &LATENCY_BUCKETS)
                .and_then(PrometheusBuilder::install_recorder)
                .map_err(|error| error.to_string())
        })
        .clone()
}

/// Why an import went back to the queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RequeueCause {
    /// Its instance's lease lapsed (a crash, a freeze).
    CrashRecovery,
    /// Its task panicked.
    Panic,
    /// A batch failed.
    Failure,
    /// Its instance is stopping and handed it back.
    Shutdown,
    /// The database was away.
    DatabaseUnavailable,
}

impl RequeueCause {
    pub fn label(self) -> &'static str {
        match self {
            Self::CrashRecovery => "crash_recovery",
            Self::Panic => "panic",
            Self::Failure => "failure",
            Self::Shutdown => "shutdown",
            Self::DatabaseUnavailable => "database_unavailable",
        }
    }
}

/// `kind`: an import, an undo or a deletion of many, each a job in the queue.
pub fn import_started(kind: JobKind) {
    counter!(IMPORTS_STARTED, "kind" => kind.as_str()).increment(1);
}

/// `outcome` is the final status: succeeded, failed, cancelled or abandoned;
/// `kind` as for `import_started`, so starts and ends of one kind pair up.
pub fn import_finished(kind: JobKind, outcome: ImportStatus) {
    counter!(IMPORTS_FINISHED, "kind" => kind.as_str(), "outcome" => outcome.as_str()).increment(1);
}

pub fn already_running() {
    counter!(ALREADY_RUNNING).increment(1);
}

pub fn stale_takeover() {
    counter!(STALE_TAKEOVERS).increment(1);
}

/// `write` names what was refused: a batch, or the record of an import's end.
pub fn fenced_write(write: &'static str) {
    counter!(FENCED_WRITES, "write" => write).increment(1);
}

pub fn requeued(cause: RequeueCause) {
    counter!(REQUEUES, "cause" => cause.label()).increment(1);
}

/// Rows of a committed batch, and how long its commit took.
pub fn batch_committed(rows: u64, took: Duration) {
    counter!(ROWS_PROCESSED).increment(rows);
    histogram!(BATCH_COMMIT_SECONDS).record(took.as_secs_f64());
}

pub fn queue_depth(queued: u64) {
    gauge!(QUEUE_DEPTH).set(queued as f64);
}

/// Counts and times each request by its route pattern (`/api/imports/{id}`), never
/// its path, so ids do not make a series each. Requests no route matched share "unmatched".
pub async fn count_requests(request: Request, next: Next) -> Response {
    let route = request.extensions().get::<MatchedPath>().map_or_else(|| "unmatched".to_owned(), |path| path.as_str().to_owned());
    let method: &'static str = match *request.method() {
        Method::GET => "GET",
        Method::HEAD => "HEAD",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::OPTIONS => "OPTIONS",
        _ => "other",
    };
    let started = Instant::now();
    let response = next.run(request).await;
    let status = response.status().as_u16().to_string();
    counter!(HTTP_REQUESTS, "method" => method, "route" => route.clone(), "status" => status).increment(1);
    histogram!(HTTP_REQUEST_SECONDS, "method" => method, "route" => route).record(started.elapsed().as_secs_f64());
    response
}
