//! Header → contact field mapping: known export presets first, then generic
//! synonyms, keyword rules and typo-tolerant matching.

use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Field {
    FullName,
    GivenName,
    FamilyName,
    Email,
    Phone,
    Organization,
    Title,
    Notes,
}

impl Field {
    pub const ALL: [Field; 8] = [
        Field::FullName,
        Field::GivenName,
        Field::FamilyName,
        Field::Email,
        Field::Phone,
        Field::Organization,
        Field::Title,
        Field::Notes,
    ];

    pub fn label(self) -> &'static str {
        match self {
            Field::FullName => "Full name",
            Field::GivenName => "First name",
            Field::FamilyName => "Last name",
            Field::Email => "Email",
            Field::Phone => "Phone",
            Field::Organization => "Organization",
            Field::Title => "Job title",
            Field::Notes => "Notes",
        }
    }

    /// Stable snake_case id, safe to store and to use in form values.
    pub fn key(self) -> &'static str {
        match self {
            Field::FullName => "full_name",
            Field::GivenName => "given_name",
            Field::FamilyName => "family_name",
            Field::Email => "email",
            Field::Phone => "phone",
            Field::Organization => "organization",
            Field::Title => "title",
            Field::Notes => "notes",
        }
    }

    pub fn from_key(key: &str) -> Option<Field> {
        Field::ALL.into_iter().find(|f| f.key() == key)
    }
}

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

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct Mapping {
    /// One entry per header column.
    pub columns: Vec<Option<Field>>,
}

use Field::*;

type Table = &'static [(&'static str, Option<Field>)];

/// A preset is recognised when every `all_of` header and at least one
/// `any_of` header is present. Numbers in headers are written as `#`.
struct PresetSpec {
    preset: Preset,
    all_of: &'static [&'static str],
    any_of: &'static [&'static str],
    columns: Table,
}

const GOOGLE_CURRENT: Table = &[
    ("first name", Some(GivenName)),
    ("middle name", None),
    ("last name", Some(FamilyName)),
    ("phonetic first name", None),
    ("phonetic middle name", None),
    ("phonetic last name", None),
    ("name prefix", None),
    ("name suffix", None),
    ("nickname", None),
    ("file as", None),
    ("organization name", Some(Organization)),
    ("organization title", Some(Title)),
    ("organization department", None),
    ("birthday", None),
    ("notes", Some(Notes)),
    ("photo", None),
    ("labels", None),
    ("e-mail # - label", None),
    ("e-mail # - value", Some(Email)),
    ("phone # - label", None),
    ("phone # - value", Some(Phone)),
    ("address # - label", None),
    ("address # - formatted", None),
    ("website # - label", None),
    ("website # - value", None),
];

const GOOGLE_LEGACY: Table = &[
    ("name", Some(FullName)),
    ("given name", Some(GivenName)),
    ("additional name", None),
    ("family name", Some(FamilyName)),
    ("yomi name", None),
    ("name prefix", None),
    ("name suffix", None),
    ("initials", None),
    ("nickname", None),
    ("short name", None),
    ("maiden name", None),
    ("birthday", None),
    ("gender", None),
    ("occupation", None),
    ("notes", Some(Notes)),
    ("group membership", None),
    ("e-mail # - type", None),
    ("e-mail # - value", Some(Email)),
    ("phone # - type", None),
    ("phone # - value", Some(Phone)),
    ("organization # - type", None),
    ("organization # - name", Some(Organization)),
    ("organization # - yomi name", None),
    ("organization # - title", Some(Title)),
    ("organization # - department", None),
    ("address # - type", None),
    ("address # - formatted", None),
    ("website # - type", None),
    ("website # - value", None),
];

