//! A person's own edit of a contact: the same rules as an import's row (emails
//! and phones normalised, something to identify it by, values bounded), so an
//! edited contact matches, merges and exports as an imported one does.

use super::contact::{Address, Contact, Labeled, Organization, Phone};
use serde::{Deserialize, Serialize};
use super::draft::{collapse_whitespace, is_valid_email};
use super::identity::{normalize_email, normalize_phone, Identity, IdentityKind};
use super::labels::canonical;

/// One labelled text value of the edit form.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LabeledText {
    pub value: String,
    pub label: String,
    pub preferred: bool,
}

/// The fields the contact page edits, as plain text: the page's client never
/// carries the whole contact. Applied to the stored contact, whose other
/// fields (dates, relations, handles, custom fields, the photo) stay.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContactForm {
    pub display_name: String,
    pub given: String,
    pub family: String,
    pub emails: Vec<LabeledText>,
    pub phones: Vec<LabeledText>,
    pub websites: Vec<LabeledText>,
    pub addresses: Vec<(Address, String)>,
    pub organizations: Vec<(Organization, String)>,
    /// Comma-separated.
    pub groups: String,
    pub notes: String,
}

impl ContactForm {
    pub fn of(contact: &Contact) -> Self {
        let texts = |values: &[Labeled<String>]| {
            values.iter().map(|v| LabeledText { value: v.value.clone(), label: v.label.clone(), preferred: v.preferred }).collect()
        };
        ContactForm {
            display_name: contact.display_name.clone(),
            given: contact.name.given.clone(),
            family: contact.name.family.clone(),
            emails: texts(&contact.emails),
            phones: contact
                .phones
                .iter()
                .map(|p| LabeledText { value: p.value.raw.clone(), label: p.label.clone(), preferred: p.preferred })
                .collect(),
            websites: texts(&contact.websites),
            addresses: contact.addresses.iter().map(|a| (a.value.clone(), a.label.clone())).collect(),
            organizations: contact.organizations.iter().map(|o| (o.value.clone(), o.label.clone())).collect(),
            groups: contact.groups.join(", "),
            notes: contact.notes.clone(),
        }
    }

    /// `stored` with the form's fields; what the form does not show stays.
    pub fn apply(&self, mut contact: Contact) -> Contact {
        let texts = |rows: &[LabeledText]| -> Vec<Labeled<String>> {
            rows.iter().filter(|r| !r.value.trim().is_empty()).map(|r| Labeled::new(r.value.trim().to_owned(), r.label.clone(), r.preferred)).collect()
        };
        contact.display_name = self.display_name.clone();
        contact.name.given = self.given.trim().to_owned();
        contact.name.family = self.family.trim().to_owned();
        contact.emails = texts(&self.emails);
        contact.phones = self
            .phones
            .iter()
            .filter(|r| !r.value.trim().is_empty())
            .map(|r| Labeled::new(Phone { raw: r.value.trim().to_owned(), normalized: String::new() }, r.label.clone(), r.preferred))
            .collect();
        contact.websites = texts(&self.websites);
        contact.addresses = self.addresses.iter().filter(|(a, _)| !a.is_empty()).map(|(a, l)| Labeled::new(a.clone(), l.clone(), false)).collect();
        contact.organizations =
            self.organizations.iter().filter(|(o, _)| !o.is_empty()).map(|(o, l)| Labeled::new(o.clone(), l.clone(), false)).collect();
        contact.groups = self.groups.split(',').map(str::trim).filter(|g| !g.is_empty()).map(str::to_owned).collect();
        contact.notes = self.notes.clone();
        contact
    }
}

/// What an edit may hold.
#[derive(Clone, Copy, Debug)]
pub struct EditLimits {
    /// Values of one kind (`IMPORT_MAX_VALUES_PER_CONTACT`).
    pub max_values: usize,
    /// The contact's document, photo aside.
    pub max_card_bytes: usize,
}

