//! A card's properties read into a contact: every property of RFC 2426
//! (3.0), RFC 6350 (4.0) and vCard 2.1 that Apple, Google, Android, Outlook
//! and Nextcloud write, with Apple's `itemN.` groups and `X-ABLabel`s giving
//! labels. A property that fits no field is kept as a custom field; the
//! properties that describe the file rather than the person (`PRODID`, `REV`,
//! `UID`, …) are left out unless the person asks for them in the preview.

use crate::domain::contact::{Address, Im, Labeled, Organization, Photo};
use crate::domain::dates::{DayOrder, PartialDate};
use crate::domain::draft::{Draft, NamePart};
use crate::domain::format::RawRecord;
use crate::domain::labels;
use crate::domain::mapping::{Field, Mapping, Target};
use super::read::{colon, split_unquoted};

/// One property of a card as the reader kept it.
#[derive(Debug, PartialEq)]
pub struct Property<'a> {
    /// `item1` of `item1.EMAIL`; empty when ungrouped.
    pub group: &'a str,
    /// Upper case.
    pub name: String,
    /// Upper-case names; 2.1's bare `CELL` or `BASE64` are named by what they are.
    pub params: Vec<(String, String)>,
    /// As written, escapes and all.
    pub value: &'a str,
}

impl<'a> Property<'a> {
    pub fn parse(line: &'a str) -> Option<Self> {
        let colon = colon(line.as_bytes())?;
        let head = &line[..colon];
        let mut parts = split_unquoted(head.as_bytes(), b';').into_iter().map(|p| std::str::from_utf8(p).unwrap_or_default());
        let qualified = parts.next()?;
        let (group, name) = match qualified.rsplit_once('.') {
            Some((group, name)) => (group, name),
            None => ("", qualified),
        };
        let params = parts
            .map(|param| match param.split_once('=') {
                Some((name, value)) => (name.trim().to_ascii_uppercase(), rfc6868_decoded(value.trim().trim_matches('"'))),
                None => {
                    let word = param.trim();
                    let name = match word.to_ascii_uppercase().as_str() {
                        "B" | "BASE64" | "8BIT" | "7BIT" => "ENCODING",
                        "URL" | "URI" => "VALUE",
                        _ => "TYPE",
                    };
                    (name.to_owned(), word.to_owned())
                }
            })
            .collect();
        Some(Property { group, name: name.to_ascii_uppercase(), params, value: &line[colon + 1..] })
    }

    fn param(&self, name: &str) -> Option<&str> {
        self.params.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
    }

    /// Every `TYPE` value, `TYPE=work,voice` and repeated `TYPE=` alike.
    fn types(&self) -> impl Iterator<Item = &str> {
        self.params.iter().filter(|(n, _)| n == "TYPE").flat_map(|(_, v)| v.split(',')).map(str::trim)
    }

    fn is_preferred(&self) -> bool {
        self.types().any(|t| t.eq_ignore_ascii_case("pref")) || self.param("PREF").is_some()
    }

    fn is_base64(&self) -> bool {
        self.param("ENCODING").is_some_and(|e| e.eq_ignore_ascii_case("b") || e.eq_ignore_ascii_case("base64"))
    }

    fn text(&self) -> String {
        unescape(self.value)
    }
}

/// RFC 6868's `^n`, `^^` and `^'` in a parameter value.
fn rfc6868_decoded(value: &str) -> String {
    if !value.contains('^') {
        return value.to_owned();
    }
    let mut out = String::with_capacity(value.len());
    let mut chars = value.chars().peekable();
    while let Some(c) = chars.next() {
        match (c, chars.peek()) {
            ('^', Some('n' | 'N')) => {
                out.push('\n');
                chars.next();
            }
            ('^', Some('^')) => {
                out.push('^');
                chars.next();
            }
            ('^', Some('\'')) => {
                out.push('"');
                chars.next();
            }
            (c, _) => out.push(c),
        }
    }
    out
}

