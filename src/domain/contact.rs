//! A contact as Intake keeps it: what vCard 4.0 (RFC 6350) can say, which is
//! the common ground of every export Intake reads. Each value of a kind that a
//! person may have several of (emails, phones, addresses, …) keeps its label
//! ("home", "work", "mobile", or the exporter's own text) and whether it was
//! marked preferred.
//!
//! Stored as one JSON document per contact (empty fields left out, so a
//! contact of an 8-column file stays small), with the photo beside it.

use super::dates::PartialDate;
use super::identity::{fold_into, match_name, Identity};
use serde::{Deserialize, Serialize};

/// Values of one kind a contact may hold by default (`IMPORT_MAX_VALUES_PER_CONTACT`):
/// a row with more keeps these and warns. Keeps deduplication and merging cheap
/// whatever a file holds.
pub const DEFAULT_MAX_VALUES_PER_CONTACT: usize = 50;

/// An embedded photo is kept up to this many bytes (decoded); a bigger one is
/// dropped with a row warning.
pub const MAX_PHOTO_BYTES: usize = 256 * 1024;

/// Notes grow when merges append to them; past this many bytes a merge keeps
/// the existing notes and warns.
pub const MAX_NOTES_BYTES: usize = 256 * 1024;

fn is_false(value: &bool) -> bool {
    !*value
}

/// A value with its label and whether the exporter marked it preferred.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, Default)]
pub struct Labeled<T> {
    pub value: T,
    /// In `labels::canonical` form; empty when the file gave none.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub label: String,
    #[serde(default, skip_serializing_if = "is_false")]
    pub preferred: bool,
}

impl<T> Labeled<T> {
    pub fn new(value: T, label: impl Into<String>, preferred: bool) -> Self {
        Self { value, label: label.into(), preferred }
    }
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, Default)]
pub struct Phone {
    /// As written in the file (trimmed), for display and export.
    pub raw: String,
    /// Digits and a leading '+', for matching; empty for a value without digits.
    pub normalized: String,
}

/// Serde's "leave it out when empty" for the many text fields below.
macro_rules! text_fields {
    ($(#[$meta:meta])* pub struct $name:ident { $($(#[$field_meta:meta])* pub $field:ident,)* }) => {
        $(#[$meta])*
        #[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, Default, Hash)]
        pub struct $name {
            $(
                $(#[$field_meta])*
                #[serde(default, skip_serializing_if = "String::is_empty")]
                pub $field: String,
            )*
        }

        impl $name {
            pub fn is_empty(&self) -> bool {
                true $(&& self.$field.is_empty())*
            }

            /// Every part, in declaration order.
            pub fn parts(&self) -> impl Iterator<Item = &String> {
                [$(&self.$field),*].into_iter()
            }
        }
    };
}

text_fields! {
    /// The structured name (vCard `N`, plus the phonetic names exporters add).
    pub struct Name {
        pub prefix,
        pub given,
        pub middle,
        pub family,
        pub suffix,
        pub phonetic_given,
        pub phonetic_middle,
        pub phonetic_family,
    }
}

text_fields! {
    /// A postal address (vCard `ADR`); `formatted` holds the text as the file
    /// wrote it, which is all some exports give.
    pub struct Address {
        pub street,
        /// An apartment, suite or office (vCard's "extended address").
        pub extended,
        pub po_box,
        pub city,
        pub region,
        pub postal_code,
        pub country,
        pub formatted,
    }
}

text_fields! {
    /// An instant-messaging handle and its service ("Skype", "xmpp").
    pub struct Im {
        pub service,
        pub handle,
    }
}

text_fields! {
    pub struct Organization {
        pub name,
        pub department,
        /// The person's job title there.
        pub title,
    }
}

impl Name {
    /// "given family", as the display name is made when the file gives none.
    pub fn given_family(&self) -> String {
        join_words([&self.given, &self.family])
    }

    /// Every part in reading order: prefix, given, middle, family, suffix.
    pub fn full(&self) -> String {
        join_words([&self.prefix, &self.given, &self.middle, &self.family, &self.suffix])
    }
}

impl Address {
    /// The address as lines, for display: the file's own text when it gave one,
    /// then any part that text leaves out.
    pub fn lines(&self) -> Vec<String> {
        let place = join_words([&self.postal_code, &self.city, &self.region]);
        let parts = [&self.street, &self.extended, &self.po_box, &place, &self.country];
        if self.formatted.is_empty() {
            return parts.into_iter().filter(|line| !line.is_empty()).cloned().collect();
        }
        let mut lines: Vec<String> = self.formatted.lines().map(str::to_owned).collect();
        let held = |part: &String| self.formatted.contains(part.as_str()) || part.split_whitespace().all(|w| self.formatted.contains(w));
        lines.extend(parts.into_iter().filter(|part| !part.is_empty() && !held(part)).cloned());
        lines
    }
}

fn join_words<'a, const N: usize>(words: [&'a String; N]) -> String {
    let mut out = String::with_capacity(words.iter().map(|w| w.len() + 1).sum());
    for word in words.into_iter().filter(|w| !w.is_empty()) {
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(word);
    }
    out
}

/// A photo: a link as the file gave it, or an image embedded in the file.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Photo {
    Url(String),
    Embedded {
        /// `image/jpeg`, `image/png`, …
        media_type: String,
        #[serde(with = "base64_bytes")]
        data: Vec<u8>,
    },
}