const OUTLOOK_ENGLISH: Table = &[
    ("title", None),
    ("first name", Some(GivenName)),
    ("middle name", None),
    ("last name", Some(FamilyName)),
    ("suffix", None),
    ("company", Some(Organization)),
    ("department", None),
    ("job title", Some(Title)),
    ("business street", None),
    ("business city", None),
    ("home street", None),
    ("home city", None),
    ("assistant's phone", None),
    ("business fax", None),
    ("business phone", Some(Phone)),
    ("business phone #", Some(Phone)),
    ("callback", None),
    ("car phone", None),
    ("company main phone", Some(Phone)),
    ("home fax", None),
    ("home phone", Some(Phone)),
    ("home phone #", Some(Phone)),
    ("mobile phone", Some(Phone)),
    ("other fax", None),
    ("other phone", Some(Phone)),
    ("pager", None),
    ("primary phone", Some(Phone)),
    ("e-mail address", Some(Email)),
    ("e-mail type", None),
    ("e-mail display name", None),
    ("e-mail # address", Some(Email)),
    ("e-mail # type", None),
    ("e-mail # display name", None),
    ("birthday", None),
    ("categories", None),
    ("notes", Some(Notes)),
    ("web page", None),
];

const OUTLOOK_GERMAN: Table = &[
    ("anrede", None),
    ("vorname", Some(GivenName)),
    ("weitere vornamen", None),
    ("nachname", Some(FamilyName)),
    ("suffix", None),
    ("firma", Some(Organization)),
    ("abteilung", None),
    ("position", Some(Title)),
    ("straße geschäftlich", None),
    ("ort geschäftlich", None),
    ("straße privat", None),
    ("ort privat", None),
    ("telefon assistent", None),
    ("fax geschäftlich", None),
    ("telefon geschäftlich", Some(Phone)),
    ("telefon geschäftlich #", Some(Phone)),
    ("rückmeldung", None),
    ("autotelefon", None),
    ("telefon firma", Some(Phone)),
    ("fax privat", None),
    ("telefon privat", Some(Phone)),
    ("telefon privat #", Some(Phone)),
    ("telefon (privat)", Some(Phone)),
    ("telefon (privat #)", Some(Phone)),
    ("mobiltelefon", Some(Phone)),
    ("mobiltelefon #", Some(Phone)),
    ("weiteres fax", None),
    ("weiteres telefon", Some(Phone)),
    ("haupttelefon", Some(Phone)),
    ("pager", None),
    ("e-mail-adresse", Some(Email)),
    ("e-mail-typ", None),
    ("e-mail: angezeigter name", None),
    ("e-mail #: adresse", Some(Email)),
    ("e-mail #: typ", None),
    ("e-mail #: angezeigter name", None),
    ("geburtstag", None),
    ("kategorien", None),
    ("notizen", Some(Notes)),
    ("webseite", None),
];

/// "Titre" is ambiguous in French Outlook exports (courtesy title or job
/// title); see [`resolve_french_titles`].
const OUTLOOK_FRENCH: Table = &[
    ("titre", Some(Title)),
    ("prénom", Some(GivenName)),
    ("deuxième prénom", None),
    ("nom", Some(FamilyName)),
    ("nom de famille", Some(FamilyName)),
    ("nom complet", Some(FullName)),
    ("suffixe", None),
    ("surnom", None),
    ("société", Some(Organization)),
    ("service", None),
    ("fonction", Some(Title)),
    ("rue (bureau)", None),
    ("ville (bureau)", None),
    ("rue (domicile)", None),
    ("ville (domicile)", None),
    ("télécopie (bureau)", None),
    ("téléphone (bureau)", Some(Phone)),
    ("téléphone # (bureau)", Some(Phone)),
    ("téléphone professionnel", Some(Phone)),
    ("téléphone société", Some(Phone)),
    ("télécopie (domicile)", None),
    ("téléphone (domicile)", Some(Phone)),
    ("téléphone # (domicile)", Some(Phone)),
    ("téléphone personnel", Some(Phone)),
    ("tél. mobile", Some(Phone)),
    ("téléphone mobile", Some(Phone)),
    ("téléphone portable", Some(Phone)),
    ("télécopie (autre)", None),
    ("téléphone (autre)", Some(Phone)),
    ("téléphone principal", Some(Phone)),
    ("adresse de messagerie", Some(Email)),
    ("type de messagerie", None),
    ("nom complet de l'adresse de messagerie", None),
    ("adresse de messagerie #", Some(Email)),
    ("type de messagerie #", None),
    ("nom complet de l'adresse de messagerie #", None),
    ("anniversaire", None),
    ("catégories", None),
    ("notes", Some(Notes)),
    ("page web", None),
];

