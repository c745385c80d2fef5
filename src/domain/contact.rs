//! Turning mapped records into contacts, validating them, and planning how a
//! batch of rows merges into what is already stored.

use super::mapping::{Field, Mapping};
use super::records::{RawRecord, RecordProblem, MAX_FIELD_BYTES};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

/// Google Contacts packs several values of one kind into a cell with this.
const MULTI_VALUE_SEPARATOR: &str = ":::";

/// Emails, and phones, one contact may hold. A row with more is rejected; a
/// merge keeps the first ones. Keeps deduplication and merging cheap whatever
/// the file holds.
pub const MAX_VALUES_PER_CONTACT: usize = 50;

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, Default)]
pub struct Phone {
    /// As written in the file (trimmed), for display.
    pub raw: String,
    /// Digits and a leading '+', for matching.
    pub normalized: String,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, Default)]
pub struct Contact {
    /// The full name column, else "given family", else the organization.
    pub display_name: String,
    pub given_name: String,
    pub family_name: String,
    /// Normalised, first = primary, no duplicates.
    pub emails: Vec<String>,
    /// No duplicates by `normalized`.
    pub phones: Vec<Phone>,
    pub organization: String,
    pub title: String,
    pub notes: String,
}

#[derive(Clone, Debug, PartialEq)]
pub enum RowOutcome {
    Contact(Contact),
    Blank,
    Rejected { line: u64, reason: String },
}

pub fn build_row(record: &RawRecord, mapping: &Mapping) -> RowOutcome {
    let reject = |reason: String| RowOutcome::Rejected {
        line: record.line,
        reason,
    };
    match record.problem {
        Some(RecordProblem::NulByte { column }) => {
            return reject(format!(
                "Column {} contains a NUL byte, which is not allowed in text.",
                column + 1
            ))
        }
        Some(RecordProblem::FieldTooLong { column }) => {
            return reject(format!(
                "Column {} is longer than {} KB.",
                column + 1,
                MAX_FIELD_BYTES / 1024
            ))
        }
        Some(RecordProblem::TooManyFields) => {
            return reject("The row has too many columns.".to_owned())
        }
        None => {}
    }
    if record.fields.iter().all(|f| f.trim().is_empty()) {
        return RowOutcome::Blank;
    }

    let mut contact = Contact::default();
    let mut full_name = String::new();
    // Lookups for deduplication: linear in the row's values, not quadratic.
    let mut seen_emails = std::collections::HashSet::new();
    let mut seen_phones = std::collections::HashSet::new();
    for (value, field) in record.fields.iter().zip(&mapping.columns) {
        let Some(field) = field else { continue };
        let value = value.trim();
        if value.is_empty() {
            continue;
        }
        match field {
            Field::Email => {
                for part in split_multi(value) {
                    // Outlook writes Exchange contacts' internal address
                    // ("/o=Org/ou=…/cn=…") here; it is not an email address.
                    if part.get(..3).is_some_and(|p| p.eq_ignore_ascii_case("/o=")) {
                        continue;
                    }
                    let email = normalize_email(part);
                    if !is_valid_email(&email) {
                        return reject(format!("\"{part}\" is not a valid email address."));
                    }
                    if seen_emails.insert(email.clone()) {
                        if contact.emails.len() == MAX_VALUES_PER_CONTACT {
                            return reject(format!("The row has more than {MAX_VALUES_PER_CONTACT} email addresses."));
                        }
                        contact.emails.push(email);
                    }
                }
            }
            Field::Phone => {
                for part in split_multi(value) {
                    let normalized = normalize_phone(part);
                    // A value without digits ("n/a", "-") is no phone number.
                    let has_digits = normalized.len() > usize::from(normalized.starts_with('+'));
                    if has_digits && seen_phones.insert(normalized.clone()) {
                        if contact.phones.len() == MAX_VALUES_PER_CONTACT {
                            return reject(format!("The row has more than {MAX_VALUES_PER_CONTACT} phone numbers."));
                        }
                        contact.phones.push(Phone {
                            raw: part.to_owned(),
                            normalized,
                        });
                    }
                }
            }
            Field::FullName => fill(&mut full_name, collapse_whitespace(value)),
            Field::GivenName => fill(&mut contact.given_name, collapse_whitespace(value)),
            Field::FamilyName => fill(&mut contact.family_name, collapse_whitespace(value)),
            Field::Organization => fill(&mut contact.organization, collapse_whitespace(value)),
            Field::Title => fill(&mut contact.title, collapse_whitespace(value)),
            Field::Notes => fill(&mut contact.notes, value.to_owned()),
        }
    }

    let person_name = if full_name.is_empty() {
        format!("{} {}", contact.given_name, contact.family_name)
            .trim()
            .to_owned()
    } else {
        full_name
    };
    if person_name.is_empty() && contact.emails.is_empty() && contact.phones.is_empty() {
        return reject("The row has no name, email address or phone number.".to_owned());
    }
    contact.display_name = if person_name.is_empty() {
        contact.organization.clone()
    } else {
        person_name
    };
    RowOutcome::Contact(contact)
}

