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
//!   sent no body, so nothing is drained. The drain also stops after
//!   `INTAKE_REFUSED_BODY_DRAIN_TIMEOUT`, however slowly the bytes come.

use crate::api::imports::UploadFile;
use crate::error::{human_bytes, ImportError};
use crate::request_body::{multipart_boundary, BodyCounters, BodyCutShort};
use crate::state::AppState;
use axum::body::{Body, BodyDataStream, Bytes};
use axum::extract::{Request, State};
use axum::http::{header, Method};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use futures::{Stream, StreamExt};
use leptos::server_fn::ServerFn;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use tracing::info;

/// The request guard: caps every body (POST, PATCH, …) while it streams.
pub async fn guard_request_bodies(State(state): State<AppState>, request: Request, next: Next) -> Response {
    if request.method() == Method::GET || request.method() == Method::HEAD {
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
                head: Some(FirstPartHead::new(&boundary)),
                received: 0,
                upload_limit,
                body_limit,
                allowance: config.import_multipart_allowance_bytes,
                cut_short,
                counters: state.services.body_counters.clone(),
                since_yield: 0,
            };
            next.run(Request::from_parts(parts, Body::from_stream(guarded))).await
        }
    };
    // A client waiting for 100 Continue that was never asked for its body sent none.
    if !expects_continue || shared.was_read() {
        shared.drain_in_background(
            config.refused_body_drain_bytes,
            config.refused_body_drain_timeout,
            state.services.body_counters.clone(),
        );
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

    /// Reads and discards what is left of the body, up to `budget` bytes and for
    /// at most `time_limit` (a slow sender must not keep a task alive), then lets
    /// the connection close.
    fn drain_in_background(self, budget: u64, time_limit: std::time::Duration, counters: Arc<BodyCounters>) {
        let Some(mut stream) = self.stream.lock().ok().and_then(|mut stream| stream.take()) else { return };
        counters.draining.fetch_add(1, Ordering::Relaxed);
        tokio::spawn(async move {
            let mut drained = 0u64;
            let drain = async {
                while let Some(Ok(chunk)) = stream.next().await {
                    drained += chunk.len() as u64;
                    counters.received.fetch_add(chunk.len() as u64, Ordering::Relaxed);
                    if drained >= budget {
                        info!(drained, "stopped draining a refused upload body");
                        break;
                    }
                }
            };
            if tokio::time::timeout(time_limit, drain).await.is_err() {
                info!(drained, "stopped draining a refused upload body that arrived too slowly");
            }
            counters.draining.fetch_sub(1, Ordering::Relaxed);
        });
    }
}

/// The handler's view of a multipart body: counts it, caps it, and requires its
/// first part to begin within the allowance.
struct MultipartGuard {
    body: SharedBody,
    /// Looks for the first part's head until it is complete; then `None`.
    head: Option<FirstPartHead>,
    received: u64,
    upload_limit: u64,
    body_limit: u64,
    allowance: u64,
    cut_short: BodyCutShort,
    counters: Arc<BodyCounters>,
    /// Bytes handed on since the stream last said `Pending`.
    since_yield: usize,
}

/// The multipart parser reads all the body that is ready before it hands a
/// part's bytes on: from a fast client, as much as the socket holds. Saying
/// `Pending` (and waking at once) every this many bytes bounds what it holds.
const YIELD_EVERY_BYTES: usize = 64 * 1024;

/// The body stream failed on purpose; `BodyCutShort` says why.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
struct CutShort(ImportError);

impl MultipartGuard {
    fn refuse(&mut self, reason: ImportError) -> Poll<Option<Result<Bytes, CutShort>>> {
        self.cut_short.cut(reason.clone());
        self.head = None;
        Poll::Ready(Some(Err(CutShort(reason))))
    }
}

/// Finds the first boundary and, after it, the blank line that ends the part's
/// headers, as the body arrives in chunks of any size. Each byte is looked at
/// once and none is kept, so a head sent a byte at a time costs no more than one
/// sent whole: this runs before authentication, for anyone.
struct FirstPartHead {
    boundary: StreamSearch,
    end_of_headers: StreamSearch,
    found_boundary: bool,
    /// Bytes looked through so far.
    scanned: u64,
}

impl FirstPartHead {
    fn new(boundary: &str) -> Self {
        Self {
            boundary: StreamSearch::new(format!("--{boundary}").into_bytes()),
            end_of_headers: StreamSearch::new(b"\r\n\r\n".to_vec()),
            found_boundary: false,
            scanned: 0,
        }
    }

    /// Looks through the next chunk; true once the head is complete.
    fn feed(&mut self, chunk: &[u8]) -> bool {
        self.scanned += chunk.len() as u64;
        let mut rest = chunk;
        if !self.found_boundary {
            match self.boundary.feed(rest) {
                Some(after) => {
                    self.found_boundary = true;
                    rest = &rest[after..];
                }
                None => return false,
            }
        }
        self.end_of_headers.feed(rest).is_some()
    }

    fn comparisons(&self) -> u64 {
        self.boundary.comparisons + self.end_of_headers.comparisons
    }
}

