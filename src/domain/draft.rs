//! A contact being built from one row or one card: each value normalised,
//! checked and kept where it belongs. A value that cannot go where the file
//! meant it (an email that is not one, a date that is no date) is kept as a
//! custom field under its column's name, with a warning; a value past the
//! per-contact cap is counted and warned about. Only a row with nothing to
//! identify a person by is rejected.

use super::contact::{Address, Contact, CustomField, Im, Labeled, Organization, Phone, Photo};
use super::plan::RowContact;
use super::dates::{DayOrder, PartialDate};
use super::identity::{normalize_email, normalize_phone, CallingCode};

/// What every row of one import is built with.
#[derive(Clone, Debug)]
pub struct DraftRules {
    /// Completes phone numbers written without a country code, when set.
    pub default_code: Option<CallingCode>,
    /// Values of one kind a contact may hold (`IMPORT_MAX_VALUES_PER_CONTACT`).
    pub max_values: usize,
    pub day_order: DayOrder,
}

/// How one row or card turned out.
#[derive(Clone, Debug, PartialEq)]
pub enum RowOutcome {
    /// A contact, with what the file held that could not go where it meant.
    Contact { row: RowContact, warnings: Vec<String> },
    Blank,
    Rejected { line: u64, reason: String },
}

/// The parts of a name a column or property may fill.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NamePart {
    Prefix,
    Given,
    Middle,
    Family,
    Suffix,
    PhoneticGiven,
    PhoneticMiddle,
    PhoneticFamily,
}

pub struct Draft<'r> {
    contact: Contact,
    rules: &'r DraftRules,
    /// The file's own full name, which the display name is.
    full_name: String,
    warnings: Vec<String>,
    /// The first value that was no email address, for a row that has nothing else.
    bad_email: Option<String>,
    /// Values past the cap, by what they are.
    refused: Vec<(&'static str, usize)>,
}

impl<'r> Draft<'r> {
    pub fn new(rules: &'r DraftRules) -> Self {
        Self { contact: Contact::default(), rules, full_name: String::new(), warnings: Vec::new(), bad_email: None, refused: Vec::new() }
    }

    pub fn warn(&mut self, warning: String) {
        if !self.warnings.contains(&warning) {
            self.warnings.push(warning);
        }
    }

    fn refuse(&mut self, what: &'static str) {
        match self.refused.iter_mut().find(|(w, _)| *w == what) {
            Some((_, count)) => *count += 1,
            None => self.refused.push((what, 1)),
        }
    }

    /// Keeps `value` in `list` unless it is there (`same`), within the cap.
    /// An existing value without a label takes the new one's.
    fn push<T>(&mut self, list: fn(&mut Contact) -> &mut Vec<Labeled<T>>, value: Labeled<T>, same: impl Fn(&T, &T) -> bool, what: &'static str) {
        let max = self.rules.max_values;
        let values = list(&mut self.contact);
        if let Some(kept) = values.iter_mut().find(|kept| same(&kept.value, &value.value)) {
            if kept.label.is_empty() {
                kept.label = value.label;
            }
            kept.preferred |= value.preferred;
            return;
        }
        if values.len() >= max {
            self.refuse(what);
            return;
        }
        if values.is_empty() {
            // Most contacts have one value of a kind: room for one, not Vec's first four.
            values.reserve_exact(1);
        }
        values.push(value);
    }

    fn push_text(&mut self, list: fn(&mut Contact) -> &mut Vec<String>, value: &str, what: &'static str) {
        let value = value.trim();
        if value.is_empty() {
            return;
        }
        let max = self.rules.max_values;
        let values = list(&mut self.contact);
        if values.iter().any(|kept| kept == value) {
            return;
        }
        if values.len() >= max {
            self.refuse(what);
            return;
        }
        values.push(value.to_owned());
    }