/// The edited contact as it will be stored, or why it cannot be.
pub fn checked_edit(mut contact: Contact, limits: &EditLimits) -> Result<Contact, String> {
    contact.display_name = collapse_whitespace(&contact.display_name);
    if contact.display_name.is_empty() {
        contact.display_name = contact.name.given_family();
    }
    if contact.display_name.is_empty() {
        contact.display_name = contact.organizations.first().map(|o| o.value.name.clone()).unwrap_or_default();
    }
    macro_rules! canonical_labels {
        ($($values:ident),*) => { $(for value in &mut contact.$values { value.label = canonical(&value.label); })* };
    }
    canonical_labels!(emails, phones, addresses, websites, ims, organizations, dates, relations);
    for email in &mut contact.emails {
        let normalized = normalize_email(&email.value);
        if !is_valid_email(&normalized) {
            return Err(format!("“{}” is not an email address.", email.value.trim()));
        }
        email.value = normalized;
    }
    dedupe_by(&mut contact.emails, |e| e.value.clone());
    for phone in &mut contact.phones {
        phone.value.raw = phone.value.raw.trim().to_owned();
        phone.value.normalized = normalize_phone(&phone.value.raw, None);
        if phone.value.normalized.is_empty() {
            return Err(format!("“{}” is not a phone number: it has no digits.", phone.value.raw));
        }
    }
    dedupe_by(&mut contact.phones, |p| p.value.normalized.clone());
    let counts = [
        ("emails", contact.emails.len()),
        ("phones", contact.phones.len()),
        ("addresses", contact.addresses.len()),
        ("websites", contact.websites.len()),
        ("handles", contact.ims.len()),
        ("organizations", contact.organizations.len()),
        ("dates", contact.dates.len()),
        ("relations", contact.relations.len()),
        ("groups", contact.groups.len()),
        ("custom fields", contact.custom.len()),
    ];
    if let Some((kind, n)) = counts.iter().find(|(_, n)| *n > limits.max_values) {
        return Err(format!("A contact may hold at most {} {kind}; this one has {n}.", limits.max_values));
    }
    if contact.display_name.is_empty() && contact.emails.is_empty() && contact.phones.is_empty() {
        return Err("A contact needs a name, an email or a phone.".to_owned());
    }
    let size = serde_json::to_string(&contact).map(|card| card.len()).unwrap_or(usize::MAX);
    if size > limits.max_card_bytes {
        return Err(format!("This contact is {size} bytes; a contact may hold at most {} bytes.", limits.max_card_bytes));
    }
    Ok(contact)
}

/// The identities of an edited contact: its own, and those it held from rows
/// merged into it (a name with one of its phones) while it still has that phone.
pub fn identities_after_edit(edited: &Contact, before: &[Identity]) -> Vec<Identity> {
    let mut identities = edited.identities();
    let phones: Vec<&str> = edited.phones.iter().map(|p| p.value.normalized.as_str()).collect();
    for identity in before {
        let still_held = identity.kind == IdentityKind::NamePhone
            && identity.value.rsplit_once('|').is_some_and(|(_, phone)| phones.contains(&phone));
        if still_held && !identities.contains(identity) {
            identities.push(identity.clone());
        }
    }
    identities
}

/// An identity as a person reads it: the address, the phone, or the name.
pub fn shown_identity(identity: &Identity) -> String {
    match identity.kind {
        IdentityKind::NamePhone => identity.value.rsplit_once('|').map(|(_, phone)| phone.to_owned()).unwrap_or_default(),
        IdentityKind::Email | IdentityKind::Name => identity.value.clone(),
    }
}

