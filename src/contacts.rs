//! The contact use cases behind pages and REST: search the contacts, read
//! one, export them as vCards or as Google's CSV, and edit and delete them.
//! An edit or a single deletion is one transaction that holds the person's
//! import slot while it runs: it is refused with `AlreadyRunning` while an
//! import or an undo holds it. A deletion of many is a job, like an undo.

use crate::domain::contact::Contact;
use crate::domain::edit::{checked_edit, identities_after_edit, shown_identity, ContactForm, EditLimits};
use crate::domain::google_csv::GoogleLayout;
use crate::domain::history::{Action, ContactRecord, JobParams, NewEntry, OpKind};
use crate::domain::merge::{merge, MergeRules};
use crate::domain::plan::{ContactText, StoredContact};
use crate::domain::vcard::write::{write_card, Version};
use crate::error::{Confirming, ImportError};
use crate::model::{ContactDetail, ContactsPage, DeleteRequest, JobKind, StartedImport, CONTACTS_PER_PAGE};
use crate::services::Services;
use crate::store::{ContactWrites, NewImport, Op, Store, StoreError};
use std::sync::Arc;
use tracing::{error, info};

/// The longest search text accepted.
pub const MAX_SEARCH_CHARS: usize = 200;

/// Search text as both backends can match it: bounded, and without control
/// characters (Postgres cannot hold NUL; SQLite must answer the same).
pub fn checked_search(query: &str) -> Result<&str, ImportError> {
    if query.chars().count() > MAX_SEARCH_CHARS {
        return Err(ImportError::InvalidSearch {
            reason: format!("Search text is limited to {MAX_SEARCH_CHARS} characters."),
        });
    }
    if query.chars().any(char::is_control) {
        return Err(ImportError::InvalidSearch { reason: "Search text may not contain control characters.".to_owned() });
    }
    Ok(query)
}

/// A page of the user's contacts that match `query`; `page` counts from 1 (0 is taken as 1).
pub async fn search(services: &Services, user_id: i64, query: &str, page: u32) -> Result<ContactsPage, ImportError> {
    let query = checked_search(query)?;
    Ok(services.store.contacts(user_id, query, page.max(1), CONTACTS_PER_PAGE).await?)
}

/// One whole contact of the user's.
pub async fn contact(services: &Services, user_id: i64, id: i64) -> Result<ContactDetail, ImportError> {
    services.store.contact(user_id, id).await?.ok_or(ImportError::NotFound)
}

/// The largest contact document an edit may store, photo aside.
pub const EDIT_MAX_CARD_BYTES: usize = 256 * 1024;
/// Ids one deletion request may name; "all" or a search deletes more.
pub const MAX_DELETE_IDS: usize = 10_000;
/// Rounds of merging an edit may need: each merged contact may bring another's identity.
const MERGE_ROUNDS: usize = 8;

/// What an edit does to the stored contact.
pub enum Edit {
    /// Every field and label replaced (the API); the photo stays.
    Whole(Contact),
    /// The contact page's fields changed; the rest stays.
    Form(ContactForm),
}

