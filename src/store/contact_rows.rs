//! A contact's row, as both backends store and read it: its columns, its
//! identities listed beside them, the text search matches, and the order in
//! which a batch's writes go in.

use super::error::{StoreError, StoreResult};
use super::sql::placeholders;
use crate::domain::contact::{Contact, Photo};
use crate::domain::plan::BatchPlan;
use crate::domain::identity::Identity;

pub(crate) const STORED_CONTACT_COLUMNS: &str = "id, display_name, card, photo, created_at";

/// Binds contact ids. By the primary key alone: with `user_id = …` beside it,
/// Postgres planned some reads through the user's index, which holds every
/// contact of the user, and an import's batches slowed as it grew. The caller
/// checks the owner.
pub(crate) fn contacts_by_id_sql(ids: usize) -> String {
    format!("SELECT user_id, {STORED_CONTACT_COLUMNS}, identities FROM contacts WHERE id IN {}", placeholders(1, 1, ids))
}

/// A stored contact: its document, and its photo beside it; JSON text on both backends.
pub(crate) fn stored_contact<R: sqlx::Row>(row: &R) -> StoreResult<Contact>
where
    for<'c> &'c str: sqlx::ColumnIndex<R>,
    for<'v> String: sqlx::Decode<'v, R::Database> + sqlx::Type<R::Database>,
{
    let mut contact = contact_document(row)?;
    let photo: Option<String> = row.try_get("photo")?;
    contact.photo = photo.map(|photo| serde_json::from_str::<Photo>(&photo)).transpose()?;
    Ok(contact)
}

/// A stored contact without its photo: what the list shows.
pub(crate) fn contact_document<R: sqlx::Row>(row: &R) -> StoreResult<Contact>
where
    for<'c> &'c str: sqlx::ColumnIndex<R>,
    for<'v> String: sqlx::Decode<'v, R::Database> + sqlx::Type<R::Database>,
{
    let card: String = row.try_get("card")?;
    Ok(serde_json::from_str(&card)?)
}

/// The `identities` column read back; `NULL` (a contact from before identities) lists none.
pub(crate) fn listed_identities(listing: Option<&str>) -> StoreResult<Vec<Identity>> {
    listing.map_or(Ok(Vec::new()), |listing| crate::domain::identity::from_listing(listing).map_err(StoreError::Corrupt))
}

/// The identities each record lists, with its id.
pub(crate) fn listed_of(records: &[crate::domain::history::ContactRecord]) -> StoreResult<Vec<(Vec<Identity>, i64)>> {
    records.iter().map(|r| Ok((listed_identities(Some(&r.identities))?, r.id))).collect()
}

/// Deletes absorbed contacts (binds the user id, then their ids); the trigger
/// deletes the identities they list, which the survivor then stores as its own.
pub(crate) fn absorb_sql(absorbed: usize) -> String {
    format!("DELETE FROM contacts WHERE user_id = $1 AND id IN {}", placeholders(2, 1, absorbed))
}

/// A stored contact that changed no field but gained identities lists them (binds the listing, the user id, its id).
pub(crate) const RELIST_IDENTITIES_SQL: &str = "UPDATE contacts SET identities = $1 WHERE user_id = $2 AND id = $3";

/// Every identity the plan stores, with the id of the contact that holds it, in
/// the unique index's order: each insert lands beside the one before, on pages
/// already in the cache, instead of hopping between kinds and names.
pub(crate) fn new_identities<'p>(plan: &'p BatchPlan<'_>, ids: &'p [i64]) -> Vec<(&'p Identity, i64)> {
    let mut identities: Vec<(&Identity, i64)> = plan
        .contacts
        .iter()
        .zip(ids)
        .flat_map(|(planned, id)| planned.new_identities.iter().map(move |identity| (identity, *id)))
        .collect();
    identities.sort_unstable_by(|(a, _), (b, _)| (a.kind.as_str(), &a.value).cmp(&(b.kind.as_str(), &b.value)));
    identities
}

/// Each planned contact's id: its survivor's, or the next of `new_ids` for a new one.
pub(crate) fn planned_ids(plan: &BatchPlan, mut new_ids: impl Iterator<Item = i64>) -> StoreResult<Vec<i64>> {
    plan.contacts
        .iter()
        .map(|planned| {
            planned.id.or_else(|| new_ids.next()).ok_or_else(|| StoreError::Corrupt("too few new contact ids".into()))
        })
        .collect()
}

/// The query case-folded as `search_text` is, with `%`, `_` and `\` escaped so
/// user text is matched literally by `LIKE … ESCAPE '\'`.
pub(crate) fn like_pattern(query: &str) -> String {
    let mut pattern = String::from("%");
    for c in crate::domain::identity::fold(query.trim()).chars() {
        if matches!(c, '%' | '_' | '\\') {
            pattern.push('\\');
        }
        pattern.push(c);
    }
    pattern.push('%');
    pattern
}

/// A contact as the list shows it: preferred emails and phones first.
pub(crate) fn contact_view(id: i64, contact: Contact) -> crate::model::ContactView {
    let (organization, title) = contact.organization();
    let mut emails: Vec<_> = contact.emails.iter().collect();
    emails.sort_by_key(|e| !e.preferred);
    let mut phones: Vec<_> = contact.phones.iter().collect();
    phones.sort_by_key(|p| !p.preferred);
    crate::model::ContactView {
        id,
        name: contact.display_name.clone(),
        emails: emails.into_iter().map(|e| e.value.clone()).collect(),
        phones: phones.into_iter().map(|p| p.value.raw.clone()).collect(),
        organization: organization.to_owned(),
        title: title.to_owned(),
    }
}

/// A contact's folded searchable text contains the `like_pattern` bound as $2.
pub(crate) const CONTACT_MATCHES: &str = "user_id = $1 AND search_text LIKE $2 ESCAPE '\\'";
