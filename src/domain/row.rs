//! One record of a file made into a contact, by the import's mapping: a
//! table's row column by column (values of one group, such as an address's
//! street and city, together, each with its label), or a vCard's properties.

use super::draft::{Draft, DraftRules, NamePart, RowOutcome};
use super::contact::{Address, Im, Labeled, Organization, Photo};
use super::format::{FileFormat, RawRecord, RecordProblem, Sniffed, MAX_FIELD_BYTES};
use super::labels;
use super::mapping::{Field, Kind, Mapping, Target};
use super::presets;
use super::vcard::card::{read_card, CardMapping};

/// Google Contacts packs several values of one kind into a cell with this.
const MULTI_VALUE_SEPARATOR: &str = ":::";

/// Builds each record of one import.
pub struct RowBuilder {
    source: Source,
    rules: DraftRules,
}

enum Source {
    Table(TablePlan),
    Cards(CardMapping),
}

impl RowBuilder {
    pub fn new(sniffed: &Sniffed, mapping: &Mapping, mut rules: DraftRules) -> Self {
        rules.day_order = mapping.day_order;
        let source = match sniffed.format {
            FileFormat::VCard { .. } => Source::Cards(CardMapping::new(&sniffed.headers, mapping)),
            _ => Source::Table(TablePlan::new(&sniffed.headers, mapping)),
        };
        Self { source, rules }
    }

    pub fn build(&self, record: &RawRecord) -> RowOutcome {
        let reject = |reason: String| RowOutcome::Rejected { line: record.line, reason };
        match &record.problem {
            Some(RecordProblem::NulByte { column }) => {
                return reject(format!("Column {} contains a NUL byte, which is not allowed in text.", column + 1))
            }
            Some(RecordProblem::FieldTooLong { column }) => {
                return reject(format!("Column {} is longer than {} KB.", column + 1, MAX_FIELD_BYTES / 1024))
            }
            Some(RecordProblem::TooManyFields) => return reject("The row has too many columns.".to_owned()),
            Some(RecordProblem::BrokenCard { reason }) => return reject(reason.clone()),
            None => {}
        }
        if record.fields.iter().all(|f| f.trim().is_empty()) && record.warnings.is_empty() {
            return RowOutcome::Blank;
        }
        let mut draft = Draft::new(&self.rules);
        for warning in &record.warnings {
            draft.warn(warning.clone());
        }
        match &self.source {
            Source::Table(plan) => plan.fill(record, &mut draft),
            Source::Cards(mapping) => read_card(record, mapping, &mut draft),
        }
        draft.finish(record.line)
    }
}

/// How one column is used.
#[derive(Clone, Debug)]
enum Column {
    Skip,
    /// A custom field named for the header.
    Custom,
    /// A field a contact has one of, or a list of plain values.
    Single(Field),
    /// A value, or a part of one, of a labelled group.
    Grouped { slot: usize, field: Field },
    /// The label of the values of these groups.
    Label { slots: Vec<usize> },
}

/// A group of columns that makes labelled values: `Address 1 - …`, or
/// Outlook's business address block.
#[derive(Clone, Debug)]
struct Slot {
    kind: Kind,
    /// The label its columns imply, used when no label column says otherwise.
    label: String,
}

/// The mapping of a table, worked out once for all its rows.
struct TablePlan {
    headers: Vec<String>,
    columns: Vec<Column>,
    slots: Vec<Slot>,
}