fn split_multi(value: &str) -> impl Iterator<Item = &str> {
    value
        .split(MULTI_VALUE_SEPARATOR)
        .map(str::trim)
        .filter(|p| !p.is_empty())
}

/// Several columns may feed one scalar field; the first non-empty value wins.
fn fill(slot: &mut String, value: String) {
    if slot.is_empty() {
        *slot = value;
    }
}

/// Runs of whitespace become one space, in a single allocation: this runs for
/// several fields of every row.
fn collapse_whitespace(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for word in s.split_whitespace() {
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(word);
    }
    out
}

/// Trimmed and lower-cased; a `mailto:` prefix is dropped.
pub fn normalize_email(s: &str) -> String {
    let lower = s.trim().to_lowercase();
    match lower.strip_prefix("mailto:") {
        Some(rest) => rest.trim().to_owned(),
        None => lower,
    }
}

/// A pragmatic check of `local@domain.tld`, not full RFC 5322: it rejects what
/// is clearly not an address (no '@', spaces, missing dot in the domain, a
/// list of several addresses) and accepts internationalised domains.
pub fn is_valid_email(s: &str) -> bool {
    let Some((local, domain)) = s.split_once('@') else {
        return false;
    };
    let bad_char = |c: char| c.is_whitespace() || c.is_control() || "@,;:<>()[]\\\"".contains(c);
    if local.is_empty()
        || local.len() > 64
        || s.len() > 254
        || local.chars().chain(domain.chars()).any(bad_char)
    {
        return false;
    }
    if local.starts_with('.') || local.ends_with('.') || local.contains("..") {
        return false;
    }
    let labels: Vec<&str> = domain.split('.').collect();
    let label_ok = |l: &&str| {
        !l.is_empty()
            && !l.starts_with('-')
            && !l.ends_with('-')
            && l.chars().all(|c| c.is_alphanumeric() || c == '-')
    };
    let tld = labels[labels.len() - 1];
    labels.len() >= 2
        && labels.iter().all(label_ok)
        && tld.chars().count() >= 2
        && !tld.chars().all(|c| c.is_ascii_digit())
}

/// Digits only, with a leading '+' kept when the number starts with one.
pub fn normalize_phone(s: &str) -> String {
    let trimmed = s.trim();
    let mut out = String::new();
    if trimmed.starts_with('+') {
        out.push('+');
    }
    out.extend(trimmed.chars().filter(char::is_ascii_digit));
    out
}

impl Contact {
    /// `email:<primary email>` when there is an email; otherwise
    /// `name_phone:<lower-cased, whitespace-collapsed display name>|<first phone>`.
    pub fn match_key(&self) -> String {
        match self.emails.first() {
            Some(email) => format!("email:{email}"),
            None => format!(
                "name_phone:{}|{}",
                collapse_whitespace(&self.display_name).to_lowercase(),
                self.phones.first().map_or("", |p| p.normalized.as_str())
            ),
        }
    }
}

