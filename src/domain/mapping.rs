//! Where each column of a file goes: a field of the contact (with the value
//! group it belongs to and the label the column implies), the label of a value
//! group, a custom field, or nowhere, by the person's choice. A header that
//! no rule knows is kept as a custom field: nothing is dropped unless the
//! person says so in the preview.
//!
//! Known exports are recognised in `presets`; this module holds the targets and
//! the generic rules for any other spreadsheet.

use super::dates::DayOrder;
use super::labels;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A field of the contact a column's values go to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Field {
    FullName,
    Prefix,
    GivenName,
    MiddleName,
    FamilyName,
    Suffix,
    Nickname,
    PhoneticGiven,
    PhoneticMiddle,
    PhoneticFamily,
    Email,
    Phone,
    Street,
    ExtendedAddress,
    PoBox,
    City,
    Region,
    PostalCode,
    Country,
    FormattedAddress,
    Website,
    ImHandle,
    ImService,
    Organization,
    Department,
    Title,
    Birthday,
    Date,
    Relation,
    Notes,
    Groups,
    Gender,
    Photo,
    /// The value of a custom field whose label is in another column (Google's
    /// `Custom Field 1 - Value` beside `Custom Field 1 - Label`).
    CustomValue,
}

/// A kind of value a person may have several of, each with its label; columns
/// of one group of a kind make one value (an address from its street, city, …).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Kind {
    Email,
    Phone,
    Address,
    Website,
    Im,
    Organization,
    Date,
    Relation,
    Custom,
}

impl Field {
    pub const ALL: [Field; 34] = [
        Field::FullName,
        Field::Prefix,
        Field::GivenName,
        Field::MiddleName,
        Field::FamilyName,
        Field::Suffix,
        Field::Nickname,
        Field::PhoneticGiven,
        Field::PhoneticMiddle,
        Field::PhoneticFamily,
        Field::Email,
        Field::Phone,
        Field::Street,
        Field::ExtendedAddress,
        Field::PoBox,
        Field::City,
        Field::Region,
        Field::PostalCode,
        Field::Country,
        Field::FormattedAddress,
        Field::Website,
        Field::ImHandle,
        Field::ImService,
        Field::Organization,
        Field::Department,
        Field::Title,
        Field::Birthday,
        Field::Date,
        Field::Relation,
        Field::Notes,
        Field::Groups,
        Field::Gender,
        Field::Photo,
        Field::CustomValue,
    ];

    pub fn label(self) -> &'static str {
        self.names().1
    }

    /// Stable snake_case id, safe to store and to use in form values.
    pub fn key(self) -> &'static str {
        self.names().0
    }

    fn names(self) -> (&'static str, &'static str) {
        match self {
            Field::FullName => ("full_name", "Full name"),
            Field::Prefix => ("prefix", "Name prefix"),
            Field::GivenName => ("given_name", "First name"),
            Field::MiddleName => ("middle_name", "Middle name"),
            Field::FamilyName => ("family_name", "Last name"),
            Field::Suffix => ("suffix", "Name suffix"),
            Field::Nickname => ("nickname", "Nickname"),
            Field::PhoneticGiven => ("phonetic_given", "Phonetic first name"),
            Field::PhoneticMiddle => ("phonetic_middle", "Phonetic middle name"),
            Field::PhoneticFamily => ("phonetic_family", "Phonetic last name"),
            Field::Email => ("email", "Email"),
            Field::Phone => ("phone", "Phone"),
            Field::Street => ("street", "Street"),
            Field::ExtendedAddress => ("extended_address", "Extended address"),
            Field::PoBox => ("po_box", "PO box"),
            Field::City => ("city", "City"),
            Field::Region => ("region", "Region"),
            Field::PostalCode => ("postal_code", "Postal code"),
            Field::Country => ("country", "Country"),
            Field::FormattedAddress => ("address", "Address"),
            Field::Website => ("website", "Website"),
            Field::ImHandle => ("im", "Messaging handle"),
            Field::ImService => ("im_service", "Messaging service"),
            Field::Organization => ("organization", "Organization"),
            Field::Department => ("department", "Department"),
            Field::Title => ("title", "Job title"),
            Field::Birthday => ("birthday", "Birthday"),
            Field::Date => ("date", "Date"),
            Field::Relation => ("relation", "Related person"),
            Field::Notes => ("notes", "Notes"),
            Field::Groups => ("groups", "Groups"),
            Field::Gender => ("gender", "Gender"),
            Field::Photo => ("photo", "Photo"),
            Field::CustomValue => ("custom_value", "Custom field value"),
        }
    }

    /// Also reads the names a mapping was stored with before full contacts.
    pub fn from_key(key: &str) -> Option<Field> {
        let legacy = match key {
            "FullName" => Some(Field::FullName),
            "GivenName" => Some(Field::GivenName),
            "FamilyName" => Some(Field::FamilyName),
            "Email" => Some(Field::Email),
            "Phone" => Some(Field::Phone),
            "Organization" => Some(Field::Organization),
            "Title" => Some(Field::Title),
            "Notes" => Some(Field::Notes),
            _ => None,
        };
        legacy.or_else(|| Field::ALL.into_iter().find(|f| f.key() == key))
    }

    /// The kind of labelled value this field is part of, if any.
    pub fn kind(self) -> Option<Kind> {
        Some(match self {
            Field::Email => Kind::Email,
            Field::Phone => Kind::Phone,
            Field::Street
            | Field::ExtendedAddress
            | Field::PoBox
            | Field::City
            | Field::Region
            | Field::PostalCode
            | Field::Country
            | Field::FormattedAddress => Kind::Address,
            Field::Website => Kind::Website,
            Field::ImHandle | Field::ImService => Kind::Im,
            Field::Organization | Field::Department | Field::Title => Kind::Organization,
            Field::Date => Kind::Date,
            Field::Relation => Kind::Relation,
            Field::CustomValue => Kind::Custom,
            _ => return None,
        })
    }

    /// Whether a value in this field can identify a person on its own.
    pub fn identifies(self) -> bool {
        matches!(self, Field::FullName | Field::GivenName | Field::FamilyName | Field::Email | Field::Phone)
    }
}

