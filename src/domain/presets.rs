//! The columns of the exports people have: Google Contacts (current and
//! legacy layouts), Outlook (English, German, French) and LinkedIn. A file is
//! recognised by its headers; a column of a known layout goes where that
//! exporter meant it, every other column by the generic rules of `mapping`.
//!
//! Headers are compared by `mapping::preset_key`, where a number is `#`: the
//! number of `Phone 2 - Value` is the value group of the column (`Numbered`).

use super::dates::DayOrder;
use super::mapping::{self, preset_key, Field, Kind, Mapping, Target};
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Preset {
    GoogleCurrent,
    GoogleLegacy,
    OutlookEnglish,
    OutlookGerman,
    OutlookFrench,
    LinkedIn,
    VCard,
    Generic,
}

impl Preset {
    pub fn label(self) -> &'static str {
        match self {
            Preset::GoogleCurrent => "Google Contacts (current)",
            Preset::GoogleLegacy => "Google Contacts (legacy)",
            Preset::OutlookEnglish => "Outlook (English)",
            Preset::OutlookGerman => "Outlook (German)",
            Preset::OutlookFrench => "Outlook (French)",
            Preset::LinkedIn => "LinkedIn Connections",
            Preset::VCard => "vCard properties",
            Preset::Generic => "Generic spreadsheet",
        }
    }
}

/// The value group of a column.
#[derive(Clone, Copy)]
enum Group {
    /// The header's own number: `E-mail 2 - Value` is group 2.
    Numbered,
    Fixed(u16),
}

/// Where a column of a known layout goes, as a constant.
#[derive(Clone, Copy)]
enum Spec {
    Custom,
    Field(Field, Group, &'static str),
    Label(Kind, Group),
}

impl Spec {
    fn target(self, header: &str) -> Target {
        let group = |group: Group| match group {
            Group::Numbered => mapping::header_number(header),
            Group::Fixed(group) => group,
        };
        match self {
            Spec::Custom => Target::Custom,
            Spec::Field(field, g, label) => Target::Field { field, group: group(g), label: label.to_owned() },
            Spec::Label(kind, g) => Target::Label { kind, group: group(g) },
        }
    }
}

type Table = &'static [(&'static str, Spec)];

use Field::*;
use Group::{Fixed, Numbered};

const fn f(field: Field) -> Spec {
    Spec::Field(field, Fixed(0), "")
}

const fn n(field: Field) -> Spec {
    Spec::Field(field, Numbered, "")
}

const fn labelled(field: Field, label: &'static str) -> Spec {
    Spec::Field(field, Fixed(0), label)
}

const fn label_of(kind: Kind) -> Spec {
    Spec::Label(kind, Numbered)
}

/// Outlook's address blocks: one value group each, labelled.
const fn work(field: Field) -> Spec {
    Spec::Field(field, Fixed(1), "work")
}

const fn home(field: Field) -> Spec {
    Spec::Field(field, Fixed(2), "home")
}

const fn other(field: Field) -> Spec {
    Spec::Field(field, Fixed(3), "other")
}

const C: Spec = Spec::Custom;

/// Google's numbered groups, current (`- Label`) and legacy (`- Type`) alike.
const GOOGLE_GROUPS: Table = &[
    ("e-mail # - label", label_of(Kind::Email)),
    ("e-mail # - type", label_of(Kind::Email)),
    ("e-mail # - value", n(Email)),
    ("phone # - label", label_of(Kind::Phone)),
    ("phone # - type", label_of(Kind::Phone)),
    ("phone # - value", n(Phone)),
    ("address # - label", label_of(Kind::Address)),
    ("address # - type", label_of(Kind::Address)),
    ("address # - formatted", n(FormattedAddress)),
    ("address # - street", n(Street)),
    ("address # - city", n(City)),
    ("address # - po box", n(PoBox)),
    ("address # - region", n(Region)),
    ("address # - postal code", n(PostalCode)),
    ("address # - country", n(Country)),
    ("address # - extended address", n(ExtendedAddress)),
    ("relation # - label", label_of(Kind::Relation)),
    ("relation # - type", label_of(Kind::Relation)),
    ("relation # - value", n(Relation)),
    ("website # - label", label_of(Kind::Website)),
    ("website # - type", label_of(Kind::Website)),
    ("website # - value", n(Website)),
    ("event # - label", label_of(Kind::Date)),
    ("event # - type", label_of(Kind::Date)),
    ("event # - value", n(Date)),
    ("custom field # - label", label_of(Kind::Custom)),
    ("custom field # - type", label_of(Kind::Custom)),
    ("custom field # - value", n(CustomValue)),
    ("im # - label", label_of(Kind::Im)),
    ("im # - type", label_of(Kind::Im)),
    ("im # - service", n(ImService)),
    ("im # - value", n(ImHandle)),
    ("organization # - label", label_of(Kind::Organization)),
    ("organization # - type", label_of(Kind::Organization)),
    ("organization # - name", n(Organization)),
    ("organization # - title", n(Title)),
    ("organization # - department", n(Department)),
    ("organization # - yomi name", C),
    ("organization # - symbol", C),
    ("organization # - location", C),
    ("organization # - job description", C),
];

