//! Contacts written in Google Contacts' current CSV layout, which Google
//! imports: the fixed name, organization, birthday, notes, photo and labels
//! columns, then as many numbered `E-mail N`, `Phone N`, `Address N`,
//! `Relation N`, `Website N`, `Event N`, `IM N` and `Custom Field N` groups as
//! the most any contact has. What Google's layout has no column for
//! (a second organization, an organization's label, gender) goes in columns
//! Google passes over and Intake reads back.
//!
//! The header depends on every contact, so an export measures them all
//! (`GoogleLayout::measure`) before it writes a row.

use super::contact::{Contact, Photo};
use super::format::MAX_FIELD_BYTES;
use super::labels;
use std::fmt::Write;

/// Google's own labels, which its CSV marks with `* `.
const SYSTEM_GROUPS: [&str; 5] = ["myContacts", "starred", "friends", "family", "coworkers"];

const FIXED: [&str; 17] = [
    "First Name",
    "Middle Name",
    "Last Name",
    "Phonetic First Name",
    "Phonetic Middle Name",
    "Phonetic Last Name",
    "Name Prefix",
    "Name Suffix",
    "Nickname",
    "File As",
    "Organization Name",
    "Organization Title",
    "Organization Department",
    "Birthday",
    "Notes",
    "Photo",
    "Labels",
];

const ADDRESS_PARTS: [&str; 9] = ["Label", "Formatted", "Street", "City", "PO Box", "Region", "Postal Code", "Country", "Extended Address"];

/// How many of each group the header has.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct GoogleLayout {
    organization_label: bool,
    gender: bool,
    emails: usize,
    phones: usize,
    addresses: usize,
    relations: usize,
    websites: usize,
    events: usize,
    ims: usize,
    customs: usize,
    organizations: usize,
}

impl GoogleLayout {
    /// Makes room for `contact`'s values.
    pub fn measure(&mut self, contact: &Contact) {
        self.organization_label |= contact.organizations.first().is_some_and(|o| !o.label.is_empty() || o.preferred);
        self.gender |= !contact.gender.is_empty();
        self.emails = self.emails.max(contact.emails.len());
        self.phones = self.phones.max(contact.phones.len());
        self.addresses = self.addresses.max(contact.addresses.len());
        self.relations = self.relations.max(contact.relations.len());
        self.websites = self.websites.max(contact.websites.len());
        self.events = self.events.max(contact.dates.len());
        self.ims = self.ims.max(contact.ims.len());
        self.customs = self.customs.max(contact.custom.len());
        self.organizations = self.organizations.max(contact.organizations.len());
    }

    /// Whether the header has room for every value of `contact`.
    pub fn fits(&self, contact: &Contact) -> bool {
        let mut grown = self.clone();
        grown.measure(contact);
        grown == *self
    }

    pub fn header(&self) -> String {
        let mut columns: Vec<String> = FIXED.iter().map(|c| (*c).to_owned()).collect();
        if self.organization_label {
            columns.push("Organization Label".to_owned());
        }
        if self.gender {
            columns.push("Gender".to_owned());
        }
        let mut group = |name: &str, count: usize, parts: &[&str], first: usize| {
            for n in first..=count {
                columns.extend(parts.iter().map(|part| format!("{name} {n} - {part}")));
            }
        };
        group("E-mail", self.emails, &["Label", "Value"], 1);
        group("Phone", self.phones, &["Label", "Value"], 1);
        group("Address", self.addresses, &ADDRESS_PARTS, 1);
        group("Relation", self.relations, &["Label", "Value"], 1);
        group("Website", self.websites, &["Label", "Value"], 1);
        group("Event", self.events, &["Label", "Value"], 1);
        group("IM", self.ims, &["Label", "Service", "Value"], 1);
        group("Custom Field", self.customs, &["Label", "Value"], 1);
        group("Organization", self.organizations, &["Label", "Name", "Title", "Department"], 2);
        csv_line(columns.iter().map(String::as_str))
    }