/// A substring search over a stream (Knuth-Morris-Pratt): each byte fed is
/// looked at a bounded number of times, whatever the chunk sizes.
struct StreamSearch {
    needle: Vec<u8>,
    /// For each prefix length, the longest proper prefix that is also its suffix.
    fallback: Vec<usize>,
    matched: usize,
    /// Byte comparisons made: fewer than twice the bytes fed.
    comparisons: u64,
}

impl StreamSearch {
    fn new(needle: Vec<u8>) -> Self {
        let mut fallback = vec![0; needle.len() + 1];
        let mut k = 0;
        for i in 1..needle.len() {
            while k > 0 && needle[i] != needle[k] {
                k = fallback[k];
            }
            if needle[i] == needle[k] {
                k += 1;
            }
            fallback[i + 1] = k;
        }
        Self { needle, fallback, matched: 0, comparisons: 0 }
    }

    /// The offset just past the first match that ends in `bytes`, if one does.
    fn feed(&mut self, bytes: &[u8]) -> Option<usize> {
        for (at, &byte) in bytes.iter().enumerate() {
            while self.matched > 0 && byte != self.needle[self.matched] {
                self.comparisons += 1;
                self.matched = self.fallback[self.matched];
            }
            self.comparisons += 1;
            if byte == self.needle[self.matched] {
                self.matched += 1;
            }
            if self.matched == self.needle.len() {
                return Some(at + 1);
            }
        }
        None
    }
}

impl Stream for MultipartGuard {
    type Item = Result<Bytes, CutShort>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if self.cut_short.reason().is_some() {
            return Poll::Ready(None);
        }
        if self.since_yield >= YIELD_EVERY_BYTES {
            self.since_yield = 0;
            cx.waker().wake_by_ref();
            return Poll::Pending;
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
        self.since_yield += chunk.len();
        self.counters.received.fetch_add(chunk.len() as u64, Ordering::Relaxed);
        if self.received > self.body_limit {
            let limit_bytes = self.upload_limit;
            return self.refuse(ImportError::TooLarge { limit_bytes });
        }
        if let Some(head) = &mut self.head {
            let before = head.comparisons();
            let complete = head.feed(&chunk);
            let (scanned, compared) = (head.scanned, head.comparisons() - before);
            self.counters.head_comparisons.fetch_add(compared, Ordering::Relaxed);
            self.counters.peak_head_bytes.fetch_max(scanned, Ordering::Relaxed);
            if complete {
                self.head = None;
            } else if scanned > self.allowance {
                let reason = format!(
                    "the multipart boundary and the `file` part's headers did not arrive within the first {} \
                     (IMPORT_MULTIPART_ALLOWANCE_BYTES).",
                    human_bytes(self.allowance)
                );
                return self.refuse(ImportError::MalformedUpload { reason });
            }
        }
        Poll::Ready(Some(Ok(chunk)))
    }
}

#[cfg(test)]
mod tests {
    use super::{FirstPartHead, StreamSearch};

    #[test]
    fn a_stream_search_finds_needles_across_chunks() {
        let mut search = StreamSearch::new(b"--B".to_vec());
        assert_eq!(search.feed(b"ab-"), None);
        assert_eq!(search.feed(b"-B\r\n"), Some(2));
        let mut overlapping = StreamSearch::new(b"aab".to_vec());
        assert_eq!(overlapping.feed(b"aaab"), Some(4));
        let mut none = StreamSearch::new(b"--B".to_vec());
        assert_eq!(none.feed(b""), None);
    }

    #[test]
    fn the_first_part_head_is_found_whatever_the_chunking() {
        let body = b"preamble\r\n--Bxyz\r\nContent-Disposition: form-data; name=\"file\"\r\n\r\ndata";
        let complete_at = body.windows(4).rposition(|w| w == b"\r\n\r\n").unwrap() + 4;
        for size in 1..body.len() {
            let mut head = FirstPartHead::new("Bxyz");
            let mut fed = 0;
            let found = body.chunks(size).find_map(|chunk| {
                fed += chunk.len();
                head.feed(chunk).then_some(fed)
            });
            let found = found.expect("the head is complete");
            assert!(found >= complete_at && found < complete_at + size, "chunks of {size}: complete after {found}");
        }
    }

    #[test]
    fn a_head_sent_a_byte_at_a_time_is_looked_through_once() {
        // The probe of issue 21: 60 KB of a head that never completes, one byte per chunk.
        let mut head = FirstPartHead::new("B");
        let body = vec![b'-'; 60_000];
        for byte in body.chunks(1) {
            assert!(!head.feed(byte));
        }
        assert_eq!(head.scanned, 60_000);
        assert!(head.comparisons() < 2 * 60_000, "{} comparisons", head.comparisons());
        // The worst case for falling back: a needle of repeats, almost matched again and again.
        let mut search = StreamSearch::new(b"------------------------------------------B".to_vec());
        for byte in &body {
            assert_eq!(search.feed(std::slice::from_ref(byte)), None);
        }
        assert!(search.comparisons < 2 * 60_000, "{} comparisons", search.comparisons);
    }
}