impl Kind {
    pub const ALL: [Kind; 9] =
        [Kind::Email, Kind::Phone, Kind::Address, Kind::Website, Kind::Im, Kind::Organization, Kind::Date, Kind::Relation, Kind::Custom];

    pub fn key(self) -> &'static str {
        self.names().0
    }

    pub fn label(self) -> &'static str {
        self.names().1
    }

    fn names(self) -> (&'static str, &'static str) {
        match self {
            Kind::Email => ("email", "Email"),
            Kind::Phone => ("phone", "Phone"),
            Kind::Address => ("address", "Address"),
            Kind::Website => ("website", "Website"),
            Kind::Im => ("im", "Messaging"),
            Kind::Organization => ("organization", "Organization"),
            Kind::Date => ("date", "Date"),
            Kind::Relation => ("relation", "Related person"),
            Kind::Custom => ("custom", "Custom field"),
        }
    }

    pub fn from_key(key: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.key() == key)
    }
}

/// Where one column goes.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Default)]
pub enum Target {
    /// Not imported: only ever the person's choice.
    Ignore,
    /// Kept as a custom field labelled with the column's header.
    #[default]
    Custom,
    /// A field; columns of one `group` of a kind make one value, and `label`
    /// is the label the column itself implies ("Business Phone" → work).
    Field { field: Field, group: u16, label: String },
    /// The label of the values of `group` of `kind` (`E-mail 1 - Label`).
    Label { kind: Kind, group: u16 },
}

impl Target {
    pub fn field(field: Field) -> Self {
        Target::Field { field, group: 0, label: String::new() }
    }

    /// A stable text form for storage and form values:
    /// `ignore`, `custom`, `city#2@home`, `label:phone#1`.
    pub fn key(&self) -> String {
        let group = |g: u16| if g == 0 { String::new() } else { format!("#{g}") };
        match self {
            Target::Ignore => "ignore".to_owned(),
            Target::Custom => "custom".to_owned(),
            Target::Field { field, group: g, label } if label.is_empty() => format!("{}{}", field.key(), group(*g)),
            Target::Field { field, group: g, label } => format!("{}{}@{label}", field.key(), group(*g)),
            Target::Label { kind, group: g } => format!("label:{}{}", kind.key(), group(*g)),
        }
    }

    pub fn from_key(key: &str) -> Option<Self> {
        match key {
            "ignore" => return Some(Target::Ignore),
            "custom" => return Some(Target::Custom),
            _ => {}
        }
        let (head, label) = match key.split_once('@') {
            Some((head, label)) => (head, label.to_owned()),
            None => (key, String::new()),
        };
        let (name, group) = match head.split_once('#') {
            Some((name, group)) => (name, group.parse().ok()?),
            None => (head, 0),
        };
        match name.strip_prefix("label:") {
            Some(kind) if label.is_empty() => Some(Target::Label { kind: Kind::from_key(kind)?, group }),
            Some(_) => None,
            None => Some(Target::Field { field: Field::from_key(name)?, group, label }),
        }
    }