    /// `contact` as a row of this layout; `measure` saw it.
    pub fn row(&self, contact: &Contact) -> String {
        let mut cells: Vec<String> = Vec::new();
        let name = &contact.name;
        let first_org = contact.organizations.first();
        let file_as = if contact.display_name != contact.implied_display_name() { contact.display_name.clone() } else { String::new() };
        let groups: Vec<String> =
            contact.groups.iter().map(|g| if SYSTEM_GROUPS.contains(&g.as_str()) { format!("* {g}") } else { g.clone() }).collect();
        let photo = match &contact.photo {
            Some(photo @ Photo::Embedded { .. }) => Some(photo.uri()).filter(|uri| uri.len() <= MAX_FIELD_BYTES).unwrap_or_default(),
            Some(Photo::Url(url)) => url.clone(),
            None => String::new(),
        };
        let org = |part: fn(&super::contact::Organization) -> &String| first_org.map(|o| part(&o.value).clone()).unwrap_or_default();
        cells.extend([
            name.given.clone(),
            name.middle.clone(),
            name.family.clone(),
            name.phonetic_given.clone(),
            name.phonetic_middle.clone(),
            name.phonetic_family.clone(),
            name.prefix.clone(),
            name.suffix.clone(),
            contact.nicknames.join(" ::: "),
            file_as,
            org(|o| &o.name),
            org(|o| &o.title),
            org(|o| &o.department),
            contact.birthday.map(|d| d.iso()).unwrap_or_default(),
            contact.notes.clone(),
            photo,
            groups.join(" ::: "),
        ]);
        if self.organization_label {
            cells.push(first_org.map(|o| labels::to_google(&o.label, o.preferred)).unwrap_or_default());
        }
        if self.gender {
            cells.push(contact.gender.clone());
        }
        let label = |label: &str, preferred: bool| labels::to_google(label, preferred);
        fill(&mut cells, self.emails, 2, contact.emails.iter().map(|e| vec![label(&e.label, e.preferred), e.value.clone()]));
        fill(&mut cells, self.phones, 2, contact.phones.iter().map(|p| vec![label(&p.label, p.preferred), p.value.raw.clone()]));
        fill(
            &mut cells,
            self.addresses,
            ADDRESS_PARTS.len(),
            contact.addresses.iter().map(|a| {
                let v = &a.value;
                vec![
                    label(&a.label, a.preferred),
                    v.formatted.clone(),
                    v.street.clone(),
                    v.city.clone(),
                    v.po_box.clone(),
                    v.region.clone(),
                    v.postal_code.clone(),
                    v.country.clone(),
                    v.extended.clone(),
                ]
            }),
        );
        fill(&mut cells, self.relations, 2, contact.relations.iter().map(|r| vec![label(&r.label, r.preferred), r.value.clone()]));
        fill(&mut cells, self.websites, 2, contact.websites.iter().map(|w| vec![label(&w.label, w.preferred), w.value.clone()]));
        fill(&mut cells, self.events, 2, contact.dates.iter().map(|d| vec![label(&d.label, d.preferred), d.value.iso()]));
        fill(
            &mut cells,
            self.ims,
            3,
            contact.ims.iter().map(|i| vec![label(&i.label, i.preferred), i.value.service.clone(), i.value.handle.clone()]),
        );
        fill(&mut cells, self.customs, 2, contact.custom.iter().map(|c| vec![c.label.clone(), c.value.clone()]));
        fill(
            &mut cells,
            self.organizations.saturating_sub(1),
            4,
            contact.organizations.iter().skip(1).map(|o| {
                vec![label(&o.label, o.preferred), o.value.name.clone(), o.value.title.clone(), o.value.department.clone()]
            }),
        );
        csv_line(cells.iter().map(String::as_str))
    }
}

/// `count` groups of `width` cells: the values', then empty ones.
fn fill(cells: &mut Vec<String>, count: usize, width: usize, values: impl Iterator<Item = Vec<String>>) {
    let start = cells.len();
    for value in values.take(count) {
        cells.extend(value);
    }
    cells.resize(start + count * width, String::new());
}

/// One CSV record, RFC 4180 quoting, CRLF.
fn csv_line<'a>(cells: impl Iterator<Item = &'a str>) -> String {
    let mut line = String::new();
    for (i, cell) in cells.enumerate() {
        if i > 0 {
            line.push(',');
        }
        if cell.contains([',', '"', '\n', '\r']) || cell.starts_with(' ') || cell.ends_with(' ') {
            let _ = write!(line, "\"{}\"", cell.replace('"', "\"\""));
        } else {
            line.push_str(cell);
        }
    }
    line.push_str("\r\n");
    line
}