/// Where a property goes when the person leaves it as it is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Place {
    /// Into the contact, as the property says; the field stands for it in the preview.
    Field(Field),
    Custom,
    /// It describes the file, not the person.
    Metadata,
}

/// The properties Intake knows, in the order the preview lists them, with where they go.
const KNOWN: &[(&str, Place, &str)] = &[
    ("FN", Place::Field(Field::FullName), "Full name"),
    ("N", Place::Field(Field::GivenName), "Name parts"),
    ("X-PHONETIC-FIRST-NAME", Place::Field(Field::PhoneticGiven), "Phonetic first name"),
    ("X-PHONETIC-MIDDLE-NAME", Place::Field(Field::PhoneticMiddle), "Phonetic middle name"),
    ("X-PHONETIC-LAST-NAME", Place::Field(Field::PhoneticFamily), "Phonetic last name"),
    ("NICKNAME", Place::Field(Field::Nickname), "Nicknames"),
    ("EMAIL", Place::Field(Field::Email), "Emails"),
    ("TEL", Place::Field(Field::Phone), "Phones"),
    ("ADR", Place::Field(Field::FormattedAddress), "Addresses"),
    ("LABEL", Place::Field(Field::FormattedAddress), "Addresses (as written)"),
    ("URL", Place::Field(Field::Website), "Websites"),
    ("X-SOCIALPROFILE", Place::Field(Field::Website), "Websites (social profiles)"),
    ("IMPP", Place::Field(Field::ImHandle), "Messaging"),
    ("X-AIM", Place::Field(Field::ImHandle), "Messaging (AIM)"),
    ("X-ICQ", Place::Field(Field::ImHandle), "Messaging (ICQ)"),
    ("X-JABBER", Place::Field(Field::ImHandle), "Messaging (Jabber)"),
    ("X-MSN", Place::Field(Field::ImHandle), "Messaging (MSN)"),
    ("X-YAHOO", Place::Field(Field::ImHandle), "Messaging (Yahoo)"),
    ("X-SKYPE", Place::Field(Field::ImHandle), "Messaging (Skype)"),
    ("X-SKYPE-USERNAME", Place::Field(Field::ImHandle), "Messaging (Skype)"),
    ("X-GTALK", Place::Field(Field::ImHandle), "Messaging (Google Talk)"),
    ("X-GOOGLE-TALK", Place::Field(Field::ImHandle), "Messaging (Google Talk)"),
    ("X-QQ", Place::Field(Field::ImHandle), "Messaging (QQ)"),
    ("X-SIP", Place::Field(Field::ImHandle), "Messaging (SIP)"),
    ("X-GADUGADU", Place::Field(Field::ImHandle), "Messaging (Gadu-Gadu)"),
    ("X-MS-IMADDRESS", Place::Field(Field::ImHandle), "Messaging"),
    ("ORG", Place::Field(Field::Organization), "Organizations"),
    ("TITLE", Place::Field(Field::Title), "Job titles"),
    ("BDAY", Place::Field(Field::Birthday), "Birthday"),
    ("ANNIVERSARY", Place::Field(Field::Date), "Anniversary"),
    ("X-ANNIVERSARY", Place::Field(Field::Date), "Anniversary"),
    ("X-MS-ANNIVERSARY", Place::Field(Field::Date), "Anniversary"),
    ("X-EVOLUTION-ANNIVERSARY", Place::Field(Field::Date), "Anniversary"),
    ("X-ABDATE", Place::Field(Field::Date), "Dates"),
    ("RELATED", Place::Field(Field::Relation), "Related people"),
    ("X-ABRELATEDNAMES", Place::Field(Field::Relation), "Related people"),
    ("X-MS-MANAGER", Place::Field(Field::Relation), "Related people (manager)"),
    ("X-MS-ASSISTANT", Place::Field(Field::Relation), "Related people (assistant)"),
    ("X-MS-SPOUSE", Place::Field(Field::Relation), "Related people (spouse)"),
    ("X-MANAGER", Place::Field(Field::Relation), "Related people (manager)"),
    ("X-ASSISTANT", Place::Field(Field::Relation), "Related people (assistant)"),
    ("X-SPOUSE", Place::Field(Field::Relation), "Related people (spouse)"),
    ("X-EVOLUTION-SPOUSE", Place::Field(Field::Relation), "Related people (spouse)"),
    ("X-EVOLUTION-MANAGER", Place::Field(Field::Relation), "Related people (manager)"),
    ("X-EVOLUTION-ASSISTANT", Place::Field(Field::Relation), "Related people (assistant)"),
    ("X-ANDROID-CUSTOM", Place::Field(Field::Relation), "Android's nicknames, dates and relations"),
    ("NOTE", Place::Field(Field::Notes), "Notes"),
    ("CATEGORIES", Place::Field(Field::Groups), "Groups"),
    ("GENDER", Place::Field(Field::Gender), "Gender"),
    ("X-GENDER", Place::Field(Field::Gender), "Gender"),
    ("X-WAB-GENDER", Place::Field(Field::Gender), "Gender"),
    ("PHOTO", Place::Field(Field::Photo), "Photo"),
    ("ROLE", Place::Custom, "Role"),
    ("SORT-STRING", Place::Custom, "Sort as"),
    ("TZ", Place::Custom, "Time zone"),
    ("GEO", Place::Custom, "Location"),
    ("LANG", Place::Custom, "Language"),
    ("LOGO", Place::Custom, "Logo"),
    ("SOUND", Place::Custom, "Sound"),
    ("KEY", Place::Custom, "Key"),
    ("FBURL", Place::Custom, "Free/busy URL"),
    ("CALURI", Place::Custom, "Calendar"),
    ("CALADRURI", Place::Custom, "Calendar address"),
    ("MEMBER", Place::Custom, "Member"),
    ("MAILER", Place::Custom, "Mailer"),
    ("CLASS", Place::Custom, "Class"),
    ("AGENT", Place::Custom, "Agent"),
    ("X-INTAKE-CUSTOM", Place::Custom, "Custom fields"),
    ("PRODID", Place::Metadata, "The program that wrote the file"),
    ("REV", Place::Metadata, "When the card last changed"),
    ("UID", Place::Metadata, "The card's id in its address book"),
    ("KIND", Place::Metadata, "Whether the card is a person"),
    ("SOURCE", Place::Metadata, "Where the card came from"),
    ("NAME", Place::Metadata, "The directory's name"),
    ("CLIENTPIDMAP", Place::Metadata, "Sync bookkeeping"),
    ("X-ABUID", Place::Metadata, "Apple's card id"),
    ("X-ABSHOWAS", Place::Metadata, "Apple's display choice"),
    ("X-ABADR", Place::Metadata, "Apple's address format"),
    ("X-MS-OL-DESIGN", Place::Metadata, "Outlook's business card layout"),
    ("X-MS-OL-DEFAULT-POSTAL-ADDRESS", Place::Metadata, "Outlook's mailing address choice"),
    ("X-MS-CARDPICTURE", Place::Metadata, "Outlook's business card picture"),
];