impl Photo {
    /// A `data:` URI for an embedded image, the link for the other.
    pub fn uri(&self) -> String {
        match self {
            Photo::Url(url) => url.clone(),
            Photo::Embedded { media_type, data } => format!("data:{media_type};base64,{}", base64_bytes::encode(data)),
        }
    }

    /// Reads what `uri` writes: a `data:…;base64,` URI is an embedded image,
    /// anything else a link. `None` for a data URI over [`MAX_PHOTO_BYTES`] or
    /// not in base64.
    pub fn from_uri(text: &str) -> Option<Photo> {
        let text = text.trim();
        let Some(data) = text.get(..5).filter(|scheme| scheme.eq_ignore_ascii_case("data:")).map(|_| &text[5..]) else {
            return Some(Photo::Url(text.to_owned()));
        };
        let (head, payload) = data.split_once(',')?;
        let media_type = head.strip_suffix(";base64")?;
        Photo::embedded(media_type, payload)
    }

    /// An embedded image from its base64 text; `None` when it is not base64
    /// or decodes to more than [`MAX_PHOTO_BYTES`].
    pub fn embedded(media_type: &str, base64: &str) -> Option<Photo> {
        if base64.len() / 4 * 3 > MAX_PHOTO_BYTES + 3 {
            return None;
        }
        let data = base64_bytes::decode(base64)?;
        (data.len() <= MAX_PHOTO_BYTES).then(|| Photo::Embedded { media_type: media_type.to_ascii_lowercase(), data })
    }
}

pub(crate) mod base64_bytes {
    use base64::engine::general_purpose::STANDARD;
    use base64::Engine;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn encode(data: &[u8]) -> String {
        STANDARD.encode(data)
    }

    /// Lenient about the whitespace that folded lines leave and about missing padding.
    pub fn decode(text: &str) -> Option<Vec<u8>> {
        let clean: String = text.chars().filter(|c| !c.is_ascii_whitespace()).collect();
        let trimmed = clean.trim_end_matches('=');
        let padded = format!("{trimmed}{}", "=".repeat((4 - trimmed.len() % 4) % 4));
        STANDARD.decode(padded).ok()
    }

    pub fn serialize<S: Serializer>(data: &[u8], serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&encode(data))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<u8>, D::Error> {
        let text = String::deserialize(deserializer)?;
        decode(&text).ok_or_else(|| serde::de::Error::custom("not base64"))
    }
}

/// A value that fits no field above, kept under the column's or property's name.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, Default, Hash)]
pub struct CustomField {
    pub label: String,
    pub value: String,
}

/// The whole contact.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, Default)]
pub struct Contact {
    /// The file's full name, else "given family", else the first organization.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub display_name: String,
    #[serde(default, skip_serializing_if = "Name::is_empty")]
    pub name: Name,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub nicknames: Vec<String>,
    /// Normalised (`identity::normalize_email`), no duplicates.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub emails: Vec<Labeled<String>>,
    /// No duplicates by `normalized`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub phones: Vec<Labeled<Phone>>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub addresses: Vec<Labeled<Address>>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub websites: Vec<Labeled<String>>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ims: Vec<Labeled<Im>>,
    /// The first is the person's main one.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub organizations: Vec<Labeled<Organization>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub birthday: Option<PartialDate>,
    /// Anniversaries and the exporter's other dates, each with its label.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub dates: Vec<Labeled<PartialDate>>,
    /// Related people by name, labelled "spouse", "manager", …
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub relations: Vec<Labeled<String>>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub notes: String,
    /// Google's labels, Outlook's categories, vCard's `CATEGORIES`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub groups: Vec<String>,
    /// "female", "male", "other", "none", "unknown", or the file's own word.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub gender: String,
    /// Kept beside the document, not in it: most reads never need the bytes.
    #[serde(skip)]
    pub photo: Option<Photo>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub custom: Vec<CustomField>,
}

