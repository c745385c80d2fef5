//! Contacts written as vCards: 4.0 (RFC 6350), or 3.0 (RFC 2426) for Apple and
//! older readers. Every field and label goes out: a standard label as `TYPE`, any
//! other as Apple's `itemN.X-ABLabel` (which Apple, Google and Nextcloud read),
//! and custom fields as labelled `X-INTAKE-CUSTOM` lines. `card::read_card`
//! reads each back to the same contact.

use crate::domain::contact::{Contact, Labeled, Photo};
use crate::domain::dates::PartialDate;
use crate::domain::labels;
use std::fmt::Write;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Version {
    V4,
    V3,
}

impl Version {
    pub fn number(self) -> &'static str {
        match self {
            Version::V4 => "4.0",
            Version::V3 => "3.0",
        }
    }
}

/// The relation types RFC 6350 names; other labels go in an `X-ABLabel`.
const RELATED_TYPES: &[&str] = &[
    "contact", "acquaintance", "friend", "met", "co-worker", "colleague", "co-resident", "neighbor", "child", "parent", "sibling",
    "spouse", "kin", "muse", "crush", "date", "sweetheart", "me", "agent", "emergency",
];

/// Lines of one card, folded and ended with CRLF.
struct Card<'o> {
    out: &'o mut String,
    version: Version,
    /// The next `itemN` group.
    next_group: u32,
}

impl Card<'_> {
    /// Writes a content line folded at 75 octets, never inside a character.
    fn line(&mut self, head: &str, value: &str) {
        let line = format!("{head}:{value}");
        let mut start = 0;
        let mut first = true;
        while start < line.len() {
            let room = if first { 75 } else { 74 };
            let mut end = (start + room).min(line.len());
            while !line.is_char_boundary(end) {
                end -= 1;
            }
            if !first {
                self.out.push(' ');
            }
            self.out.push_str(&line[start..end]);
            self.out.push_str("\r\n");
            start = end;
            first = false;
        }
        if line.is_empty() {
            self.out.push_str("\r\n");
        }
    }

    fn group(&mut self) -> String {
        self.next_group += 1;
        format!("item{}", self.next_group)
    }

    /// A labelled value: its label as `TYPE`s when vCard has words for it,
    /// else in a group's `X-ABLabel`; preference as the version writes it.
    fn labelled(&mut self, name: &str, params: &str, label: &str, preferred: bool, value: &str) {
        let mut head = String::new();
        let types = labels::to_vcard_types(label);
        let group = types.is_none().then(|| self.group());
        if let Some(group) = &group {
            head.push_str(group);
            head.push('.');
        }
        head.push_str(name);
        head.push_str(params);
        let mut type_values: Vec<&str> = types.unwrap_or_default().to_vec();
        match self.version {
            Version::V4 if preferred => head.push_str(";PREF=1"),
            Version::V3 if preferred => type_values.push("pref"),
            _ => {}
        }
        if !type_values.is_empty() {
            let _ = write!(head, ";TYPE={}", type_values.join(","));
        }
        self.line(&head, value);
        if let Some(group) = group {
            self.line(&format!("{group}.X-ABLabel"), &escape(label));
        }
    }
}