    /// A custom field; `label` names where the value came from.
    pub fn custom(&mut self, label: &str, value: &str) {
        let value = value.trim();
        if value.is_empty() {
            return;
        }
        let field = CustomField { label: label.trim().to_owned(), value: value.to_owned() };
        if self.contact.custom.contains(&field) {
            return;
        }
        if self.contact.custom.len() >= self.rules.max_values {
            self.refuse("custom fields");
            return;
        }
        self.contact.custom.push(field);
    }

    /// The file's full name; a second, different one is kept as a custom field.
    pub fn full_name(&mut self, value: &str, source: &str) {
        let value = collapse_whitespace(value);
        if value.is_empty() {
            return;
        }
        if self.full_name.is_empty() {
            self.full_name = value;
        } else if self.full_name != value {
            self.custom(source, &value);
        }
    }

    pub fn name_part(&mut self, part: NamePart, value: &str, source: &str) {
        let value = collapse_whitespace(value);
        if value.is_empty() {
            return;
        }
        let name = &mut self.contact.name;
        let slot = match part {
            NamePart::Prefix => &mut name.prefix,
            NamePart::Given => &mut name.given,
            NamePart::Middle => &mut name.middle,
            NamePart::Family => &mut name.family,
            NamePart::Suffix => &mut name.suffix,
            NamePart::PhoneticGiven => &mut name.phonetic_given,
            NamePart::PhoneticMiddle => &mut name.phonetic_middle,
            NamePart::PhoneticFamily => &mut name.phonetic_family,
        };
        if slot.is_empty() {
            *slot = value;
        } else if *slot != value {
            self.custom(source, &value);
        }
    }

    pub fn nickname(&mut self, value: &str) {
        self.push_text(|c| &mut c.nicknames, value, "nicknames");
    }

    pub fn group(&mut self, value: &str) {
        self.push_text(|c| &mut c.groups, value, "groups");
    }

    /// An email address; one that is not an address is kept as a custom field
    /// under `source`, with a warning. Outlook's internal Exchange address
    /// (`/o=Org/ou=…`) is no email address either, but holds no mistake.
    pub fn email(&mut self, text: &str, label: &str, preferred: bool, source: &str) {
        let text = text.trim();
        if text.is_empty() {
            return;
        }
        if text.get(..3).is_some_and(|p| p.eq_ignore_ascii_case("/o=")) {
            self.custom(source, text);
            return;
        }
        let email = normalize_email(text);
        if !is_valid_email(&email) {
            self.bad_email.get_or_insert_with(|| text.to_owned());
            self.warn(format!("\"{text}\" is not a valid email address; it was kept as the custom field \"{source}\"."));
            self.custom(source, text);
            return;
        }
        self.push(|c| &mut c.emails, Labeled::new(email, label, preferred), |a, b| a == b, "email addresses");
    }

    /// A phone number as written. A value without a digit ("n/a", "-") is no
    /// number: punctuation alone is nothing, words are kept as a custom field.
    pub fn phone(&mut self, text: &str, label: &str, preferred: bool, source: &str) {
        let raw = text.trim();
        if raw.is_empty() {
            return;
        }
        let normalized = normalize_phone(raw, self.rules.default_code.as_ref());
        let has_digits = normalized.len() > usize::from(normalized.starts_with('+'));
        if !has_digits {
            if raw.chars().any(char::is_alphabetic) && !matches!(raw.to_lowercase().as_str(), "n/a" | "na" | "none" | "keine") {
                self.custom(source, raw);
            }
            return;
        }
        let phone = Phone { raw: raw.to_owned(), normalized };
        self.push(|c| &mut c.phones, Labeled::new(phone, label, preferred), |a, b| a.normalized == b.normalized, "phone numbers");
    }

    pub fn address(&mut self, address: Labeled<Address>) {
        if address.value.is_empty() {
            return;
        }
        self.push(|c| &mut c.addresses, address, |a, b| a == b, "addresses");
    }

    pub fn website(&mut self, text: &str, label: &str, preferred: bool) {
        let text = text.trim();
        if !text.is_empty() {
            self.push(|c| &mut c.websites, Labeled::new(text.to_owned(), label, preferred), |a, b| a == b, "websites");
        }
    }

