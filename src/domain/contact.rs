//! Turning mapped records into contacts, validating them, and planning how a
//! batch of rows merges into what is already stored.

use super::identity::{fold_into, match_name, normalize_email, normalize_phone, CallingCode, Identity};
use super::mapping::{Field, Mapping};
use super::format::{RawRecord, RecordProblem, MAX_FIELD_BYTES};
use serde::{Deserialize, Serialize};
use foldhash::{HashMap, HashMapExt, HashSet};
use std::borrow::Cow;

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

/// A valid row's contact with its identities and stored text, worked out once
/// while the file is read: the batch's commit, which every batch waits for, only
/// looks them up.
#[derive(Clone, Debug, PartialEq)]
pub struct RowContact {
    pub contact: Contact,
    pub identities: Vec<Identity>,
    pub text: ContactText,
}

impl From<Contact> for RowContact {
    fn from(contact: Contact) -> Self {
        let identities = contact.identities();
        let text = ContactText::of(&contact, &identities);
        Self { contact, identities, text }
    }
}

/// The columns a contact is stored with beyond its plain fields.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct ContactText {
    /// `emails` as a JSON array.
    pub emails: String,
    /// `phones` as a JSON array of `{raw, normalized}`.
    pub phones: String,
    /// `Contact::search_text`.
    pub search: String,
    /// The person's identities (`identity::listing`).
    pub identities: String,
}