fn known(name: &str) -> Option<&'static (&'static str, Place, &'static str)> {
    KNOWN.iter().find(|(n, _, _)| *n == name)
}

/// Where a property kind goes by default.
pub fn default_target(name: &str) -> Target {
    match known(name).map(|(_, place, _)| *place) {
        Some(Place::Field(field)) => Target::field(field),
        Some(Place::Metadata) => Target::Ignore,
        Some(Place::Custom) | None => Target::Custom,
    }
}

/// What the preview says a property kind is, when it goes where it says.
pub fn describe(name: &str) -> String {
    match known(name) {
        Some((_, Place::Metadata, what)) => format!("{what}: describes the file, not the person"),
        Some((_, _, what)) => (*what).to_owned(),
        None => format!("Custom field \"{}\"", humanized(name)),
    }
}

/// The order the preview lists kinds in: known ones as above, then the rest by name.
pub fn kind_order(name: &str) -> (usize, String) {
    (KNOWN.iter().position(|(n, _, _)| *n == name).unwrap_or(KNOWN.len()), name.to_owned())
}

/// `X-FAVORITE-COLOR` as a label: "Favorite color".
fn humanized(name: &str) -> String {
    let bare = name.strip_prefix("X-").unwrap_or(name).replace(['-', '_'], " ").to_lowercase();
    let mut chars = bare.chars();
    chars.next().map_or_else(String::new, |first| first.to_uppercase().chain(chars).collect())
}