    pub fn im(&mut self, im: Labeled<Im>) {
        if !im.value.handle.is_empty() {
            self.push(|c| &mut c.ims, im, |a, b| a == b, "messaging handles");
        } else if !im.value.service.is_empty() {
            self.custom("Messaging service", &im.value.service);
        }
    }

    pub fn organization(&mut self, organization: Labeled<Organization>) {
        if !organization.value.is_empty() {
            self.push(|c| &mut c.organizations, organization, |a, b| a == b, "organizations");
        }
    }

    pub fn relation(&mut self, name: &str, label: &str, preferred: bool) {
        let name = name.trim();
        if !name.is_empty() {
            self.push(|c| &mut c.relations, Labeled::new(name.to_owned(), label, preferred), |a, b| a == b, "related people");
        }
    }

    /// A date as the file writes it; one that is no date is kept as a custom field.
    fn parse_date(&mut self, text: &str, source: &str) -> Option<PartialDate> {
        match PartialDate::parse(text, self.rules.day_order) {
            Ok(date) => date,
            Err(()) => {
                self.warn(format!("\"{}\" is not a date; it was kept as the custom field \"{source}\".", text.trim()));
                self.custom(source, text);
                None
            }
        }
    }

    pub fn birthday(&mut self, text: &str, source: &str) {
        let Some(date) = self.parse_date(text, source) else { return };
        match self.contact.birthday {
            None => self.contact.birthday = Some(date),
            Some(kept) if kept != date => self.custom(source, &date.iso()),
            Some(_) => {}
        }
    }

    pub fn birthday_date(&mut self, date: PartialDate, source: &str) {
        match self.contact.birthday {
            None => self.contact.birthday = Some(date),
            Some(kept) if kept != date => self.custom(source, &date.iso()),
            Some(_) => {}
        }
    }

    pub fn date(&mut self, text: &str, label: &str, preferred: bool, source: &str) {
        if let Some(date) = self.parse_date(text, source) {
            self.dated(Labeled::new(date, label, preferred));
        }
    }

    /// One day may be two dates of a person (a birthday of one, an anniversary of another).
    pub fn dated(&mut self, date: Labeled<PartialDate>) {
        let dates = &mut self.contact.dates;
        if dates.iter().any(|kept| kept.value == date.value && kept.label == date.label) {
            return;
        }
        if dates.len() >= self.rules.max_values {
            self.refuse("dates");
            return;
        }
        dates.push(date);
    }

    /// Notes from several columns or properties are kept one after another.
    pub fn notes(&mut self, text: &str) {
        let text = text.trim();
        if text.is_empty() || self.contact.notes.contains(text) {
            return;
        }
        if !self.contact.notes.is_empty() {
            self.contact.notes.push('\n');
        }
        self.contact.notes.push_str(text);
    }

    /// "female", "male", … from the words and letters exporters write; what
    /// says nothing ("Unspecified") is nothing.
    pub fn gender(&mut self, text: &str, source: &str) {
        let word = gender_word(text);
        if word.is_empty() {
            return;
        }
        if self.contact.gender.is_empty() {
            self.contact.gender = word;
        } else if self.contact.gender != word {
            self.custom(source, &word);
        }
    }

    pub fn photo(&mut self, photo: Photo) {
        if self.contact.photo.is_none() {
            self.contact.photo = Some(photo);
        } else if self.contact.photo.as_ref() != Some(&photo) {
            self.warn("A second photo was not kept; the contact keeps the first.".to_owned());
        }
    }