const LINKEDIN: Table = &[
    ("first name", Some(GivenName)),
    ("last name", Some(FamilyName)),
    ("url", None),
    ("email address", Some(Email)),
    ("company", Some(Organization)),
    ("position", Some(Title)),
    ("connected on", None),
];

/// The columns [`super::vcard::VCardReader`] reads a card into.
const VCARD: Table = &[
    ("name (fn)", Some(FullName)),
    ("given name (n)", Some(GivenName)),
    ("family name (n)", Some(FamilyName)),
    ("email (email)", Some(Email)),
    ("phone (tel)", Some(Phone)),
    ("organization (org)", Some(Organization)),
    ("title (title)", Some(Title)),
    ("note (note)", Some(Notes)),
    ("birthday (bday)", None),
];

const PRESETS: &[PresetSpec] = &[
    PresetSpec {
        preset: Preset::GoogleCurrent,
        all_of: &["first name", "last name"],
        any_of: &[
            "e-mail # - label",
            "e-mail # - value",
            "phone # - value",
            "organization name",
            "file as",
        ],
        columns: GOOGLE_CURRENT,
    },
    PresetSpec {
        preset: Preset::GoogleLegacy,
        all_of: &["given name", "family name"],
        any_of: &[
            "e-mail # - type",
            "e-mail # - value",
            "phone # - value",
            "group membership",
        ],
        columns: GOOGLE_LEGACY,
    },
    PresetSpec {
        preset: Preset::OutlookEnglish,
        all_of: &["first name", "last name"],
        any_of: &[
            "e-mail address",
            "e-mail display name",
            "business phone",
            "home phone",
        ],
        columns: OUTLOOK_ENGLISH,
    },
    PresetSpec {
        preset: Preset::OutlookGerman,
        all_of: &["vorname", "nachname"],
        any_of: &[
            "e-mail-adresse",
            "firma",
            "mobiltelefon",
            "telefon geschäftlich",
            "notizen",
        ],
        columns: OUTLOOK_GERMAN,
    },
    PresetSpec {
        preset: Preset::OutlookFrench,
        all_of: &["prénom", "nom"],
        any_of: &[
            "adresse de messagerie",
            "société",
            "tél. mobile",
            "téléphone mobile",
            "fonction",
        ],
        columns: OUTLOOK_FRENCH,
    },
    PresetSpec {
        preset: Preset::LinkedIn,
        all_of: &["first name", "last name", "connected on"],
        any_of: &["url", "email address", "company", "position"],
        columns: LINKEDIN,
    },
    PresetSpec {
        preset: Preset::VCard,
        all_of: &["name (fn)", "email (email)"],
        any_of: &["phone (tel)"],
        columns: VCARD,
    },
];

