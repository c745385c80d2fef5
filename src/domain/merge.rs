//! What a merge keeps when two rows, or a row and a stored contact, are one
//! person: everything. Values a person has several of are unioned with their
//! labels; a single value that differs from the one kept (a name, a birthday, a
//! gender, an organization, notes) is kept beside it, never dropped; and a value
//! refused by the per-contact cap is reported, never lost silently.

use super::contact::{Contact, CustomField, Labeled, Organization, MAX_NOTES_BYTES};
use super::identity::{fold, match_name};

/// Where merged values come from, and the cap they are kept within.
#[derive(Clone, Copy, Debug)]
pub struct MergeRules<'a> {
    /// Names the values kept beside existing ones: the file's name.
    pub source: &'a str,
    /// Values of one kind a contact may hold (`IMPORT_MAX_VALUES_PER_CONTACT`).
    pub max_values: usize,
}

/// What one merge did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Merged {
    pub changed: bool,
    /// Values kept beside a differing existing one (a custom field named for
    /// its source, an extra organization, appended notes).
    pub kept_beside: u64,
    /// Why values were not kept, for the row's warning ("2 emails past the limit …").
    pub refused: Vec<String>,
}

impl Merged {
    pub fn add(&mut self, other: Merged) {
        self.changed |= other.changed;
        self.kept_beside += other.kept_beside;
        self.refused.extend(other.refused);
    }
}

/// Merges `other` into `into`, which keeps its own values first.
pub fn merge(into: &mut Contact, other: &Contact, rules: &MergeRules) -> Merged {
    let mut merged = Merged::default();
    let max = rules.max_values;
    let name_beside = merge_display_name(into, other, rules, &mut merged);
    let parts = [
        ("Name prefix", &other.name.prefix),
        ("First name", &other.name.given),
        ("Middle name", &other.name.middle),
        ("Last name", &other.name.family),
        ("Name suffix", &other.name.suffix),
        ("Phonetic first name", &other.name.phonetic_given),
        ("Phonetic middle name", &other.name.phonetic_middle),
        ("Phonetic last name", &other.name.phonetic_family),
    ];
    let name = &mut into.name;
    let slots = [
        &mut name.prefix,
        &mut name.given,
        &mut name.middle,
        &mut name.family,
        &mut name.suffix,
        &mut name.phonetic_given,
        &mut name.phonetic_middle,
        &mut name.phonetic_family,
    ];
    let mut beside = Vec::new();
    for (slot, (label, incoming)) in slots.into_iter().zip(parts) {
        // A part of a name already kept beside whole is kept with it.
        let in_kept_name = name_beside.as_deref().is_some_and(|kept| fold(kept).contains(&fold(incoming)));
        if let Some(value) = scalar(slot, incoming, &mut merged) {
            if !in_kept_name {
                beside.push((label, value));
            }
        }
    }
    union_text(&mut into.nicknames, &other.nicknames, max, "nicknames", &mut merged);
    union(&mut into.emails, &other.emails, |a, b| a == b, max, "email addresses", &mut merged);
    union(&mut into.phones, &other.phones, |a, b| same_phone(&a.raw, &a.normalized, &b.raw, &b.normalized), max, "phone numbers", &mut merged);
    union(&mut into.addresses, &other.addresses, |a, b| a.parts().zip(b.parts()).all(|(x, y)| fold(x) == fold(y)), max, "addresses", &mut merged);
    union(&mut into.websites, &other.websites, |a, b| a == b, max, "websites", &mut merged);
    union(&mut into.ims, &other.ims, |a, b| fold(&a.service) == fold(&b.service) && a.handle == b.handle, max, "messaging handles", &mut merged);
    merge_organizations(&mut into.organizations, &other.organizations, max, &mut merged);
    union_dates(&mut into.dates, &other.dates, max, &mut merged);
    union(&mut into.relations, &other.relations, |a, b| fold(a) == fold(b), max, "related people", &mut merged);
    union_text(&mut into.groups, &other.groups, max, "groups", &mut merged);
    if let Some(birthday) = other.birthday {
        match into.birthday {
            None => {
                into.birthday = Some(birthday);
                merged.changed = true;
            }
            Some(kept) if kept != birthday => beside.push(("Birthday", birthday.iso())),
            Some(_) => {}
        }
    }
    if let Some(value) = scalar(&mut into.gender, &other.gender, &mut merged) {
        beside.push(("Gender", value));
    }
    merge_notes(into, &other.notes, rules.source, &mut merged);
    match (&into.photo, &other.photo) {
        (None, Some(photo)) => {
            into.photo = Some(photo.clone());
            merged.changed = true;
        }
        (Some(kept), Some(photo)) if kept != photo => {
            merged.refused.push("a second photo was not kept; the contact keeps the one it has".to_owned());
        }
        _ => {}
    }
    let beside: Vec<CustomField> =
        beside.into_iter().map(|(label, value)| CustomField { label: format!("{label} (from {})", rules.source), value }).collect();
    let before = into.custom.len();
    let beside: Vec<CustomField> = beside.into_iter().filter(|c| !kept_beside_already(&into.custom, c.label.split(" (from ").next().unwrap_or_default(), &c.value)).collect();
    union_custom(&mut into.custom, &beside, max, &mut merged);
    merged.kept_beside += (into.custom.len() - before) as u64;
    union_custom(&mut into.custom, &other.custom, max, &mut merged);
    merged
}