impl ContactText {
    pub fn of(contact: &Contact, identities: &[Identity]) -> Self {
        Self {
            emails: serde_json::to_string(&contact.emails).expect("a list of strings serialises"),
            phones: serde_json::to_string(&contact.phones).expect("a list of string pairs serialises"),
            search: contact.search_text(),
            identities: super::identity::listing(identities),
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub enum RowOutcome {
    Contact(RowContact),
    Blank,
    Rejected { line: u64, reason: String },
}

/// `default_code` completes phone numbers written without a country code, when set.
pub fn build_row(record: &RawRecord, mapping: &Mapping, default_code: Option<&CallingCode>) -> RowOutcome {
    let reject = |reason: String| RowOutcome::Rejected {
        line: record.line,
        reason,
    };
    match &record.problem {
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
        Some(RecordProblem::BrokenCard { reason }) => return reject(reason.clone()),
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
                    let normalized = normalize_phone(part, default_code);
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
    RowOutcome::Contact(contact.into())
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

impl Contact {
    /// What identifies this contact: each email; its matching name with each
    /// phone; its name alone only when it has neither email nor phone.
    pub fn identities(&self) -> Vec<Identity> {
        let mut identities: Vec<Identity> = self.emails.iter().map(|e| Identity::email(e)).collect();
        if self.emails.is_empty() || !self.phones.is_empty() {
            let name = match_name(&self.display_name);
            identities.extend(self.phones.iter().map(|p| Identity::name_phone(&name, &p.normalized)));
            if identities.is_empty() {
                identities.push(Identity::name(&name));
            }
        }
        identities
    }

    /// Every searchable value, case-folded as a search query is (`identity::fold`).
    pub fn search_text(&self) -> String {
        let mut text = String::new();
        for value in [&self.display_name, &self.given_name, &self.family_name, &self.organization, &self.title]
            .into_iter()
            .chain(&self.emails)
            .chain(self.phones.iter().flat_map(|p| [&p.raw, &p.normalized]))
        {
            // Value by value: most are ASCII, which folds without Unicode tables.
            fold_into(&mut text, value);
            text.push('\n');
        }
        text
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
    /// Stored contacts merged into an older one because a row showed they are
    /// one person. Not a count of rows.
    pub merged: u64,
}

impl Counts {
    /// Accumulates a batch's counts into an import's running total.
    pub fn add(&mut self, other: &Counts) {
        self.created += other.created;
        self.updated += other.updated;
        self.unchanged += other.unchanged;
        self.rejected += other.rejected;
        self.skipped += other.skipped;
        self.merged += other.merged;
    }

    /// Rows counted: every row is exactly one of these.
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

/// A contact as stored. Ids only grow, so the smallest id is the oldest contact.
#[derive(Clone, Debug, PartialEq)]
pub struct StoredContact {
    pub id: i64,
    pub contact: Contact,
    /// The identities stored for it: its own, and those of every row merged into it.
    pub identities: Vec<Identity>,
}

/// One person after the batch: a stored contact that rows (and younger stored
/// contacts) merged into, or a new one. It borrows from the batch's rows where a
/// row is the whole person, as most are.
#[derive(Clone, Debug, PartialEq)]
pub struct PlannedContact<'r> {
    /// The surviving stored contact; `None` for a new one.
    pub id: Option<i64>,
    pub contact: Cow<'r, Contact>,
    /// Younger stored contacts merged into this one, to be deleted.
    pub absorbed: Vec<i64>,
    pub change: Change,
    /// Every identity of the person: the stored ones, the rows', and those of the merged contact.
    pub identities: Cow<'r, [Identity]>,
    /// The identities the surviving stored contact does not hold yet, to be
    /// stored: the rows' new ones, and those of contacts merged into it.
    pub new_identities: Cow<'r, [Identity]>,
    /// The stored text, when the person is one row as read.
    row_text: Option<&'r ContactText>,
}

impl PlannedContact<'_> {
    /// The columns to store beside the contact's fields.
    pub fn text(&self) -> Cow<'_, ContactText> {
        match self.row_text {
            Some(text) => Cow::Borrowed(text),
            None => Cow::Owned(ContactText::of(&self.contact, &self.identities)),
        }
    }
}

pub struct BatchPlan<'r> {
    /// Every person the batch touches, in order of their oldest member.
    pub contacts: Vec<PlannedContact<'r>>,
    /// `created`, `updated`, `unchanged` and `merged`; the caller counts
    /// rejected and skipped rows.
    pub counts: Counts,
}

impl<'r> BatchPlan<'r> {
    /// The contacts to write: created or updated ones.
    pub fn writes(&self) -> impl Iterator<Item = &PlannedContact<'r>> {
        self.contacts.iter().filter(|c| c.change != Change::Unchanged)
    }
}

/// Disjoint sets over item indexes; the root of a set is its smallest index.
struct Sets(Vec<usize>);

impl Sets {
    fn root(&mut self, mut i: usize) -> usize {
        while self.0[i] != i {
            self.0[i] = self.0[self.0[i]];
            i = self.0[i];
        }
        i
    }

    /// True when `a` and `b` were in different sets.
    fn join(&mut self, a: usize, b: usize) -> bool {
        let (a, b) = (self.root(a), self.root(b));
        if a != b {
            self.0[a.max(b)] = a.min(b);
        }
        a != b
    }
}

/// Groups `rows` (the batch's valid contacts, in file order) with each other and
/// with `stored` (the contacts owning any identity the rows or their merges hold)
/// into people: two items are one person when they share an identity, directly
/// or through others, and a merged person's new identities (a name from one row,
/// a phone from another) join it with whoever else holds them. The grouping
/// does not depend on row order. A person keeps every identity of its members,
/// so a row that matched once matches again.
///
/// Every row counts once: Created for the first row of a person nobody stored,
/// otherwise Updated or Unchanged by whether it changed the contact. The first
/// row of a person that merged stored contacts counts as Updated.
pub fn plan_batch<'r>(rows: &'r [RowContact], stored: &[StoredContact]) -> BatchPlan<'r> {
    // Oldest stored contacts first, then rows in file order: a group's first item is its base.
    let mut stored: Vec<&StoredContact> = stored.iter().collect();
    stored.sort_by_key(|s| s.id);
    stored.dedup_by_key(|s| s.id);
    let items: Vec<&Contact> = stored.iter().map(|s| &s.contact).chain(rows.iter().map(|r| &r.contact)).collect();
    let own: Vec<&[Identity]> =
        stored.iter().map(|s| s.identities.as_slice()).chain(rows.iter().map(|r| r.identities.as_slice())).collect();
    let mut sets = Sets((0..items.len()).collect());
    let mut holder: HashMap<&Identity, usize> = HashMap::new();
    for (i, identities) in own.iter().enumerate() {
        for identity in identities.iter() {
            let first = *holder.entry(identity).or_insert(i);
            sets.join(first, i);
        }
    }
    loop {
        let mut members: Vec<Vec<usize>> = Vec::new();
        let mut group_of_root = vec![usize::MAX; items.len()];
        for i in 0..items.len() {
            let root = sets.root(i);
            if group_of_root[root] == usize::MAX {
                group_of_root[root] = members.len();
                members.push(Vec::new());
            }
            members[group_of_root[root]].push(i);
        }
        let identities: Vec<Cow<'r, [Identity]>> = members
            .iter()
            .map(|group| match group.as_slice() {
                // A row alone holds just what it is: most rows of a batch.
                &[row] if row >= stored.len() => Cow::Borrowed(rows[row - stored.len()].identities.as_slice()),
                _ => {
                    let mut contact = items[group[0]].clone();
                    for &i in &group[1..] {
                        merge(&mut contact, items[i]);
                    }
                    let mut identities: Vec<Identity> = group.iter().flat_map(|&i| own[i].iter().cloned()).collect();
                    identities.extend(contact.identities());
                    identities.sort();
                    identities.dedup();
                    Cow::Owned(identities)
                }
            })
            .collect();
        // A lone row holds just its own identities, all joined above. Any other
        // group may hold one that none of its members held (a name from one
        // row with a phone from another, or what a stored contact's fields
        // imply but it did not list): that joins it with whoever holds it, an
        // item or another such group.
        let mut joined = false;
        let mut gained: HashMap<&Identity, usize> = HashMap::new();
        for (group, identities) in members.iter().zip(&identities).filter(|(_, identities)| matches!(identities, Cow::Owned(_))) {
            for identity in identities.iter() {
                let first = match holder.get(identity) {
                    Some(&item) => item,
                    None => *gained.entry(identity).or_insert(group[0]),
                };
                joined |= sets.join(first, group[0]);
            }
        }
        if !joined {
            return count_plan(&members, rows, &stored, identities);
        }
    }
}