/// Generic header words, already in [`fold`] form.
const SYNONYMS: &[(&str, Field)] = &[
    ("name", FullName),
    ("fullname", FullName),
    ("displayname", FullName),
    ("contactname", FullName),
    ("contact", FullName),
    ("nomcomplet", FullName),
    ("vollername", FullName),
    ("nombrecompleto", FullName),
    ("firstname", GivenName),
    ("givenname", GivenName),
    ("forename", GivenName),
    ("first", GivenName),
    ("vorname", GivenName),
    ("prenom", GivenName),
    ("nombre", GivenName),
    ("lastname", FamilyName),
    ("familyname", FamilyName),
    ("surname", FamilyName),
    ("last", FamilyName),
    ("nachname", FamilyName),
    ("nom", FamilyName),
    ("nomdefamille", FamilyName),
    ("apellido", FamilyName),
    ("apellidos", FamilyName),
    ("email", Email),
    ("emailaddress", Email),
    ("emails", Email),
    ("mail", Email),
    ("emailadresse", Email),
    ("adressedemessagerie", Email),
    ("courriel", Email),
    ("correo", Email),
    ("phone", Phone),
    ("phonenumber", Phone),
    ("phones", Phone),
    ("telephone", Phone),
    ("tel", Phone),
    ("mobile", Phone),
    ("mobilenumber", Phone),
    ("cell", Phone),
    ("telefon", Phone),
    ("telefonnummer", Phone),
    ("handy", Phone),
    ("portable", Phone),
    ("telefono", Phone),
    ("company", Organization),
    ("companyname", Organization),
    ("organization", Organization),
    ("organisation", Organization),
    ("organizationname", Organization),
    ("org", Organization),
    ("employer", Organization),
    ("accountname", Organization),
    ("firma", Organization),
    ("unternehmen", Organization),
    ("societe", Organization),
    ("entreprise", Organization),
    ("empresa", Organization),
    ("title", Title),
    ("jobtitle", Title),
    ("position", Title),
    ("role", Title),
    ("function", Title),
    ("fonction", Title),
    ("occupation", Title),
    ("titel", Title),
    ("cargo", Title),
    ("notes", Notes),
    ("note", Notes),
    ("comments", Notes),
    ("comment", Notes),
    ("remarks", Notes),
    ("notizen", Notes),
    ("notiz", Notes),
    ("bemerkungen", Notes),
    ("anmerkungen", Notes),
    ("commentaires", Notes),
    ("description", Notes),
    ("memo", Notes),
];

pub fn detect(headers: &[String]) -> (Preset, Mapping) {
    let keys: Vec<String> = headers.iter().map(|h| preset_key(h)).collect();
    let mut best: Option<(&PresetSpec, usize)> = None;
    for spec in PRESETS {
        let has = |name: &str| keys.iter().any(|k| *k == preset_key(name));
        if !spec.all_of.iter().all(|n| has(n)) || !spec.any_of.iter().any(|n| has(n)) {
            continue;
        }
        let score = keys
            .iter()
            .filter(|k| table_lookup(spec.columns, k).is_some())
            .count();
        if best.is_none_or(|(_, s)| score > s) {
            best = Some((spec, score));
        }
    }
    let Some((spec, _)) = best else {
        let columns = headers.iter().map(|h| guess_field(h)).collect();
        return (Preset::Generic, Mapping { columns });
    };
    let mut columns: Vec<Option<Field>> = keys
        .iter()
        .zip(headers)
        .map(|(key, header)| table_lookup(spec.columns, key).unwrap_or_else(|| guess_field(header)))
        .collect();
    if spec.preset == Preset::OutlookFrench {
        resolve_french_titles(&keys, &mut columns);
    }
    (spec.preset, Mapping { columns })
}

/// French Outlook writes the courtesy title as "Titre" and, depending on the
/// version, the job title as "Fonction" or as a second, later "Titre".
fn resolve_french_titles(keys: &[String], columns: &mut [Option<Field>]) {
    let titre: Vec<usize> = (0..keys.len()).filter(|&i| keys[i] == "titre").collect();
    let has_fonction = keys.iter().any(|k| k == "fonction");
    for (n, &i) in titre.iter().enumerate() {
        if has_fonction || n + 1 < titre.len() {
            columns[i] = None;
        }
    }
}

/// True when `cell` is a header word this module knows, exactly (no typo
/// tolerance): used by the sniffer to prefer real header rows.
pub fn is_known_header(cell: &str) -> bool {
    let key = preset_key(cell);
    if key.is_empty() {
        return false;
    }
    PRESETS
        .iter()
        .any(|spec| table_lookup(spec.columns, &key).is_some())
        || {
            let folded = fold(cell);
            SYNONYMS.iter().any(|(s, _)| *s == folded) || keyword_field(&folded).is_some()
        }
}