/// How each property kind of one import's cards is used: its mapping, keyed
/// by the kinds the preview listed; kinds it did not list go their default way.
pub struct CardMapping {
    targets: Vec<(String, Target)>,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Use {
    Natural,
    Custom,
    Skip,
}

impl CardMapping {
    pub fn new(kinds: &[String], mapping: &Mapping) -> Self {
        Self { targets: kinds.iter().cloned().zip(mapping.columns.iter().cloned()).collect() }
    }

    fn use_of(&self, name: &str) -> Use {
        let target = self.targets.iter().find(|(kind, _)| kind == name).map_or_else(|| default_target(name), |(_, t)| t.clone());
        match target {
            Target::Ignore => Use::Skip,
            Target::Custom => Use::Custom,
            _ => Use::Natural,
        }
    }
}

/// A group's `X-ABLabel`: as written (a custom field's name) and canonical (a value's label).
struct GroupLabel<'a> {
    group: &'a str,
    text: String,
}

/// Reads a card's properties into `draft`.
pub fn read_card(record: &RawRecord, mapping: &CardMapping, draft: &mut Draft) {
    let properties: Vec<Property> = record.fields.iter().filter_map(|line| Property::parse(line)).collect();
    let group_labels: Vec<GroupLabel> = properties
        .iter()
        .filter(|p| p.name == "X-ABLABEL" && !p.group.is_empty())
        .map(|p| GroupLabel { group: p.group, text: p.text().trim().to_owned() })
        .collect();
    let group_label = |p: &Property| -> Option<&str> {
        (!p.group.is_empty()).then(|| group_labels.iter().find(|g| g.group.eq_ignore_ascii_case(p.group))).flatten().map(|g| g.text.as_str())
    };
    let mut reading = Reading::default();
    for property in properties.iter().filter(|p| p.name != "X-ABLABEL") {
        match mapping.use_of(&property.name) {
            Use::Skip => {}
            Use::Custom => {
                let label = group_label(property).map_or_else(|| custom_label(&property.name), str::to_owned);
                draft.custom(&label, &property.text());
            }
            Use::Natural => natural(property, group_label(property), draft, &mut reading),
        }
    }
    reading.finish(draft);
}

/// The custom field's name for a property kept as one.
fn custom_label(name: &str) -> String {
    known(name).map_or_else(|| humanized(name), |(_, _, what)| (*what).to_owned())
}

/// What a card's lines build together: organizations with their titles, and
/// addresses with the text `LABEL` lines give them.
#[derive(Default)]
struct Reading {
    organizations: Vec<(String, Labeled<Organization>)>,
    titles: Vec<(String, String)>,
    addresses: Vec<(String, Labeled<Address>)>,
    address_texts: Vec<(String, String, String)>,
}