/// Unions emails and phones (existing first) and fills empty fields from
/// `other`; a non-empty field is never overwritten. True if `into` changed.
pub fn merge(into: &mut Contact, other: &Contact) -> bool {
    let mut changed = false;
    // Both sides hold at most MAX_VALUES_PER_CONTACT of each, so these scans are bounded.
    for email in &other.emails {
        if into.emails.len() < MAX_VALUES_PER_CONTACT && !into.emails.contains(email) {
            into.emails.push(email.clone());
            changed = true;
        }
    }
    for phone in &other.phones {
        if into.phones.len() < MAX_VALUES_PER_CONTACT && !into.phones.iter().any(|p| p.normalized == phone.normalized) {
            into.phones.push(phone.clone());
            changed = true;
        }
    }
    for (slot, value) in [
        (&mut into.display_name, &other.display_name),
        (&mut into.given_name, &other.given_name),
        (&mut into.family_name, &other.family_name),
        (&mut into.organization, &other.organization),
        (&mut into.title, &other.title),
        (&mut into.notes, &other.notes),
    ] {
        if slot.is_empty() && !value.is_empty() {
            value.clone_into(slot);
            changed = true;
        }
    }
    changed
}

#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counts {
    pub created: u64,
    pub updated: u64,
    pub unchanged: u64,
    pub rejected: u64,
    pub skipped: u64,
}

impl Counts {
    /// Accumulates a batch's counts into an import's running total.
    pub fn add(&mut self, other: &Counts) {
        self.created += other.created;
        self.updated += other.updated;
        self.unchanged += other.unchanged;
        self.rejected += other.rejected;
        self.skipped += other.skipped;
    }