/// Fills an empty display name; a differing one is kept beside as a custom
/// field. The incoming name when it was kept beside.
fn merge_display_name(into: &mut Contact, other: &Contact, rules: &MergeRules, merged: &mut Merged) -> Option<String> {
    let incoming = &other.display_name;
    if incoming.is_empty() || match_name(incoming) == match_name(&into.display_name) {
        return None;
    }
    if into.display_name.is_empty() {
        into.display_name = incoming.clone();
        merged.changed = true;
        return None;
    }
    let field = CustomField { label: format!("Name (from {})", rules.source), value: incoming.clone() };
    if !kept_beside_already(&into.custom, "Name", incoming) {
        if into.custom.len() < rules.max_values {
            into.custom.push(field);
            merged.changed = true;
            merged.kept_beside += 1;
        } else {
            merged.refused.push(format!("the name \"{incoming}\" was not kept: the contact has {} custom fields already", rules.max_values));
        }
    }
    Some(incoming.clone())
}

/// Whether a value of `field` equal to `value` (as names compare) was kept beside already, from any source.
fn kept_beside_already(custom: &[CustomField], field: &str, value: &str) -> bool {
    let prefix = format!("{field} (from ");
    custom.iter().any(|c| c.label.starts_with(&prefix) && match_name(&c.value) == match_name(value))
}

/// Fills an empty single value. A different one is handed back, to be kept beside.
fn scalar(slot: &mut String, incoming: &str, merged: &mut Merged) -> Option<String> {
    if incoming.is_empty() || match_name(slot) == match_name(incoming) {
        return None;
    }
    if slot.is_empty() {
        incoming.clone_into(slot);
        merged.changed = true;
        return None;
    }
    Some(incoming.to_owned())
}

fn same_phone(raw_a: &str, normalized_a: &str, raw_b: &str, normalized_b: &str) -> bool {
    if normalized_a.is_empty() && normalized_b.is_empty() {
        fold(raw_a) == fold(raw_b)
    } else {
        normalized_a == normalized_b
    }
}

/// Adds each value `into` lacks, up to `max`; an existing one gains the label it lacked.
fn union<T: Clone>(
    into: &mut Vec<Labeled<T>>,
    other: &[Labeled<T>],
    same: impl Fn(&T, &T) -> bool,
    max: usize,
    what: &str,
    merged: &mut Merged,
) {
    let mut refused = 0;
    for incoming in other {
        let room = into.len() < max;
        match into.iter_mut().find(|kept| same(&kept.value, &incoming.value)) {
            Some(kept) => {
                if kept.label.is_empty() && !incoming.label.is_empty() {
                    kept.label.clone_from(&incoming.label);
                    merged.changed = true;
                }
            }
            None if room => {
                into.push(incoming.clone());
                merged.changed = true;
            }
            None => refused += 1,
        }
    }
    refuse(refused, what, max, merged);
}

/// Adds each value `into` lacks (`same` says which it has), up to `max`.
fn add_missing<T: Clone>(into: &mut Vec<T>, other: &[T], same: impl Fn(&T, &T) -> bool, max: usize, what: &str, merged: &mut Merged) {
    let mut refused = 0;
    for incoming in other {
        if into.iter().any(|kept| same(kept, incoming)) {
            continue;
        }
        if into.len() < max {
            into.push(incoming.clone());
            merged.changed = true;
        } else {
            refused += 1;
        }
    }
    refuse(refused, what, max, merged);
}

