//! Planning how a batch of rows merges into what is already stored: who is
//! one person, which contacts to write, and the counts.

use super::contact::{Contact, Photo};
use super::history::{Action, ContactRecord, NewEntry};
use super::identity::Identity;
use super::merge::{merge, Merged, MergeRules};
use foldhash::{HashMap, HashMapExt, HashSet};
use serde::{Deserialize, Serialize};
use std::borrow::Cow;

/// A row's contact with its identities and stored text, worked out once
/// while the file is read: the batch's commit, which every batch waits for,
/// only looks them up.
#[derive(Clone, Debug, PartialEq)]
pub struct RowContact {
    /// The file line the row or card starts on, for the warnings a merge gives.
    pub line: u64,
    pub contact: Contact,
    pub identities: Vec<Identity>,
    pub text: ContactText,
}

impl RowContact {
    pub fn new(line: u64, contact: Contact) -> Self {
        let identities = contact.identities();
        let text = ContactText::of(&contact, &identities);
        Self { line, contact, identities, text }
    }
}

/// A contact as its row stores it: the document, the photo beside it, the
/// text search matches, and the identities.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct ContactText {
    /// The contact as JSON, without its photo.
    pub card: String,
    /// The photo as JSON, when it has one.
    pub photo: Option<String>,
    /// `Contact::search_text`.
    pub search: String,
    /// The person's identities (`identity::listing`).
    pub identities: String,
}

impl ContactText {
    pub fn of(contact: &Contact, identities: &[Identity]) -> Self {
        let search = contact.search_text();
        // The document holds every searchable value once more, with its key and label:
        // sized for it, its text is not copied on the way as it grows from serde_json's 128 bytes.
        let mut card = Vec::with_capacity(3 * search.len() + 64);
        serde_json::to_writer(&mut card, contact).expect("a contact serialises");
        // A contact of one long value (notes) has a document about as long as its
        // search text: the batch keeps its rows, so it does not keep the room.
        if card.capacity() > 2 * card.len() {
            card.shrink_to_fit();
        }
        Self {
            card: String::from_utf8(card).expect("serde_json writes UTF-8"),
            photo: contact.photo.as_ref().map(|photo: &Photo| serde_json::to_string(photo).expect("a photo serialises")),
            search,
            identities: super::identity::listing(identities),
        }
    }
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
    /// Rows imported with a warning (a value kept as a custom field, a value
    /// past the cap). Each is also created, updated or unchanged.
    #[serde(default)]
    pub warned: u64,
    /// Values kept beside a differing one a contact had (a second title, a
    /// conflicting birthday, appended notes). Not a count of rows.
    #[serde(default)]
    pub kept_beside: u64,
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
        self.warned += other.warned;
        self.kept_beside += other.kept_beside;
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
    /// The row as read, for the journal: what a change to it replaced.
    pub record: Option<ContactRecord>,
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
    /// The surviving stored contact as it was, and the absorbed ones: what
    /// the journal keeps of the change.
    before: Option<ContactRecord>,
    absorbed_before: Vec<ContactRecord>,
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
    /// `created`, `updated`, `unchanged`, `merged` and `kept_beside`; the
    /// caller counts rejected, skipped and warned rows.
    pub counts: Counts,
    /// What the merges could not keep, by the line of the row that brought it.
    pub warnings: Vec<(u64, String)>,
}