    /// What the preview says of it: "City (home)", "Email 2", "Label of phone 1".
    pub fn describe(&self) -> String {
        let numbered = |text: &str, group: u16| if group == 0 { text.to_owned() } else { format!("{text} {group}") };
        match self {
            Target::Ignore => "Not imported".to_owned(),
            Target::Custom => "Custom field".to_owned(),
            Target::Field { field, group, label } => {
                let text = numbered(field.label(), *group);
                if label.is_empty() {
                    text
                } else {
                    format!("{text} ({})", labels::shown(label))
                }
            }
            Target::Label { kind, group } => numbered(&format!("Label of {}", kind.label().to_lowercase()), *group),
        }
    }

    pub fn identifies(&self) -> bool {
        matches!(self, Target::Field { field, .. } if field.identifies())
    }
}

impl Serialize for Target {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.key())
    }
}

impl<'de> Deserialize<'de> for Target {
    /// A mapping stored before full contacts wrote `null` for a column it ignored.
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        match Option::<String>::deserialize(deserializer)? {
            None => Ok(Target::Ignore),
            Some(key) => Target::from_key(&key).ok_or_else(|| serde::de::Error::custom(format!("no such target: {key}"))),
        }
    }
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, Default)]
pub struct Mapping {
    /// One entry per header column (for a vCard, per property kind found).
    pub columns: Vec<Target>,
    /// How the file orders day and month in dates like `10/03/1980`.
    #[serde(default)]
    pub day_order: DayOrder,
}