    /// The contact, or why the row cannot be one: it has no name, no email and no phone.
    pub fn finish(mut self, line: u64) -> RowOutcome {
        let contact = &mut self.contact;
        let person_name = if self.full_name.is_empty() { contact.name.given_family() } else { std::mem::take(&mut self.full_name) };
        if person_name.is_empty() && contact.emails.is_empty() && !contact.phones.iter().any(|p| !p.value.normalized.is_empty()) {
            let reason = match self.bad_email {
                Some(bad) => format!("\"{bad}\" is not a valid email address."),
                None => "The row has no name, email address or phone number.".to_owned(),
            };
            return RowOutcome::Rejected { line, reason };
        }
        contact.display_name = if person_name.is_empty() { contact.implied_display_name() } else { person_name };
        if !self.refused.is_empty() {
            let said: Vec<String> = self.refused.iter().map(|(what, count)| format!("{count} {what}")).collect();
            let name = if contact.display_name.is_empty() { "The contact".to_owned() } else { contact.display_name.clone() };
            self.warnings.push(format!(
                "{name}: {} past the limit of {} per contact were not kept.",
                said.join(", "),
                self.rules.max_values
            ));
        }
        let row = RowContact::new(line, self.contact);
        RowOutcome::Contact { row, warnings: self.warnings }
    }
}

/// The canonical word for what exporters write: vCard 4.0's letters (`F`,
/// `M;woman`), Outlook's words, Windows Address Book's `1`/`2`.
pub fn gender_word(text: &str) -> String {
    let text = text.trim();
    let (sex, identity) = match text.split_once(';') {
        Some((sex, identity)) => (sex.trim(), identity.trim()),
        None => (text, ""),
    };
    if !identity.is_empty() {
        return identity.to_owned();
    }
    match sex.to_lowercase().as_str() {
        "" | "unspecified" | "keine angabe" | "non spécifié" | "non specifie" | "0" => String::new(),
        "f" | "female" | "weiblich" | "femme" | "féminin" | "1" => "female".to_owned(),
        "m" | "male" | "männlich" | "homme" | "masculin" | "2" => "male".to_owned(),
        "o" | "other" => "other".to_owned(),
        "n" | "none" => "none".to_owned(),
        "u" | "unknown" => "unknown".to_owned(),
        _ => sex.to_owned(),
    }
}

/// Runs of whitespace become one space, in a single allocation: this runs for
/// several fields of every row.
pub fn collapse_whitespace(s: &str) -> String {
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
    if local.is_empty() || local.len() > 64 || s.len() > 254 || local.chars().chain(domain.chars()).any(bad_char) {
        return false;
    }
    if local.starts_with('.') || local.ends_with('.') || local.contains("..") {
        return false;
    }
    let labels: Vec<&str> = domain.split('.').collect();
    let label_ok = |l: &&str| !l.is_empty() && !l.starts_with('-') && !l.ends_with('-') && l.chars().all(|c| c.is_alphanumeric() || c == '-');
    let tld = labels[labels.len() - 1];
    labels.len() >= 2 && labels.iter().all(label_ok) && tld.chars().count() >= 2 && !tld.chars().all(|c| c.is_ascii_digit())
}

#[cfg(test)]
mod tests {
    use super::*;

    const RULES: DraftRules = DraftRules { default_code: None, max_values: 3, day_order: DayOrder::DayFirst };

    fn contact(outcome: RowOutcome) -> (Contact, Vec<String>) {
        match outcome {
            RowOutcome::Contact { row, warnings } => (row.contact, warnings),
            other => panic!("expected a contact, got {other:?}"),
        }
    }

    #[test]
    fn a_bad_email_is_kept_as_a_custom_field_when_the_row_identifies_someone() {
        let mut draft = Draft::new(&RULES);
        draft.name_part(NamePart::Given, "Ana", "First Name");
        draft.email("ana(at)example.com", "", false, "E-mail 1 - Value");
        draft.email("Ana@Example.COM", "work", true, "E-mail 2 - Value");
        let (c, warnings) = contact(draft.finish(4));
        assert_eq!(c.display_name, "Ana");
        assert_eq!(c.emails, vec![Labeled::new("ana@example.com".to_owned(), "work", true)]);
        assert_eq!(c.custom, vec![CustomField { label: "E-mail 1 - Value".into(), value: "ana(at)example.com".into() }]);
        assert_eq!(warnings, ["\"ana(at)example.com\" is not a valid email address; it was kept as the custom field \"E-mail 1 - Value\"."]);
    }