impl Reading {
    fn finish(mut self, draft: &mut Draft) {
        for (group, title) in std::mem::take(&mut self.titles) {
            let matching = self.organizations.iter_mut().find(|(g, o)| !group.is_empty() && g.eq_ignore_ascii_case(&group) && o.value.title.is_empty());
            let slot = match matching {
                Some(found) => Some(found),
                None => self.organizations.iter_mut().find(|(g, o)| (g.is_empty() || group.is_empty()) && o.value.title.is_empty()),
            };
            match slot {
                Some((_, organization)) => organization.value.title = title,
                None => self.organizations.push((group, Labeled::new(Organization { title, ..Organization::default() }, "", false))),
            }
        }
        for (group, label, text) in std::mem::take(&mut self.address_texts) {
            let by_group = self.addresses.iter().position(|(g, a)| !group.is_empty() && g.eq_ignore_ascii_case(&group) && a.value.formatted.is_empty());
            let by_label = || self.addresses.iter().position(|(_, a)| a.label == label && a.value.formatted.is_empty());
            match by_group.or_else(by_label) {
                Some(at) => self.addresses[at].1.value.formatted = text,
                None => self.addresses.push((group, Labeled::new(Address { formatted: text, ..Address::default() }, label, false))),
            }
        }
        for (_, organization) in self.organizations {
            draft.organization(organization);
        }
        for (_, address) in self.addresses {
            draft.address(address);
        }
    }
}

/// A value's label: its group's `X-ABLabel`, else its `TYPE`s.
fn label_of(property: &Property, group_label: Option<&str>) -> (String, bool) {
    let (typed, preferred) = labels::from_vcard_types(property.types());
    let label = match group_label {
        Some(text) => labels::canonical(text),
        None => typed,
    };
    (label, preferred || property.is_preferred())
}