const GOOGLE_CURRENT: Table = &[
    ("first name", f(GivenName)),
    ("middle name", f(MiddleName)),
    ("last name", f(FamilyName)),
    ("phonetic first name", f(PhoneticGiven)),
    ("phonetic middle name", f(PhoneticMiddle)),
    ("phonetic last name", f(PhoneticFamily)),
    ("name prefix", f(Prefix)),
    ("name suffix", f(Suffix)),
    ("nickname", f(Nickname)),
    // The name Google files the contact under, when it differs from the name's parts.
    ("file as", f(FullName)),
    ("organization name", f(Organization)),
    ("organization title", f(Title)),
    ("organization department", f(Department)),
    // Written by Intake's own export, for what Google's layout has no column for.
    ("organization label", Spec::Label(Kind::Organization, Fixed(0))),
    ("gender", f(Gender)),
    ("birthday", f(Birthday)),
    ("notes", f(Notes)),
    ("photo", f(Photo)),
    ("labels", f(Groups)),
];

const GOOGLE_LEGACY: Table = &[
    ("name", f(FullName)),
    ("given name", f(GivenName)),
    ("additional name", f(MiddleName)),
    ("family name", f(FamilyName)),
    ("yomi name", C),
    ("given name yomi", f(PhoneticGiven)),
    ("additional name yomi", f(PhoneticMiddle)),
    ("family name yomi", f(PhoneticFamily)),
    ("name prefix", f(Prefix)),
    ("name suffix", f(Suffix)),
    ("initials", C),
    ("nickname", f(Nickname)),
    ("short name", C),
    ("maiden name", C),
    ("birthday", f(Birthday)),
    ("gender", f(Gender)),
    ("location", C),
    ("billing information", C),
    ("directory server", C),
    ("mileage", C),
    ("occupation", C),
    ("hobby", C),
    ("sensitivity", C),
    ("priority", C),
    ("subject", C),
    ("notes", f(Notes)),
    ("language", C),
    ("photo", f(Photo)),
    ("group membership", f(Groups)),
];