    pub fn total(&self) -> u64 {
        self.created + self.updated + self.unchanged + self.rejected + self.skipped
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Change {
    Created,
    Updated,
    Unchanged,
}

pub struct BatchPlan {
    /// One entry per key to write, in first-seen order; never `Unchanged`.
    pub writes: Vec<(String, Contact, Change)>,
    /// Only `created`, `updated` and `unchanged` are set here; the caller
    /// counts rejected and skipped rows.
    pub counts: Counts,
}

/// rows: the batch's valid contacts in file order; existing: the stored
/// contacts whose match_key appears in rows.
///
/// Every row counts once: Created when its key is new to both the store and
/// the batch, otherwise Updated or Unchanged depending on whether merging it
/// changed the contact. Rows sharing a key become a single write.
pub fn plan_batch(rows: Vec<Contact>, mut existing: HashMap<String, Contact>) -> BatchPlan {
    let mut counts = Counts::default();
    let mut order: Vec<String> = Vec::new();
    let mut planned: HashMap<String, (Contact, Change)> = HashMap::new();
    for row in rows {
        let key = row.match_key();
        if let Some((contact, change)) = planned.get_mut(&key) {
            if merge(contact, &row) {
                counts.updated += 1;
                if *change == Change::Unchanged {
                    *change = Change::Updated;
                }
            } else {
                counts.unchanged += 1;
            }
            continue;
        }
        let entry = match existing.remove(&key) {
            Some(mut stored) => {
                let change = if merge(&mut stored, &row) {
                    Change::Updated
                } else {
                    Change::Unchanged
                };
                match change {
                    Change::Updated => counts.updated += 1,
                    _ => counts.unchanged += 1,
                }
                (stored, change)
            }
            None => {
                counts.created += 1;
                (row, Change::Created)
            }
        };
        order.push(key.clone());
        planned.insert(key, entry);
    }
    let writes = order
        .into_iter()
        .filter_map(|key| {
            let (contact, change) = planned.remove(&key)?;
            (change != Change::Unchanged).then_some((key, contact, change))
        })
        .collect();
    BatchPlan { writes, counts }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::mapping::{detect, Preset};
    use crate::domain::records::RecordReader;
    use crate::domain::sniff::sniff;

    fn record(line: u64, fields: &[&str]) -> RawRecord {
        RawRecord {
            index: line - 1,
            line,
            fields: fields.iter().map(|s| s.to_string()).collect(),
            problem: None,
        }
    }

    fn mapping(fields: &[Option<Field>]) -> Mapping {
        Mapping {
            columns: fields.to_vec(),
        }
    }

    /// Name, Email, Phone, Company, Notes
    fn simple() -> Mapping {
        mapping(&[
            Some(Field::FullName),
            Some(Field::Email),
            Some(Field::Phone),
            Some(Field::Organization),
            Some(Field::Notes),
        ])
    }

    fn contact_of(outcome: RowOutcome) -> Contact {
        match outcome {
            RowOutcome::Contact(c) => c,
            other => panic!("expected a contact, got {other:?}"),
        }
    }

    fn rejection(outcome: RowOutcome) -> (u64, String) {
        match outcome {
            RowOutcome::Rejected { line, reason } => (line, reason),
            other => panic!("expected a rejection, got {other:?}"),
        }
    }

    fn person(email: &str, name: &str) -> Contact {
        Contact {
            display_name: name.to_owned(),
            emails: if email.is_empty() {
                vec![]
            } else {
                vec![email.to_owned()]
            },
            ..Contact::default()
        }
    }

    #[test]
    fn builds_a_contact_with_normalised_values() {
        let c = contact_of(build_row(
            &record(
                2,
                &[
                    "  Ana   Lima ",
                    " Ana.Lima@Example.COM ",
                    " +1 (555) 010-0199 ",
                    "Acme",
                    " likes tea ",
                ],
            ),
            &simple(),
        ));
        assert_eq!(c.display_name, "Ana Lima");
        assert_eq!(c.emails, vec!["ana.lima@example.com"]);
        assert_eq!(
            c.phones,
            vec![Phone {
                raw: "+1 (555) 010-0199".into(),
                normalized: "+15550100199".into()
            }]
        );
        assert_eq!(c.organization, "Acme");
        assert_eq!(c.notes, "likes tea");
    }

    #[test]
    fn google_multi_values_are_split_first_is_primary() {
        let m = mapping(&[
            Some(Field::GivenName),
            Some(Field::Email),
            Some(Field::Email),
            Some(Field::Phone),
        ]);
        let c = contact_of(build_row(
            &record(
                3,
                &[
                    "Bo",
                    "bo@work.io ::: Bo@Home.io",
                    "bo@work.io",
                    "+49 30 1234 ::: 030-5678 ::: +49 30 1234",
                ],
            ),
            &m,
        ));
        assert_eq!(c.emails, vec!["bo@work.io", "bo@home.io"]);
        let phones: Vec<&str> = c.phones.iter().map(|p| p.normalized.as_str()).collect();
        assert_eq!(phones, vec!["+49301234", "0305678"]);
        assert_eq!(c.match_key(), "email:bo@work.io");
    }

    #[test]
    fn first_non_empty_column_wins_for_scalars_and_primary_email() {
        let m = mapping(&[
            Some(Field::Email),
            Some(Field::Email),
            Some(Field::Organization),
            Some(Field::Organization),
        ]);
        let c = contact_of(build_row(&record(1, &["", "second@x.io", " ", "Acme"]), &m));
        assert_eq!(c.emails, vec!["second@x.io"]);
        assert_eq!(c.organization, "Acme");
    }

    #[test]
    fn display_name_falls_back_to_given_family_then_organization() {
        let m = mapping(&[
            Some(Field::GivenName),
            Some(Field::FamilyName),
            Some(Field::Organization),
            Some(Field::Email),
        ]);
        let c = contact_of(build_row(&record(1, &["Jürgen", "Müller", "", ""]), &m));
        assert_eq!(c.display_name, "Jürgen Müller");
        let c = contact_of(build_row(
            &record(1, &["", "", "Acme GmbH", "info@acme.de"]),
            &m,
        ));
        assert_eq!(c.display_name, "Acme GmbH");
        let c = contact_of(build_row(&record(1, &["", "Yamada", "", ""]), &m));
        assert_eq!(c.display_name, "Yamada");
    }

    #[test]
    fn blank_rows_are_blank_not_rejected() {
        assert_eq!(
            build_row(&record(4, &["", "  ", "\t", "", ""]), &simple()),
            RowOutcome::Blank
        );
        assert_eq!(build_row(&record(4, &[]), &simple()), RowOutcome::Blank);
    }

    #[test]
    fn malformed_email_is_rejected_with_its_line() {
        let (line, reason) = rejection(build_row(
            &record(7, &["Ana", "ana(at)example.com", "", "", ""]),
            &simple(),
        ));
        assert_eq!(line, 7);
        assert_eq!(
            reason,
            "\"ana(at)example.com\" is not a valid email address."
        );
        let (_, reason) = rejection(build_row(
            &record(8, &["Ana", "ok@x.io ::: broken@", "", "", ""]),
            &simple(),
        ));
        assert!(reason.contains("broken@"));
    }

    #[test]
    fn row_without_name_email_or_phone_is_rejected() {
        let (line, reason) = rejection(build_row(
            &record(9, &["", "", "n/a", "Acme", "a note"]),
            &simple(),
        ));
        assert_eq!(line, 9);
        assert_eq!(
            reason,
            "The row has no name, email address or phone number."
        );
    }

    #[test]
    fn record_problems_are_rejected() {
        let mut r = record(11, &["Ana", "a@x.io"]);
        r.problem = Some(RecordProblem::NulByte { column: 1 });
        assert_eq!(
            rejection(build_row(&r, &simple())),
            (
                11,
                "Column 2 contains a NUL byte, which is not allowed in text.".to_owned()
            )
        );
        r.problem = Some(RecordProblem::FieldTooLong { column: 0 });
        assert_eq!(
            rejection(build_row(&r, &simple())),
            (11, "Column 1 is longer than 64 KB.".to_owned())
        );
        r.problem = Some(RecordProblem::TooManyFields);
        assert_eq!(
            rejection(build_row(&r, &simple())).1,
            "The row has too many columns."
        );
    }

    #[test]
    fn outlook_exchange_addresses_are_skipped_not_rejected() {
        let m = mapping(&[
            Some(Field::FullName),
            Some(Field::Email),
            Some(Field::Email),
        ]);
        let row = record(
            4,
            &[
                "Ana",
                "/O=ExchangeLabs/ou=Exchange Administrative Group/cn=Recipients/cn=ana",
                "ana@x.io",
            ],
        );
        assert_eq!(contact_of(build_row(&row, &m)).emails, vec!["ana@x.io"]);
    }

    #[test]
    fn unmapped_and_extra_columns_are_ignored() {
        let m = mapping(&[None, Some(Field::Email)]);
        let c = contact_of(build_row(
            &record(1, &["not@an-email", "ok@x.io", "extra", "cells"]),
            &m,
        ));
        assert_eq!(c.emails, vec!["ok@x.io"]);
    }

    #[test]
    fn email_rules() {
        for ok in [
            "a@b.co",
            "first.last+tag@sub.example.org",
            "jürgen@müller.de",
            "x_y-z@a-b.io",
        ] {
            assert!(is_valid_email(ok), "{ok}");
        }
        for bad in [
            "",
            "plain",
            "@x.io",
            "a@",
            "a@b",
            "a@b.c",
            "a@@b.io",
            "a b@c.io",
            "a@b..io",
            ".a@b.io",
            "a.@b.io",
            "a..b@c.io",
            "a@-b.io",
            "a@b.123",
            "a@b.io,c@d.io",
            "<a@b.io>",
            "a@b_c.io",
        ] {
            assert!(!is_valid_email(bad), "{bad}");
        }
        assert_eq!(
            normalize_email("  MAILTO:Ana@Example.COM "),
            "ana@example.com"
        );
    }

    #[test]
    fn phone_normalisation() {
        assert_eq!(normalize_phone(" +44 (0)20 7946-0958 "), "+4402079460958");
        assert_eq!(normalize_phone("030/123 45"), "03012345");
        assert_eq!(normalize_phone("1+2"), "12");
        assert_eq!(normalize_phone("n/a"), "");
    }

    #[test]
    fn match_keys() {
        let mut c = person("", "  Ana   LIMA ");
        c.phones.push(Phone {
            raw: "+1 555".into(),
            normalized: "+1555".into(),
        });
        assert_eq!(c.match_key(), "name_phone:ana lima|+1555");
        c.phones.clear();
        assert_eq!(c.match_key(), "name_phone:ana lima|");
        let phone_only = Contact {
            phones: vec![Phone {
                raw: "1".into(),
                normalized: "1".into(),
            }],
            ..Contact::default()
        };
        assert_eq!(phone_only.match_key(), "name_phone:|1");
        assert_eq!(person("a@x.io", "Ana").match_key(), "email:a@x.io");
    }

    #[test]
    fn a_row_with_more_values_than_the_cap_is_rejected() {
        let many: Vec<String> = (0..=MAX_VALUES_PER_CONTACT).map(|i| format!("p{i}@example.com")).collect();
        let cell = many.join(" ::: ");
        let outcome = build_row(&record(2, &["Ana", &cell]), &mapping(&[Some(Field::FullName), Some(Field::Email)]));
        assert_eq!(rejection(outcome), (2, format!("The row has more than {MAX_VALUES_PER_CONTACT} email addresses.")));
        let duplicates = vec!["same@example.com"; 10_000].join(" ::: ");
        let outcome = build_row(&record(3, &["Ana", &duplicates]), &mapping(&[Some(Field::FullName), Some(Field::Email)]));
        assert_eq!(contact_of(outcome).emails, ["same@example.com"], "duplicates do not count against the cap");
    }

    #[test]
    fn merge_keeps_at_most_the_cap() {
        let mut into = person("a0@example.com", "Ana");
        into.emails = (0..MAX_VALUES_PER_CONTACT).map(|i| format!("a{i}@example.com")).collect();
        let other = person("new@example.com", "Ana");
        assert!(!merge(&mut into, &other));
        assert_eq!(into.emails.len(), MAX_VALUES_PER_CONTACT);
    }

    #[test]
    fn merge_unions_and_fills_but_never_overwrites() {
        let mut into = Contact {
            display_name: "Ana".into(),
            emails: vec!["a@x.io".into()],
            phones: vec![Phone {
                raw: "555 1".into(),
                normalized: "5551".into(),
            }],
            notes: "old".into(),
            ..Contact::default()
        };
        let other = Contact {
            display_name: "Ana Lima".into(),
            family_name: "Lima".into(),
            emails: vec!["b@x.io".into(), "a@x.io".into()],
            phones: vec![
                Phone {
                    raw: "5551".into(),
                    normalized: "5551".into(),
                },
                Phone {
                    raw: "9".into(),
                    normalized: "9".into(),
                },
            ],
            notes: "new".into(),
            title: "CTO".into(),
            ..Contact::default()
        };
        assert!(merge(&mut into, &other));
        assert_eq!(into.display_name, "Ana");
        assert_eq!(into.family_name, "Lima");
        assert_eq!(into.emails, vec!["a@x.io", "b@x.io"]);
        assert_eq!(into.phones.len(), 2);
        assert_eq!(into.phones[0].raw, "555 1");
        assert_eq!(into.notes, "old");
        assert_eq!(into.title, "CTO");
        assert!(!merge(&mut into, &other), "merging twice changes nothing");
    }

    #[test]
    fn in_file_duplicates_become_one_write() {
        let mut second = person("a@x.io", "Ana Lima");
        second.title = "CTO".into();
        let rows = vec![
            person("a@x.io", "Ana"),
            person("b@x.io", "Bo"),
            second,
            person("a@x.io", "Ana"),
        ];
        let plan = plan_batch(rows, HashMap::new());
        assert_eq!(
            plan.counts,
            Counts {
                created: 2,
                updated: 1,
                unchanged: 1,
                ..Counts::default()
            }
        );
        assert_eq!(plan.writes.len(), 2);
        let (key, contact, change) = &plan.writes[0];
        assert_eq!((key.as_str(), *change), ("email:a@x.io", Change::Created));
        assert_eq!(
            (contact.display_name.as_str(), contact.title.as_str()),
            ("Ana", "CTO")
        );
        assert_eq!(plan.writes[1].0, "email:b@x.io");
    }

    #[test]
    fn reimport_is_idempotent() {
        let rows = vec![
            person("a@x.io", "Ana"),
            person("b@x.io", "Bo"),
            person("a@x.io", "Ana Lima"),
        ];
        let first = plan_batch(rows.clone(), HashMap::new());
        assert_eq!(first.counts.created, 2);
        let stored: HashMap<String, Contact> =
            first.writes.into_iter().map(|(k, c, _)| (k, c)).collect();
        let again = plan_batch(rows, stored);
        assert_eq!(
            again.counts,
            Counts {
                unchanged: 3,
                ..Counts::default()
            }
        );
        assert!(again.writes.is_empty());
    }

    #[test]
    fn rows_matching_stored_contacts_update_or_stay() {
        let mut stored = HashMap::new();
        stored.insert("email:a@x.io".to_owned(), person("a@x.io", "Ana"));
        stored.insert("email:b@x.io".to_owned(), person("b@x.io", "Bo"));
        let mut richer = person("a@x.io", "Ana");
        richer.organization = "Acme".into();
        let plan = plan_batch(
            vec![person("b@x.io", "Bo"), person("a@x.io", "Ana"), richer],
            stored,
        );
        assert_eq!(
            plan.counts,
            Counts {
                updated: 1,
                unchanged: 2,
                ..Counts::default()
            }
        );
        assert_eq!(plan.writes.len(), 1);
        let (key, contact, change) = &plan.writes[0];
        assert_eq!((key.as_str(), *change), ("email:a@x.io", Change::Updated));
        assert_eq!(contact.organization, "Acme");
    }

    #[test]
    fn every_row_counts_once() {
        let rows: Vec<Contact> = (0..20)
            .map(|i| person(&format!("p{}@x.io", i % 7), "P"))
            .collect();
        let plan = plan_batch(rows, HashMap::new());
        assert_eq!(plan.counts.total(), 20);
        assert_eq!(plan.counts.created, 7);
        let mut total = Counts {
            rejected: 2,
            skipped: 1,
            ..Counts::default()
        };
        total.add(&plan.counts);
        assert_eq!(total.total(), 23);
    }

    #[test]
    fn outlook_german_cp1252_end_to_end() {
        // Bytes as Outlook writes them on a German Windows: cp1252, CRLF.
        let file: &[u8] = b"Anrede,Vorname,Weitere Vornamen,Nachname,Firma,Position,Telefon gesch\xe4ftlich,Mobiltelefon,\
E-Mail-Adresse,E-Mail-Typ,E-Mail 2: Adresse,Notizen\r\n\
Herr,J\xfcrgen,,M\xfcller,B\xe4ckerei M\xfcller GmbH,Gesch\xe4ftsf\xfchrer,+49 89 123456,0171 2345678,\
Juergen.Mueller@Example.de,SMTP,jm@baeckerei.de,\"Gr\xfc\xdfe an \"\"Frau M\xfcller\"\"\"\r\n\
Frau,H\xe9l\xe8ne,,Fran\xe7ois,,,,,keine-mail,SMTP,,\r\n";
        let sniffed = sniff(file, true).unwrap();
        assert_eq!(
            sniffed.encoding,
            crate::domain::sniff::TextEncoding::Windows1252
        );
        let (preset, mapping) = detect(&sniffed.headers);
        assert_eq!(preset, Preset::OutlookGerman);

        let mut reader = RecordReader::new(sniffed.encoding, sniffed.delimiter, MAX_FIELD_BYTES);
        let mut records = Vec::new();
        for chunk in file.chunks(5) {
            reader.feed(chunk, false, &mut records);
        }
        reader.feed(&[], true, &mut records);
        let data: Vec<&RawRecord> = records
            .iter()
            .filter(|r| r.index > sniffed.header_index)
            .collect();
        assert_eq!(data.len(), 2);

        let c = contact_of(build_row(data[0], &mapping));
        assert_eq!(c.display_name, "Jürgen Müller");
        assert_eq!(c.organization, "Bäckerei Müller GmbH");
        assert_eq!(c.title, "Geschäftsführer");
        assert_eq!(
            c.emails,
            vec!["juergen.mueller@example.de", "jm@baeckerei.de"]
        );
        let phones: Vec<&str> = c.phones.iter().map(|p| p.normalized.as_str()).collect();
        assert_eq!(phones, vec!["+4989123456", "01712345678"]);
        assert_eq!(c.notes, "Grüße an \"Frau Müller\"");

        let (line, reason) = rejection(build_row(data[1], &mapping));
        assert_eq!(line, 3);
        assert!(reason.contains("keine-mail"));
    }

    #[test]
    fn contact_serialises_for_storage() {
        let c = person("a@x.io", "Ana");
        let json = serde_json::to_string(&c).unwrap();
        assert_eq!(serde_json::from_str::<Contact>(&json).unwrap(), c);
    }
}