fn natural(property: &Property, group_label: Option<&str>, draft: &mut Draft, reading: &mut Reading) {
    let name = property.name.as_str();
    let (label, preferred) = label_of(property, group_label);
    let source = custom_label(name);
    match name {
        "FN" => draft.full_name(&property.text(), "Name"),
        "N" => {
            let parts = components(property.value);
            let part = |i: usize| parts.get(i).map(String::as_str).unwrap_or_default();
            for (at, slot, label) in [
                (0, NamePart::Family, "Last name"),
                (1, NamePart::Given, "First name"),
                (2, NamePart::Middle, "Middle name"),
                (3, NamePart::Prefix, "Name prefix"),
                (4, NamePart::Suffix, "Name suffix"),
            ] {
                draft.name_part(slot, part(at), label);
            }
        }
        "X-PHONETIC-FIRST-NAME" => draft.name_part(NamePart::PhoneticGiven, &property.text(), "Phonetic first name"),
        "X-PHONETIC-MIDDLE-NAME" => draft.name_part(NamePart::PhoneticMiddle, &property.text(), "Phonetic middle name"),
        "X-PHONETIC-LAST-NAME" => draft.name_part(NamePart::PhoneticFamily, &property.text(), "Phonetic last name"),
        "NICKNAME" => list(property.value).iter().for_each(|n| draft.nickname(n)),
        "EMAIL" => {
            let text = property.text();
            let text = strip_scheme(&text, "mailto:");
            // Google once wrote two addresses on one line, comma-separated.
            let addresses: Vec<&str> = if text.contains(',') && !text.contains(' ') { text.split(',').collect() } else { vec![text] };
            for address in addresses {
                draft.email(address, &label, preferred, "Email");
            }
        }
        "TEL" => {
            let text = property.text();
            let number = match text.trim().get(..4) {
                Some(head) if head.eq_ignore_ascii_case("tel:") => text.trim()[4..].split(';').next().unwrap_or_default().to_owned(),
                _ => text,
            };
            draft.phone(&number, &label, preferred, "Phone");
        }
        "ADR" => {
            let parts = components(property.value);
            let part = |i: usize| parts.get(i).cloned().unwrap_or_default().trim().to_owned();
            let address = Address {
                po_box: part(0),
                extended: part(1),
                street: part(2),
                city: part(3),
                region: part(4),
                postal_code: part(5),
                country: part(6),
                // RFC 6350's own example escapes line breaks in LABEL as text does.
                formatted: property.param("LABEL").map(unescape).unwrap_or_default(),
            };
            reading.addresses.push((property.group.to_owned(), Labeled::new(address, label, preferred)));
        }
        "LABEL" => reading.address_texts.push((property.group.to_owned(), label, property.text())),
        "URL" | "X-SOCIALPROFILE" => draft.website(&property.text(), &label, preferred),
        "IMPP" => {
            let text = property.text();
            let (scheme, handle) = split_scheme(&text);
            let service = property.param("X-SERVICE-TYPE").map_or_else(|| scheme.to_owned(), str::to_owned);
            draft.im(Labeled::new(Im { service, handle: handle.to_owned() }, label, preferred));
        }
        "ORG" => {
            let units: Vec<String> = components(property.value).into_iter().map(|u| u.trim().to_owned()).collect();
            let organization = Organization {
                name: units.first().cloned().unwrap_or_default(),
                department: units.iter().skip(1).filter(|u| !u.is_empty()).cloned().collect::<Vec<_>>().join(", "),
                title: String::new(),
            };
            // Even an empty one: a TITLE of its group may fill it.
            reading.organizations.push((property.group.to_owned(), Labeled::new(organization, label, preferred)));
        }
        "TITLE" => {
            let title = property.text().trim().to_owned();
            if !title.is_empty() {
                reading.titles.push((property.group.to_owned(), title));
            }
        }
        "BDAY" => match card_date(property) {
            Some(Ok(date)) => draft.birthday_date(date, "Birthday"),
            Some(Err(text)) => draft.birthday(&text, "Birthday"),
            None => {}
        },
        "ANNIVERSARY" | "X-ANNIVERSARY" | "X-MS-ANNIVERSARY" | "X-EVOLUTION-ANNIVERSARY" | "X-ABDATE" => {
            let label = if name == "X-ABDATE" { label } else { "anniversary".to_owned() };
            match card_date(property) {
                Some(Ok(date)) => draft.dated(Labeled::new(date, label, preferred)),
                Some(Err(text)) => draft.date(&text, &label, preferred, &source),
                None => {}
            }
        }
        "RELATED" | "X-ABRELATEDNAMES" => draft.relation(&property.text(), &label, preferred),
        "X-MS-MANAGER" | "X-MANAGER" | "X-EVOLUTION-MANAGER" => draft.relation(&property.text(), "manager", false),
        "X-MS-ASSISTANT" | "X-ASSISTANT" | "X-EVOLUTION-ASSISTANT" => draft.relation(&property.text(), "assistant", false),
        "X-MS-SPOUSE" | "X-SPOUSE" | "X-EVOLUTION-SPOUSE" => draft.relation(&property.text(), "spouse", false),
        "X-ANDROID-CUSTOM" => android_custom(property, draft),
        "NOTE" => draft.notes(&property.text()),
        "CATEGORIES" => list(property.value).iter().for_each(|g| draft.group(g)),
        "GENDER" | "X-GENDER" | "X-WAB-GENDER" => draft.gender(&property.text(), "Gender"),
        "PHOTO" => photo(property, draft),
        "X-AIM" | "X-ICQ" | "X-JABBER" | "X-MSN" | "X-YAHOO" | "X-SKYPE" | "X-SKYPE-USERNAME" | "X-GTALK" | "X-GOOGLE-TALK" | "X-QQ"
        | "X-SIP" | "X-GADUGADU" | "X-MS-IMADDRESS" => {
            let service = im_service(name).to_owned();
            draft.im(Labeled::new(Im { service, handle: property.text().trim().to_owned() }, label, preferred));
        }
        _ => draft.custom(&group_label.map_or(source, str::to_owned), &property.text()),
    }
}