const OUTLOOK_ENGLISH: Table = &[
    ("title", f(Prefix)),
    ("first name", f(GivenName)),
    ("middle name", f(MiddleName)),
    ("last name", f(FamilyName)),
    ("suffix", f(Suffix)),
    ("nickname", f(Nickname)),
    ("given yomi", f(PhoneticGiven)),
    ("surname yomi", f(PhoneticFamily)),
    ("company", f(Organization)),
    ("department", f(Department)),
    ("job title", f(Title)),
    ("business street", work(Street)),
    ("business street #", work(Street)),
    ("business city", work(City)),
    ("business state", work(Region)),
    ("business postal code", work(PostalCode)),
    ("business country/region", work(Country)),
    ("business country", work(Country)),
    ("business address po box", work(PoBox)),
    ("business address", work(FormattedAddress)),
    ("home street", home(Street)),
    ("home street #", home(Street)),
    ("home city", home(City)),
    ("home state", home(Region)),
    ("home postal code", home(PostalCode)),
    ("home country/region", home(Country)),
    ("home country", home(Country)),
    ("home address po box", home(PoBox)),
    ("home address", home(FormattedAddress)),
    ("other street", other(Street)),
    ("other street #", other(Street)),
    ("other city", other(City)),
    ("other state", other(Region)),
    ("other postal code", other(PostalCode)),
    ("other country/region", other(Country)),
    ("other country", other(Country)),
    ("other address po box", other(PoBox)),
    ("other address", other(FormattedAddress)),
    ("assistant's phone", labelled(Phone, "assistant")),
    ("business fax", labelled(Phone, "work fax")),
    ("business phone", labelled(Phone, "work")),
    ("business phone #", labelled(Phone, "work")),
    ("callback", labelled(Phone, "callback")),
    ("car phone", labelled(Phone, "car")),
    ("company main phone", labelled(Phone, "main")),
    ("home fax", labelled(Phone, "home fax")),
    ("home phone", labelled(Phone, "home")),
    ("home phone #", labelled(Phone, "home")),
    ("isdn", labelled(Phone, "isdn")),
    ("mobile phone", labelled(Phone, "mobile")),
    ("other fax", labelled(Phone, "other fax")),
    ("other phone", labelled(Phone, "other")),
    ("pager", labelled(Phone, "pager")),
    ("primary phone", labelled(Phone, "main")),
    ("radio phone", labelled(Phone, "radio")),
    ("tty/tdd phone", labelled(Phone, "tty/tdd")),
    ("telex", labelled(Phone, "telex")),
    ("e-mail address", f(Email)),
    ("e-mail # address", n(Email)),
    ("e-mail type", C),
    ("e-mail # type", C),
    ("e-mail display name", C),
    ("e-mail # display name", C),
    ("imaddress", f(ImHandle)),
    ("anniversary", labelled(Date, "anniversary")),
    ("birthday", f(Birthday)),
    ("categories", f(Groups)),
    ("children", labelled(Relation, "child")),
    ("spouse", labelled(Relation, "spouse")),
    ("manager's name", labelled(Relation, "manager")),
    ("assistant's name", labelled(Relation, "assistant")),
    ("referred by", labelled(Relation, "referred by")),
    ("gender", f(Gender)),
    ("notes", f(Notes)),
    ("web page", f(Website)),
    ("personal web page", labelled(Website, "home")),
    ("account", C),
    ("billing information", C),
    ("directory server", C),
    ("government id number", C),
    ("hobby", C),
    ("initials", C),
    ("internet free busy", C),
    ("keywords", C),
    ("language", C),
    ("location", C),
    ("mileage", C),
    ("office location", C),
    ("organizational id number", C),
    ("priority", C),
    ("private", C),
    ("profession", C),
    ("sensitivity", C),
    ("user #", C),
];