/// Dates are one when their day and label are: one day may be two dates.
fn union_dates(into: &mut Vec<Labeled<super::dates::PartialDate>>, other: &[Labeled<super::dates::PartialDate>], max: usize, merged: &mut Merged) {
    add_missing(into, other, |a, b| a.value == b.value && a.label == b.label, max, "dates", merged);
}

fn union_text(into: &mut Vec<String>, other: &[String], max: usize, what: &str, merged: &mut Merged) {
    add_missing(into, other, |a, b| fold(a) == fold(b), max, what, merged);
}

fn union_custom(into: &mut Vec<CustomField>, other: &[CustomField], max: usize, merged: &mut Merged) {
    add_missing(into, other, |a, b| a == b, max, "custom fields", merged);
}

fn refuse(refused: usize, what: &str, max: usize, merged: &mut Merged) {
    if refused > 0 {
        merged.refused.push(format!("{refused} {what} past the limit of {max} per contact were not kept"));
    }
}

/// An organization that agrees with a kept one (no part differs where both have
/// one) fills that one's empty parts; any other is kept as one more.
fn merge_organizations(into: &mut Vec<Labeled<Organization>>, other: &[Labeled<Organization>], max: usize, merged: &mut Merged) {
    let mut refused = 0;
    for incoming in other {
        let agrees = |kept: &Organization| {
            kept.parts().zip(incoming.value.parts()).all(|(a, b)| a.is_empty() || b.is_empty() || fold(a) == fold(b))
        };
        let (room, has_any) = (into.len() < max, !into.is_empty());
        match into.iter_mut().find(|kept| agrees(&kept.value)) {
            Some(kept) => {
                let value = &mut kept.value;
                for (slot, part) in [&mut value.name, &mut value.department, &mut value.title].into_iter().zip(incoming.value.parts()) {
                    if slot.is_empty() && !part.is_empty() {
                        part.clone_into(slot);
                        merged.changed = true;
                    }
                }
                if kept.label.is_empty() && !incoming.label.is_empty() {
                    kept.label.clone_from(&incoming.label);
                    merged.changed = true;
                }
            }
            None if room => {
                if has_any {
                    merged.kept_beside += 1;
                }
                into.push(incoming.clone());
                merged.changed = true;
            }
            None => refused += 1,
        }
    }
    refuse(refused, "organizations", max, merged);
}

