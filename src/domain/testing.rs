//! Files read the way an import reads them, for the domain's tests: sniffed,
//! split into records a few bytes at a time, mapped as the preview would, and
//! built into contacts.

use super::contact::Contact;
use super::dates::DayOrder;
use super::draft::{DraftRules, RowOutcome};
use super::format::{FileFormat, RawRecord};
use super::mapping::Mapping;
use super::preview;
use super::records::TextRecordReader;
use super::row::RowBuilder;
use super::sniff::sniff;
use super::vcard::card::Census;

pub const RULES: DraftRules = DraftRules { default_code: None, max_values: 50, day_order: DayOrder::DayFirst };

/// Every record of a whole text file, fed `chunk` bytes at a time.
pub fn records(bytes: &[u8], chunk: usize) -> (super::format::Sniffed, Vec<RawRecord>) {
    let mut sniffed = sniff(&bytes[..bytes.len().min(super::sniff::SNIFF_BYTES)], bytes.len() <= super::sniff::SNIFF_BYTES).expect("a readable file");
    let mut reader = TextRecordReader::new(&sniffed);
    let mut out = Vec::new();
    for piece in bytes.chunks(chunk.max(1)) {
        reader.feed(piece, false, &mut out);
    }
    reader.feed(&[], true, &mut out);
    if matches!(sniffed.format, FileFormat::VCard { .. }) {
        let mut census = Census::default();
        out.iter().filter(|r| r.problem.is_none()).for_each(|r| census.add(r));
        super::sniff::show_census(&mut sniffed, census);
    }
    let first = sniffed.first_data_record();
    out.retain(|r| r.index >= first);
    (sniffed, out)
}

/// A file's rows as an import with the preview's own mapping builds them.
pub fn outcomes(bytes: &[u8]) -> Vec<RowOutcome> {
    outcomes_mapped(bytes, |_| {})
}

/// A file's rows, built with the preview's mapping as `change` leaves it.
pub fn outcomes_mapped(bytes: &[u8], change: impl FnOnce(&mut Mapping)) -> Vec<RowOutcome> {
    let (sniffed, records) = records(bytes, 7);
    let (_, mut mapping) = preview::detect(&sniffed);
    change(&mut mapping);
    let builder = RowBuilder::new(&sniffed, &mapping, RULES.clone());
    records.iter().map(|r| builder.build(r)).collect()
}

/// The contacts of a file, each with its warnings; panics on a rejected row.
pub fn contacts(bytes: &[u8]) -> Vec<(Contact, Vec<String>)> {
    outcomes(bytes)
        .into_iter()
        .filter(|o| *o != RowOutcome::Blank)
        .map(|outcome| match outcome {
            RowOutcome::Contact { row, warnings } => (row.contact, warnings),
            other => panic!("not a contact: {other:?}"),
        })
        .collect()
}

/// The one contact a file holds.
pub fn only(bytes: &[u8]) -> Contact {
    let mut all = contacts(bytes);
    assert_eq!(all.len(), 1, "{all:?}");
    let (contact, warnings) = all.remove(0);
    assert!(warnings.is_empty(), "{warnings:?}");
    contact
}
