//! Import workers: claim queued imports, process them batch by batch from their
//! checkpoint, and stop as soon as a write shows they were replaced.
//!
//! Each instance also beats a heartbeat and requeues the imports of instances
//! whose heartbeat lapsed, so a crashed instance's work resumes elsewhere.
//!
//! - `instance`: the workers' loop and the heartbeat;
//! - `run`: one run of a claimed import, its supervision and how it ends;
//! - `rows`: where its records come from;
//! - `batches`: the batch pipeline, and `commit`, one batch's transaction;
//! - `planning`: a batch planned against the stored contacts;
//! - `jobs`: undos and deletions of many contacts, run like imports.

mod batches;
mod commit;
mod instance;
mod jobs;
mod outcomes;
mod planning;
mod rows;
mod run;

pub use commit::{commit_batch, Batch, BatchOutcome, CommitRules};
pub use instance::{beat, spawn};
pub use outcomes::RunEnd;
pub use planning::{backfill_identities, prefetch_owners, HeldIdentities, Prefetched};
pub use run::run_import;