/// Edits contact `id`, applied to the contact as stored inside the edit's
/// transaction, so nothing written since the page was read is lost. An edit
/// that gives it another contact's identity is refused with `IdentityTaken`,
/// or with `merge` merges that contact into it. Journaled.
pub async fn edit_contact(services: &Services, user_id: i64, id: i64, edit: Edit, merge_others: bool) -> Result<ContactDetail, ImportError> {
    let limits = EditLimits { max_values: services.config.import_max_values_per_contact as usize, max_card_bytes: EDIT_MAX_CARD_BYTES };
    if let Edit::Whole(whole) = &edit {
        // Refused before the slot is taken when it cannot be stored anyway.
        checked_edit(whole.clone(), &limits).map_err(|reason| ImportError::InvalidContact { reason })?;
    }
    let mut tx = holding_slot(services, user_id).await?;
    let stored = owned_contact(&mut *tx, user_id, id).await?;
    let before = stored.record.clone().ok_or(ImportError::Internal)?;
    let edited = match edit {
        Edit::Whole(whole) => whole,
        Edit::Form(form) => form.apply(stored.contact.clone()),
    };
    let mut edited = checked_edit(edited, &limits).map_err(|reason| ImportError::InvalidContact { reason })?;
    edited.photo = stored.contact.photo.clone();
    let mut identities = identities_after_edit(&edited, &stored.identities);
    let mut absorbed: Vec<StoredContact> = Vec::new();
    let rules = MergeRules { source: "a merged contact", max_values: limits.max_values };
    for _ in 0..MERGE_ROUNDS {
        let wanted: Vec<&_> = identities.iter().collect();
        let mut owners: Vec<i64> = tx.identity_owners(user_id, &wanted).await?;
        owners.retain(|owner| *owner != id && !absorbed.iter().any(|a| a.id == *owner));
        owners.sort_unstable();
        owners.dedup();
        if owners.is_empty() {
            break;
        }
        let others = tx.stored_contacts(user_id, &owners).await?;
        if !merge_others {
            let other = others.first().ok_or(ImportError::Internal)?;
            let shared = identities.iter().find(|i| other.identities.contains(i)).map(shown_identity).unwrap_or_default();
            return Err(ImportError::IdentityTaken { contact_id: other.id, name: other.contact.display_name.clone(), identity: shared });
        }
        for other in others {
            merge(&mut edited, &other.contact, &rules);
            identities.extend(other.identities.iter().cloned());
            absorbed.push(other);
        }
        identities.sort();
        identities.dedup();
    }
    let text = ContactText::of(&edited, &identities);
    let after = ContactRecord {
        id,
        name: edited.display_name.clone(),
        card: text.card,
        photo: text.photo,
        identities: text.identities,
        created_at: before.created_at,
    };
    if after == before && absorbed.is_empty() {
        return contact(services, user_id, id).await;
    }
    let now = services.now();
    let op = Op { id: uuid::Uuid::new_v4().to_string(), kind: OpKind::Edit, label: format!("Edit of {}", before.name) };
    tx.open_op(user_id, &op, now).await?;
    // The merged-away first: undone newest first, the survivor lets go of
    // their identities before they come back.
    let mut changes: Vec<NewEntry> = absorbed
        .iter()
        .filter_map(|other| other.record.clone())
        .map(|record| NewEntry { contact_id: record.id, action: Action::Deleted, before: Some(record) })
        .collect();
    let gone: Vec<i64> = absorbed.iter().map(|other| other.id).collect();
    tx.remove(user_id, &gone).await?;
    tx.put_back(user_id, &[after], now).await?;
    changes.push(NewEntry { contact_id: id, action: Action::Updated, before: Some(before) });
    tx.journal(user_id, &changes, now).await?;
    tx.commit().await?;
    info!(user_id, contact_id = id, merged = gone.len(), "contact edited");
    contact(services, user_id, id).await
}

/// The contact page's form of contact `id`.
pub async fn contact_form(services: &Services, user_id: i64, id: i64) -> Result<ContactForm, ImportError> {
    Ok(ContactForm::of(&contact(services, user_id, id).await?.contact))
}

/// Deletes one contact with its identities. Journaled: the operation's id, to undo it.
pub async fn delete_contact(services: &Services, user_id: i64, id: i64) -> Result<String, ImportError> {
    let mut tx = holding_slot(services, user_id).await?;
    let stored = owned_contact(&mut *tx, user_id, id).await?;
    let before = stored.record.ok_or(ImportError::Internal)?;
    let now = services.now();
    let op = Op { id: uuid::Uuid::new_v4().to_string(), kind: OpKind::Delete, label: format!("Deletion of {}", before.name) };
    tx.open_op(user_id, &op, now).await?;
    tx.remove(user_id, &[id]).await?;
    tx.journal(user_id, &[NewEntry { contact_id: id, action: Action::Deleted, before: Some(before) }], now).await?;
    tx.commit().await?;
    info!(user_id, contact_id = id, "contact deleted");
    Ok(op.id)
}

/// Queues the deletion of many contacts as a job. A search (or "all") needs
/// `confirm` to be the number of contacts it finds; listed ids do not.
pub async fn delete_contacts(services: &Services, user_id: i64, request: DeleteRequest, confirm: Option<u64>) -> Result<StartedImport, ImportError> {
    let query = checked_search(&request.query)?.to_owned();
    let until = services.store.newest_contact(user_id).await?;
    let (ids, count) = match request.ids {
        Some(mut ids) => {
            if ids.len() > MAX_DELETE_IDS {
                return Err(ImportError::InvalidRequest { message: format!("At most {MAX_DELETE_IDS} ids at once; delete by search for more.") });
            }
            ids.sort_unstable();
            ids.dedup();
            let count = ids.len() as u64;
            // Another person's contact answers as one that never was.
            if services.store.count_owned(user_id, &ids).await? != count {
                return Err(ImportError::NotFound);
            }
            (Some(ids), count)
        }
        None => {
            let count = services.store.contacts(user_id, &query, 1, 1).await?.total;
            if confirm != Some(count) {
                if let Some(refusal) = crate::history::running_refusal(services, user_id).await? {
                    return Err(refusal);
                }
                return Err(ImportError::ConfirmationNeeded { confirm: count, covers: Default::default(), what: Confirming::Deletion });
            }
            (None, count)
        }
    };
    if count == 0 {
        return Err(ImportError::NotFound);
    }
    let mut new = NewImport {
        id: uuid::Uuid::new_v4().to_string(),
        user_id,
        file_name: if count == 1 { "Deletion of 1 contact".to_owned() } else { format!("Deletion of {count} contacts") },
        rows_total: count,
        kind: JobKind::Delete,
        params: Some(JobParams::Delete { ids, query, until }),
        ..NewImport::default()
    };
    crate::imports::claim_slot(services, &new).await?;
    new.rows_total = count;
    if !services.store.finish_receiving(&new).await? {
        return Err(ImportError::AlreadyFinished);
    }
    crate::imports::queued(services, &new)
}

