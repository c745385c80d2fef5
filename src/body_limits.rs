//! Request bodies have a bounded cost, enforced while they stream.
//!
//! - Form and JSON bodies are capped at `INTAKE_MAX_FORM_BODY_BYTES`.
//! - Multipart bodies (the REST upload and the upload server function) are capped
//!   at the upload limit plus `IMPORT_MULTIPART_ALLOWANCE_BYTES`, and their first
//!   boundary and part headers must arrive within that allowance: a body whose
//!   boundary never appears is refused after the allowance, not buffered whole
//!   by the multipart parser.
//! - An upload refused early (401, 409, 413, 400) still reaches a client that
//!   keeps sending: the rest of its body is read and discarded, up to
//!   `INTAKE_REFUSED_BODY_DRAIN_BYTES`, before the connection closes. A client
//!   that sent `Expect: 100-continue` and was refused before its body was wanted
//!   sent no body, so nothing is drained.

use crate::api::imports::UploadFile;
use crate::api::rest::multipart_boundary;
use crate::error::{human_bytes, ImportError};
use crate::server::AppState;
use axum::body::{Body, BodyDataStream, Bytes};
use axum::extract::{Request, State};
use axum::http::{header, Method};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use futures::{Stream, StreamExt};
use leptos::server_fn::ServerFn;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::task::{Context, Poll};
use tracing::info;

/// Why the guard cut an upload body short, for the handler that was reading it
/// (the multipart parser only sees a failed stream). Put in the request's extensions.
#[derive(Clone, Default)]
pub struct BodyCutShort(Arc<OnceLock<ImportError>>);

impl BodyCutShort {
    pub fn reason(&self) -> Option<ImportError> {
        self.0.get().cloned()
    }
}

/// What the guard has read from upload bodies, this process-wide.
#[derive(Default)]
pub struct BodyCounters {
    /// Bytes read from upload bodies, for the handler or drained after a refusal.
    pub received: AtomicU64,
    /// The most bytes the guard ever held while looking for a body's first part.
    pub peak_head_bytes: AtomicU64,
}

/// The request guard: caps every POST body while it streams.
pub async fn guard_request_bodies(State(state): State<AppState>, request: Request, next: Next) -> Response {
    if request.method() != Method::POST {
        return next.run(request).await;
    }
    let config = &state.services.config;
    let content_type = request.headers().get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok());
    let is_multipart = content_type.is_some_and(|ct| ct.trim_start().to_ascii_lowercase().starts_with("multipart/"));
    let declared = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if request.uri().path() != UploadFile::PATH && !is_multipart {
        let limit = config.max_form_body_bytes;
        if declared.is_some_and(|length| length > limit as u64) {
            return form_too_large(limit);
        }
        let (parts, body) = request.into_parts();
        let limited = Body::new(http_body_util::Limited::new(body, limit));
        return next.run(Request::from_parts(parts, limited)).await;
    }

    // Uploads must carry a parseable boundary: server_fn 0.8 panics on a bad one.
    let boundary = multipart_boundary(content_type);
    let expects_continue = request
        .headers()
        .get(header::EXPECT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("100-continue"));
    let upload_limit = config.import_max_upload_bytes;
    let body_limit = upload_limit + config.import_multipart_allowance_bytes;
    let (mut parts, body) = request.into_parts();
    let shared = SharedBody::new(body.into_data_stream());
    let response = match boundary {
        Err(error) => error.into_response(),
        Ok(_) if declared.is_some_and(|length| length > body_limit) => {
            ImportError::TooLarge { limit_bytes: upload_limit }.into_response()
        }
        Ok(boundary) => {
            let cut_short = BodyCutShort::default();
            parts.extensions.insert(cut_short.clone());
            let guarded = MultipartGuard {
                body: shared.clone(),
                first_boundary: format!("--{boundary}").into_bytes(),
                head: Some(Vec::new()),
                received: 0,
                upload_limit,
                body_limit,
                allowance: config.import_multipart_allowance_bytes,
                cut_short,
                counters: state.services.body_counters.clone(),
            };
            next.run(Request::from_parts(parts, Body::from_stream(guarded))).await
        }
    };
    // A client waiting for 100 Continue that was never asked for its body sent none.
    if !expects_continue || shared.was_read() {
        shared.drain_in_background(config.refused_body_drain_bytes, state.services.body_counters.clone());
    }
    response
}

fn form_too_large(limit: usize) -> Response {
    ImportError::RequestTooLarge { limit_bytes: limit as u64 }.into_response()
}