/// Generic header words, already in [`fold`] form.
const SYNONYMS: &[(&str, Field)] = &[
    ("name", Field::FullName),
    ("fullname", Field::FullName),
    ("displayname", Field::FullName),
    ("contactname", Field::FullName),
    ("contact", Field::FullName),
    ("nomcomplet", Field::FullName),
    ("vollername", Field::FullName),
    ("nombrecompleto", Field::FullName),
    ("firstname", Field::GivenName),
    ("givenname", Field::GivenName),
    ("forename", Field::GivenName),
    ("first", Field::GivenName),
    ("vorname", Field::GivenName),
    ("prenom", Field::GivenName),
    ("nombre", Field::GivenName),
    ("middlename", Field::MiddleName),
    ("middle", Field::MiddleName),
    ("lastname", Field::FamilyName),
    ("familyname", Field::FamilyName),
    ("surname", Field::FamilyName),
    ("last", Field::FamilyName),
    ("nachname", Field::FamilyName),
    ("nom", Field::FamilyName),
    ("nomdefamille", Field::FamilyName),
    ("apellido", Field::FamilyName),
    ("apellidos", Field::FamilyName),
    ("prefix", Field::Prefix),
    ("nameprefix", Field::Prefix),
    ("salutation", Field::Prefix),
    ("anrede", Field::Prefix),
    ("suffix", Field::Suffix),
    ("namesuffix", Field::Suffix),
    ("nickname", Field::Nickname),
    ("spitzname", Field::Nickname),
    ("surnom", Field::Nickname),
    ("email", Field::Email),
    ("emailaddress", Field::Email),
    ("emails", Field::Email),
    ("mail", Field::Email),
    ("emailadresse", Field::Email),
    ("adressedemessagerie", Field::Email),
    ("courriel", Field::Email),
    ("correo", Field::Email),
    ("phone", Field::Phone),
    ("phonenumber", Field::Phone),
    ("phones", Field::Phone),
    ("telephone", Field::Phone),
    ("tel", Field::Phone),
    ("mobile", Field::Phone),
    ("mobilenumber", Field::Phone),
    ("cell", Field::Phone),
    ("telefon", Field::Phone),
    ("telefonnummer", Field::Phone),
    ("handy", Field::Phone),
    ("portable", Field::Phone),
    ("telefono", Field::Phone),
    ("address", Field::FormattedAddress),
    ("postaladdress", Field::FormattedAddress),
    ("mailingaddress", Field::FormattedAddress),
    ("adresse", Field::FormattedAddress),
    ("anschrift", Field::FormattedAddress),
    ("direccion", Field::FormattedAddress),
    ("street", Field::Street),
    ("streetaddress", Field::Street),
    ("strasse", Field::Street),
    ("rue", Field::Street),
    ("city", Field::City),
    ("town", Field::City),
    ("stadt", Field::City),
    ("ville", Field::City),
    ("ciudad", Field::City),
    ("state", Field::Region),
    ("region", Field::Region),
    ("province", Field::Region),
    ("county", Field::Region),
    ("bundesland", Field::Region),
    ("zip", Field::PostalCode),
    ("zipcode", Field::PostalCode),
    ("postalcode", Field::PostalCode),
    ("postcode", Field::PostalCode),
    ("plz", Field::PostalCode),
    ("postleitzahl", Field::PostalCode),
    ("codepostal", Field::PostalCode),
    ("country", Field::Country),
    ("land", Field::Country),
    ("pays", Field::Country),
    ("pais", Field::Country),
    ("website", Field::Website),
    ("web", Field::Website),
    ("url", Field::Website),
    ("homepage", Field::Website),
    ("webpage", Field::Website),
    ("webseite", Field::Website),
    ("linkedin", Field::Website),
    ("company", Field::Organization),
    ("companyname", Field::Organization),
    ("organization", Field::Organization),
    ("organisation", Field::Organization),
    ("organizationname", Field::Organization),
    ("org", Field::Organization),
    ("employer", Field::Organization),
    ("accountname", Field::Organization),
    ("firma", Field::Organization),
    ("unternehmen", Field::Organization),
    ("societe", Field::Organization),
    ("entreprise", Field::Organization),
    ("empresa", Field::Organization),
    ("department", Field::Department),
    ("abteilung", Field::Department),
    ("title", Field::Title),
    ("jobtitle", Field::Title),
    ("position", Field::Title),
    ("role", Field::Title),
    ("function", Field::Title),
    ("fonction", Field::Title),
    ("occupation", Field::Title),
    ("titel", Field::Title),
    ("cargo", Field::Title),
    ("birthday", Field::Birthday),
    ("birthdate", Field::Birthday),
    ("dateofbirth", Field::Birthday),
    ("dob", Field::Birthday),
    ("geburtstag", Field::Birthday),
    ("geburtsdatum", Field::Birthday),
    ("cumpleanos", Field::Birthday),
    ("notes", Field::Notes),
    ("note", Field::Notes),
    ("comments", Field::Notes),
    ("comment", Field::Notes),
    ("remarks", Field::Notes),
    ("notizen", Field::Notes),
    ("notiz", Field::Notes),
    ("bemerkungen", Field::Notes),
    ("anmerkungen", Field::Notes),
    ("commentaires", Field::Notes),
    ("description", Field::Notes),
    ("memo", Field::Notes),
    ("groups", Field::Groups),
    ("group", Field::Groups),
    ("tags", Field::Groups),
    ("labels", Field::Groups),
    ("categories", Field::Groups),
    ("gruppen", Field::Groups),
    ("gender", Field::Gender),
    ("sex", Field::Gender),
    ("geschlecht", Field::Gender),
    ("photo", Field::Photo),
    ("picture", Field::Photo),
    ("avatar", Field::Photo),
    ("photourl", Field::Photo),
];

/// Maps a header outside any preset: synonyms, then keywords, then typos;
/// anything else is kept as a custom field.
pub fn guess_target(header: &str) -> Target {
    let folded = fold(header);
    if folded.is_empty() {
        return Target::Custom;
    }
    if let Some((_, field)) = SYNONYMS.iter().find(|(s, _)| *s == folded) {
        return Target::field(*field);
    }
    keyword_target(header, &folded).or_else(|| fuzzy_field(&folded).map(Target::field)).unwrap_or(Target::Custom)
}

/// Whether `folded` is a generic header word (exact, no typo tolerance).
pub(crate) fn is_synonym(folded: &str) -> bool {
    SYNONYMS.iter().any(|(s, _)| *s == folded)
}