/// Maps a header outside any preset: synonyms, then keywords, then typos.
pub fn guess_field(header: &str) -> Option<Field> {
    let folded = fold(header);
    if folded.is_empty() {
        return None;
    }
    if let Some((_, field)) = SYNONYMS.iter().find(|(s, _)| *s == folded) {
        return Some(*field);
    }
    keyword_field(&folded).or_else(|| fuzzy_field(&folded))
}

/// Columns such as "Work Email" or "Phone 2 - Value" name their field inside a
/// longer header; type/label columns next to them carry no contact data.
fn keyword_field(folded: &str) -> Option<Field> {
    let has = |words: &[&str]| words.iter().any(|w| folded.contains(w));
    if has(&["type", "label", "typ", "display", "fax"]) {
        return None;
    }
    if has(&["email", "courriel"]) && !folded.contains("name") {
        return Some(Email);
    }
    if has(&["phone", "telefon", "mobil", "cell", "handy"]) {
        return Some(Phone);
    }
    None
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
            let allowed = if len >= 9 && s.chars().count() == len {
                2
            } else {
                1
            };
            (d <= allowed).then_some((d, *field))
        })
        .min_by_key(|(d, _)| *d)
        .map(|(_, field)| field)
}

fn table_lookup(table: Table, key: &str) -> Option<Option<Field>> {
    table
        .iter()
        .find(|(name, _)| preset_key(name) == key)
        .map(|(_, f)| *f)
}