impl TablePlan {
    fn new(headers: &[String], mapping: &Mapping) -> Self {
        let mut slots: Vec<(Kind, u16, Slot)> = Vec::new();
        let mut columns: Vec<Column> = mapping
            .columns
            .iter()
            .map(|target| match target {
                Target::Ignore => Column::Skip,
                Target::Custom => Column::Custom,
                Target::Field { field, group, label } => match field.kind() {
                    None => Column::Single(*field),
                    Some(kind) => {
                        let at = slots.iter().position(|(k, g, s)| *k == kind && g == group && s.label == *label).unwrap_or_else(|| {
                            slots.push((kind, *group, Slot { kind, label: label.clone() }));
                            slots.len() - 1
                        });
                        Column::Grouped { slot: at, field: *field }
                    }
                },
                Target::Label { .. } => Column::Label { slots: Vec::new() },
            })
            .collect();
        // A label column labels every group of its kind and number, whatever label the columns imply.
        for (column, target) in columns.iter_mut().zip(&mapping.columns) {
            if let (Column::Label { slots: labelled }, Target::Label { kind, group }) = (column, target) {
                labelled.extend(slots.iter().enumerate().filter(|(_, (k, g, _))| k == kind && g == group).map(|(at, _)| at));
            }
        }
        Self { headers: headers.to_vec(), columns, slots: slots.into_iter().map(|(_, _, slot)| slot).collect() }
    }

    fn header(&self, column: usize) -> &str {
        self.headers.get(column).map_or("", String::as_str)
    }

    fn fill(&self, record: &RawRecord, draft: &mut Draft) {
        // Each group's labels: from its label column, one per value of a multi-value cell.
        let mut slot_labels: Vec<Vec<String>> = vec![Vec::new(); self.slots.len()];
        for (cell, column) in record.fields.iter().zip(&self.columns) {
            if let Column::Label { slots } = column {
                for &slot in slots {
                    slot_labels[slot] = split_multi(cell).map(str::to_owned).collect();
                }
            }
        }
        let label_of = |slot: usize, nth: usize| -> (String, bool) {
            let given = &slot_labels[slot];
            let text = given.get(nth).or(given.last());
            match text {
                Some(text) if self.slots[slot].kind == Kind::Custom => (text.trim().to_owned(), false),
                Some(text) => {
                    let (label, preferred) = labels::google_label(text);
                    // Only the value a label was written for is marked preferred.
                    let preferred = preferred && nth < given.len();
                    (if label.is_empty() { self.slots[slot].label.clone() } else { label }, preferred)
                }
                None => (self.slots[slot].label.clone(), false),
            }
        };
        let mut parts: Vec<Parts> = vec![Parts::default(); self.slots.len()];
        for (at, (cell, column)) in record.fields.iter().zip(&self.columns).enumerate() {
            let value = cell.trim();
            if value.is_empty() {
                continue;
            }
            let header = self.header(at);
            match column {
                Column::Skip | Column::Label { .. } => {}
                Column::Custom => {
                    if !presets::says_nothing(header, value) {
                        draft.custom(if header.trim().is_empty() { "Column" } else { header }, value);
                    }
                }
                Column::Single(field) => single(*field, value, header, draft),
                Column::Grouped { slot, .. } if self.slots[*slot].kind == Kind::Custom => {
                    // A custom value is kept whole, whatever it holds.
                    let (label, _) = label_of(*slot, 0);
                    listed(Kind::Custom, value, &label, false, header, draft);
                }
                Column::Grouped { slot, field } => match self.slots[*slot].kind {
                    Kind::Address | Kind::Organization | Kind::Im => parts[*slot].add(*field, value),
                    kind => {
                        for (nth, part) in split_multi(value).enumerate() {
                            let (label, preferred) = label_of(*slot, nth);
                            listed(kind, part, &label, preferred, header, draft);
                        }
                    }
                },
            }
        }
        for (slot, parts) in parts.into_iter().enumerate() {
            let (label, preferred) = label_of(slot, 0);
            match self.slots[slot].kind {
                Kind::Address if !parts.address.is_empty() => draft.address(Labeled::new(parts.address, label, preferred)),
                Kind::Organization if !parts.organization.is_empty() => {
                    draft.organization(Labeled::new(parts.organization, label, preferred))
                }
                Kind::Im if !parts.im.is_empty() => draft.im(Labeled::new(parts.im, label, preferred)),
                _ => {}
            }
        }
    }
}

/// The parts of one address, organization or handle, column by column.
#[derive(Clone, Default)]
struct Parts {
    address: Address,
    organization: Organization,
    im: Im,
}