impl Contact {
    /// What identifies this contact: each email; its matching name with each
    /// phone; its name alone only when it has neither email nor phone.
    pub fn identities(&self) -> Vec<Identity> {
        let mut identities = Vec::with_capacity(self.emails.len() + self.phones.len().max(1));
        identities.extend(self.emails.iter().map(|e| Identity::email(&e.value)));
        let phones: Vec<&str> = self.phones.iter().map(|p| p.value.normalized.as_str()).filter(|n| !n.is_empty()).collect();
        if self.emails.is_empty() || !phones.is_empty() {
            let name = match_name(&self.display_name);
            identities.extend(phones.iter().map(|phone| Identity::name_phone(&name, phone)));
            if identities.is_empty() {
                identities.push(Identity::name(&name));
            }
        }
        identities
    }

    /// Every searchable value, case-folded as a search query is (`identity::fold`):
    /// names, nicknames, emails, phones, addresses, websites, handles,
    /// organizations, relations, notes, groups and custom values.
    pub fn search_text(&self) -> String {
        let mut length = 0;
        self.searchable_values(|value| length += value.len() + 1);
        // Folding keeps most text's length: sized once, the text is not copied as it grows.
        let mut text = String::with_capacity(length);
        self.searchable_values(|value| {
            // Value by value: most are ASCII, which folds without Unicode tables.
            fold_into(&mut text, value);
            text.push('\n');
        });
        text
    }

    /// Each non-empty value `search_text` holds, in its order.
    fn searchable_values(&self, mut each: impl FnMut(&str)) {
        let mut add = |value: &str| {
            if !value.is_empty() {
                each(value);
            }
        };
        add(&self.display_name);
        self.name.parts().for_each(|part| add(part));
        self.nicknames.iter().for_each(|n| add(n));
        self.emails.iter().for_each(|e| add(&e.value));
        for phone in &self.phones {
            add(&phone.value.raw);
            add(&phone.value.normalized);
        }
        self.addresses.iter().flat_map(|a| a.value.parts()).for_each(|part| add(part));
        self.websites.iter().for_each(|w| add(&w.value));
        self.ims.iter().for_each(|im| add(&im.value.handle));
        self.organizations.iter().flat_map(|o| o.value.parts()).for_each(|part| add(part));
        self.relations.iter().for_each(|r| add(&r.value));
        add(&self.notes);
        self.groups.iter().for_each(|g| add(g));
        self.custom.iter().for_each(|c| add(&c.value));
    }

    /// The display name a file that gives no full name implies: "given family",
    /// else the first organization's name.
    pub fn implied_display_name(&self) -> String {
        let given_family = self.name.given_family();
        if !given_family.is_empty() {
            return given_family;
        }
        self.organizations.iter().map(|o| o.value.name.clone()).find(|n| !n.is_empty()).unwrap_or_default()
    }

    /// The first organization's name, and its title: what a list shows.
    pub fn organization(&self) -> (&str, &str) {
        self.organizations.first().map_or(("", ""), |o| (o.value.name.as_str(), o.value.title.as_str()))
    }