impl<'r> BatchPlan<'r> {
    /// The contacts to write: created or updated ones.
    pub fn writes(&self) -> impl Iterator<Item = &PlannedContact<'r>> {
        self.contacts.iter().filter(|c| c.change != Change::Unchanged)
    }

    /// The journal of the plan, given each planned contact's id, in the order
    /// the store applies it: the absorbed contacts go, then survivors change
    /// (fields, or only the identities they list), then new contacts come.
    pub fn journal(&self, ids: &[i64]) -> Vec<NewEntry> {
        let mut entries: Vec<NewEntry> = self
            .contacts
            .iter()
            .flat_map(|c| c.absorbed_before.iter())
            .map(|before| NewEntry { contact_id: before.id, action: Action::Deleted, before: Some(before.clone()) })
            .collect();
        entries.reserve(self.contacts.len());
        for (planned, id) in self.contacts.iter().zip(ids) {
            let relisted = planned.change == Change::Unchanged && !planned.new_identities.is_empty();
            if planned.change == Change::Updated || relisted {
                entries.push(NewEntry { contact_id: *id, action: Action::Updated, before: planned.before.clone() });
            }
        }
        for (_, id) in self.contacts.iter().zip(ids).filter(|(c, _)| c.change == Change::Created) {
            entries.push(NewEntry { contact_id: *id, action: Action::Created, before: None });
        }
        entries
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
pub fn plan_batch<'r>(rows: &'r [RowContact], stored: &[StoredContact], rules: &MergeRules) -> BatchPlan<'r> {
    // Oldest stored contacts first, then rows in file order: a group's first item is its base.
    let mut stored: Vec<&StoredContact> = stored.iter().collect();
    stored.sort_by_key(|s| s.id);
    stored.dedup_by_key(|s| s.id);
    let items: Vec<&Contact> = stored.iter().map(|s| &s.contact).chain(rows.iter().map(|r| &r.contact)).collect();
    let own: Vec<&[Identity]> =
        stored.iter().map(|s| s.identities.as_slice()).chain(rows.iter().map(|r| r.identities.as_slice())).collect();
    let mut sets = Sets((0..items.len()).collect());
    let mut holder: HashMap<&Identity, usize> = HashMap::with_capacity(own.iter().map(|identities| identities.len()).sum());
    for (i, identities) in own.iter().enumerate() {
        for identity in identities.iter() {
            let first = *holder.entry(identity).or_insert(i);
            sets.join(first, i);
        }
    }
    loop {
        let mut members: Vec<Vec<usize>> = Vec::with_capacity(items.len());
        let mut group_of_root = vec![usize::MAX; items.len()];
        for i in 0..items.len() {
            let root = sets.root(i);
            if group_of_root[root] == usize::MAX {
                group_of_root[root] = members.len();
                // Most groups are one row.
                members.push(Vec::with_capacity(1));
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
                        merge(&mut contact, items[i], rules);
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
            return count_plan(&members, rows, &stored, identities, rules);
        }
    }
}