const OUTLOOK_GERMAN: Table = &[
    ("anrede", f(Prefix)),
    ("vorname", f(GivenName)),
    ("weitere vornamen", f(MiddleName)),
    ("nachname", f(FamilyName)),
    ("suffix", f(Suffix)),
    ("firma", f(Organization)),
    ("abteilung", f(Department)),
    ("position", f(Title)),
    ("straße geschäftlich", work(Street)),
    ("straße geschäftlich #", work(Street)),
    ("ort geschäftlich", work(City)),
    ("region geschäftlich", work(Region)),
    ("postleitzahl geschäftlich", work(PostalCode)),
    ("land/region geschäftlich", work(Country)),
    ("postfach geschäftlich", work(PoBox)),
    ("straße privat", home(Street)),
    ("straße privat #", home(Street)),
    ("ort privat", home(City)),
    ("bundesland/kanton privat", home(Region)),
    ("postleitzahl privat", home(PostalCode)),
    ("land/region privat", home(Country)),
    ("postfach privat", home(PoBox)),
    ("weitere straße", other(Street)),
    ("weitere straße #", other(Street)),
    ("weiterer ort", other(City)),
    ("weiteres/r bundesland/kanton", other(Region)),
    ("weitere postleitzahl", other(PostalCode)),
    ("weiteres/e land/region", other(Country)),
    ("weiteres postfach", other(PoBox)),
    ("telefon assistent", labelled(Phone, "assistant")),
    ("fax geschäftlich", labelled(Phone, "work fax")),
    ("telefon geschäftlich", labelled(Phone, "work")),
    ("telefon geschäftlich #", labelled(Phone, "work")),
    ("rückmeldung", labelled(Phone, "callback")),
    ("autotelefon", labelled(Phone, "car")),
    ("telefon firma", labelled(Phone, "main")),
    ("fax privat", labelled(Phone, "home fax")),
    ("telefon privat", labelled(Phone, "home")),
    ("telefon privat #", labelled(Phone, "home")),
    ("telefon (privat)", labelled(Phone, "home")),
    ("telefon (privat #)", labelled(Phone, "home")),
    ("isdn", labelled(Phone, "isdn")),
    ("mobiltelefon", labelled(Phone, "mobile")),
    // Outlook's German "Mobiltelefon 2" is its Radio Phone.
    ("mobiltelefon #", labelled(Phone, "radio")),
    ("weiteres fax", labelled(Phone, "other fax")),
    ("weiteres telefon", labelled(Phone, "other")),
    ("pager", labelled(Phone, "pager")),
    ("haupttelefon", labelled(Phone, "main")),
    ("telefon für hörbehinderte", labelled(Phone, "tty/tdd")),
    ("telex", labelled(Phone, "telex")),
    ("e-mail-adresse", f(Email)),
    ("e-mail #: adresse", n(Email)),
    ("e-mail-typ", C),
    ("e-mail #: typ", C),
    ("e-mail: angezeigter name", C),
    ("e-mail #: angezeigter name", C),
    ("geburtstag", f(Birthday)),
    ("jahrestag", labelled(Date, "anniversary")),
    ("kategorien", f(Groups)),
    ("kinder", labelled(Relation, "child")),
    ("partner", labelled(Relation, "spouse")),
    ("name assistent", labelled(Relation, "assistant")),
    ("assistent(in)", labelled(Relation, "assistant")),
    ("name des/der vorgesetzten", labelled(Relation, "manager")),
    ("name des/r vorgesetzten", labelled(Relation, "manager")),
    ("empfohlen von", labelled(Relation, "referred by")),
    ("geschlecht", f(Gender)),
    ("notizen", f(Notes)),
    ("webseite", f(Website)),
    // Outlook's "Location", not a city.
    ("ort", C),
    ("beruf", C),
    ("büro", C),
    ("priorität", C),
    ("privat", C),
    ("vertraulichkeit", C),
    ("benutzer #", C),
];