/// Different notes are appended under their source; notes already held (as a
/// re-import brings them again) change nothing.
fn merge_notes(into: &mut Contact, incoming: &str, source: &str, merged: &mut Merged) {
    let incoming = incoming.trim();
    if incoming.is_empty() || into.notes.contains(incoming) {
        return;
    }
    if into.notes.is_empty() {
        into.notes = incoming.to_owned();
        merged.changed = true;
        return;
    }
    let appended = format!("\n\n[{source}] {incoming}");
    if into.notes.len() + appended.len() > MAX_NOTES_BYTES {
        merged.refused.push(format!("notes were not added: the contact's notes would pass {} KB", MAX_NOTES_BYTES / 1024));
        return;
    }
    into.notes.push_str(&appended);
    merged.changed = true;
    merged.kept_beside += 1;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::contact::{Phone, Photo};
    use crate::domain::dates::PartialDate;

    const RULES: MergeRules = MergeRules { source: "work.csv", max_values: 50 };

    fn email(value: &str, label: &str) -> Labeled<String> {
        Labeled::new(value.to_owned(), label, false)
    }

    fn org(name: &str, title: &str) -> Labeled<Organization> {
        Labeled::new(Organization { name: name.into(), title: title.into(), ..Organization::default() }, "", false)
    }

    fn ana() -> Contact {
        Contact {
            display_name: "Ana Lima".into(),
            emails: vec![email("a@x.io", "")],
            phones: vec![Labeled::new(Phone { raw: "555 1".into(), normalized: "5551".into() }, "mobile", false)],
            organizations: vec![org("Acme", "CEO")],
            birthday: PartialDate::new(Some(1980), 3, 10),
            notes: "Met at the fair".into(),
            ..Contact::default()
        }
    }

    #[test]
    fn unions_lists_and_keeps_labels() {
        let mut into = ana();
        let other = Contact {
            emails: vec![email("b@x.io", "work"), email("a@x.io", "home")],
            phones: vec![Labeled::new(Phone { raw: "5551".into(), normalized: "5551".into() }, "work", false)],
            groups: vec!["Friends".into()],
            ..Contact::default()
        };
        let merged = merge(&mut into, &other, &RULES);
        assert!(merged.changed);
        assert_eq!(merged.kept_beside, 0);
        assert_eq!(into.emails, vec![email("a@x.io", "home"), email("b@x.io", "work")], "an unlabelled email gains the label");
        assert_eq!(into.phones.len(), 1, "one number, by its normal form");
        assert_eq!(into.phones[0].label, "mobile", "a label held is kept");
        assert_eq!(into.groups, ["Friends"]);
        assert_eq!(merge(&mut into, &other, &RULES), Merged::default(), "merging twice changes nothing");
    }

    #[test]
    fn differing_single_values_are_kept_beside_and_counted() {
        let mut into = ana();
        let other = Contact {
            display_name: "Ana Maria Lima".into(),
            name: crate::domain::contact::Name { given: "Ana Maria".into(), ..Default::default() },
            organizations: vec![org("Acme", "CTO")],
            birthday: PartialDate::new(Some(1981), 3, 10),
            notes: "Prefers email".into(),
            gender: "female".into(),
            ..Contact::default()
        };
        let merged = merge(&mut into, &other, &RULES);
        assert!(merged.changed);
        // The name, the second organization, the birthday and the notes; the
        // given name is part of the name kept beside, and the gender filled an empty one.
        assert_eq!(merged.kept_beside, 4);
        assert_eq!(into.display_name, "Ana Lima");
        assert_eq!(into.name.given, "Ana Maria", "an empty part is filled");
        assert_eq!(into.gender, "female");
        assert_eq!(into.organizations, vec![org("Acme", "CEO"), org("Acme", "CTO")]);
        assert_eq!(into.birthday, PartialDate::new(Some(1980), 3, 10));
        assert_eq!(into.notes, "Met at the fair\n\n[work.csv] Prefers email");
        assert_eq!(
            into.custom,
            vec![
                CustomField { label: "Name (from work.csv)".into(), value: "Ana Maria Lima".into() },
                CustomField { label: "Birthday (from work.csv)".into(), value: "1981-03-10".into() },
            ]
        );
        let again = merge(&mut into, &other, &RULES);
        assert_eq!(again, Merged::default(), "a re-import of the same values changes nothing");
    }

    #[test]
    fn an_organization_that_agrees_fills_the_kept_one() {
        let mut into = Contact { organizations: vec![org("Acme", "")], ..Contact::default() };
        let merged = merge(&mut into, &Contact { organizations: vec![org("", "CEO")], ..Contact::default() }, &RULES);
        assert_eq!((merged.changed, merged.kept_beside), (true, 0));
        assert_eq!(into.organizations, vec![org("Acme", "CEO")]);
    }

    #[test]
    fn values_past_the_cap_are_refused_and_said() {
        let rules = MergeRules { source: "big.vcf", max_values: 3 };
        let mut into = Contact { emails: (0..3).map(|i| email(&format!("a{i}@x.io"), "")).collect(), ..Contact::default() };
        let other = Contact { emails: vec![email("n1@x.io", ""), email("n2@x.io", ""), email("a0@x.io", "")], ..Contact::default() };
        let merged = merge(&mut into, &other, &rules);
        assert_eq!(into.emails.len(), 3);
        assert_eq!(merged.refused, ["2 email addresses past the limit of 3 per contact were not kept"]);
    }

    #[test]
    fn a_second_photo_is_refused_and_said() {
        let mut into = Contact { photo: Some(Photo::Url("https://a".into())), ..Contact::default() };
        let merged = merge(&mut into, &Contact { photo: Some(Photo::Url("https://b".into())), ..Contact::default() }, &RULES);
        assert_eq!(into.photo, Some(Photo::Url("https://a".into())));
        assert_eq!(merged.refused.len(), 1);
        let mut empty = Contact::default();
        assert!(merge(&mut empty, &into, &RULES).changed);
        assert_eq!(empty.photo, into.photo);
    }
}
