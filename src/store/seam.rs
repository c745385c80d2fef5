//! The storage seam: everything Intake keeps, as one trait that is the sum of
//! one per concern, with a SQLite and a Postgres implementation.

use super::accounts::AccountStore;
use super::contacts::ContactStore;
use super::dialect::Backend;
use super::error::StoreResult;
use super::journal::HistoryStore;
use super::queue::QueueStore;
use super::uploads::UploadStore;
use async_trait::async_trait;

#[async_trait]
pub trait Store: AccountStore + UploadStore + QueueStore + ContactStore + HistoryStore + Send + Sync + 'static {
    fn backend(&self) -> Backend;
    /// This process's id among the instances that share the database. Its
    /// Postgres sessions are named after it (`application_name` `intake ID`),
    /// so that once its heartbeat lapses the others can end them (`recover_orphans`).
    fn instance_id(&self) -> &str;
    async fn ping(&self) -> StoreResult<()>;
    /// Closes the pools, waiting for connections in use; later calls fail.
    async fn close(&self);
}

/// `Store` for a backend (`$store`, which implements `Dialect` and `Connections`).
macro_rules! impl_seam {
    ($store:ty) => {
        const _: () = {
            use $crate::store::dialect::{Backend, Connections, Dialect};
            use $crate::store::error::StoreResult;
            use $crate::store::seam::Store;
            use async_trait::async_trait;

            #[async_trait]
            impl Store for $store {
                fn backend(&self) -> Backend {
                    <Self as Dialect>::BACKEND
                }

                fn instance_id(&self) -> &str {
                    Connections::instance_id(self)
                }

                async fn ping(&self) -> StoreResult<()> {
                    sqlx::query("SELECT 1").execute(self.reads()).await?;
                    Ok(())
                }

                async fn close(&self) {
                    if let Some(maintenance) = self.maintenance() {
                        maintenance.close().await;
                    }
                    self.leases().close().await;
                    self.writes().close().await;
                    self.reads().close().await;
                }
            }
        };
    };
}
pub(crate) use impl_seam;