/// "Titre" is ambiguous in French Outlook exports (courtesy title or job
/// title); see [`resolve_french_titles`].
const OUTLOOK_FRENCH: Table = &[
    ("titre", f(Prefix)),
    ("prénom", f(GivenName)),
    ("deuxième prénom", f(MiddleName)),
    ("nom", f(FamilyName)),
    ("nom de famille", f(FamilyName)),
    ("nom complet", f(FullName)),
    ("suffixe", f(Suffix)),
    ("surnom", f(Nickname)),
    ("société", f(Organization)),
    ("service", f(Department)),
    ("fonction", f(Title)),
    ("rue (bureau)", work(Street)),
    ("rue (bureau) #", work(Street)),
    ("ville (bureau)", work(City)),
    ("dép/région (bureau)", work(Region)),
    ("code postal (bureau)", work(PostalCode)),
    ("pays/région (bureau)", work(Country)),
    ("pays (bureau)", work(Country)),
    ("b.p. professionnelle", work(PoBox)),
    ("rue (domicile)", home(Street)),
    ("rue (domicile) #", home(Street)),
    ("ville (domicile)", home(City)),
    ("dép/région (domicile)", home(Region)),
    ("code postal (domicile)", home(PostalCode)),
    ("pays/région (domicile)", home(Country)),
    ("pays (domicile)", home(Country)),
    ("boîte postale du domicile", home(PoBox)),
    ("rue (autre)", other(Street)),
    ("rue (autre) #", other(Street)),
    ("ville (autre)", other(City)),
    ("dép/région (autre)", other(Region)),
    ("code postal (autre)", other(PostalCode)),
    ("pays/région (autre)", other(Country)),
    ("pays (autre)", other(Country)),
    ("autre boîte postale", other(PoBox)),
    ("téléphone de l'assistant(e)", labelled(Phone, "assistant")),
    ("télécopie (bureau)", labelled(Phone, "work fax")),
    ("téléphone (bureau)", labelled(Phone, "work")),
    ("téléphone # (bureau)", labelled(Phone, "work")),
    ("téléphone professionnel", labelled(Phone, "work")),
    ("rappel", labelled(Phone, "callback")),
    ("téléphone (voiture)", labelled(Phone, "car")),
    ("téléphone société", labelled(Phone, "main")),
    ("télécopie (domicile)", labelled(Phone, "home fax")),
    ("téléphone (domicile)", labelled(Phone, "home")),
    ("téléphone # (domicile)", labelled(Phone, "home")),
    ("téléphone personnel", labelled(Phone, "home")),
    ("rnis", labelled(Phone, "isdn")),
    ("tél. mobile", labelled(Phone, "mobile")),
    ("téléphone mobile", labelled(Phone, "mobile")),
    ("téléphone portable", labelled(Phone, "mobile")),
    ("télécopie (autre)", labelled(Phone, "other fax")),
    ("téléphone (autre)", labelled(Phone, "other")),
    ("récepteur de radiomessagerie", labelled(Phone, "pager")),
    ("téléphone principal", labelled(Phone, "main")),
    ("radio téléphone", labelled(Phone, "radio")),
    ("téléphone tdd/tty", labelled(Phone, "tty/tdd")),
    ("télex", labelled(Phone, "telex")),
    ("adresse de messagerie", f(Email)),
    ("adresse de messagerie #", n(Email)),
    ("type de messagerie", C),
    ("type de messagerie #", C),
    ("nom complet de l'adresse de messagerie", C),
    ("nom complet de l'adresse de messagerie #", C),
    // French Outlook's "Anniversaire" is the birthday.
    ("anniversaire", f(Birthday)),
    ("anniversaire de mariage ou fête", labelled(Date, "anniversary")),
    ("catégories", f(Groups)),
    ("enfants", labelled(Relation, "child")),
    ("conjoint(e)", labelled(Relation, "spouse")),
    ("nom de l'assistant(e)", labelled(Relation, "assistant")),
    ("responsable", labelled(Relation, "manager")),
    ("recommandé par", labelled(Relation, "referred by")),
    ("sexe", f(Gender)),
    ("notes", f(Notes)),
    ("page web", f(Website)),
    ("priorité", C),
    ("privé", C),
    ("critère de diffusion", C),
    ("utilisateur #", C),
];

const LINKEDIN: Table = &[
    ("first name", f(GivenName)),
    ("last name", f(FamilyName)),
    ("url", labelled(Website, "LinkedIn")),
    ("email address", f(Email)),
    ("company", f(Organization)),
    ("position", f(Title)),
    ("connected on", labelled(Date, "connected on")),
];

/// A preset is recognised when every `all_of` header and at least one
/// `any_of` header is present.
struct PresetSpec {
    preset: Preset,
    all_of: &'static [&'static str],
    any_of: &'static [&'static str],
    tables: &'static [Table],
    day_order: DayOrder,
}

const PRESETS: &[PresetSpec] = &[
    PresetSpec {
        preset: Preset::GoogleCurrent,
        all_of: &["first name", "last name"],
        any_of: &["e-mail # - label", "e-mail # - value", "phone # - value", "organization name", "file as"],
        tables: &[GOOGLE_CURRENT, GOOGLE_GROUPS],
        day_order: DayOrder::DayFirst,
    },
    PresetSpec {
        preset: Preset::GoogleLegacy,
        all_of: &["given name", "family name"],
        any_of: &["e-mail # - type", "e-mail # - value", "phone # - value", "group membership"],
        tables: &[GOOGLE_LEGACY, GOOGLE_GROUPS],
        day_order: DayOrder::DayFirst,
    },
    PresetSpec {
        preset: Preset::OutlookEnglish,
        all_of: &["first name", "last name"],
        any_of: &["e-mail address", "e-mail display name", "business phone", "home phone"],
        tables: &[OUTLOOK_ENGLISH],
        day_order: DayOrder::MonthFirst,
    },
    PresetSpec {
        preset: Preset::OutlookGerman,
        all_of: &["vorname", "nachname"],
        any_of: &["e-mail-adresse", "firma", "mobiltelefon", "telefon geschäftlich", "notizen"],
        tables: &[OUTLOOK_GERMAN],
        day_order: DayOrder::DayFirst,
    },
    PresetSpec {
        preset: Preset::OutlookFrench,
        all_of: &["prénom", "nom"],
        any_of: &["adresse de messagerie", "société", "tél. mobile", "téléphone mobile", "fonction"],
        tables: &[OUTLOOK_FRENCH],
        day_order: DayOrder::DayFirst,
    },
    PresetSpec {
        preset: Preset::LinkedIn,
        all_of: &["first name", "last name", "connected on"],
        any_of: &["url", "email address", "company", "position"],
        tables: &[LINKEDIN],
        day_order: DayOrder::DayFirst,
    },
];

