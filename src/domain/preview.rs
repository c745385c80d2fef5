//! What the preview says of a file before it is imported: where each column
//! (or, for vCards, each property kind) goes, with two of its values and, for
//! vCards, how many cards hold it; and the summary above it.

use super::format::{FileFormat, Sniffed};
use super::mapping::{Field, Mapping, Target};
use super::presets::{self, Preset};
use super::vcard::card;
use serde::{Deserialize, Serialize};

/// One column of the preview.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct ColumnPreview {
    pub header: String,
    /// Up to two values from the file's first rows.
    pub samples: Vec<String>,
    /// For a vCard property kind, the cards that hold it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cards: Option<u64>,
    /// `Target::key` of where it goes.
    pub target: String,
    /// Where it goes, in words.
    pub goes_to: String,
    /// The targets only this column may choose, as `(key, words)`: its
    /// detected place when no plain field is, a vCard property's own place.
    /// Every column may also choose `shared_choices`.
    pub choices: Vec<(String, String)>,
}

/// What every column may choose, as `(key, words)`: a custom field, nowhere,
/// and for a table any field.
pub fn shared_choices(is_vcard: bool) -> Vec<(String, String)> {
    let mut choices = vec![(Target::Custom.key(), Target::Custom.describe()), (Target::Ignore.key(), Target::Ignore.describe())];
    if !is_vcard {
        choices.extend(Field::ALL.iter().map(|f| (Target::field(*f).key(), f.label().to_owned())));
    }
    choices
}

/// "14 columns will be imported, 3 kept as custom fields, 0 ignored."
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq)]
pub struct MappingSummary {
    pub imported: usize,
    pub custom: usize,
    pub ignored: usize,
    /// "columns", or "properties" for a vCard.
    pub of: String,
}

impl MappingSummary {
    pub fn of(mapping: &Mapping, is_vcard: bool) -> Self {
        let count = |wanted: fn(&Target) -> bool| mapping.columns.iter().filter(|t| wanted(t)).count();
        Self {
            imported: count(|t| matches!(t, Target::Field { .. } | Target::Label { .. })),
            custom: count(|t| *t == Target::Custom),
            ignored: count(|t| *t == Target::Ignore),
            of: if is_vcard { "properties" } else { "columns" }.to_owned(),
        }
    }

    pub fn sentence(&self) -> String {
        format!(
            "{} {} will be imported, {} kept as custom fields, {} ignored.",
            self.imported, self.of, self.custom, self.ignored
        )
    }
}

/// The preset a file comes from and where each of its columns goes.
pub fn detect(sniffed: &Sniffed) -> (Preset, Mapping) {
    match sniffed.format {
        FileFormat::VCard { .. } => {
            let columns = sniffed.headers.iter().map(|kind| card::default_target(kind)).collect();
            (Preset::VCard, Mapping { columns, ..Mapping::default() })
        }
        _ => presets::detect_columns(&sniffed.headers),
    }
}

/// The preview's list: one entry per column, with where it goes.
pub fn columns(sniffed: &Sniffed, mapping: &Mapping) -> Vec<ColumnPreview> {
    let is_vcard = matches!(sniffed.format, FileFormat::VCard { .. });
    sniffed
        .headers
        .iter()
        .enumerate()
        .map(|(at, header)| {
            let target = mapping.columns.get(at).cloned().unwrap_or_default();
            let samples: Vec<String> = sniffed
                .sample_rows
                .iter()
                .filter_map(|row| row.get(at))
                .map(|v| v.trim())
                .filter(|v| !v.is_empty())
                .take(2)
                .map(|v| v.chars().take(60).collect())
                .collect();
            let (goes_to, choices) = if is_vcard { vcard_choices(header, &target) } else { table_choices(&target) };
            ColumnPreview {
                header: header.clone(),
                samples,
                cards: is_vcard.then(|| sniffed.header_counts.get(at).copied().unwrap_or(0)),
                target: target.key(),
                goes_to,
                choices,
            }
        })
        .collect()
}