impl Parts {
    fn add(&mut self, field: Field, value: &str) {
        let slot = match field {
            Field::Street => &mut self.address.street,
            Field::ExtendedAddress => &mut self.address.extended,
            Field::PoBox => &mut self.address.po_box,
            Field::City => &mut self.address.city,
            Field::Region => &mut self.address.region,
            Field::PostalCode => &mut self.address.postal_code,
            Field::Country => &mut self.address.country,
            Field::FormattedAddress => &mut self.address.formatted,
            Field::Organization => &mut self.organization.name,
            Field::Department => &mut self.organization.department,
            Field::Title => &mut self.organization.title,
            Field::ImService => &mut self.im.service,
            _ => &mut self.im.handle,
        };
        // Outlook's "Business Street 2" and "3" are the address's further lines.
        if !slot.is_empty() {
            slot.push('\n');
        }
        slot.push_str(value);
    }
}

/// A value of a labelled kind that one column holds whole.
fn listed(kind: Kind, value: &str, label: &str, preferred: bool, header: &str, draft: &mut Draft) {
    match kind {
        Kind::Email => draft.email(value, label, preferred, header),
        Kind::Phone => draft.phone(value, label, preferred, header),
        Kind::Website => draft.website(value, label, preferred),
        Kind::Relation => draft.relation(value, label, preferred),
        Kind::Date => draft.date(value, label, preferred, header),
        Kind::Custom => draft.custom(if label.is_empty() { header } else { label }, value),
        Kind::Address | Kind::Organization | Kind::Im => {}
    }
}

/// A value of a field a contact has one of (or a plain list of).
fn single(field: Field, value: &str, header: &str, draft: &mut Draft) {
    match field {
        Field::FullName => draft.full_name(value, header),
        Field::Prefix => draft.name_part(NamePart::Prefix, value, header),
        Field::GivenName => draft.name_part(NamePart::Given, value, header),
        Field::MiddleName => draft.name_part(NamePart::Middle, value, header),
        Field::FamilyName => draft.name_part(NamePart::Family, value, header),
        Field::Suffix => draft.name_part(NamePart::Suffix, value, header),
        Field::PhoneticGiven => draft.name_part(NamePart::PhoneticGiven, value, header),
        Field::PhoneticMiddle => draft.name_part(NamePart::PhoneticMiddle, value, header),
        Field::PhoneticFamily => draft.name_part(NamePart::PhoneticFamily, value, header),
        Field::Nickname => split_multi(value).for_each(|nickname| draft.nickname(nickname)),
        Field::Birthday => draft.birthday(value, header),
        Field::Notes => draft.notes(value),
        // Google joins labels with ` ::: ` and marks its own with `* `; Outlook joins categories with `;`.
        Field::Groups => {
            let google = matches!(super::mapping::preset_key(header).as_str(), "labels" | "group membership");
            split_multi(value)
                .flat_map(|part| part.split(if google { MULTI_VALUE_SEPARATOR } else { ";" }))
                .map(|group| group.trim().strip_prefix("* ").unwrap_or(group.trim()))
                .for_each(|group| draft.group(group))
        }
        Field::Gender => draft.gender(value, header),
        Field::Photo => match Photo::from_uri(value) {
            Some(photo) => draft.photo(photo),
            None => draft.warn(format!(
                "The photo in \"{header}\" is larger than {} KB or not an image; it was not kept.",
                super::contact::MAX_PHOTO_BYTES / 1024
            )),
        },
        // Fields of a labelled kind always come grouped.
        _ => {}
    }
}

fn split_multi(value: &str) -> impl Iterator<Item = &str> {
    value.split(MULTI_VALUE_SEPARATOR).map(str::trim).filter(|p| !p.is_empty())
}

#[cfg(test)]
mod tests {
    use crate::domain::contact::{Address, Contact, CustomField, Im, Labeled, Organization, Photo};
    use crate::domain::dates::PartialDate;
    use crate::domain::draft::RowOutcome;
    use crate::domain::google_csv::GoogleLayout;
    use crate::domain::testing::{contacts, only, outcomes};
    use crate::domain::vcard::tests::full_contact;