/// Merges each group in order (stored base, then rows), counting every row once.
fn count_plan<'r>(
    members: &[Vec<usize>],
    rows: &'r [RowContact],
    stored: &[&StoredContact],
    group_identities: Vec<Cow<'r, [Identity]>>,
    rules: &MergeRules,
) -> BatchPlan<'r> {
    let mut counts = Counts::default();
    let mut warnings = Vec::new();
    let mut contacts = Vec::with_capacity(members.len());
    // Stored contacts found to be one person: the younger one's values are kept beside the older one's.
    let absorbing = MergeRules { source: "a merged contact", ..*rules };
    for (group, identities) in members.iter().zip(group_identities) {
        let stored_members: Vec<&StoredContact> = group.iter().filter(|&&i| i < stored.len()).map(|&i| stored[i]).collect();
        let mut group_rows = group.iter().filter(|&&i| i >= stored.len()).map(|&i| &rows[i - stored.len()]).peekable();
        let lone_row = group.len() == 1 && stored_members.is_empty();
        let mut absorbed_merge = Merged::default();
        let (id, absorbed, mut base, mut change): (_, _, Cow<'r, Contact>, _) = match stored_members.split_first() {
            Some((oldest, younger)) => {
                let mut base = oldest.contact.clone();
                for other in younger {
                    absorbed_merge.add(merge(&mut base, &other.contact, &absorbing));
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
        counts.kept_beside += absorbed_merge.kept_beside;
        // What merging stored contacts could not keep is told on the row that showed they are one.
        let mut pending_refusals = absorbed_merge.refused;
        let mut first_row = id.is_some();
        for row in group_rows {
            let mut merged = merge(base.to_mut(), &row.contact, rules);
            merged.refused.splice(0..0, std::mem::take(&mut pending_refusals));
            counts.kept_beside += merged.kept_beside;
            if !merged.refused.is_empty() {
                warnings.push((row.line, format!("{}: {}.", base.display_name, merged.refused.join("; "))));
            }
            if merged.changed || (first_row && !absorbed.is_empty()) {
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
        let changes_stored = change != Change::Unchanged || !new_identities.is_empty();
        let before = stored_members.first().filter(|_| changes_stored).and_then(|s| s.record.clone());
        let absorbed_before = stored_members.iter().skip(1).filter_map(|s| s.record.clone()).collect();
        contacts.push(PlannedContact { id, contact: base, absorbed, change, identities, new_identities, row_text, before, absorbed_before });
    }
    BatchPlan { contacts, counts, warnings }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::contact::{Labeled, Organization, Phone};

    const RULES: MergeRules = MergeRules { source: "file.csv", max_values: 50 };

    fn person(email: &str, name: &str) -> Contact {
        Contact {
            display_name: name.to_owned(),
            emails: if email.is_empty() { vec![] } else { vec![Labeled::new(email.to_owned(), "", false)] },
            ..Contact::default()
        }
    }

    fn emails(contact: &Contact) -> Vec<&str> {
        contact.emails.iter().map(|e| e.value.as_str()).collect()
    }

    fn with_org(mut contact: Contact, name: &str, title: &str) -> Contact {
        contact.organizations.push(Labeled::new(Organization { name: name.into(), title: title.into(), ..Organization::default() }, "", false));
        contact
    }

    fn plan_batch<'r>(rows: &'r [RowContact], stored: &[StoredContact]) -> BatchPlan<'r> {
        super::plan_batch(rows, stored, &RULES)
    }

    fn row_contacts(rows: &[Contact]) -> Vec<RowContact> {
        rows.iter().cloned().enumerate().map(|(i, c)| RowContact::new(i as u64 + 2, c)).collect()
    }

    fn stored(id: i64, contact: Contact) -> StoredContact {
        let identities = contact.identities();
        StoredContact { id, contact, identities, record: None }
    }

    fn with_phone(mut contact: Contact, phone: &str) -> Contact {
        contact.phones.push(Labeled::new(Phone { raw: phone.into(), normalized: phone.into() }, "", false));
        contact
    }

    fn with_email(mut contact: Contact, email: &str) -> Contact {
        contact.emails.push(Labeled::new(email.into(), "", false));
        contact
    }

    /// What a batch's plan leaves stored, as the store would: survivors keep
    /// their id, new contacts take the next ones, absorbed ones are gone.
    fn apply(stored: &mut Vec<StoredContact>, plan: &BatchPlan<'_>) {
        for planned in &plan.contacts {
            stored.retain(|s| !planned.absorbed.contains(&s.id) && Some(s.id) != planned.id);
            let id = planned.id.unwrap_or_else(|| stored.iter().map(|s| s.id).max().unwrap_or(0) + 1);
            stored.push(StoredContact { id, contact: planned.contact.clone().into_owned(), identities: planned.identities.to_vec(), record: None });
        }
    }

    /// Each stored person as their sorted emails and phones, sorted.
    fn people(stored: &[StoredContact]) -> Vec<Vec<String>> {
        let mut people: Vec<Vec<String>> = stored
            .iter()
            .map(|s| {
                let mut values: Vec<String> = s.contact.emails.iter().map(|e| e.value.clone()).collect();
                values.extend(s.contact.phones.iter().map(|p| p.value.normalized.clone()));
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
        let second = with_org(person("a@x.io", "Ana Lima"), "", "CTO");
        let rows = vec![
            person("a@x.io", "Ana"),
            person("b@x.io", "Bo"),
            second,
            person("a@x.io", "Ana"),
        ];
        let batch = row_contacts(&rows);
        let plan = plan_batch(&batch, &[]);
        // "Ana Lima" is kept beside "Ana".
        assert_eq!(plan.counts, Counts { created: 2, updated: 1, unchanged: 1, kept_beside: 1, ..Counts::default() });
        let writes: Vec<&PlannedContact> = plan.writes().collect();
        assert_eq!(writes.len(), 2);
        assert_eq!((writes[0].id, writes[0].change), (None, Change::Created));
        assert_eq!((writes[0].contact.display_name.as_str(), writes[0].contact.organization()), ("Ana", ("", "CTO")));
        assert_eq!(writes[0].new_identities, vec![Identity::email("a@x.io")]);
        assert_eq!(emails(&writes[1].contact), ["b@x.io"]);
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
        let richer = with_org(person("a@x.io", "Ana"), "Acme", "");
        let batch = row_contacts(&[person("b@x.io", "Bo"), person("a@x.io", "Ana"), richer]);
        let plan = plan_batch(&batch, &stored);
        assert_eq!(plan.counts, Counts { updated: 1, unchanged: 2, ..Counts::default() });
        let writes: Vec<&PlannedContact> = plan.writes().collect();
        assert_eq!(writes.len(), 1);
        assert_eq!((writes[0].id, writes[0].change), (Some(1), Change::Updated));
        assert_eq!(writes[0].contact.organization(), ("Acme", ""));
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
        assert_eq!((cy.id, emails(&cy.contact)), (Some(2), vec!["cy@x.io"]));
        assert_eq!(cy.contact.display_name, "Cy", "the stored name is kept");
    }

    #[test]
    fn a_row_matching_two_contacts_merges_them_into_the_oldest() {
        let older = with_org(person("a@x.io", "Ana"), "Acme", "");
        let younger = with_org(with_phone(person("b@x.io", "Ana Lima"), "+1555"), "", "CTO");
        let stored = vec![stored(9, younger), stored(4, older)];
        let batch = row_contacts(&[with_email(person("b@x.io", ""), "a@x.io")]);
        let plan = plan_batch(&batch, &stored);
        assert_eq!(plan.counts, Counts { updated: 1, merged: 1, kept_beside: 1, ..Counts::default() });
        let [survivor] = plan.contacts.as_slice() else { panic!("one person: {:?}", plan.contacts) };
        assert_eq!((survivor.id, survivor.absorbed.as_slice(), survivor.change), (Some(4), [9].as_slice(), Change::Updated));
        let c = &survivor.contact;
        assert_eq!(emails(c), ["a@x.io", "b@x.io"], "the oldest contact's primary stays first");
        assert_eq!((c.display_name.as_str(), c.organization()), ("Ana", ("Acme", "CTO")));
        assert_eq!(c.custom[0].value, "Ana Lima", "the younger one's name is kept beside");
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
        assert_eq!(counts, Counts { created: 2, updated: 2, unchanged: 2, kept_beside: 1, ..Counts::default() });
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
        let unlisted = |id: i64, contact: Contact| StoredContact { id, contact, identities: Vec::new(), record: None };
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
    fn a_merge_that_refuses_values_warns_on_the_row_that_brought_them() {
        let rules = MergeRules { source: "big.csv", max_values: 2 };
        let stored = vec![stored(1, with_email(person("a@x.io", "Ana"), "b@x.io"))];
        let rows = row_contacts(&[with_email(person("a@x.io", "Ana"), "c@x.io")]);
        let plan = super::plan_batch(&rows, &stored, &rules);
        assert_eq!(plan.warnings, vec![(2, "Ana: 1 email addresses past the limit of 2 per contact were not kept.".to_owned())]);
        assert_eq!(plan.counts, Counts { unchanged: 1, ..Counts::default() });
    }

    #[test]
    fn two_rows_of_one_person_keep_every_value_and_count_it() {
        let mut first = with_org(person("a@x.io", "Ana"), "Acme", "CEO");
        first.birthday = crate::domain::dates::PartialDate::new(Some(1980), 3, 10);
        first.notes = "likes tea".into();
        let mut second = with_org(person("a@x.io", "Ana"), "Acme", "CTO");
        second.birthday = crate::domain::dates::PartialDate::new(Some(1981), 3, 10);
        second.notes = "prefers email".into();
        let rows = row_contacts(&[first, second]);
        let plan = plan_batch(&rows, &[]);
        assert_eq!(plan.counts, Counts { created: 1, updated: 1, kept_beside: 3, ..Counts::default() });
        let c = &plan.contacts[0].contact;
        assert_eq!(c.organizations.len(), 2);
        assert_eq!(c.notes, "likes tea\n\n[file.csv] prefers email");
        assert_eq!(c.custom[0].label, "Birthday (from file.csv)");
    }
}