    #[test]
    fn a_row_with_only_a_bad_email_is_rejected_for_it() {
        let mut draft = Draft::new(&RULES);
        draft.email("broken@", "", false, "Email");
        assert_eq!(draft.finish(7), RowOutcome::Rejected { line: 7, reason: "\"broken@\" is not a valid email address.".into() });
        let mut draft = Draft::new(&RULES);
        draft.phone("n/a", "", false, "Phone");
        draft.organization(Labeled::new(Organization { name: "Acme".into(), ..Organization::default() }, "", false));
        assert_eq!(draft.finish(8), RowOutcome::Rejected { line: 8, reason: "The row has no name, email address or phone number.".into() });
    }

    #[test]
    fn values_past_the_cap_warn_naming_the_contact() {
        let mut draft = Draft::new(&RULES);
        draft.full_name("Ana  Lima", "Name");
        for i in 0..5 {
            draft.email(&format!("a{i}@x.io"), "", false, "Email");
            draft.email("a0@x.io", "", false, "Email");
        }
        let (c, warnings) = contact(draft.finish(2));
        assert_eq!(c.emails.len(), 3, "duplicates do not count against the cap");
        assert_eq!(warnings, ["Ana Lima: 2 email addresses past the limit of 3 per contact were not kept."]);
    }

    #[test]
    fn display_name_falls_back_to_given_family_then_organization() {
        let mut draft = Draft::new(&RULES);
        draft.name_part(NamePart::Given, "Jürgen", "First");
        draft.name_part(NamePart::Family, "Müller", "Last");
        draft.name_part(NamePart::Middle, "K.", "Middle");
        assert_eq!(contact(draft.finish(1)).0.display_name, "Jürgen Müller");
        let mut draft = Draft::new(&RULES);
        draft.organization(Labeled::new(Organization { name: "Acme GmbH".into(), ..Organization::default() }, "", false));
        draft.email("info@acme.de", "", false, "Email");
        assert_eq!(contact(draft.finish(1)).0.display_name, "Acme GmbH");
    }

    #[test]
    fn phones_without_digits_and_dates_that_are_none() {
        let mut draft = Draft::new(&RULES);
        draft.full_name("Bo", "Name");
        draft.phone("-", "", false, "Phone");
        draft.phone("IBERDROLA", "work", false, "Phone 1 - Value");
        draft.birthday("0/0/00", "Birthday");
        draft.date("someday", "anniversary", false, "Anniversary");
        draft.gender("Unspecified", "Gender");
        let (c, warnings) = contact(draft.finish(1));
        assert!(c.phones.is_empty());
        assert_eq!(c.birthday, None);
        assert_eq!(c.gender, "");
        assert_eq!(
            c.custom,
            vec![
                CustomField { label: "Phone 1 - Value".into(), value: "IBERDROLA".into() },
                CustomField { label: "Anniversary".into(), value: "someday".into() },
            ]
        );
        assert_eq!(warnings, ["\"someday\" is not a date; it was kept as the custom field \"Anniversary\"."]);
    }

    #[test]
    fn gender_words() {
        for (text, word) in [("F", "female"), ("M;man", "man"), ("Male", "male"), ("Keine Angabe", ""), ("2", "male"), ("nonbinary", "nonbinary")] {
            assert_eq!(gender_word(text), word, "{text}");
        }
    }

    #[test]
    fn email_rules() {
        for ok in ["a@b.co", "first.last+tag@sub.example.org", "jürgen@müller.de", "x_y-z@a-b.io"] {
            assert!(is_valid_email(ok), "{ok}");
        }
        for bad in [
            "", "plain", "@x.io", "a@", "a@b", "a@b.c", "a@@b.io", "a b@c.io", "a@b..io", ".a@b.io", "a.@b.io", "a..b@c.io", "a@-b.io",
            "a@b.123", "a@b.io,c@d.io", "<a@b.io>", "a@b_c.io",
        ] {
            assert!(!is_valid_email(bad), "{bad}");
        }
    }
}