/// The real body, shared between the handler's view of it and the drain that
/// runs after the handler answered.
#[derive(Clone)]
struct SharedBody {
    stream: Arc<Mutex<Option<BodyDataStream>>>,
    read: Arc<AtomicBool>,
}

impl SharedBody {
    fn new(stream: BodyDataStream) -> Self {
        Self { stream: Arc::new(Mutex::new(Some(stream))), read: Arc::new(AtomicBool::new(false)) }
    }

    fn was_read(&self) -> bool {
        self.read.load(Ordering::Acquire)
    }

    fn poll_chunk(&self, cx: &mut Context<'_>) -> Poll<Option<Result<Bytes, axum::Error>>> {
        self.read.store(true, Ordering::Release);
        match self.stream.lock() {
            Ok(mut stream) => match stream.as_mut() {
                Some(stream) => stream.poll_next_unpin(cx),
                None => Poll::Ready(None),
            },
            Err(_) => Poll::Ready(None),
        }
    }

    /// Reads and discards what is left of the body, up to `budget` bytes, then
    /// lets the connection close.
    fn drain_in_background(self, budget: u64, counters: Arc<BodyCounters>) {
        let Some(mut stream) = self.stream.lock().ok().and_then(|mut stream| stream.take()) else { return };
        tokio::spawn(async move {
            let mut drained = 0u64;
            while let Some(Ok(chunk)) = stream.next().await {
                drained += chunk.len() as u64;
                counters.received.fetch_add(chunk.len() as u64, Ordering::Relaxed);
                if drained >= budget {
                    info!(drained, "stopped draining a refused upload body");
                    break;
                }
            }
        });
    }
}

/// The handler's view of a multipart body: counts it, caps it, and requires its
/// first part to begin within the allowance.
struct MultipartGuard {
    body: SharedBody,
    first_boundary: Vec<u8>,
    /// The body's start, kept until the first part's headers are complete.
    head: Option<Vec<u8>>,
    received: u64,
    upload_limit: u64,
    body_limit: u64,
    allowance: u64,
    cut_short: BodyCutShort,
    counters: Arc<BodyCounters>,
}

/// The body stream failed on purpose; `BodyCutShort` says why.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
struct CutShort(ImportError);

impl MultipartGuard {
    fn refuse(&mut self, reason: ImportError) -> Poll<Option<Result<Bytes, CutShort>>> {
        let _ = self.cut_short.0.set(reason.clone());
        self.head = None;
        Poll::Ready(Some(Err(CutShort(reason))))
    }

    /// Whether `head` holds the first boundary and, after it, the end of the part's headers.
    fn head_complete(&self, head: &[u8]) -> bool {
        find(head, &self.first_boundary)
            .is_some_and(|at| find(&head[at + self.first_boundary.len()..], b"\r\n\r\n").is_some())
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|window| window == needle)
}

impl Stream for MultipartGuard {
    type Item = Result<Bytes, CutShort>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if self.cut_short.0.get().is_some() {
            return Poll::Ready(None);
        }
        let chunk = match self.body.poll_chunk(cx) {
            Poll::Pending => return Poll::Pending,
            Poll::Ready(None) => return Poll::Ready(None),
            Poll::Ready(Some(Err(error))) => {
                return self.refuse(ImportError::MalformedUpload { reason: format!("the body could not be read: {error}") })
            }
            Poll::Ready(Some(Ok(chunk))) => chunk,
        };
        self.received += chunk.len() as u64;
        self.counters.received.fetch_add(chunk.len() as u64, Ordering::Relaxed);
        if self.received > self.body_limit {
            let limit_bytes = self.upload_limit;
            return self.refuse(ImportError::TooLarge { limit_bytes });
        }
        if let Some(mut head) = self.head.take() {
            head.extend_from_slice(&chunk);
            self.counters.peak_head_bytes.fetch_max(head.len() as u64, Ordering::Relaxed);
            if !self.head_complete(&head) {
                if head.len() as u64 > self.allowance {
                    let reason = format!(
                        "the multipart boundary and the `file` part's headers did not arrive within the first {} \
                         (IMPORT_MULTIPART_ALLOWANCE_BYTES).",
                        human_bytes(self.allowance)
                    );
                    return self.refuse(ImportError::MalformedUpload { reason });
                }
                self.head = Some(head);
            }
        }
        Poll::Ready(Some(Ok(chunk)))
    }
}

#[cfg(test)]
mod tests {
    use super::find;

    #[test]
    fn find_locates_a_needle() {
        assert_eq!(find(b"ab--B\r\n", b"--B"), Some(2));
        assert_eq!(find(b"ab-", b"--B"), None);
        assert_eq!(find(b"", b"--B"), None);
    }
}
