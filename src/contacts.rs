//! The contact use cases behind pages and REST: search the contacts, read
//! one, and export them as vCards or as Google's CSV.

use crate::domain::google_csv::GoogleLayout;
use crate::domain::vcard::write::{write_card, Version};
use crate::error::ImportError;
use crate::model::{ContactDetail, ContactsPage, CONTACTS_PER_PAGE};
use crate::services::Services;
use crate::store::{Store, StoreError};
use std::sync::Arc;
use tracing::error;

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