    fn labeled<T>(value: T, label: &str) -> Labeled<T> {
        Labeled::new(value, label, false)
    }

    fn date(year: Option<u16>, month: u8, day: u8) -> PartialDate {
        PartialDate::new(year, month, day).unwrap()
    }

    /// Google's current layout, every group, as a real export writes it.
    const GOOGLE: &str = "First Name,Middle Name,Last Name,Phonetic First Name,Phonetic Middle Name,Phonetic Last Name,Name Prefix,Name Suffix,Nickname,File As,Organization Name,Organization Title,Organization Department,Birthday,Notes,Photo,Labels,E-mail 1 - Label,E-mail 1 - Value,E-mail 2 - Label,E-mail 2 - Value,Phone 1 - Label,Phone 1 - Value,Phone 2 - Label,Phone 2 - Value,Address 1 - Label,Address 1 - Formatted,Address 1 - Street,Address 1 - City,Address 1 - PO Box,Address 1 - Region,Address 1 - Postal Code,Address 1 - Country,Address 1 - Extended Address,Relation 1 - Label,Relation 1 - Value,Website 1 - Label,Website 1 - Value,Event 1 - Label,Event 1 - Value,Custom Field 1 - Label,Custom Field 1 - Value\r\n\
David,M.,Cole,,,,,CPA,Dave,,David M. Cole CPA,CPA,Tax,--12-10,$250 for 2017 taxes,https://lh3.googleusercontent.com/contacts/AG6,* myContacts ::: * starred ::: Vendors,* Work,david@cole.example,Home,dave@home.example,Work,(407) 536-2033,Mobile ::: Home,+1 407 555 0101 ::: +1 407 555 0102,Work,\"#700 5401 S Kirkman Rd\nOrlando, FL 32819\nUS\",#700 5401 S Kirkman Rd,Orlando,,FL,32819,US,,Business/ Finance,Accountant,Other,DavidColeCPA.com,* Anniversary,2011-03-02,Client since,2017\r\n";

    #[test]
    fn google_current_every_field_and_label() {
        let david = only(GOOGLE.as_bytes());
        assert_eq!(david.display_name, "David Cole");
        assert_eq!((david.name.middle.as_str(), david.name.suffix.as_str()), ("M.", "CPA"));
        assert_eq!(david.nicknames, ["Dave"]);
        assert_eq!(david.organizations, vec![labeled(Organization { name: "David M. Cole CPA".into(), title: "CPA".into(), department: "Tax".into() }, "")]);
        assert_eq!(david.birthday, Some(date(None, 12, 10)));
        assert_eq!(david.notes, "$250 for 2017 taxes");
        assert_eq!(david.photo, Some(Photo::Url("https://lh3.googleusercontent.com/contacts/AG6".into())));
        assert_eq!(david.groups, ["myContacts", "starred", "Vendors"]);
        let emails: Vec<_> = david.emails.iter().map(|e| (e.value.as_str(), e.label.as_str(), e.preferred)).collect();
        assert_eq!(emails, [("david@cole.example", "work", true), ("dave@home.example", "home", false)]);
        let phones: Vec<_> = david.phones.iter().map(|p| (p.value.raw.as_str(), p.label.as_str())).collect();
        assert_eq!(phones, [("(407) 536-2033", "work"), ("+1 407 555 0101", "mobile"), ("+1 407 555 0102", "home")]);
        let address = &david.addresses[0];
        assert_eq!((address.label.as_str(), address.value.city.as_str(), address.value.postal_code.as_str()), ("work", "Orlando", "32819"));
        assert_eq!(address.value.formatted, "#700 5401 S Kirkman Rd\nOrlando, FL 32819\nUS");
        assert_eq!(david.relations, vec![labeled("Accountant".to_owned(), "Business/ Finance")]);
        assert_eq!(david.websites, vec![labeled("DavidColeCPA.com".to_owned(), "other")]);
        assert_eq!(david.dates, vec![Labeled::new(date(Some(2011), 3, 2), "anniversary", true)]);
        assert_eq!(david.custom, vec![CustomField { label: "Client since".into(), value: "2017".into() }]);
    }