/// A table's column may go to its detected place, besides the shared choices.
fn table_choices(target: &Target) -> (String, Vec<(String, String)>) {
    let mut choices = Vec::new();
    if !matches!(target, Target::Custom | Target::Ignore) && !Field::ALL.iter().any(|f| Target::field(*f) == *target) {
        choices.push((target.key(), target.describe()));
    }
    (target.describe(), choices)
}

/// A vCard property goes where it says, into a custom field, or nowhere.
fn vcard_choices(kind: &str, target: &Target) -> (String, Vec<(String, String)>) {
    let natural = card::default_target(kind);
    let words = |t: &Target| match t {
        Target::Ignore if natural == Target::Ignore => card::describe(kind),
        Target::Ignore => Target::Ignore.describe(),
        Target::Custom if matches!(natural, Target::Field { .. }) => Target::Custom.describe(),
        Target::Custom => card::describe(kind).replace("describes the file, not the person", "kept as a custom field"),
        _ => card::describe(kind),
    };
    let mut choices = Vec::new();
    if matches!(natural, Target::Field { .. }) {
        choices.push((natural.key(), card::describe(kind)));
    }
    (words(target), choices)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::format::{Delimiter, TextEncoding};

    fn sniffed(format: FileFormat, headers: &[&str], rows: &[&[&str]]) -> Sniffed {
        Sniffed {
            format,
            encoding: TextEncoding::Utf8,
            delimiter: Delimiter::Comma,
            header_index: 0,
            header_line: 1,
            headers: headers.iter().map(|h| (*h).to_owned()).collect(),
            sample_rows: rows.iter().map(|r| r.iter().map(|v| (*v).to_owned()).collect()).collect(),
            header_counts: Vec::new(),
        }
    }

    #[test]
    fn every_column_says_where_it_goes() {
        let file = sniffed(
            FileFormat::Delimited,
            &["First Name", "Last Name", "E-mail 1 - Label", "E-mail 1 - Value", "Shoe size"],
            &[&["Ana", "Lima", "* Work", "ana@x.io", "39"], &["Bo", "", "", "bo@x.io", ""]],
        );
        let (preset, mut mapping) = detect(&file);
        assert_eq!(preset, Preset::GoogleCurrent);
        let summary = MappingSummary::of(&mapping, false);
        assert_eq!(summary.sentence(), "4 columns will be imported, 1 kept as custom fields, 0 ignored.");
        let columns = columns(&file, &mapping);
        assert_eq!(columns[0].samples, ["Ana", "Bo"]);
        assert_eq!(columns[1].samples, ["Lima"]);
        assert_eq!(columns[2].goes_to, "Label of email 1");
        assert_eq!(columns[4].goes_to, "Custom field");
        assert_eq!(columns[2].choices, [("label:email#1".to_owned(), "Label of email 1".to_owned())], "the detected place stays a choice");
        assert!(columns[0].choices.is_empty(), "a plain field is among the shared choices");
        mapping.columns[4] = Target::Ignore;
        assert_eq!(MappingSummary::of(&mapping, false).sentence(), "4 columns will be imported, 0 kept as custom fields, 1 ignored.");
    }

    #[test]
    fn vcard_kinds_say_how_many_cards_hold_them() {
        let mut file = sniffed(
            FileFormat::VCard { version: "3.0".into() },
            &["FN", "ADR", "X-FAVORITE-COLOR", "PRODID"],
            &[&["Ana", ";;1 Main St;;;;", "blue", "-//Apple Inc.//iOS 5.0.1//EN"]],
        );
        file.header_counts = vec![412, 412, 3, 412];
        let (preset, mapping) = detect(&file);
        assert_eq!(preset, Preset::VCard);
        let columns = columns(&file, &mapping);
        assert_eq!((columns[1].cards, columns[1].goes_to.as_str()), (Some(412), "Addresses"));
        assert_eq!(columns[2].goes_to, "Custom field \"Favorite color\"");
        assert_eq!(columns[3].goes_to, "The program that wrote the file: describes the file, not the person");
        assert_eq!(MappingSummary::of(&mapping, true).sentence(), "2 properties will be imported, 1 kept as custom fields, 1 ignored.");
    }
}
