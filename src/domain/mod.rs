pub mod contact;
pub mod dates;
pub mod draft;
pub mod edit;
pub mod format;
pub mod google_csv;
pub mod guard;
pub mod history;
pub mod identity;
pub mod labels;
pub mod mapping;
pub mod merge;
pub mod plan;
pub mod presets;
pub mod preview;
pub mod records;
pub mod report;
pub mod row;
pub mod sniff;
pub mod vcard;
#[cfg(feature = "ssr")]
pub mod workbook;

#[cfg(test)]
mod properties;
#[cfg(test)]
pub(crate) mod testing;
