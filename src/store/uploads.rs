//! Uploads, kept as chunks so that every instance can read any of them, and
//! each person's quota of stored upload bytes.

use super::error::StoreResult;
use crate::domain::format::Sniffed;
use async_trait::async_trait;
use chrono::{DateTime, Utc};

#[derive(Debug, Clone)]
pub struct UploadMeta {
    pub file_name: String,
    pub byte_size: u64,
    pub sniffed: Sniffed,
    /// Records after the header row.
    pub data_rows: u64,
}

/// One stored piece of an upload.
#[derive(Debug, Clone, Copy)]
pub struct UploadChunk<'a> {
    pub upload_id: &'a str,
    pub user_id: i64,
    pub seq: i64,
    pub data: &'a [u8],
    /// The upload's bytes once this chunk is stored.
    pub stored_after: u64,
}

/// What became of an upload chunk, or a reservation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChunkOutcome {
    Stored,
    /// Its bytes would take the user past their quota; nothing was stored.
    QuotaReached,
    /// The upload was deleted meanwhile (its import was cancelled).
    UploadGone,
}

#[async_trait]
pub trait UploadStore: Send + Sync {
    async fn create_upload(&self, upload_id: &str, user_id: i64, file_name: &str, now: DateTime<Utc>) -> StoreResult<()>;
    /// Reserves room for `total` bytes of the upload (its declared size, before
    /// the first chunk) if that fits in the user's `quota` with every other
    /// upload's reservation; a reservation only grows. A person's reservations
    /// take turns (SQLite's one writer; the user's row lock on Postgres), so
    /// parallel uploads share the quota, first come, first served.
    async fn reserve_upload_bytes(&self, upload_id: &str, user_id: i64, total: u64, quota: u64) -> StoreResult<ChunkOutcome>;
    /// Stores a chunk, in the transaction that reserves the bytes stored so far
    /// (`UploadChunk::stored_after`); a chunk of an import's file also stamps
    /// the import's progress.
    async fn append_upload_chunk(&self, chunk: &UploadChunk<'_>, quota: u64) -> StoreResult<ChunkOutcome>;
    /// Records what the upload is; its reservation becomes its size.
    async fn finish_upload(&self, upload_id: &str, meta: &UploadMeta) -> StoreResult<()>;
    async fn delete_upload(&self, upload_id: &str) -> StoreResult<()>;
    /// A finished upload of this user.
    async fn upload_meta(&self, user_id: i64, upload_id: &str) -> StoreResult<Option<UploadMeta>>;
    async fn upload_chunk(&self, upload_id: &str, seq: i64) -> StoreResult<Option<Vec<u8>>>;
    /// Removes uploads that never finished (a crash mid-upload) or were never imported.
    async fn delete_stale_uploads(&self, older_than: DateTime<Utc>) -> StoreResult<u64>;
    /// Removes the uploads of imports that ended, in whatever state.
    async fn delete_uploads_of_ended_imports(&self) -> StoreResult<u64>;
    /// Bytes of upload data the user has stored or reserved, finished or still arriving.
    async fn user_upload_bytes(&self, user_id: i64) -> StoreResult<u64>;
}

/// Grows upload `$2`'s reservation (of user `$3`) to `$1` bytes if all of the
/// user's reservations then stay within `$4`; `greatest` is the backend's two-argument maximum.
pub(crate) fn reserve_upload_bytes_sql(greatest: &str) -> String {
    format!(
        "UPDATE uploads SET received_bytes = {greatest}(received_bytes, $1)
         WHERE id = $2 AND user_id = $3
           AND (SELECT COALESCE(SUM(mine.received_bytes), 0) FROM uploads mine WHERE mine.user_id = $3)
               - received_bytes + {greatest}(received_bytes, $1) <= $4
         RETURNING TRUE"
    )
}

/// A chunk of a receiving import's file (user `$1`, upload `$2`) is its progress.
pub(crate) fn receiving_progress_sql(now: &str) -> String {
    format!("UPDATE imports SET last_progress_at = {now} WHERE user_id = $1 AND upload_id = $2 AND receiving AND status = 'queued'")
}

/// `$1` size (its reservation too), `$2` rows, `$3` what sniffing found, `$4` the upload.
pub(crate) fn finish_upload_sql(json_param: fn(&str) -> String) -> String {
    format!(
        "UPDATE uploads SET byte_size = $1, received_bytes = $1, data_rows = $2, sniffed = {} WHERE id = $4",
        json_param("$3")
    )
}

pub(crate) fn upload_meta_sql(json_column: fn(&str) -> String) -> String {
    format!(
        "SELECT file_name, byte_size, data_rows, {} FROM uploads WHERE id = $1 AND user_id = $2 AND byte_size IS NOT NULL",
        json_column("sniffed")
    )
}

pub(crate) const DELETE_STALE_UPLOADS: &str = "DELETE FROM uploads WHERE created_at < $1
     AND NOT EXISTS (SELECT 1 FROM imports i WHERE i.upload_id = uploads.id AND i.status IN ('queued', 'processing'))";
pub(crate) const DELETE_UPLOADS_OF_ENDED_IMPORTS: &str = "DELETE FROM uploads WHERE id IN
     (SELECT upload_id FROM imports WHERE status NOT IN ('queued', 'processing'))";
pub(crate) const USER_UPLOAD_BYTES: &str =
    "SELECT CAST(COALESCE(SUM(received_bytes), 0) AS BIGINT) FROM uploads WHERE user_id = $1";

/// `UploadStore` for a backend (`$store`, which implements `Dialect` and
/// `Connections`), written once; the names it uses are imported inside it.
macro_rules! impl_uploads {
    ($store:ty) => {
        const _: () = {
            use $crate::store::dialect::{Connections, Dialect};
            use $crate::store::error::StoreResult;
            use $crate::store::uploads::*;
            use async_trait::async_trait;
            use chrono::{DateTime, Utc};

            /// The reservation of `UploadStore::reserve_upload_bytes`, in the caller's transaction.
            async fn reserve_in(
                tx: &mut sqlx::Transaction<'static, <$store as Dialect>::Database>,
                upload_id: &str,
                user_id: i64,
                total: u64,
                quota: u64,
            ) -> StoreResult<ChunkOutcome> {
                if let Some(lock) = <$store as Dialect>::USER_ROW_LOCK {
                    sqlx::query(lock).bind(user_id).execute(&mut **tx).await?;
                }
                let clamp = |bytes: u64| i64::try_from(bytes).unwrap_or(i64::MAX);
                let reserved: Option<bool> = sqlx::query_scalar(&reserve_upload_bytes_sql(<$store as Dialect>::GREATEST))
                    .bind(clamp(total))
                    .bind(upload_id)
                    .bind(user_id)
                    .bind(clamp(quota))
                    .fetch_optional(&mut **tx)
                    .await?;
                if reserved.is_some() {
                    return Ok(ChunkOutcome::Stored);
                }
                let exists: bool =
                    sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM uploads WHERE id = $1)").bind(upload_id).fetch_one(&mut **tx).await?;
                Ok(if exists { ChunkOutcome::QuotaReached } else { ChunkOutcome::UploadGone })
            }

            #[async_trait]
            impl UploadStore for $store {
                async fn create_upload(&self, upload_id: &str, user_id: i64, file_name: &str, now: DateTime<Utc>) -> StoreResult<()> {
                    sqlx::query("INSERT INTO uploads (id, user_id, file_name, created_at) VALUES ($1, $2, $3, $4)")
                        .bind(upload_id)
                        .bind(user_id)
                        .bind(file_name)
                        .bind(Self::stamp(now))
                        .execute(self.writes())
                        .await?;
                    Ok(())
                }

                async fn reserve_upload_bytes(&self, upload_id: &str, user_id: i64, total: u64, quota: u64) -> StoreResult<ChunkOutcome> {
                    let mut tx = self.begin_write().await?;
                    let outcome = reserve_in(&mut tx, upload_id, user_id, total, quota).await?;
                    tx.commit().await?;
                    Ok(outcome)
                }

                async fn append_upload_chunk(&self, chunk: &UploadChunk<'_>, quota: u64) -> StoreResult<ChunkOutcome> {
                    let mut tx = self.begin_write().await?;
                    let outcome = reserve_in(&mut tx, chunk.upload_id, chunk.user_id, chunk.stored_after, quota).await?;
                    if outcome != ChunkOutcome::Stored {
                        tx.rollback().await?;
                        return Ok(outcome);
                    }
                    sqlx::query("INSERT INTO upload_chunks (upload_id, seq, data) VALUES ($1, $2, $3)")
                        .bind(chunk.upload_id)
                        .bind(chunk.seq)
                        .bind(chunk.data)
                        .execute(&mut *tx)
                        .await?;
                    sqlx::query(&receiving_progress_sql(Self::NOW)).bind(chunk.user_id).bind(chunk.upload_id).execute(&mut *tx).await?;
                    tx.commit().await?;
                    self.wrote();
                    Ok(ChunkOutcome::Stored)
                }

                async fn finish_upload(&self, upload_id: &str, meta: &UploadMeta) -> StoreResult<()> {
                    sqlx::query(&finish_upload_sql(Self::json_param))
                        .bind(meta.byte_size as i64)
                        .bind(meta.data_rows as i64)
                        .bind(serde_json::to_string(&meta.sniffed)?)
                        .bind(upload_id)
                        .execute(self.writes())
                        .await?;
                    Ok(())
                }

                async fn delete_upload(&self, upload_id: &str) -> StoreResult<()> {
                    sqlx::query("DELETE FROM uploads WHERE id = $1").bind(upload_id).execute(self.writes()).await?;
                    Ok(())
                }

                async fn upload_meta(&self, user_id: i64, upload_id: &str) -> StoreResult<Option<UploadMeta>> {
                    let row: Option<(String, i64, i64, String)> = sqlx::query_as(&upload_meta_sql(Self::json_column))
                        .bind(upload_id)
                        .bind(user_id)
                        .fetch_optional(self.reads())
                        .await?;
                    row.map(|(file_name, size, data_rows, sniffed)| {
                        Ok(UploadMeta { file_name, byte_size: size as u64, sniffed: serde_json::from_str(&sniffed)?, data_rows: data_rows as u64 })
                    })
                    .transpose()
                }

                async fn upload_chunk(&self, upload_id: &str, seq: i64) -> StoreResult<Option<Vec<u8>>> {
                    Ok(sqlx::query_scalar("SELECT data FROM upload_chunks WHERE upload_id = $1 AND seq = $2")
                        .bind(upload_id)
                        .bind(seq)
                        .fetch_optional(self.reads())
                        .await?)
                }

                async fn delete_stale_uploads(&self, older_than: DateTime<Utc>) -> StoreResult<u64> {
                    let done = sqlx::query(DELETE_STALE_UPLOADS).bind(Self::stamp(older_than)).execute(self.writes()).await?;
                    Ok(done.rows_affected())
                }

                async fn delete_uploads_of_ended_imports(&self) -> StoreResult<u64> {
                    Ok(sqlx::query(DELETE_UPLOADS_OF_ENDED_IMPORTS).execute(self.writes()).await?.rows_affected())
                }

                async fn user_upload_bytes(&self, user_id: i64) -> StoreResult<u64> {
                    let bytes: i64 = sqlx::query_scalar(USER_UPLOAD_BYTES).bind(user_id).fetch_one(self.reads()).await?;
                    Ok(bytes as u64)
                }
            }
        };
    };
}
pub(crate) use impl_uploads;
