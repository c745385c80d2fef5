pub mod contact;
pub mod format;
pub mod guard;
pub mod identity;
pub mod mapping;
pub mod records;
pub mod report;
pub mod sniff;
pub mod vcard;
#[cfg(feature = "ssr")]
pub mod workbook;

#[cfg(test)]
mod properties;
