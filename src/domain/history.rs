//! The change journal: each change to a person's contacts with the contact as
//! it was before, and how a run of changes is taken back. Undoing every change
//! since a point, newest first, leaves exactly the state at that point: for each
//! contact, the state before its oldest change in the run.

use serde::{Deserialize, Serialize};

/// A contact's row as the journal keeps it and an undo puts it back: its
/// display name, document, photo and listed identities, as stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ContactRecord {
    pub id: i64,
    pub name: String,
    pub card: String,
    pub photo: Option<String>,
    /// `identity::listing` of the identities it holds.
    pub identities: String,
    /// Unix microseconds, as precise as either backend keeps time (SQLite: milliseconds).
    pub created_at: i64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    Created,
    Updated,
    /// Deleted, or merged into another contact.
    Deleted,
}

impl Action {
    pub fn code(self) -> &'static str {
        match self {
            Action::Created => "c",
            Action::Updated => "u",
            Action::Deleted => "d",
        }
    }

    pub fn from_code(code: &str) -> Option<Self> {
        match code.trim() {
            "c" => Some(Action::Created),
            "u" => Some(Action::Updated),
            "d" => Some(Action::Deleted),
            _ => None,
        }
    }
}

/// One change to be written: what happened to a contact, and how it was before
/// (`None` for a contact the change created).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewEntry {
    pub contact_id: i64,
    pub action: Action,
    pub before: Option<ContactRecord>,
}

/// A change as the journal holds it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    /// Its place in the order of changes.
    pub id: i64,
    pub contact_id: i64,
    pub before: Option<ContactRecord>,
}

/// What undoing a run of entries does to the contacts it names.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Reversal {
    /// Contacts to delete: the run created them.
    pub remove: Vec<i64>,
    /// Rows to put back (in place of the current row, if any).
    pub restore: Vec<ContactRecord>,
    /// The reversal's own changes, for the journal: an undo can be undone.
    pub changes: Vec<NewEntry>,
    pub counts: ReversalCounts,
}

/// What a reversal did, as its result says.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ReversalCounts {
    /// Contacts brought back (deleted or merged away since the point).
    pub restored: u64,
    /// Contacts given their earlier values.
    pub reverted: u64,
    /// Contacts removed (made since the point).
    pub removed: u64,
}

impl ReversalCounts {
    pub fn add(&mut self, other: &ReversalCounts) {
        self.restored += other.restored;
        self.reverted += other.reverted;
        self.removed += other.removed;
    }
}

/// How to undo `entries` (a run of the journal, in any order), given the
/// current rows of the contacts they name. Each contact goes back to its state
/// before its oldest entry in the run; a contact the run did not change is left.
/// (An undo has the store remove the contacts a run created without reading
/// them out; given their entries, this removes them too.)
pub fn reverse(entries: &[Entry], current: &[ContactRecord]) -> Reversal {
    let mut sorted: Vec<&Entry> = entries.iter().collect();
    sorted.sort_by_key(|e| e.id);
    let mut seen = std::collections::HashSet::with_capacity(sorted.len());
    let oldest: Vec<&Entry> = sorted.into_iter().filter(|e| seen.insert(e.contact_id)).collect();
    let current: std::collections::HashMap<i64, &ContactRecord> = current.iter().map(|c| (c.id, c)).collect();
    let mut reversal = Reversal::default();
    // Newest first in the reversal's own journal, as the undo takes them back.
    for entry in oldest.iter().rev() {
        let now = current.get(&entry.contact_id).copied();
        match (&entry.before, now) {
            (None, None) => {}
            (None, Some(now)) => {
                reversal.remove.push(now.id);
                reversal.changes.push(NewEntry { contact_id: now.id, action: Action::Deleted, before: Some(now.clone()) });
                reversal.counts.removed += 1;
            }
            (Some(before), None) => {
                reversal.restore.push(before.clone());
                reversal.changes.push(NewEntry { contact_id: before.id, action: Action::Created, before: None });
                reversal.counts.restored += 1;
            }
            (Some(before), Some(now)) if before == now => {}
            (Some(before), Some(now)) => {
                reversal.restore.push(before.clone());
                reversal.changes.push(NewEntry { contact_id: now.id, action: Action::Updated, before: Some(now.clone()) });
                reversal.counts.reverted += 1;
            }
        }
    }
    reversal
}