/// Merges each group in order (stored base, then rows), counting every row once.
fn count_plan<'r>(
    members: &[Vec<usize>],
    rows: &'r [RowContact],
    stored: &[&StoredContact],
    group_identities: Vec<Cow<'r, [Identity]>>,
) -> BatchPlan<'r> {
    let mut counts = Counts::default();
    let mut contacts = Vec::with_capacity(members.len());
    for (group, identities) in members.iter().zip(group_identities) {
        let stored_members: Vec<&StoredContact> = group.iter().filter(|&&i| i < stored.len()).map(|&i| stored[i]).collect();
        let mut group_rows = group.iter().filter(|&&i| i >= stored.len()).map(|&i| &rows[i - stored.len()]);
        let lone_row = group.len() == 1 && stored_members.is_empty();
        let (id, absorbed, mut base, mut change): (_, _, Cow<'r, Contact>, _) = match stored_members.split_first() {
            Some((oldest, younger)) => {
                let mut base = oldest.contact.clone();
                for other in younger {
                    merge(&mut base, &other.contact);
                }
                let change = if younger.is_empty() { Change::Unchanged } else { Change::Updated };
                (Some(oldest.id), younger.iter().map(|s| s.id).collect(), Cow::Owned(base), change)
            }
            None => {
                let Some(first) = group_rows.next() else { continue };
                counts.created += 1;
                (None, Vec::new(), Cow::Borrowed(&first.contact), Change::Created)
            }
        };
        let mut first_row = id.is_some();
        for row in group_rows {
            if merge(base.to_mut(), &row.contact) || (first_row && !absorbed.is_empty()) {
                counts.updated += 1;
                if change == Change::Unchanged {
                    change = Change::Updated;
                }
            } else {
                counts.unchanged += 1;
            }
            first_row = false;
        }
        counts.merged += absorbed.len() as u64;
        // The survivor's own: an absorbed contact's identities are deleted with it.
        let new_identities = match stored_members.first() {
            Some(survivor) => {
                let held: HashSet<&Identity> = survivor.identities.iter().collect();
                Cow::Owned(identities.iter().filter(|i| !held.contains(i)).cloned().collect())
            }
            None => identities.clone(),
        };
        let row_text = lone_row.then(|| &rows[group[0] - stored.len()].text);
        contacts.push(PlannedContact { id, contact: base, absorbed, change, identities, new_identities, row_text });
    }
    BatchPlan { contacts, counts }
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
            RowOutcome::Contact(row) => row.contact,
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
            None,
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
            None,
        ));
        assert_eq!(c.emails, vec!["bo@work.io", "bo@home.io"]);
        let phones: Vec<&str> = c.phones.iter().map(|p| p.normalized.as_str()).collect();
        assert_eq!(phones, vec!["+49301234", "0305678"]);
    }

    #[test]
    fn first_non_empty_column_wins_for_scalars_and_primary_email() {
        let m = mapping(&[
            Some(Field::Email),
            Some(Field::Email),
            Some(Field::Organization),
            Some(Field::Organization),
        ]);
        let c = contact_of(build_row(&record(1, &["", "second@x.io", " ", "Acme"]), &m, None));
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
        let c = contact_of(build_row(&record(1, &["Jürgen", "Müller", "", ""]), &m, None));
        assert_eq!(c.display_name, "Jürgen Müller");
        let c = contact_of(build_row(
            &record(1, &["", "", "Acme GmbH", "info@acme.de"]),
            &m,
            None,
        ));
        assert_eq!(c.display_name, "Acme GmbH");
        let c = contact_of(build_row(&record(1, &["", "Yamada", "", ""]), &m, None));
        assert_eq!(c.display_name, "Yamada");
    }

    #[test]
    fn blank_rows_are_blank_not_rejected() {
        assert_eq!(
            build_row(&record(4, &["", "  ", "\t", "", ""]), &simple(), None),
            RowOutcome::Blank
        );
        assert_eq!(build_row(&record(4, &[]), &simple(), None), RowOutcome::Blank);
    }

    #[test]
    fn malformed_email_is_rejected_with_its_line() {
        let (line, reason) = rejection(build_row(
            &record(7, &["Ana", "ana(at)example.com", "", "", ""]),
            &simple(),
            None,
        ));
        assert_eq!(line, 7);
        assert_eq!(
            reason,
            "\"ana(at)example.com\" is not a valid email address."
        );
        let (_, reason) = rejection(build_row(
            &record(8, &["Ana", "ok@x.io ::: broken@", "", "", ""]),
            &simple(),
            None,
        ));
        assert!(reason.contains("broken@"));
    }

    #[test]
    fn row_without_name_email_or_phone_is_rejected() {
        let (line, reason) = rejection(build_row(
            &record(9, &["", "", "n/a", "Acme", "a note"]),
            &simple(),
            None,
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
            rejection(build_row(&r, &simple(), None)),
            (
                11,
                "Column 2 contains a NUL byte, which is not allowed in text.".to_owned()
            )
        );
        r.problem = Some(RecordProblem::FieldTooLong { column: 0 });
        assert_eq!(
            rejection(build_row(&r, &simple(), None)),
            (11, "Column 1 is longer than 64 KB.".to_owned())
        );
        r.problem = Some(RecordProblem::TooManyFields);
        assert_eq!(
            rejection(build_row(&r, &simple(), None)).1,
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
        assert_eq!(contact_of(build_row(&row, &m, None)).emails, vec!["ana@x.io"]);
    }

    #[test]
    fn unmapped_and_extra_columns_are_ignored() {
        let m = mapping(&[None, Some(Field::Email)]);
        let c = contact_of(build_row(
            &record(1, &["not@an-email", "ok@x.io", "extra", "cells"]),
            &m,
            None,
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
    }

    #[test]
    fn identities_are_every_email_and_the_name_with_every_phone() {
        let phone = |n: &str| Phone { raw: n.into(), normalized: n.into() };
        let mut c = person("a@x.io", "  Ana   LIMA ");
        c.emails.push("b@x.io".into());
        c.phones = vec![phone("+1555"), phone("0301")];
        assert_eq!(
            c.identities(),
            vec![
                Identity::email("a@x.io"),
                Identity::email("b@x.io"),
                Identity::name_phone("ana lima", "+1555"),
                Identity::name_phone("ana lima", "0301"),
            ]
        );
        let phone_only = Contact { phones: vec![phone("1")], ..Contact::default() };
        assert_eq!(phone_only.identities(), vec![Identity::name_phone("", "1")]);
        assert_eq!(person("", "Zoë ADAMS").identities(), vec![Identity::name("zoë adams")]);
        assert_eq!(person("a@x.io", "Ana").identities(), vec![Identity::email("a@x.io")]);
    }

    #[test]
    fn search_text_is_folded_and_holds_every_email_and_phone() {
        let mut c = person("zoë@x.io", "ZOË Straße");
        c.emails.push("second@x.io".into());
        c.phones.push(Phone { raw: "+1 (555) 010".into(), normalized: "+1555010".into() });
        let text = c.search_text();
        for needle in ["zoë strasse", "second@x.io", "+1 (555) 010", "+1555010"] {
            assert!(text.contains(needle), "{needle} in {text}");
        }
    }

    #[test]
    fn a_row_with_more_values_than_the_cap_is_rejected() {
        let many: Vec<String> = (0..=MAX_VALUES_PER_CONTACT).map(|i| format!("p{i}@example.com")).collect();
        let cell = many.join(" ::: ");
        let outcome = build_row(&record(2, &["Ana", &cell]), &mapping(&[Some(Field::FullName), Some(Field::Email)]), None);
        assert_eq!(rejection(outcome), (2, format!("The row has more than {MAX_VALUES_PER_CONTACT} email addresses.")));
        let duplicates = vec!["same@example.com"; 10_000].join(" ::: ");
        let outcome = build_row(&record(3, &["Ana", &duplicates]), &mapping(&[Some(Field::FullName), Some(Field::Email)]), None);
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

    /// A stored contact holding the identities of its data.
    fn row_contacts(rows: &[Contact]) -> Vec<RowContact> {
        rows.iter().cloned().map(RowContact::from).collect()
    }

    fn stored(id: i64, contact: Contact) -> StoredContact {
        let identities = contact.identities();
        StoredContact { id, contact, identities }
    }

    fn with_phone(mut contact: Contact, phone: &str) -> Contact {
        contact.phones.push(Phone { raw: phone.into(), normalized: phone.into() });
        contact
    }

    fn with_email(mut contact: Contact, email: &str) -> Contact {
        contact.emails.push(email.into());
        contact
    }

    /// What a batch's plan leaves stored, as the store would: survivors keep
    /// their id, new contacts take the next ones, absorbed ones are gone.
    fn apply(stored: &mut Vec<StoredContact>, plan: &BatchPlan<'_>) {
        for planned in &plan.contacts {
            stored.retain(|s| !planned.absorbed.contains(&s.id) && Some(s.id) != planned.id);
            let id = planned.id.unwrap_or_else(|| stored.iter().map(|s| s.id).max().unwrap_or(0) + 1);
            stored.push(StoredContact { id, contact: planned.contact.clone().into_owned(), identities: planned.identities.to_vec() });
        }
    }

    /// Each stored person as their sorted emails and phones, sorted.
    fn people(stored: &[StoredContact]) -> Vec<Vec<String>> {
        let mut people: Vec<Vec<String>> = stored
            .iter()
            .map(|s| {
                let mut values: Vec<String> = s.contact.emails.clone();
                values.extend(s.contact.phones.iter().map(|p| p.normalized.clone()));
                values.sort();
                values
            })
            .collect();
        people.sort();
        people
    }

    /// Imports `rows` in batches of `batch` rows against `stored`, summing the counts.
    fn import(stored: &mut Vec<StoredContact>, rows: &[Contact], batch: usize) -> Counts {
        let mut counts = Counts::default();
        for chunk in rows.chunks(batch) {
            // The store hands the planner every contact owning an identity the rows hold.
            let batch = row_contacts(chunk);
            let plan = plan_batch(&batch, stored);
            counts.add(&plan.counts);
            apply(stored, &plan);
        }
        counts
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
        let batch = row_contacts(&rows);
        let plan = plan_batch(&batch, &[]);
        assert_eq!(plan.counts, Counts { created: 2, updated: 1, unchanged: 1, ..Counts::default() });
        let writes: Vec<&PlannedContact> = plan.writes().collect();
        assert_eq!(writes.len(), 2);
        assert_eq!((writes[0].id, writes[0].change), (None, Change::Created));
        assert_eq!((writes[0].contact.display_name.as_str(), writes[0].contact.title.as_str()), ("Ana", "CTO"));
        assert_eq!(writes[0].new_identities, vec![Identity::email("a@x.io")]);
        assert_eq!(writes[1].contact.emails, ["b@x.io"]);
    }

    #[test]
    fn reimport_is_idempotent() {
        let rows = vec![person("a@x.io", "Ana"), person("b@x.io", "Bo"), person("a@x.io", "Ana Lima")];
        let mut stored = Vec::new();
        assert_eq!(import(&mut stored, &rows, 100).created, 2);
        let batch = row_contacts(&rows);
        let plan = plan_batch(&batch, &stored);
        assert_eq!(plan.counts, Counts { unchanged: 3, ..Counts::default() });
        assert_eq!(plan.writes().count(), 0);
    }

    #[test]
    fn rows_matching_stored_contacts_update_or_stay() {
        let stored = vec![
            stored(1, person("a@x.io", "Ana")),
            stored(2, person("b@x.io", "Bo")),
        ];
        let mut richer = person("a@x.io", "Ana");
        richer.organization = "Acme".into();
        let batch = row_contacts(&[person("b@x.io", "Bo"), person("a@x.io", "Ana"), richer]);
        let plan = plan_batch(&batch, &stored);
        assert_eq!(plan.counts, Counts { updated: 1, unchanged: 2, ..Counts::default() });
        let writes: Vec<&PlannedContact> = plan.writes().collect();
        assert_eq!(writes.len(), 1);
        assert_eq!((writes[0].id, writes[0].change), (Some(1), Change::Updated));
        assert_eq!(writes[0].contact.organization, "Acme");
    }

    #[test]
    fn a_secondary_email_or_the_name_with_any_phone_matches() {
        let bo = with_email(person("bo@work.io", "Bo"), "bo@home.io");
        let cy = with_phone(with_phone(person("", "Cy"), "+1555"), "+1666");
        let stored = vec![stored(1, bo), stored(2, cy)];
        let rows = [
            person("bo@home.io", "Bo"),
            with_phone(person("cy@x.io", " CY "), "+1666"),
            // Another name with Cy's phone is someone else.
            with_phone(person("", "Dee"), "+1666"),
        ];
        let batch = row_contacts(&rows);
        let plan = plan_batch(&batch, &stored);
        assert_eq!(plan.counts, Counts { created: 1, updated: 1, unchanged: 1, ..Counts::default() });
        let cy = &plan.contacts[1];
        assert_eq!((cy.id, cy.contact.emails.as_slice()), (Some(2), ["cy@x.io".to_owned()].as_slice()));
        assert_eq!(cy.contact.display_name, "Cy", "the stored name is kept");
    }

    #[test]
    fn a_row_matching_two_contacts_merges_them_into_the_oldest() {
        let mut older = person("a@x.io", "Ana");
        older.organization = "Acme".into();
        let mut younger = with_phone(person("b@x.io", "Ana Lima"), "+1555");
        younger.title = "CTO".into();
        let stored = vec![stored(9, younger), stored(4, older)];
        let batch = row_contacts(&[with_email(person("b@x.io", ""), "a@x.io")]);
        let plan = plan_batch(&batch, &stored);
        assert_eq!(plan.counts, Counts { updated: 1, merged: 1, ..Counts::default() });
        let [survivor] = plan.contacts.as_slice() else { panic!("one person: {:?}", plan.contacts) };
        assert_eq!((survivor.id, survivor.absorbed.as_slice(), survivor.change), (Some(4), [9].as_slice(), Change::Updated));
        let c = &survivor.contact;
        assert_eq!(c.emails, ["a@x.io", "b@x.io"], "the oldest contact's primary stays first");
        assert_eq!((c.display_name.as_str(), c.organization.as_str(), c.title.as_str()), ("Ana", "Acme", "CTO"));
        assert_eq!(c.phones.len(), 1);
    }

    #[test]
    fn rows_sharing_identities_become_one_contact_transitively_in_any_order() {
        let rows = vec![
            person("a@x.io", "Ana"),
            with_phone(person("", "Ana Lima"), "+1555"),
            person("b@x.io", "Ana"),
            // Links a@ and b@ ...
            with_email(person("a@x.io", "Ana"), "b@x.io"),
            // ... and b@ with Ana Lima's phone.
            with_phone(person("b@x.io", "Ana Lima"), "+1555"),
            person("z@x.io", "Zed"),
        ];
        let mut forward = Vec::new();
        let counts = import(&mut forward, &rows, 100);
        assert_eq!(counts, Counts { created: 2, updated: 2, unchanged: 2, ..Counts::default() });
        let expected = vec![vec!["+1555".to_owned(), "a@x.io".to_owned(), "b@x.io".to_owned()], vec!["z@x.io".to_owned()]];
        assert_eq!(people(&forward), expected);
        let mut backward = Vec::new();
        let reversed: Vec<Contact> = rows.iter().rev().cloned().collect();
        assert_eq!(import(&mut backward, &reversed, 100).created, 2);
        assert_eq!(people(&backward), expected);
    }

    #[test]
    fn a_merged_name_joins_a_phone_held_by_another_row() {
        // Row 1 has no name; merged with row 2 it is "Cy" with phone +1666,
        // which is row 3's identity.
        let rows = vec![
            with_phone(person("cy@x.io", ""), "+1666"),
            person("cy@x.io", "Cy"),
            with_phone(person("", "cy"), "+1666"),
        ];
        let batch = row_contacts(&rows);
        let plan = plan_batch(&batch, &[]);
        assert_eq!(plan.contacts.len(), 1, "{:?}", plan.contacts);
        assert_eq!(plan.counts.created, 1);
    }

    #[test]
    fn two_merged_people_who_gain_one_identity_are_one_person() {
        // Each pair is one person by its email, named Cy by its first row and
        // given +1666 by its second: both gain "cy" with +1666, which no row
        // holds by itself, and are then one person.
        let rows = vec![
            person("b@x.io", "Cy"),
            with_phone(person("b@x.io", "Bo"), "+1666"),
            person("c@x.io", "Cy"),
            with_phone(person("c@x.io", "Di"), "+1666"),
            person("z@x.io", "Zed"),
        ];
        let batch = row_contacts(&rows);
        let plan = plan_batch(&batch, &[]);
        assert_eq!(plan.contacts.len(), 2, "{:?}", plan.contacts);
        assert_eq!(plan.counts.created, 2);
    }

    #[test]
    fn stored_contacts_that_listed_no_identities_merge_by_what_their_fields_hold() {
        // Contacts from before identities list none; their fields still say who they are.
        let unlisted = |id: i64, contact: Contact| StoredContact { id, contact, identities: Vec::new() };
        let stored = [unlisted(1, person("a@x.io", "Ana")), unlisted(2, person("b@x.io", "Bo")), unlisted(3, person("a@x.io", "Ana"))];
        let plan = plan_batch(&[], &stored);
        assert_eq!(plan.contacts.len(), 2, "{:?}", plan.contacts);
        assert_eq!(plan.contacts[0].absorbed, [3]);
        assert_eq!(plan.counts.merged, 1);
    }

    #[test]
    fn a_person_keeps_the_identities_of_every_row_merged_into_it() {
        let mut stored_people = Vec::new();
        let first = [person("a@x.io", "Ana"), with_phone(person("a@x.io", "Ana Lima"), "+1555")];
        import(&mut stored_people, &first, 100);
        assert_eq!(stored_people.len(), 1);
        // The contact is named "Ana", yet a row as "Ana Lima" with that phone is her.
        let batch = row_contacts(&[with_phone(person("", "ana  lima"), "+1555")]);
        let plan = plan_batch(&batch, &stored_people);
        assert_eq!(plan.counts, Counts { unchanged: 1, ..Counts::default() });
        assert!(plan.contacts[0].new_identities.is_empty());
    }

    #[test]
    fn batch_boundaries_do_not_change_who_is_one_person() {
        let rows: Vec<Contact> = (0..40)
            .map(|i| match i % 4 {
                0 => person(&format!("p{}@x.io", i / 4), "P"),
                1 => with_phone(person("", &format!("Q{}", i / 8)), &format!("+{}", i / 8)),
                2 => with_phone(person(&format!("p{}@x.io", (i / 4 + 1) % 10), &format!("Q{}", i / 8)), &format!("+{}", i / 8)),
                _ => person(&format!("solo{i}@x.io"), "S"),
            })
            .collect();
        let mut whole = Vec::new();
        let counts = import(&mut whole, &rows, 1000);
        assert_eq!(counts.total(), 40);
        for batch in [1, 3, 7, 16] {
            let mut batched = Vec::new();
            let counts = import(&mut batched, &rows, batch);
            assert_eq!(counts.total(), 40, "every row counts once in batches of {batch}");
            assert_eq!(people(&batched), people(&whole), "batches of {batch}");
            assert_eq!(counts.created - counts.merged, whole.len() as u64, "batches of {batch}");
        }
    }

    #[test]
    fn every_row_counts_once() {
        let rows: Vec<Contact> = (0..20).map(|i| person(&format!("p{}@x.io", i % 7), "P")).collect();
        let batch = row_contacts(&rows);
        let plan = plan_batch(&batch, &[]);
        assert_eq!(plan.counts.total(), 20);
        assert_eq!(plan.counts.created, 7);
        let mut total = Counts { rejected: 2, skipped: 1, ..Counts::default() };
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
            crate::domain::format::TextEncoding::Windows1252
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

        let c = contact_of(build_row(data[0], &mapping, None));
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

        let (line, reason) = rejection(build_row(data[1], &mapping, None));
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
