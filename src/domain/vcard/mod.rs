//! vCards: reading them (`read`: bytes to cards of properties, in bounded
//! memory), making contacts of them (`card`), and writing contacts as them
//! (`write`).

pub mod card;
pub mod read;
pub mod write;

pub use read::{looks_like_vcard, VCardReader};

#[cfg(test)]
pub(crate) mod tests;