/// What a job other than an import does, kept with the job.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum JobParams {
    /// Undo the changes from `from` to `until` (journal ids), newest first.
    Undo { from: i64, until: i64 },
    /// Delete the contacts with these ids, or those the search finds, up to
    /// contact `until` (the largest id when the deletion was asked for).
    Delete { ids: Option<Vec<i64>>, query: String, until: i64 },
}

/// The operations a run of changes holds, by kind: what an undo also takes back.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Covers {
    pub imports: u64,
    pub undos: u64,
    pub edits: u64,
    pub deletions: u64,
}

impl Covers {
    /// "2 later imports and 5 edits", the operation itself left out.
    pub fn sentence(&self) -> String {
        let part = |n: u64, one: &str, many: &str| (n > 0).then(|| format!("{n} {}", if n == 1 { one } else { many }));
        let parts: Vec<String> = [
            part(self.imports, "import", "imports"),
            part(self.undos, "undo", "undos"),
            part(self.edits, "edit", "edits"),
            part(self.deletions, "deletion", "deletions"),
        ]
        .into_iter()
        .flatten()
        .collect();
        match parts.as_slice() {
            [] => String::new(),
            [one] => one.clone(),
            [init @ .., last] => format!("{} and {last}", init.join(", ")),
        }
    }
}

/// The kind of an operation in the history.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum OpKind {
    Import,
    Undo,
    Edit,
    Delete,
}

impl OpKind {
    pub fn as_str(self) -> &'static str {
        match self {
            OpKind::Import => "import",
            OpKind::Undo => "undo",
            OpKind::Edit => "edit",
            OpKind::Delete => "delete",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        [OpKind::Import, OpKind::Undo, OpKind::Edit, OpKind::Delete].into_iter().find(|k| k.as_str() == text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(id: i64, card: &str) -> ContactRecord {
        ContactRecord { id, name: card.to_owned(), card: card.to_owned(), photo: None, identities: "[]".to_owned(), created_at: 0 }
    }

    fn entry(id: i64, contact_id: i64, before: Option<ContactRecord>) -> Entry {
        Entry { id, contact_id, before }
    }

    #[test]
    fn each_contact_goes_back_to_before_its_oldest_change() {
        // 1 was created, 2 updated twice, 3 merged away into 2.
        let entries = [
            entry(10, 3, Some(record(3, "Cy"))),
            entry(11, 2, Some(record(2, "Bo"))),
            entry(12, 1, None),
            entry(13, 2, Some(record(2, "Bo Lima"))),
        ];
        let current = [record(1, "Ana"), record(2, "Bo Lima Jr")];
        let reversal = reverse(&entries, &current);
        assert_eq!(reversal.remove, [1]);
        assert_eq!(reversal.restore, [record(2, "Bo"), record(3, "Cy")]);
        assert_eq!(reversal.counts, ReversalCounts { restored: 1, reverted: 1, removed: 1 });
        let actions: Vec<(i64, Action)> = reversal.changes.iter().map(|c| (c.contact_id, c.action)).collect();
        assert_eq!(actions, [(1, Action::Deleted), (2, Action::Updated), (3, Action::Created)]);
        assert_eq!(reversal.changes[1].before, Some(record(2, "Bo Lima Jr")), "the undo's own change keeps what it replaced");
    }

    #[test]
    fn what_is_already_as_it_was_is_left() {
        let entries = [entry(1, 7, Some(record(7, "Ana"))), entry(2, 8, None)];
        let reversal = reverse(&entries, &[record(7, "Ana")]);
        assert_eq!(reversal, Reversal::default());
    }

    #[test]
    fn covers_read_as_a_sentence() {
        assert_eq!(Covers { imports: 2, edits: 5, ..Covers::default() }.sentence(), "2 imports and 5 edits");
        assert_eq!(Covers { imports: 1, undos: 1, edits: 1, deletions: 2 }.sentence(), "1 import, 1 undo, 1 edit and 2 deletions");
        assert_eq!(Covers::default().sentence(), "");
        let params = JobParams::Undo { from: 3, until: 9 };
        assert_eq!(serde_json::from_str::<JobParams>(&serde_json::to_string(&params).unwrap()).unwrap(), params);
    }
}