/// The service an exporter's own messaging property names.
fn im_service(name: &str) -> &'static str {
    match name {
        "X-AIM" => "AIM",
        "X-ICQ" => "ICQ",
        "X-JABBER" => "Jabber",
        "X-MSN" => "MSN",
        "X-YAHOO" => "Yahoo",
        "X-SKYPE" | "X-SKYPE-USERNAME" => "Skype",
        "X-GTALK" | "X-GOOGLE-TALK" => "Google Talk",
        "X-QQ" => "QQ",
        "X-SIP" => "SIP",
        "X-GADUGADU" => "Gadu-Gadu",
        _ => "",
    }
}

/// A card's date: `Ok` for a date, `Err` with the text for one that is not
/// (4.0's `VALUE=text`), `None` for none. Apple marks a birthday without a year
/// with `X-APPLE-OMIT-YEAR=1604` on the year it wrote in its place.
fn card_date(property: &Property) -> Option<Result<PartialDate, String>> {
    let text = property.text();
    if text.trim().is_empty() {
        return None;
    }
    match PartialDate::parse(&text, DayOrder::DayFirst) {
        Ok(Some(mut date)) => {
            let omitted = property.param("X-APPLE-OMIT-YEAR").and_then(|y| y.parse::<u16>().ok());
            if omitted.is_some() && omitted == date.year {
                date.year = None;
            }
            Some(Ok(date))
        }
        Ok(None) => None,
        Err(()) => Some(Err(text)),
    }
}

/// Android's `X-ANDROID-CUSTOM:vnd.android.cursor.item/<kind>;<value>;<type>;<label>;…`.
fn android_custom(property: &Property, draft: &mut Draft) {
    let parts = components(property.value);
    let part = |i: usize| parts.get(i).map(String::as_str).unwrap_or_default();
    let kind = part(0).rsplit('/').next().unwrap_or_default();
    let custom_label = || labels::canonical(part(3));
    match kind {
        "nickname" => draft.nickname(part(1)),
        "contact_event" => {
            let label = match part(2) {
                "1" => "anniversary".to_owned(),
                "2" => "other".to_owned(),
                "3" => {
                    draft.birthday(part(1), "Birthday");
                    return;
                }
                _ => custom_label(),
            };
            draft.date(part(1), &label, false, "Date");
        }
        "relation" => {
            const RELATIONS: [&str; 15] = [
                "", "assistant", "brother", "child", "partner", "father", "friend", "manager", "mother", "parent", "partner", "referred by",
                "relative", "sister", "spouse",
            ];
            let label = part(2).parse::<usize>().ok().filter(|&t| t > 0 && t < RELATIONS.len()).map_or_else(custom_label, |t| RELATIONS[t].to_owned());
            draft.relation(part(1), &label, false);
        }
        _ => draft.custom("Android", &unescape(property.value)),
    }
}

fn photo(property: &Property, draft: &mut Draft) {
    let value = property.value.trim();
    if value.is_empty() {
        return;
    }
    let embedded = property.is_base64() || value.get(..5).is_some_and(|s| s.eq_ignore_ascii_case("data:"));
    let photo = if property.is_base64() {
        let kind = property.param("TYPE").or_else(|| property.param("MEDIATYPE")).unwrap_or("jpeg").to_ascii_lowercase();
        let media_type = if kind.contains('/') { kind } else { format!("image/{kind}") };
        Photo::embedded(&media_type, value)
    } else {
        Photo::from_uri(value)
    };
    match photo {
        Some(photo) => draft.photo(photo),
        None if embedded => draft.warn(format!(
            "The card's photo is larger than {} KB or not an image; it was not kept.",
            crate::domain::contact::MAX_PHOTO_BYTES / 1024
        )),
        None => {}
    }
}

/// `scheme:rest` as its two parts; no scheme when the text has none.
fn split_scheme(text: &str) -> (&str, &str) {
    let text = text.trim();
    match text.split_once(':') {
        Some((scheme, rest)) if !scheme.is_empty() && scheme.chars().all(|c| c.is_ascii_alphanumeric() || "+.-".contains(c)) => (scheme, rest),
        _ => ("", text),
    }
}