/// Columns such as "Work Email", "Mobile Phone", "Home City" or "Phone 2 -
/// Type" name their field, their label and their group inside a longer header.
pub(crate) fn keyword_target(header: &str, folded: &str) -> Option<Target> {
    let has = |words: &[&str]| words.iter().any(|w| folded.contains(w));
    let kind = if has(&["email", "courriel"]) && !has(&["name"]) {
        Kind::Email
    } else if has(&["phone", "telefon", "mobil", "cell", "handy", "fax"]) {
        Kind::Phone
    } else if has(&["street", "city", "zip", "postal", "postcode", "country", "address"]) {
        Kind::Address
    } else {
        return None;
    };
    let group = header_number(header);
    if has(&["type", "label", "typ"]) {
        return Some(Target::Label { kind, group });
    }
    if has(&["display"]) {
        return None;
    }
    let field = match kind {
        Kind::Email => Field::Email,
        Kind::Phone => Field::Phone,
        _ if has(&["street"]) => Field::Street,
        _ if has(&["city"]) => Field::City,
        _ if has(&["zip", "postal", "postcode"]) => Field::PostalCode,
        _ if has(&["country"]) => Field::Country,
        _ => Field::FormattedAddress,
    };
    Some(Target::Field { field, group, label: header_label(header) })
}

/// The first number in a header ("Phone 2 - Type" → 2), else 0.
pub(crate) fn header_number(header: &str) -> u16 {
    let digits: String = header.chars().skip_while(|c| !c.is_ascii_digit()).take_while(char::is_ascii_digit).collect();
    digits.parse().unwrap_or(0)
}

/// A standard label among a header's words ("Work Email" → work, "Home Fax" → home fax).
fn header_label(header: &str) -> String {
    let words: Vec<String> = header
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty() && !w.chars().all(|c| c.is_ascii_digit()))
        .map(str::to_lowercase)
        .collect();
    let has = |w: &str| words.iter().any(|word| word == w);
    let fax = has("fax");
    let place = ["home", "work", "business", "private", "personal", "office", "other"].into_iter().find(|w| has(w)).map(labels::canonical);
    match (place.as_deref(), fax) {
        (Some("home"), true) => "home fax".to_owned(),
        (Some("work"), true) => "work fax".to_owned(),
        (Some("other"), true) => "other fax".to_owned(),
        (_, true) => "fax".to_owned(),
        (Some(place), false) => place.to_owned(),
        (None, false) => ["mobile", "cell", "handy", "pager", "main", "primary"]
            .into_iter()
            .find(|w| has(w))
            .map(labels::canonical)
            .unwrap_or_default(),
    }
}

/// Tolerates one typo ("Emial", "Compnay"); two only in long headers when the
/// length is unchanged, so "Company ID" does not become Company.
fn fuzzy_field(folded: &str) -> Option<Field> {
    let len = folded.chars().count();
    if len < 5 {
        return None;
    }
    SYNONYMS
        .iter()
        .filter_map(|(s, field)| {
            let d = strsim::osa_distance(folded, s);
            let allowed = if len >= 9 && s.chars().count() == len { 2 } else { 1 };
            (d <= allowed).then_some((d, *field))
        })
        .min_by_key(|(d, _)| *d)
        .map(|(_, field)| field)
}

/// Light normalisation for preset headers: case, accents, spacing and numbers
/// are ignored, punctuation is kept ("E-mail Address" ≠ "Email Address").
pub fn preset_key(header: &str) -> String {
    let mut out = String::new();
    let mut pending_space = false;
    let mut in_number = false;
    for c in header.trim_matches(|c: char| c.is_whitespace() || c == '\u{feff}').chars() {
        if c.is_whitespace() {
            pending_space = true;
            in_number = false;
            continue;
        }
        if pending_space && !out.is_empty() {
            out.push(' ');
        }
        pending_space = false;
        if c.is_ascii_digit() {
            if !in_number {
                out.push('#');
            }
            in_number = true;
            continue;
        }
        in_number = false;
        push_folded(c, &mut out);
    }
    out
}

/// Heavy normalisation for generic headers: lower-case ASCII letters and
/// digits only, accents folded ("Téléphone" → "telephone", "E-Mail" → "email").
pub fn fold(header: &str) -> String {
    let mut folded = String::new();
    for c in header.chars() {
        push_folded(c, &mut folded);
    }
    folded.retain(|c| c.is_ascii_alphanumeric());
    folded
}