/// A write transaction that holds the person's slot, or the refusal a start would get.
async fn holding_slot(services: &Services, user_id: i64) -> Result<Box<dyn ContactWrites>, ImportError> {
    let mut tx = services.store.begin_contact_writes().await?;
    if tx.hold_slot(user_id, &uuid::Uuid::new_v4().to_string()).await? {
        return Ok(tx);
    }
    drop(tx);
    let refusal = crate::history::running_refusal(services, user_id).await?;
    Err(refusal.unwrap_or(ImportError::AlreadyRunning { elapsed_minutes: 0, import_id: String::new() }))
}

/// Contact `id` if it is the user's.
async fn owned_contact(tx: &mut dyn ContactWrites, user_id: i64, id: i64) -> Result<StoredContact, ImportError> {
    if tx.records(user_id, &[id]).await?.is_empty() {
        return Err(ImportError::NotFound);
    }
    tx.stored_contacts(user_id, &[id]).await?.pop().ok_or(ImportError::NotFound)
}

/// What an export writes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExportFormat {
    VCard(Version),
    GoogleCsv,
}

/// Contacts read per page of an export: memory stays flat however many there are.
const EXPORT_PAGE: u32 = 500;

/// The user's contacts that match `query`, in the order they were made, as
/// text made a page at a time while it is sent. Google's CSV needs its header
/// first, which depends on every contact: the contacts are read twice, and the
/// second reading stops at the last contact the first one saw. A contact that
/// gained values between the two readings ends the export with an error
/// rather than lose them.
pub async fn export(
    services: &Services,
    user_id: i64,
    query: &str,
    format: ExportFormat,
) -> Result<impl futures::Stream<Item = Result<String, StoreError>> + Send + 'static, ImportError> {
    let query = checked_search(query)?.to_owned();
    let store = services.store.clone();
    let state = Export { store, user_id, query, format, after: 0, last: None, layout: None };
    Ok(futures::stream::try_unfold(state, |mut state| async move {
        let text = state.next_text().await.inspect_err(|error| error!(%error, user_id = state.user_id, "export stopped"))?;
        Ok(text.map(|text| (text, state)))
    }))
}

struct Export {
    store: Arc<dyn Store>,
    user_id: i64,
    query: String,
    format: ExportFormat,
    /// The last contact written.
    after: i64,
    /// For Google's CSV: the last contact measured, once all were.
    last: Option<i64>,
    layout: Option<GoogleLayout>,
}

impl Export {
    /// The next piece of the file, `None` at its end.
    async fn next_text(&mut self) -> Result<Option<String>, StoreError> {
        if self.format == ExportFormat::GoogleCsv && self.layout.is_none() {
            let (layout, last) = self.measure().await?;
            self.last = Some(last);
            let header = layout.header();
            self.layout = Some(layout);
            return Ok(Some(header));
        }
        let page = self.store.contacts_after(self.user_id, &self.query, self.after, EXPORT_PAGE).await?;
        let page: Vec<_> = page.into_iter().filter(|(id, _)| self.last.is_none_or(|last| *id <= last)).collect();
        let Some((last, _)) = page.last() else { return Ok(None) };
        self.after = *last;
        let mut text = String::new();
        for (_, contact) in &page {
            match (self.format, &self.layout) {
                (ExportFormat::VCard(version), _) => write_card(contact, version, &mut text),
                (ExportFormat::GoogleCsv, Some(layout)) if layout.fits(contact) => text.push_str(&layout.row(contact)),
                (ExportFormat::GoogleCsv, _) => {
                    return Err(StoreError::Corrupt("a contact gained values while it was exported; export again".to_owned()))
                }
            }
        }
        Ok(Some(text))
    }

    /// Every matching contact measured for the CSV's header, and the last one's id.
    async fn measure(&self) -> Result<(GoogleLayout, i64), StoreError> {
        let (mut layout, mut after) = (GoogleLayout::default(), 0);
        loop {
            let page = self.store.contacts_after(self.user_id, &self.query, after, EXPORT_PAGE).await?;
            let Some((last, _)) = page.last() else { return Ok((layout, after)) };
            after = *last;
            page.iter().for_each(|(_, contact)| layout.measure(contact));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn search_text_is_bounded_and_printable() {
        assert_eq!(checked_search("Ada Lovelace"), Ok("Ada Lovelace"));
        assert!(matches!(checked_search("a\0b"), Err(ImportError::InvalidSearch { .. })));
        assert!(matches!(checked_search(&"x".repeat(MAX_SEARCH_CHARS + 1)), Err(ImportError::InvalidSearch { .. })));
    }
}