    #[test]
    fn outlook_english_address_blocks_phones_and_defaults_that_say_nothing() {
        let csv = "Title,First Name,Middle Name,Last Name,Suffix,Company,Department,Job Title,Business Street,Business Street 2,Business City,Business State,Business Postal Code,Business Country/Region,Home Street,Home City,Business Fax,Business Phone,Mobile Phone,E-mail Address,E-mail Type,E-mail Display Name,Birthday,Anniversary,Categories,Spouse,Gender,Priority,User 1,Notes\r\n\
Mr.,John,Q,Public,Jr.,Acme,Sales,Manager,1 Corp Way,Floor 2,Boston,MA,02110,United States,9 Elm St,Salem,+1 617 555 0000,+1 617 555 0001,+1 617 555 0002,jq@acme.example,SMTP,John Public (jq@acme.example),5/17/1980,0/0/00,Friends;Golf,Mary,Male,Normal,Blue belt,\"Call after 5\"\r\n";
        let (john, warnings) = contacts(csv.as_bytes()).remove(0);
        assert!(warnings.is_empty(), "{warnings:?}");
        assert_eq!(john.name.prefix, "Mr.");
        assert_eq!(john.display_name, "John Public");
        let work = Address { street: "1 Corp Way\nFloor 2".into(), city: "Boston".into(), region: "MA".into(), postal_code: "02110".into(), country: "United States".into(), ..Address::default() };
        let home = Address { street: "9 Elm St".into(), city: "Salem".into(), ..Address::default() };
        assert_eq!(john.addresses, vec![labeled(work, "work"), labeled(home, "home")]);
        let phones: Vec<_> = john.phones.iter().map(|p| p.label.as_str()).collect();
        assert_eq!(phones, ["work fax", "work", "mobile"]);
        assert_eq!(john.birthday, Some(date(Some(1980), 5, 17)), "Outlook English writes month first");
        assert!(john.dates.is_empty(), "0/0/00 is no date");
        assert_eq!(john.groups, ["Friends", "Golf"]);
        assert_eq!(john.relations, vec![labeled("Mary".to_owned(), "spouse")]);
        assert_eq!(john.gender, "male");
        assert_eq!(john.custom, vec![CustomField { label: "User 1".into(), value: "Blue belt".into() }], "SMTP, the display name and Normal say nothing");
    }

    #[test]
    fn outlook_german_in_windows_1252() {
        let file: &[u8] = b"Anrede,Vorname,Weitere Vornamen,Nachname,Firma,Position,Stra\xdfe gesch\xe4ftlich,Ort gesch\xe4ftlich,Telefon gesch\xe4ftlich,Mobiltelefon,\
E-Mail-Adresse,E-Mail-Typ,E-Mail 2: Adresse,Geburtstag,Kategorien,Notizen\r\n\
Herr,J\xfcrgen,,M\xfcller,B\xe4ckerei M\xfcller GmbH,Gesch\xe4ftsf\xfchrer,Hauptstr. 1,M\xfcnchen,+49 89 123456,0171 2345678,\
Juergen.Mueller@Example.de,SMTP,jm@baeckerei.de,10.9.1965,Kunden,\"Gr\xfc\xdfe an \"\"Frau M\xfcller\"\"\"\r\n\
Frau,H\xe9l\xe8ne,,Fran\xe7ois,,,,,,,keine-mail,SMTP,,,,\r\n";
        let all = contacts(file);
        let (juergen, _) = &all[0];
        assert_eq!(juergen.display_name, "Jürgen Müller");
        assert_eq!(juergen.organizations[0].value.title, "Geschäftsführer");
        assert_eq!(juergen.addresses, vec![labeled(Address { street: "Hauptstr. 1".into(), city: "München".into(), ..Address::default() }, "work")]);
        assert_eq!(juergen.birthday, Some(date(Some(1965), 9, 10)));
        assert_eq!(juergen.notes, "Grüße an \"Frau Müller\"");
        let (helene, warnings) = &all[1];
        assert_eq!(helene.display_name, "Hélène François", "a bad email no longer costs the contact");
        assert_eq!(helene.custom, vec![CustomField { label: "E-Mail-Adresse".into(), value: "keine-mail".into() }]);
        assert_eq!(warnings.len(), 1);
    }

