//! Contacts as people read them (the search page, a contact's page, the
//! exports), and the transactions that plan and write them (`batch`).

use super::batch::{ContactReads, ContactWrites};
use super::error::StoreResult;
use crate::domain::contact::Contact;
use crate::model::{ContactDetail, ContactsPage};
use async_trait::async_trait;

#[async_trait]
pub trait ContactStore: Send + Sync {
    /// `page` counts from 1.
    async fn contacts(&self, user_id: i64, query: &str, page: u32, per_page: u32) -> StoreResult<ContactsPage>;
    /// One whole contact of the user's, photo included.
    async fn contact(&self, user_id: i64, id: i64) -> StoreResult<Option<ContactDetail>>;
    /// Up to `limit` of the user's contacts matching `query` with ids past
    /// `after`, in id order, photos included: an export reads them a page at a time.
    async fn contacts_after(&self, user_id: i64, query: &str, after: i64, limit: u32) -> StoreResult<Vec<(i64, Contact)>>;
    /// Whether the user has any contact, with identities listed or not: an
    /// import's run keeps `HeldIdentities` only when they have none.
    async fn user_has_contacts(&self, user_id: i64) -> StoreResult<bool>;
    /// How many of `ids` are contacts of the user's.
    async fn count_owned(&self, user_id: i64, ids: &[i64]) -> StoreResult<u64>;
    /// A read transaction on a connection of its own, outside any batch's.
    async fn begin_contact_reads(&self) -> StoreResult<Box<dyn ContactReads>>;
    /// A write transaction for one batch of an import.
    async fn begin_contact_writes(&self) -> StoreResult<Box<dyn ContactWrites>>;
    /// A write transaction for one chunk of the identity backfill; instances
    /// starting together take turns (Postgres).
    async fn begin_backfill(&self) -> StoreResult<Box<dyn ContactWrites>>;
}

/// `ContactStore` for a backend (`$store`, which implements `Dialect` and
/// `Connections`): the search page and its count, written once, around the
/// backend's own transactions (`$own`).
macro_rules! impl_contacts {
    ($store:ty, { $($own:tt)* }) => {
        const _: () = {
            use $crate::model::{ContactDetail, ContactsPage};
            use $crate::domain::contact::Contact;
            use sqlx::Row;
            use $crate::store::batch::{ContactReads, ContactWrites};
            use $crate::store::contact_rows::*;
            use $crate::store::contacts::ContactStore;
            use $crate::store::dialect::{Connections, Dialect};
            use $crate::store::error::StoreResult;
            use async_trait::async_trait;

            #[async_trait]
            impl ContactStore for $store {
                async fn contacts(&self, user_id: i64, query: &str, page: u32, per_page: u32) -> StoreResult<ContactsPage> {
                    let pattern = like_pattern(query);
                    let total: i64 = sqlx::query_scalar(&format!("SELECT COUNT(*) FROM contacts WHERE {CONTACT_MATCHES}"))
                        .bind(user_id)
                        .bind(&pattern)
                        .fetch_one(self.reads())
                        .await?;
                    let rows = sqlx::query(&format!(
                        "SELECT id, card FROM contacts WHERE {CONTACT_MATCHES}
                         ORDER BY {}, id LIMIT $3 OFFSET $4",
                        Self::NAME_ORDER
                    ))
                    .bind(user_id)
                    .bind(&pattern)
                    .bind(i64::from(per_page))
                    .bind(i64::from(page.max(1) - 1) * i64::from(per_page))
                    .fetch_all(self.reads())
                    .await?;
                    let contacts = rows
                        .iter()
                        .map(|r| Ok(contact_view(r.try_get("id")?, contact_document(r)?)))
                        .collect::<StoreResult<_>>()?;
                    Ok(ContactsPage { total: total as u64, page, per_page, contacts })
                }

                async fn contact(&self, user_id: i64, id: i64) -> StoreResult<Option<ContactDetail>> {
                    let row = sqlx::query(&format!(
                        "SELECT {STORED_CONTACT_COLUMNS}, updated_at FROM contacts WHERE user_id = $1 AND id = $2"
                    ))
                    .bind(user_id)
                    .bind(id)
                    .fetch_optional(self.reads())
                    .await?;
                    let Some(row) = row else { return Ok(None) };
                    let mut contact = stored_contact(&row)?;
                    let photo = contact.photo.take().map(|photo| photo.uri());
                    let time = |column: &str| -> StoreResult<chrono::DateTime<chrono::Utc>> {
                        Self::time_column(&row, column)?.ok_or_else(|| $crate::store::error::StoreError::Corrupt(format!("a contact without {column}")))
                    };
                    Ok(Some(ContactDetail { id, contact, photo, created_at: time("created_at")?, updated_at: time("updated_at")? }))
                }

                async fn contacts_after(&self, user_id: i64, query: &str, after: i64, limit: u32) -> StoreResult<Vec<(i64, Contact)>> {
                    let rows = sqlx::query(&format!(
                        "SELECT {STORED_CONTACT_COLUMNS} FROM contacts WHERE {CONTACT_MATCHES} AND id > $3 ORDER BY id LIMIT $4"
                    ))
                    .bind(user_id)
                    .bind(like_pattern(query))
                    .bind(after)
                    .bind(i64::from(limit))
                    .fetch_all(self.reads())
                    .await?;
                    rows.iter().map(|r| Ok((r.try_get("id")?, stored_contact(r)?))).collect()
                }

                async fn user_has_contacts(&self, user_id: i64) -> StoreResult<bool> {
                    Ok(sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM contacts WHERE user_id = $1)")
                        .bind(user_id)
                        .fetch_one(self.reads())
                        .await?)
                }

                async fn count_owned(&self, user_id: i64, ids: &[i64]) -> StoreResult<u64> {
                    let mut owned = 0;
                    for chunk in ids.chunks($crate::store::sql::ROWS_PER_STATEMENT) {
                        let sql = format!(
                            "SELECT COUNT(*) FROM contacts WHERE user_id = $1 AND id IN {}",
                            $crate::store::sql::placeholders(2, 1, chunk.len())
                        );
                        let mut query = sqlx::query_scalar::<_, i64>(&sql).bind(user_id);
                        for id in chunk {
                            query = query.bind(id);
                        }
                        owned += query.fetch_one(self.reads()).await? as u64;
                    }
                    Ok(owned)
                }

                $($own)*
            }
        };
    };
}
pub(crate) use impl_contacts;