fn lookup(spec: &PresetSpec, key: &str) -> Option<Spec> {
    spec.tables.iter().flat_map(|table| table.iter()).find(|(name, _)| preset_key(name) == key).map(|(_, spec)| *spec)
}

/// The preset a table's headers come from, and where each column goes.
pub fn detect_columns(headers: &[String]) -> (Preset, Mapping) {
    let keys: Vec<String> = headers.iter().map(|h| preset_key(h)).collect();
    let mut best: Option<(&PresetSpec, usize)> = None;
    for spec in PRESETS {
        let has = |name: &str| keys.iter().any(|k| *k == preset_key(name));
        if !spec.all_of.iter().all(|n| has(n)) || !spec.any_of.iter().any(|n| has(n)) {
            continue;
        }
        let score = keys.iter().filter(|k| lookup(spec, k).is_some()).count();
        if best.is_none_or(|(_, s)| score > s) {
            best = Some((spec, score));
        }
    }
    let Some((spec, _)) = best else {
        let columns = headers.iter().map(|h| mapping::guess_target(h)).collect();
        return (Preset::Generic, Mapping { columns, day_order: DayOrder::DayFirst });
    };
    let mut columns: Vec<Target> = keys
        .iter()
        .zip(headers)
        .map(|(key, header)| lookup(spec, key).map_or_else(|| mapping::guess_target(header), |found| found.target(header)))
        .collect();
    if spec.preset == Preset::OutlookFrench {
        resolve_french_titles(&keys, &mut columns);
    }
    (spec.preset, Mapping { columns, day_order: spec.day_order })
}

/// French Outlook writes the courtesy title as "Titre" and, depending on the
/// version, the job title as "Fonction" or as a second, later "Titre".
fn resolve_french_titles(keys: &[String], columns: &mut [Target]) {
    let titre: Vec<usize> = (0..keys.len()).filter(|&i| keys[i] == "titre").collect();
    let has_fonction = keys.iter().any(|k| k == "fonction");
    match titre.as_slice() {
        [only] if !has_fonction => columns[*only] = Target::field(Title),
        [.., last] if !has_fonction && titre.len() > 1 => columns[*last] = Target::field(Title),
        _ => {}
    }
}

/// True when `cell` is a header word a layout or the generic rules know,
/// exactly (no typo tolerance): the sniffer prefers such rows as the header.
pub fn is_known_header(cell: &str) -> bool {
    let key = preset_key(cell);
    if key.is_empty() {
        return false;
    }
    let folded = mapping::fold(cell);
    PRESETS.iter().any(|spec| lookup(spec, &key).is_some())
        || mapping::is_synonym(&folded)
        || mapping::keyword_target(cell, &folded).is_some()
}