    #[test]
    fn linkedin_profile_urls_and_connection_dates() {
        let csv = "Notes:\r\n\"When exporting your connection data, you may notice that some of the email addresses are missing.\"\r\n\r\n\
First Name,Last Name,URL,Email Address,Company,Position,Connected On\r\n\
Ana,Lima,https://www.linkedin.com/in/analima,ana@x.io,Acme,CTO,05 Mar 2024\r\n";
        let ana = only(csv.as_bytes());
        assert_eq!(ana.websites, vec![labeled("https://www.linkedin.com/in/analima".to_owned(), "LinkedIn")]);
        assert_eq!(ana.dates, vec![labeled(date(Some(2024), 3, 5), "connected on")]);
        assert_eq!(ana.organization(), ("Acme", "CTO"));
    }

    #[test]
    fn unknown_columns_are_custom_fields_and_a_row_without_a_person_is_rejected() {
        let csv = "Name,Email,Shoe size,\r\nAna,ana@x.io,39,x\r\n,,42,\r\n";
        let built = outcomes(csv.as_bytes());
        let RowOutcome::Contact { row, .. } = &built[0] else { panic!("{built:?}") };
        assert_eq!(
            row.contact.custom,
            vec![CustomField { label: "Shoe size".into(), value: "39".into() }, CustomField { label: "Column".into(), value: "x".into() }]
        );
        assert_eq!(built[1], RowOutcome::Rejected { line: 3, reason: "The row has no name, email address or phone number.".into() });
    }

    #[test]
    fn record_problems_are_rejected_with_their_line() {
        let mut csv = "Name,Email\r\n".to_owned();
        (0..20).for_each(|i| csv.push_str(&format!("P{i},p{i}@x.io\r\n")));
        csv.push_str("Ana,\"a\0b@x.io\"\r\n");
        assert_eq!(outcomes(csv.as_bytes())[20], RowOutcome::Rejected { line: 22, reason: "Column 2 contains a NUL byte, which is not allowed in text.".into() });
    }

    fn google_csv(contacts: &[Contact]) -> String {
        let mut layout = GoogleLayout::default();
        contacts.iter().for_each(|c| layout.measure(c));
        let mut text = layout.header();
        contacts.iter().for_each(|c| text.push_str(&layout.row(c)));
        text
    }

    #[test]
    fn google_csv_export_reads_back_to_the_same_contact() {
        let mut ana = full_contact();
        // What a CSV cannot say as vCard does: a photo inline up to the cell cap, carried as a data URI.
        ana.photo = Some(Photo::Embedded { media_type: "image/png".into(), data: vec![1, 2, 3] });
        let bo = Contact { display_name: "Bo".into(), emails: vec![labeled("bo@x.io".into(), "")], ..Contact::default() };
        let text = google_csv(&[ana.clone(), bo.clone()]);
        assert!(text.starts_with("First Name,Middle Name,Last Name,Phonetic First Name,"), "{text}");
        let read: Vec<Contact> = contacts(text.as_bytes()).into_iter().map(|(c, w)| {
            assert!(w.is_empty(), "{w:?}");
            c
        }).collect();
        assert_eq!(read, vec![ana, bo]);
        assert_eq!(google_csv(&read), text, "a second export is the first");
    }

    #[test]
    fn ims_and_yearless_dates_in_google_csv() {
        let mut cy = Contact { display_name: "Cy".into(), ..Contact::default() };
        cy.ims.push(Labeled::new(Im { service: "Jabber".into(), handle: "cy@jabber.example".into() }, "home", true));
        cy.dates.push(labeled(date(None, 2, 29), "Name day"));
        assert_eq!(contacts(google_csv(&[cy.clone()]).as_bytes())[0].0, cy);
    }
}