fn push_folded(c: char, out: &mut String) {
    for lower in c.to_lowercase() {
        match lower {
            'à' | 'á' | 'â' | 'ã' | 'ä' | 'å' | 'ā' => out.push('a'),
            'æ' => out.push_str("ae"),
            'ç' | 'č' | 'ć' => out.push('c'),
            'è' | 'é' | 'ê' | 'ë' | 'ē' | 'ě' => out.push('e'),
            'ì' | 'í' | 'î' | 'ï' => out.push('i'),
            'ñ' | 'ń' => out.push('n'),
            'ò' | 'ó' | 'ô' | 'õ' | 'ö' | 'ø' => out.push('o'),
            'œ' => out.push_str("oe"),
            'ù' | 'ú' | 'û' | 'ü' => out.push('u'),
            'ý' | 'ÿ' => out.push('y'),
            'ß' => out.push_str("ss"),
            'š' => out.push('s'),
            'ž' => out.push('z'),
            other => out.push(other),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field(field: Field, group: u16, label: &str) -> Target {
        Target::Field { field, group, label: label.to_owned() }
    }

    #[test]
    fn targets_round_trip_through_their_keys_and_json() {
        let mut targets = vec![Target::Ignore, Target::Custom, field(Field::City, 2, "home"), field(Field::Phone, 0, "work fax")];
        targets.extend(Field::ALL.map(Target::field));
        targets.extend(Kind::ALL.map(|kind| Target::Label { kind, group: 3 }));
        targets.push(field(Field::Relation, 0, "Best friend@school #1"));
        for target in targets {
            assert_eq!(Target::from_key(&target.key()), Some(target.clone()), "{}", target.key());
            let json = serde_json::to_string(&target).unwrap();
            assert_eq!(serde_json::from_str::<Target>(&json).unwrap(), target);
            assert!(!target.describe().is_empty());
        }
        assert_eq!(Target::from_key("nope"), None);
        assert_eq!(Target::from_key("label:phone@work"), None);
    }

    #[test]
    fn a_mapping_stored_before_full_contacts_still_reads() {
        let old = r#"{"columns":[null,"FullName","Email","Phone","Organization","Title","Notes","GivenName","FamilyName"]}"#;
        let mapping: Mapping = serde_json::from_str(old).unwrap();
        assert_eq!(mapping.columns[0], Target::Ignore);
        assert_eq!(mapping.columns[2], Target::field(Field::Email));
        assert_eq!(mapping.columns[8], Target::field(Field::FamilyName));
        assert_eq!(mapping.day_order, DayOrder::DayFirst);
    }

    #[test]
    fn field_keys_are_unique() {
        let mut keys: Vec<_> = Field::ALL.iter().map(|f| f.key()).collect();
        keys.sort();
        keys.dedup();
        assert_eq!(keys.len(), Field::ALL.len());
        for f in Field::ALL {
            assert_eq!(Field::from_key(f.key()), Some(f));
        }
    }

    #[test]
    fn generic_headers_and_keywords() {
        assert_eq!(guess_target(" FULL  NAME "), Target::field(Field::FullName));
        assert_eq!(guess_target("e_mail"), Target::field(Field::Email));
        assert_eq!(guess_target("Work Email"), field(Field::Email, 0, "work"));
        assert_eq!(guess_target("E-mail 3 - Value"), field(Field::Email, 3, ""));
        assert_eq!(guess_target("Email Type"), Target::Label { kind: Kind::Email, group: 0 });
        assert_eq!(guess_target("Phone 1 - Label"), Target::Label { kind: Kind::Phone, group: 1 });
        assert_eq!(guess_target("Home Fax"), field(Field::Phone, 0, "home fax"));
        assert_eq!(guess_target("Cell phone"), field(Field::Phone, 0, "mobile"));
        assert_eq!(guess_target("Home City"), field(Field::City, 0, "home"));
        assert_eq!(guess_target("Zip"), Target::field(Field::PostalCode));
        assert_eq!(guess_target("Company"), Target::field(Field::Organization));
        assert_eq!(guess_target("Nom"), Target::field(Field::FamilyName));
        assert_eq!(guess_target("URL"), Target::field(Field::Website));
        assert_eq!(guess_target("Date of birth"), Target::field(Field::Birthday));
        assert_eq!(guess_target("Favourite colour"), Target::Custom, "kept, not dropped");
        assert_eq!(guess_target(""), Target::Custom);
    }

    #[test]
    fn typos_are_tolerated_but_not_loosely() {
        assert_eq!(guess_target("Emial"), Target::field(Field::Email));
        assert_eq!(guess_target("Compnay"), Target::field(Field::Organization));
        assert_eq!(guess_target("Frist Name"), Target::field(Field::GivenName));
        assert_eq!(guess_target("Notse"), Target::field(Field::Notes));
        assert_eq!(guess_target("Username"), Target::Custom);
        assert_eq!(guess_target("Company ID"), Target::Custom);
    }
}
