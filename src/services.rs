//! What every entry point (pages, REST, workers, the CLI) works with.

use crate::clock::Clock;
use crate::config::Config;
use crate::password_gate::PasswordGate;
use crate::store::Store;
use std::sync::Arc;
use tokio::sync::Notify;

#[derive(Clone)]
pub struct Services {
    pub store: Arc<dyn Store>,
    pub clock: Arc<dyn Clock>,
    pub config: Arc<Config>,
    /// Wakes this instance's workers when an import is queued here.
    pub work_queued: Arc<Notify>,
    /// Bounds the argon2 computations this instance runs at once.
    pub password_gate: PasswordGate,
    /// What the request guard read from upload bodies.
    pub body_counters: Arc<crate::request_body::BodyCounters>,
    /// Each person's uploads in progress on this instance.
    pub upload_slots: crate::upload_gates::UploadSlots,
    /// This instance's places for reading workbooks from disk.
    pub workbook_reads: crate::upload_gates::WorkbookReads,
}

impl Services {
    pub fn new(store: Arc<dyn Store>, clock: Arc<dyn Clock>, config: Config) -> Self {
        let password_gate = PasswordGate::new(config.password_hash_concurrency, config.password_hash_queue);
        let workbook_reads = crate::upload_gates::WorkbookReads::new(config.import_max_workbook_reads);
        Self {
            store,
            clock,
            config: Arc::new(config),
            work_queued: Arc::new(Notify::new()),
            password_gate,
            body_counters: Arc::default(),
            upload_slots: Default::default(),
            workbook_reads,
        }
    }

    pub fn now(&self) -> chrono::DateTime<chrono::Utc> {
        self.clock.now()
    }

    /// The cutoffs a session must be within at `now`: idle time and absolute age.
    pub fn session_cutoffs(&self, now: chrono::DateTime<chrono::Utc>) -> crate::store::SessionCutoffs {
        crate::store::SessionCutoffs {
            last_seen_after: now - chrono_duration(self.config.session_idle),
            created_after: now - chrono_duration(self.config.session_max_age),
        }
    }

    /// The origin browsers use, for the same-origin check on cookie sessions:
    /// the configured one, else the one the request's `Host` names.
    pub fn public_origin(&self, host: Option<&str>) -> Option<String> {
        if let Some(origin) = &self.config.public_origin {
            return Some(origin.trim_end_matches('/').to_owned());
        }
        let scheme = if self.config.cookie_secure { "https" } else { "http" };
        host.map(|host| format!("{scheme}://{host}"))
    }
}

/// A std duration as chrono's, saturating instead of failing on absurd settings.
pub fn chrono_duration(duration: std::time::Duration) -> chrono::Duration {
    chrono::Duration::from_std(duration).unwrap_or(chrono::Duration::MAX)
}