/// Appends `contact` as one vCard of `version`.
pub fn write_card(contact: &Contact, version: Version, out: &mut String) {
    let mut card = Card { out, version, next_group: 0 };
    card.line("BEGIN", "VCARD");
    card.line("VERSION", version.number());
    card.line("PRODID", "-//Intake//Intake//EN");
    card.line("FN", &escape(&contact.display_name));
    let name = &contact.name;
    let parts = [&name.family, &name.given, &name.middle, &name.prefix, &name.suffix].map(|p| escape(p));
    card.line("N", &parts.join(";"));
    for (property, value) in [
        ("X-PHONETIC-FIRST-NAME", &name.phonetic_given),
        ("X-PHONETIC-MIDDLE-NAME", &name.phonetic_middle),
        ("X-PHONETIC-LAST-NAME", &name.phonetic_family),
    ] {
        if !value.is_empty() {
            card.line(property, &escape(value));
        }
    }
    if !contact.nicknames.is_empty() {
        card.line("NICKNAME", &contact.nicknames.iter().map(|n| escape(n)).collect::<Vec<_>>().join(","));
    }
    for email in &contact.emails {
        card.labelled("EMAIL", "", &email.label, email.preferred, &escape(&email.value));
    }
    let text_value = if version == Version::V4 { ";VALUE=text" } else { "" };
    for phone in &contact.phones {
        card.labelled("TEL", text_value, &phone.label, phone.preferred, &escape(&phone.value.raw));
    }
    for address in &contact.addresses {
        write_address(&mut card, address);
    }
    for website in &contact.websites {
        card.labelled("URL", "", &website.label, website.preferred, &escape(&website.value));
    }
    for im in &contact.ims {
        let scheme: String = im.value.service.to_lowercase().chars().filter(|c| c.is_ascii_alphanumeric()).collect();
        let scheme = if scheme.is_empty() { "im".to_owned() } else { scheme };
        let params = format!(";X-SERVICE-TYPE={}", param_value(&im.value.service));
        card.labelled("IMPP", &params, &im.label, im.preferred, &format!("{scheme}:{}", escape(&im.value.handle)));
    }
    let grouped = contact.organizations.len() > 1;
    for organization in &contact.organizations {
        let value = &organization.value;
        let group = (grouped || labels::to_vcard_types(&organization.label).is_none() && !organization.label.is_empty()).then(|| card.group());
        let prefix = group.as_ref().map(|g| format!("{g}.")).unwrap_or_default();
        let mut head = format!("{prefix}ORG");
        if let Some(types) = labels::to_vcard_types(&organization.label).filter(|t| !t.is_empty()) {
            let _ = write!(head, ";TYPE={}", types.join(","));
        }
        if organization.preferred {
            head.push_str(if version == Version::V4 { ";PREF=1" } else { ";TYPE=pref" });
        }
        // Always written, so that a title finds its organization again.
        card.line(&head, &format!("{};{}", escape(&value.name), escape(&value.department)));
        if !value.title.is_empty() {
            card.line(&format!("{prefix}TITLE"), &escape(&value.title));
        }
        if let Some(group) = group.filter(|_| labels::to_vcard_types(&organization.label).is_none()) {
            card.line(&format!("{group}.X-ABLabel"), &escape(&organization.label));
        }
    }
    if let Some(birthday) = contact.birthday {
        write_date(&mut card, "BDAY", "", birthday);
    }
    let mut anniversary_written = false;
    for date in &contact.dates {
        if version == Version::V4 && date.label == "anniversary" && !anniversary_written && !date.preferred {
            anniversary_written = true;
            write_date(&mut card, "ANNIVERSARY", "", date.value);
            continue;
        }
        let group = card.group();
        let pref = if date.preferred { ";TYPE=pref" } else { "" };
        write_date(&mut card, &format!("{group}.X-ABDATE"), pref, date.value);
        if !date.label.is_empty() {
            card.line(&format!("{group}.X-ABLabel"), &escape(&date.label));
        }
    }
    for relation in &contact.relations {
        match version {
            Version::V4 if RELATED_TYPES.contains(&relation.label.as_str()) || relation.label.is_empty() => {
                let mut head = "RELATED;VALUE=text".to_owned();
                if !relation.label.is_empty() {
                    let _ = write!(head, ";TYPE={}", relation.label);
                }
                if relation.preferred {
                    head.push_str(";PREF=1");
                }
                card.line(&head, &escape(&relation.value));
            }
            _ => {
                let group = card.group();
                let name = if version == Version::V4 { "RELATED;VALUE=text" } else { "X-ABRELATEDNAMES" };
                let pref = match (relation.preferred, version) {
                    (true, Version::V4) => ";PREF=1",
                    (true, Version::V3) => ";TYPE=pref",
                    _ => "",
                };
                card.line(&format!("{group}.{name}{pref}"), &escape(&relation.value));
                if !relation.label.is_empty() {
                    card.line(&format!("{group}.X-ABLabel"), &escape(&relation.label));
                }
            }
        }
    }
    if !contact.notes.is_empty() {
        card.line("NOTE", &escape(&contact.notes));
    }
    if !contact.groups.is_empty() {
        card.line("CATEGORIES", &contact.groups.iter().map(|g| escape(g)).collect::<Vec<_>>().join(","));
    }
    if !contact.gender.is_empty() {
        match version {
            Version::V4 => {
                let sex = match contact.gender.as_str() {
                    "female" => "F".to_owned(),
                    "male" => "M".to_owned(),
                    "other" => "O".to_owned(),
                    "none" => "N".to_owned(),
                    "unknown" => "U".to_owned(),
                    other => format!("O;{}", escape(other)),
                };
                card.line("GENDER", &sex);
            }
            Version::V3 => card.line("X-GENDER", &escape(&contact.gender)),
        }
    }
    match (&contact.photo, version) {
        (Some(photo @ Photo::Embedded { .. }), Version::V4) => card.line("PHOTO", &photo.uri()),
        (Some(Photo::Embedded { media_type, data }), Version::V3) => {
            let kind = media_type.strip_prefix("image/").unwrap_or(media_type).to_uppercase();
            card.line(&format!("PHOTO;ENCODING=b;TYPE={kind}"), &crate::domain::contact::base64_bytes::encode(data));
        }
        (Some(Photo::Url(url)), Version::V4) => card.line("PHOTO", &escape(url)),
        (Some(Photo::Url(url)), Version::V3) => card.line("PHOTO;VALUE=uri", &escape(url)),
        (None, _) => {}
    }
    for custom in &contact.custom {
        let group = card.group();
        card.line(&format!("{group}.X-INTAKE-CUSTOM"), &escape(&custom.value));
        card.line(&format!("{group}.X-ABLabel"), &escape(&custom.label));
    }
    card.line("END", "VCARD");
}