fn strip_scheme<'t>(value: &'t str, scheme: &str) -> &'t str {
    let value = value.trim();
    match value.get(..scheme.len()) {
        Some(head) if head.eq_ignore_ascii_case(scheme) => &value[scheme.len()..],
        _ => value,
    }
}

/// Undoes `\,` `\;` `\\` `\:` and `\n` (a line break).
pub fn unescape(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    let mut chars = value.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('n' | 'N') => out.push('\n'),
            Some(other) => out.push(other),
            None => out.push('\\'),
        }
    }
    out
}

/// Splits at each `separator` that is not escaped, keeping the escapes.
fn split_raw(value: &str, separator: char) -> Vec<String> {
    let mut parts = vec![String::new()];
    let mut escaped = false;
    for c in value.chars() {
        let current = parts.last_mut().expect("parts is never empty");
        if escaped {
            current.push('\\');
            current.push(c);
            escaped = false;
        } else if c == '\\' {
            escaped = true;
        } else if c == separator {
            parts.push(String::new());
        } else {
            current.push(c);
        }
    }
    parts
}

/// Splits at each `separator` that is not escaped, unescaping the parts.
fn split_escaped(value: &str, separator: char) -> Vec<String> {
    split_raw(value, separator).iter().map(|p| unescape(p)).collect()
}

/// The `;`-separated components of a structured value (N, ADR, ORG); a
/// component's own unescaped commas separate its several values.
fn components(value: &str) -> Vec<String> {
    split_raw(value, ';').iter().map(|p| split_escaped(p, ',').join(", ")).collect()
}

/// A comma-separated list (NICKNAME, CATEGORIES), unescaped.
fn list(value: &str) -> Vec<String> {
    split_escaped(value, ',').into_iter().map(|v| v.trim().to_owned()).filter(|v| !v.is_empty()).collect()
}

/// The property kinds of one import's cards, each with how many cards hold it
/// and two values to show: what the preview lists. Kinds past
/// [`CENSUS_KINDS`] go their default way unlisted.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Census {
    kinds: Vec<(String, u64, Vec<String>)>,
}

/// Property kinds a census lists.
pub const CENSUS_KINDS: usize = 200;

/// A sample value is shown up to this many characters.
const SAMPLE_CHARS: usize = 60;

impl Census {
    pub fn add(&mut self, card: &RawRecord) {
        // Each kind counts once a card, however often the card repeats it.
        let mut seen: Vec<usize> = Vec::new();
        for line in &card.fields {
            let Some(property) = Property::parse(line) else { continue };
            if property.name == "X-ABLABEL" {
                continue;
            }
            let at = match self.kinds.iter().position(|(kind, _, _)| *kind == property.name) {
                Some(at) => at,
                None if self.kinds.len() < CENSUS_KINDS => {
                    self.kinds.push((property.name.clone(), 0, Vec::new()));
                    self.kinds.len() - 1
                }
                None => continue,
            };
            let (_, cards, samples) = &mut self.kinds[at];
            if !seen.contains(&at) {
                *cards += 1;
                seen.push(at);
            }
            if samples.len() < 2 {
                let shown = if property.name == "PHOTO" && property.value.len() > 200 { "(an image)".to_owned() } else { property.text() };
                let shown: String = shown.split_whitespace().collect::<Vec<_>>().join(" ").chars().take(SAMPLE_CHARS).collect();
                if !shown.is_empty() && !samples.contains(&shown) {
                    samples.push(shown);
                }
            }
        }
    }

    /// The kinds in the preview's order, each with its cards and samples.
    pub fn kinds(mut self) -> Vec<(String, u64, Vec<String>)> {
        self.kinds.sort_by_key(|(kind, _, _)| kind_order(kind));
        self.kinds
    }
}
