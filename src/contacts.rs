//! The contact use cases behind pages and REST: search the contacts.

use crate::error::ImportError;
use crate::model::{ContactsPage, CONTACTS_PER_PAGE};
use crate::services::Services;

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