fn write_address(card: &mut Card, address: &Labeled<crate::domain::contact::Address>) {
    let a = &address.value;
    let value = [&a.po_box, &a.extended, &a.street, &a.city, &a.region, &a.postal_code, &a.country].map(|p| escape(p)).join(";");
    let formatted = !a.formatted.is_empty();
    match card.version {
        Version::V4 => {
            let params = if formatted { format!(";LABEL=\"{}\"", rfc6868(&a.formatted.replace('\\', "\\\\"))) } else { String::new() };
            card.labelled("ADR", &params, &address.label, address.preferred, &value);
        }
        Version::V3 if formatted => {
            // 3.0 writes the text on its own LABEL line, tied to the address by a group.
            let group = card.group();
            let mut head = format!("{group}.ADR");
            let types = labels::to_vcard_types(&address.label);
            let mut type_values: Vec<&str> = types.unwrap_or_default().to_vec();
            if address.preferred {
                type_values.push("pref");
            }
            if !type_values.is_empty() {
                let _ = write!(head, ";TYPE={}", type_values.join(","));
            }
            card.line(&head, &value);
            card.line(&format!("{group}.LABEL"), &escape(&a.formatted));
            if types.is_none() {
                card.line(&format!("{group}.X-ABLabel"), &escape(&address.label));
            }
        }
        Version::V3 => card.labelled("ADR", "", &address.label, address.preferred, &value),
    }
}

/// 4.0's basic date (`19800310`, `--0310`); 3.0's extended one (`1980-03-10`),
/// a year-less one in Apple's way (`1604-03-10` marked `X-APPLE-OMIT-YEAR`).
fn write_date(card: &mut Card, name: &str, params: &str, date: PartialDate) {
    match (card.version, date.year) {
        (Version::V4, _) => card.line(&format!("{name}{params}"), &date.basic()),
        (Version::V3, Some(_)) => card.line(&format!("{name}{params}"), &date.iso()),
        (Version::V3, None) => {
            let omitted = PartialDate { year: Some(1604), ..date };
            card.line(&format!("{name}{params};X-APPLE-OMIT-YEAR=1604"), &omitted.iso());
        }
    }
}

/// Escapes a text value: `\`, `,`, `;` and line breaks.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' => out.push_str("\\\\"),
            ',' => out.push_str("\\,"),
            ';' => out.push_str("\\;"),
            '\r' if chars.peek() == Some(&'\n') => {}
            '\n' | '\r' => out.push_str("\\n"),
            other => out.push(other),
        }
    }
    out
}

/// A parameter value: quoted when it holds what would end it.
fn param_value(text: &str) -> String {
    if text.contains([';', ':', ',', '"', '^', '\n']) {
        format!("\"{}\"", rfc6868(text))
    } else {
        text.to_owned()
    }
}

/// RFC 6868's escapes for a quoted parameter value: `^n`, `^^`, `^'`.
fn rfc6868(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '^' => out.push_str("^^"),
            '\n' => out.push_str("^n"),
            '"' => out.push_str("^'"),
            '\r' => {}
            other => out.push(other),
        }
    }
    out
}