fn dedupe_by<T, K: PartialEq>(values: &mut Vec<T>, key: impl Fn(&T) -> K) {
    let mut seen: Vec<K> = Vec::with_capacity(values.len());
    values.retain(|value| {
        let k = key(value);
        let new = !seen.contains(&k);
        if new {
            seen.push(k);
        }
        new
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::contact::{Labeled, Phone};

    const LIMITS: EditLimits = EditLimits { max_values: 3, max_card_bytes: 10_000 };

    fn phone(raw: &str, label: &str) -> Labeled<Phone> {
        Labeled::new(Phone { raw: raw.to_owned(), normalized: String::new() }, label, false)
    }

    #[test]
    fn an_edit_is_stored_as_an_import_would_store_it() {
        let contact = Contact {
            display_name: "  Ana   Lima ".to_owned(),
            emails: vec![Labeled::new("Ana@Example.COM ".to_owned(), "work", false), Labeled::new("ana@example.com".to_owned(), "home", false)],
            phones: vec![phone("+1 (555) 010-0001", "mobile")],
            ..Contact::default()
        };
        let checked = checked_edit(contact, &LIMITS).unwrap();
        assert_eq!(checked.display_name, "Ana Lima");
        assert_eq!(checked.emails.len(), 1, "one address, once");
        assert_eq!(checked.emails[0].value, "ana@example.com");
        assert_eq!(checked.emails[0].label, "work");
        assert_eq!(checked.phones[0].value.normalized, "+15550100001");
        assert_eq!(checked.phones[0].label, "mobile");
    }

    #[test]
    fn an_edit_keeps_the_merged_identities_it_still_backs() {
        let edited = Contact { display_name: "Ana Lima".into(), phones: vec![phone("+15550100001", "")], ..Contact::default() };
        let mut edited = checked_edit(edited, &LIMITS).unwrap();
        let before = [
            Identity::name_phone("ana l", "+15550100001"),
            Identity::name_phone("ana l", "+15550100002"),
            Identity::email("old@example.com"),
        ];
        let identities = identities_after_edit(&edited, &before);
        assert_eq!(identities, [Identity::name_phone("ana lima", "+15550100001"), Identity::name_phone("ana l", "+15550100001")]);
        edited.phones.clear();
        assert_eq!(identities_after_edit(&edited, &before), [Identity::name("ana lima")]);
        assert_eq!(shown_identity(&before[0]), "+15550100001");
    }

    #[test]
    fn the_form_changes_its_fields_and_keeps_the_rest() {
        let stored = Contact {
            display_name: "Ana Lima".into(),
            phones: vec![phone("+1 555 010 0001", "mobile")],
            relations: vec![Labeled::new("Bo".to_owned(), "spouse", false)],
            ..Contact::default()
        };
        let mut form = ContactForm::of(&stored);
        form.phones[0].label = "fax".into();
        form.emails.push(LabeledText { value: " ana@example.com ".into(), ..LabeledText::default() });
        let edited = form.apply(stored.clone());
        assert_eq!(edited.phones[0].label, "fax");
        assert_eq!(edited.emails[0].value, "ana@example.com");
        assert_eq!(edited.relations, stored.relations, "what the form does not show stays");
        assert_eq!(ContactForm::of(&stored).apply(stored.clone()), stored);
    }

    #[test]
    fn what_an_import_would_refuse_is_refused() {
        let bad_email = Contact { display_name: "A".into(), emails: vec![Labeled::new("not an address".to_owned(), "", false)], ..Contact::default() };
        assert!(checked_edit(bad_email, &LIMITS).unwrap_err().contains("not an email"));
        let no_digits = Contact { display_name: "A".into(), phones: vec![phone("call me", "")], ..Contact::default() };
        assert!(checked_edit(no_digits, &LIMITS).unwrap_err().contains("no digits"));
        assert!(checked_edit(Contact::default(), &LIMITS).unwrap_err().contains("needs a name"));
        let many = Contact { display_name: "A".into(), groups: (0..4).map(|i| i.to_string()).collect(), ..Contact::default() };
        assert!(checked_edit(many, &LIMITS).unwrap_err().contains("at most 3 groups"));
        let huge = Contact { display_name: "A".into(), notes: "x".repeat(20_000), ..Contact::default() };
        assert!(checked_edit(huge, &LIMITS).unwrap_err().contains("at most 10000 bytes"));
    }
}