/// Light normalisation for preset headers: case, accents, spacing and numbers
/// are ignored, punctuation is kept ("E-mail Address" ≠ "Email Address").
fn preset_key(header: &str) -> String {
    let mut out = String::new();
    let mut pending_space = false;
    let mut in_number = false;
    for c in header
        .trim_matches(|c: char| c.is_whitespace() || c == '\u{feff}')
        .chars()
    {
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
fn fold(header: &str) -> String {
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

    fn headers(line: &str) -> Vec<String> {
        line.split(',').map(str::to_owned).collect()
    }

    fn mapped(line: &str) -> (Preset, Vec<(String, Field)>) {
        let hs = headers(line);
        let (preset, mapping) = detect(&hs);
        assert_eq!(mapping.columns.len(), hs.len());
        let pairs = hs
            .into_iter()
            .zip(mapping.columns)
            .filter_map(|(h, f)| f.map(|f| (h, f)))
            .collect();
        (preset, pairs)
    }

    fn pairs(list: &[(&str, Field)]) -> Vec<(String, Field)> {
        list.iter().map(|(h, f)| (h.to_string(), *f)).collect()
    }

    #[test]
    fn field_keys_round_trip_and_are_unique() {
        for f in Field::ALL {
            assert_eq!(Field::from_key(f.key()), Some(f));
            assert!(!f.label().is_empty());
        }
        assert_eq!(Field::from_key("nope"), None);
        let mut keys: Vec<_> = Field::ALL.iter().map(|f| f.key()).collect();
        keys.dedup();
        assert_eq!(keys.len(), 8);
    }

    #[test]
    fn google_current_export() {
        let line = "First Name,Middle Name,Last Name,Phonetic First Name,Name Prefix,Nickname,File As,\
Organization Name,Organization Title,Organization Department,Birthday,Notes,Photo,Labels,\
E-mail 1 - Label,E-mail 1 - Value,E-mail 2 - Label,E-mail 2 - Value,Phone 1 - Label,Phone 1 - Value,\
Address 1 - Label,Address 1 - Formatted,Website 1 - Value";
        let (preset, got) = mapped(line);
        assert_eq!(preset, Preset::GoogleCurrent);
        assert_eq!(
            got,
            pairs(&[
                ("First Name", GivenName),
                ("Last Name", FamilyName),
                ("Organization Name", Organization),
                ("Organization Title", Title),
                ("Notes", Notes),
                ("E-mail 1 - Value", Email),
                ("E-mail 2 - Value", Email),
                ("Phone 1 - Value", Phone),
            ])
        );
        assert_eq!(preset.label(), "Google Contacts (current)");
    }

    #[test]
    fn google_legacy_export() {
        let line = "Name,Given Name,Additional Name,Family Name,Yomi Name,Name Prefix,Notes,Group Membership,\
E-mail 1 - Type,E-mail 1 - Value,Phone 1 - Type,Phone 1 - Value,Phone 2 - Type,Phone 2 - Value,\
Organization 1 - Type,Organization 1 - Name,Organization 1 - Title";
        let (preset, got) = mapped(line);
        assert_eq!(preset, Preset::GoogleLegacy);
        assert_eq!(
            got,
            pairs(&[
                ("Name", FullName),
                ("Given Name", GivenName),
                ("Family Name", FamilyName),
                ("Notes", Notes),
                ("E-mail 1 - Value", Email),
                ("Phone 1 - Value", Phone),
                ("Phone 2 - Value", Phone),
                ("Organization 1 - Name", Organization),
                ("Organization 1 - Title", Title),
            ])
        );
    }

    #[test]
    fn outlook_english_export() {
        let line = "Title,First Name,Middle Name,Last Name,Suffix,Company,Department,Job Title,\
Business Street,Business Fax,Business Phone,Business Phone 2,Home Phone,Mobile Phone,Pager,\
E-mail Address,E-mail Type,E-mail Display Name,E-mail 2 Address,E-mail 2 Type,Notes,Web Page";
        let (preset, got) = mapped(line);
        assert_eq!(preset, Preset::OutlookEnglish);
        assert_eq!(
            got,
            pairs(&[
                ("First Name", GivenName),
                ("Last Name", FamilyName),
                ("Company", Organization),
                ("Job Title", Title),
                ("Business Phone", Phone),
                ("Business Phone 2", Phone),
                ("Home Phone", Phone),
                ("Mobile Phone", Phone),
                ("E-mail Address", Email),
                ("E-mail 2 Address", Email),
                ("Notes", Notes),
            ])
        );
    }

    #[test]
    fn outlook_german_export() {
        let line = "Anrede,Vorname,Weitere Vornamen,Nachname,Suffix,Firma,Abteilung,Position,\
Straße geschäftlich,Fax geschäftlich,Telefon geschäftlich,Telefon privat,Mobiltelefon,\
E-Mail-Adresse,E-Mail-Typ,E-Mail: Angezeigter Name,E-Mail 2: Adresse,E-Mail 2: Typ,Notizen";
        let (preset, got) = mapped(line);
        assert_eq!(preset, Preset::OutlookGerman);
        assert_eq!(
            got,
            pairs(&[
                ("Vorname", GivenName),
                ("Nachname", FamilyName),
                ("Firma", Organization),
                ("Position", Title),
                ("Telefon geschäftlich", Phone),
                ("Telefon privat", Phone),
                ("Mobiltelefon", Phone),
                ("E-Mail-Adresse", Email),
                ("E-Mail 2: Adresse", Email),
                ("Notizen", Notes),
            ])
        );
    }

    #[test]
    fn outlook_french_export_with_two_titre_columns() {
        // Older French Outlook: courtesy "Titre" first, job "Titre" after "Service".
        let line = "Titre,Prénom,Deuxième prénom,Nom,Suffixe,Société ,Service ,Titre,\
Téléphone (bureau),Téléphone (domicile),Tél. mobile,Adresse de messagerie,Type de messagerie,\
Adresse de messagerie 2,Notes";
        let (preset, got) = mapped(line);
        assert_eq!(preset, Preset::OutlookFrench);
        assert_eq!(
            got,
            pairs(&[
                ("Prénom", GivenName),
                ("Nom", FamilyName),
                ("Société ", Organization),
                ("Titre", Title),
                ("Téléphone (bureau)", Phone),
                ("Téléphone (domicile)", Phone),
                ("Tél. mobile", Phone),
                ("Adresse de messagerie", Email),
                ("Adresse de messagerie 2", Email),
                ("Notes", Notes),
            ])
        );
        let (_, mapping) = detect(&headers(line));
        assert_eq!(
            mapping.columns[0], None,
            "courtesy title is not a job title"
        );
    }

    #[test]
    fn outlook_french_fonction_wins_over_titre() {
        let (preset, got) = mapped("Titre,Prénom,Nom,Société,Fonction,Téléphone mobile");
        assert_eq!(preset, Preset::OutlookFrench);
        assert!(got.contains(&("Fonction".to_string(), Title)));
        assert!(!got.iter().any(|(h, _)| h == "Titre"));
        let (_, single) = mapped("Prénom,Nom,Société,Titre");
        assert!(single.contains(&("Titre".to_string(), Title)));
    }

    #[test]
    fn linkedin_connections() {
        let (preset, got) =
            mapped("First Name,Last Name,URL,Email Address,Company,Position,Connected On");
        assert_eq!(preset, Preset::LinkedIn);
        assert_eq!(preset.label(), "LinkedIn Connections");
        assert_eq!(
            got,
            pairs(&[
                ("First Name", GivenName),
                ("Last Name", FamilyName),
                ("Email Address", Email),
                ("Company", Organization),
                ("Position", Title),
            ])
        );
    }

    #[test]
    fn generic_headers_normalised() {
        let (preset, got) = mapped(
            " FULL  NAME ,e_mail,Email address,Phone,Mobile,Tel.,Organisation,Organization,Job title,Notes,Téléphone,Favourite colour",
        );
        assert_eq!(preset, Preset::Generic);
        assert_eq!(preset.label(), "Generic spreadsheet");
        let fields: Vec<Field> = got.iter().map(|(_, f)| *f).collect();
        assert_eq!(
            fields,
            vec![
                FullName,
                Email,
                Email,
                Phone,
                Phone,
                Phone,
                Organization,
                Organization,
                Title,
                Notes,
                Phone
            ]
        );
    }

    #[test]
    fn generic_keywords_and_type_columns() {
        assert_eq!(guess_field("Work Email"), Some(Email));
        assert_eq!(guess_field("E-mail 3 - Value"), Some(Email));
        assert_eq!(guess_field("Email Type"), None);
        assert_eq!(guess_field("Phone 1 - Label"), None);
        assert_eq!(guess_field("Home Fax"), None);
        assert_eq!(guess_field("Cell phone"), Some(Phone));
        assert_eq!(guess_field("Company"), Some(Organization));
        assert_eq!(guess_field("Name"), Some(FullName));
        assert_eq!(guess_field("Nom"), Some(FamilyName));
        assert_eq!(guess_field("Prénom"), Some(GivenName));
        assert_eq!(guess_field("URL"), None);
        assert_eq!(guess_field(""), None);
        assert_eq!(guess_field("---"), None);
    }

    #[test]
    fn typos_are_tolerated_but_not_loosely() {
        assert_eq!(guess_field("Emial"), Some(Email));
        assert_eq!(guess_field("Compnay"), Some(Organization));
        assert_eq!(guess_field("Frist Name"), Some(GivenName));
        assert_eq!(guess_field("Fristnmae"), Some(GivenName));
        assert_eq!(guess_field("Notse"), Some(Notes));
        // Near misses that are different things.
        assert_eq!(guess_field("Username"), None);
        assert_eq!(guess_field("Company ID"), None);
        assert_eq!(guess_field("Country"), None);
        assert_eq!(guess_field("Birthday"), None);
        assert_eq!(guess_field("Zip"), None);
    }

    #[test]
    fn unknown_columns_in_a_preset_fall_back_to_generic_rules() {
        let (preset, got) = mapped(
            "First Name,Last Name,Email Address,Company,Position,Connected On,Website,Work Phone",
        );
        assert_eq!(preset, Preset::LinkedIn);
        assert!(got.contains(&("Work Phone".to_string(), Phone)));
        assert!(!got.iter().any(|(h, _)| h == "Website"));
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
}