/// Whether a custom column's value is what its exporter writes when nothing
/// was set (Outlook's "Normal" priority, "SMTP" e-mail type, a display name
/// that repeats the address): such a value holds nothing to keep.
pub fn says_nothing(header: &str, value: &str) -> bool {
    let key = preset_key(header);
    let value = value.trim().to_lowercase();
    let is = |keys: &[&str], values: &[&str]| keys.contains(&key.as_str()) && values.contains(&value.as_str());
    is(&["priority", "priorität", "priorité", "sensitivity", "vertraulichkeit", "critère de diffusion"], &["normal", "normale"])
        || is(&["private", "privat", "privé"], &["false", "aus", "faux", "non"])
        || is(&["e-mail type", "e-mail # type", "e-mail-typ", "e-mail #: typ", "type de messagerie", "type de messagerie #"], &["smtp"])
        || ([
            "e-mail display name",
            "e-mail # display name",
            "e-mail: angezeigter name",
            "e-mail #: angezeigter name",
            "nom complet de l'adresse de messagerie",
            "nom complet de l'adresse de messagerie #",
        ]
        .contains(&key.as_str())
            && value.contains('@'))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(line: &str) -> Vec<String> {
        line.split(',').map(str::to_owned).collect()
    }

    /// The columns a layout imports (not custom), as `header → key`.
    fn mapped(line: &str) -> (Preset, Vec<String>) {
        let hs = headers(line);
        let (preset, mapping) = detect_columns(&hs);
        assert_eq!(mapping.columns.len(), hs.len());
        let pairs = hs
            .into_iter()
            .zip(mapping.columns)
            .filter(|(_, t)| *t != Target::Custom)
            .map(|(h, t)| format!("{h} → {}", t.key()))
            .collect();
        (preset, pairs)
    }

    #[test]
    fn google_current_export_with_every_group() {
        let line = "First Name,Middle Name,Last Name,Phonetic First Name,Name Prefix,Nickname,File As,\
Organization Name,Organization Title,Organization Department,Birthday,Notes,Photo,Labels,\
E-mail 1 - Label,E-mail 1 - Value,Phone 1 - Label,Phone 1 - Value,Address 1 - Label,Address 1 - Formatted,\
Address 1 - Street,Address 1 - City,Relation 1 - Label,Relation 1 - Value,Website 1 - Value,Event 1 - Label,\
Event 1 - Value,Custom Field 1 - Label,Custom Field 1 - Value";
        let (preset, got) = mapped(line);
        assert_eq!(preset, Preset::GoogleCurrent);
        assert_eq!(
            got,
            [
                "First Name → given_name",
                "Middle Name → middle_name",
                "Last Name → family_name",
                "Phonetic First Name → phonetic_given",
                "Name Prefix → prefix",
                "Nickname → nickname",
                "File As → full_name",
                "Organization Name → organization",
                "Organization Title → title",
                "Organization Department → department",
                "Birthday → birthday",
                "Notes → notes",
                "Photo → photo",
                "Labels → groups",
                "E-mail 1 - Label → label:email#1",
                "E-mail 1 - Value → email#1",
                "Phone 1 - Label → label:phone#1",
                "Phone 1 - Value → phone#1",
                "Address 1 - Label → label:address#1",
                "Address 1 - Formatted → address#1",
                "Address 1 - Street → street#1",
                "Address 1 - City → city#1",
                "Relation 1 - Label → label:relation#1",
                "Relation 1 - Value → relation#1",
                "Website 1 - Value → website#1",
                "Event 1 - Label → label:date#1",
                "Event 1 - Value → date#1",
                "Custom Field 1 - Label → label:custom#1",
                "Custom Field 1 - Value → custom_value#1",
            ]
        );
    }

    #[test]
    fn google_legacy_export() {
        let line = "Name,Given Name,Additional Name,Family Name,Yomi Name,Name Prefix,Notes,Group Membership,\
E-mail 1 - Type,E-mail 1 - Value,IM 1 - Type,IM 1 - Service,IM 1 - Value,Organization 1 - Type,Organization 1 - Name,Organization 1 - Title";
        let (preset, got) = mapped(line);
        assert_eq!(preset, Preset::GoogleLegacy);
        assert!(got.contains(&"Additional Name → middle_name".to_owned()));
        assert!(got.contains(&"Group Membership → groups".to_owned()));
        assert!(got.contains(&"IM 1 - Service → im_service#1".to_owned()));
        assert!(got.contains(&"Organization 1 - Type → label:organization#1".to_owned()));
        assert!(!got.iter().any(|g| g.starts_with("Yomi Name")), "kept as a custom field");
    }

    #[test]
    fn outlook_english_address_blocks_and_labelled_phones() {
        let line = "Title,First Name,Last Name,Company,Job Title,Business Street,Business Street 2,Business City,\
Business Postal Code,Business Country/Region,Home City,Business Fax,Business Phone,Business Phone 2,Mobile Phone,\
E-mail Address,E-mail Type,E-mail 2 Address,Birthday,Categories,Spouse,User 1,Web Page";
        let (preset, got) = mapped(line);
        assert_eq!(preset, Preset::OutlookEnglish);
        assert_eq!(
            got,
            [
                "Title → prefix",
                "First Name → given_name",
                "Last Name → family_name",
                "Company → organization",
                "Job Title → title",
                "Business Street → street#1@work",
                "Business Street 2 → street#1@work",
                "Business City → city#1@work",
                "Business Postal Code → postal_code#1@work",
                "Business Country/Region → country#1@work",
                "Home City → city#2@home",
                "Business Fax → phone@work fax",
                "Business Phone → phone@work",
                "Business Phone 2 → phone@work",
                "Mobile Phone → phone@mobile",
                "E-mail Address → email",
                "E-mail 2 Address → email#2",
                "Birthday → birthday",
                "Categories → groups",
                "Spouse → relation@spouse",
                "Web Page → website",
            ]
        );
        assert_eq!(detect_columns(&headers(line)).1.day_order, DayOrder::MonthFirst);
    }

    #[test]
    fn outlook_german_traps() {
        let line = "Anrede,Vorname,Nachname,Firma,Position,Ort geschäftlich,Mobiltelefon,Mobiltelefon 2,Ort,E-Mail-Adresse,Geburtstag,Notizen";
        let (preset, got) = mapped(line);
        assert_eq!(preset, Preset::OutlookGerman);
        assert!(got.contains(&"Ort geschäftlich → city#1@work".to_owned()));
        assert!(got.contains(&"Mobiltelefon 2 → phone@radio".to_owned()));
        assert!(!got.iter().any(|g| g.starts_with("Ort →")), "Ort is Outlook's location, kept as a custom field");
    }

    #[test]
    fn outlook_french_titles_and_birthday() {
        // Older French Outlook: courtesy "Titre" first, job "Titre" after "Service".
        let (preset, got) = mapped("Titre,Prénom,Nom,Société ,Service ,Titre,Adresse de messagerie,Anniversaire,Notes");
        assert_eq!(preset, Preset::OutlookFrench);
        assert_eq!(got[0], "Titre → prefix");
        assert!(got.contains(&"Titre → title".to_owned()));
        assert!(got.contains(&"Anniversaire → birthday".to_owned()));
        let (_, got) = mapped("Titre,Prénom,Nom,Société,Fonction,Téléphone mobile");
        assert!(got.contains(&"Titre → prefix".to_owned()) && got.contains(&"Fonction → title".to_owned()));
        let (_, single) = mapped("Prénom,Nom,Société,Titre");
        assert!(single.contains(&"Titre → title".to_owned()));
    }

    #[test]
    fn linkedin_connections() {
        let (preset, got) = mapped("First Name,Last Name,URL,Email Address,Company,Position,Connected On");
        assert_eq!(preset, Preset::LinkedIn);
        assert!(got.contains(&"URL → website@LinkedIn".to_owned()));
        assert!(got.contains(&"Connected On → date@connected on".to_owned()));
    }

    #[test]
    fn unknown_columns_in_a_preset_follow_the_generic_rules() {
        let (preset, mapping) = detect_columns(&headers("First Name,Last Name,Email Address,Connected On,Work Phone,Shoe size"));
        assert_eq!(preset, Preset::LinkedIn);
        assert_eq!(mapping.columns[4], Target::Field { field: Phone, group: 0, label: "work".into() });
        assert_eq!(mapping.columns[5], Target::Custom);
    }

    #[test]
    fn known_header_words() {
        assert!(is_known_header("E-mail 1 - Label"));
        assert!(is_known_header("Connected On"));
        assert!(is_known_header("Vorname"));
        assert!(is_known_header("work email"));
        assert!(!is_known_header("Jane"));
        assert!(!is_known_header("Emial"));
        assert!(!is_known_header(""));
    }

    #[test]
    fn exporters_defaults_say_nothing() {
        assert!(says_nothing("Priority", "Normal"));
        assert!(says_nothing("E-mail 2 Type", "SMTP"));
        assert!(says_nothing("E-mail Display Name", "Ana Lima (ana@x.io)"));
        assert!(says_nothing("Privat", "Aus"));
        assert!(!says_nothing("Priority", "High"));
        assert!(!says_nothing("User 1", "Normal"));
    }
}
