//! What every entry point (pages, REST, workers, the CLI) works with.

use crate::clock::Clock;
use crate::config::Config;
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
}

impl Services {
    pub fn new(store: Arc<dyn Store>, clock: Arc<dyn Clock>, config: Config) -> Self {
        Self { store, clock, config: Arc::new(config), work_queued: Arc::new(Notify::new()) }
    }

    pub fn now(&self) -> chrono::DateTime<chrono::Utc> {
        self.clock.now()
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
