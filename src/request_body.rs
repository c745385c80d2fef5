//! What the request guard (`body_limits`) tells the code that reads an upload's
//! body, and what it counts: shared by the middleware and the use cases, so it
//! sits below both and names nothing but the errors.

use crate::error::ImportError;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, OnceLock};

/// Why the guard cut an upload body short, for the handler that was reading it
/// (the multipart parser only sees a failed stream). Put in the request's extensions.
#[derive(Clone, Default)]
pub struct BodyCutShort(Arc<OnceLock<ImportError>>);

impl BodyCutShort {
    pub fn reason(&self) -> Option<ImportError> {
        self.0.get().cloned()
    }

    /// Records why the body was cut short; the first reason stands.
    pub fn cut(&self, reason: ImportError) {
        let _ = self.0.set(reason);
    }
}

/// What the guard has read from upload bodies, this process-wide.
#[derive(Default)]
pub struct BodyCounters {
    /// Bytes read from upload bodies, for the handler or drained after a refusal.
    pub received: AtomicU64,
    /// The most bytes of one body the guard looked through for its first part.
    pub peak_head_bytes: AtomicU64,
    /// Byte comparisons the guard made looking for first parts, all bodies
    /// together: at most two per byte looked through, however the body was cut
    /// into chunks.
    pub head_comparisons: AtomicU64,
    /// Refused bodies being read and discarded right now.
    pub draining: AtomicU64,
}

/// The boundary of a multipart body, or a 400 that says what is wrong.
pub fn multipart_boundary(content_type: Option<&str>) -> Result<String, ImportError> {
    let content_type = content_type.ok_or_else(|| ImportError::MalformedUpload {
        reason: "the request has no Content-Type; send multipart/form-data with a `file` field.".to_owned(),
    })?;
    multer::parse_boundary(content_type).map_err(|_| ImportError::MalformedUpload {
        reason: "the Content-Type is not multipart/form-data with a boundary.".to_owned(),
    })
}
