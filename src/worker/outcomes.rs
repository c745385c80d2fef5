//! How a run of one claimed import ends, and why it may stop early.

use crate::model::ImportStatus;
use crate::store::StoreError;
use crate::uploads::SpillError;

/// How a run of one claimed import ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RunEnd {
    Finished(ImportStatus),
    /// Another attempt owns the import; this one wrote nothing more.
    Replaced,
    /// Back in the queue, to resume from its checkpoint: the instance is stopping,
    /// the database was away, or a failure was counted.
    Requeued,
    /// Neither its end nor a hand-back could be recorded: it stays `processing`
    /// until `IMPORT_STALE_AFTER` lets a new start replace it.
    Unrecorded,
}

/// Why a run stopped before the end of the file.
#[derive(Debug, thiserror::Error)]
pub(super) enum RunError {
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The stored upload is gone or no longer matches what was received.
    #[error("{0}")]
    Unfinishable(String),
}

impl From<SpillError> for RunError {
    fn from(error: SpillError) -> Self {
        match error {
            SpillError::Store(error) => RunError::Store(error),
            SpillError::Disk(error) => RunError::Unfinishable(format!("The upload could not be read from disk: {error}")),
        }
    }
}