    /// How many values of each kind it holds, for caps: the longest list.
    pub fn most_values(&self) -> usize {
        [
            self.nicknames.len(),
            self.emails.len(),
            self.phones.len(),
            self.addresses.len(),
            self.websites.len(),
            self.ims.len(),
            self.organizations.len(),
            self.dates.len(),
            self.relations.len(),
            self.groups.len(),
            self.custom.len(),
        ]
        .into_iter()
        .max()
        .unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn phone(n: &str) -> Labeled<Phone> {
        Labeled::new(Phone { raw: n.into(), normalized: n.into() }, "", false)
    }

    fn person(email: &str, name: &str) -> Contact {
        Contact {
            display_name: name.to_owned(),
            emails: if email.is_empty() { vec![] } else { vec![Labeled::new(email.to_owned(), "", false)] },
            ..Contact::default()
        }
    }

    #[test]
    fn identities_are_every_email_and_the_name_with_every_phone() {
        let mut c = person("a@x.io", "  Ana   LIMA ");
        c.emails.push(Labeled::new("b@x.io".into(), "work", false));
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
        let no_digits = Contact { display_name: "Bo".into(), phones: vec![phone("")], ..Contact::default() };
        assert_eq!(no_digits.identities(), vec![Identity::name("bo")], "a phone without digits identifies nobody");
    }

    #[test]
    fn search_text_holds_every_searchable_value_folded() {
        let mut c = person("zoë@x.io", "ZOË Straße");
        c.phones.push(Labeled::new(Phone { raw: "+1 (555) 010".into(), normalized: "+1555010".into() }, "mobile", false));
        c.nicknames.push("Zo".into());
        c.addresses.push(Labeled::new(Address { city: "München".into(), ..Address::default() }, "home", false));
        c.notes = "Met in LISBON".into();
        c.groups.push("Climbing".into());
        c.custom.push(CustomField { label: "Shoe size".into(), value: "EU 39".into() });
        let text = c.search_text();
        for needle in ["zoë strasse", "zoë@x.io", "+1 (555) 010", "+1555010", "zo\n", "münchen", "met in lisbon", "climbing", "eu 39"] {
            assert!(text.contains(needle), "{needle} in {text}");
        }
    }

    #[test]
    fn an_empty_contact_is_stored_as_an_empty_document_and_a_full_one_reads_back() {
        assert_eq!(serde_json::to_string(&Contact::default()).unwrap(), "{}");
        let mut c = person("a@x.io", "Ana");
        c.birthday = PartialDate::new(None, 12, 10);
        c.organizations.push(Labeled::new(Organization { name: "Acme".into(), title: "CTO".into(), ..Organization::default() }, "", true));
        let json = serde_json::to_string(&c).unwrap();
        assert_eq!(
            json,
            r#"{"display_name":"Ana","emails":[{"value":"a@x.io"}],"organizations":[{"value":{"name":"Acme","title":"CTO"},"preferred":true}],"birthday":"--12-10"}"#
        );
        assert_eq!(serde_json::from_str::<Contact>(&json).unwrap(), c);
    }

    #[test]
    fn photos_go_out_as_uris_and_read_back() {
        let embedded = Photo::Embedded { media_type: "image/png".into(), data: vec![0x89, b'P', b'N', b'G', 0, 255] };
        assert_eq!(Photo::from_uri(&embedded.uri()), Some(embedded.clone()));
        let link = Photo::Url("https://lh3.googleusercontent.com/contacts/AG6".into());
        assert_eq!(Photo::from_uri(&link.uri()), Some(link));
        let json = serde_json::to_string(&embedded).unwrap();
        assert_eq!(serde_json::from_str::<Photo>(&json).unwrap(), embedded);
        let too_big = format!("data:image/jpeg;base64,{}", "A".repeat(MAX_PHOTO_BYTES / 3 * 4 + 8));
        assert_eq!(Photo::from_uri(&too_big), None);
        assert_eq!(Photo::from_uri("data:image/jpeg;base64,@@@"), None);
        assert_eq!(base64_bytes::decode("QUJD\r\n REVG"), Some(b"ABCDEF".to_vec()), "folded base64");
        assert_eq!(base64_bytes::decode("QUI"), Some(b"AB".to_vec()), "unpadded base64");
    }

    #[test]
    fn names_and_addresses_compose() {
        let name = Name { prefix: "Dr.".into(), given: "Ana".into(), middle: "M.".into(), family: "Lima".into(), ..Name::default() };
        assert_eq!(name.given_family(), "Ana Lima");
        assert_eq!(name.full(), "Dr. Ana M. Lima");
        let address = Address { street: "1 Main St".into(), city: "Springfield".into(), postal_code: "12345".into(), country: "US".into(), ..Address::default() };
        assert_eq!(address.lines(), ["1 Main St", "12345 Springfield", "US"]);
        let formatted = Address { formatted: "1 Main St\nSpringfield".into(), ..address };
        assert_eq!(formatted.lines(), ["1 Main St", "Springfield", "12345 Springfield", "US"], "what the text leaves out follows it");
        let whole = Address { formatted: "1 Main St\n12345 Springfield\nUS".into(), ..formatted };
        assert_eq!(whole.lines(), ["1 Main St", "12345 Springfield", "US"]);
    }
}
