//! What makes two rows the same person: the normal forms of emails, phones and
//! names, and the identities a contact holds (each one unique per user in the store).

use caseless::Caseless;
use unicode_normalization::{is_nfc_quick, IsNormalized, UnicodeNormalization};

/// Unicode default case folding of the canonical (NFC) form: `ZOË`, `zoë` and its
/// decomposed spelling fold alike, and `Straße` folds to `strasse`.
pub fn fold(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    fold_into(&mut out, s);
    out
}

/// `fold(s)`, appended to `out`.
pub fn fold_into(out: &mut String, s: &str) {
    let start = out.len();
    if s.is_ascii() {
        // Folding and NFC change nothing in ASCII but its capitals; most values are ASCII.
        out.push_str(s);
        out[start..].make_ascii_lowercase();
        return;
    }
    // Most other values are NFC already ("Müller", "Zoë"), and fold char by char to
    // what the detour through NFD gives, when the folded text is NFC too
    // (`fold_of_nfc_text_needs_no_detour` checks every character).
    if is_nfc_quick(s.chars()) == IsNormalized::Yes {
        out.extend(s.chars().default_case_fold());
        if is_nfc_quick(out[start..].chars()) == IsNormalized::Yes {
            return;
        }
        out.truncate(start);
    }
    out.extend(s.nfd().default_case_fold().nfc());
}

/// Trimmed, without a `mailto:` prefix, NFC and case-folded, with the domain in
/// its IDNA (ASCII) form. The local part is kept as written apart from NFC and
/// folding: most providers ignore its case, but whether dots or `+tags` matter
/// differs by provider, so they are never removed.
pub fn normalize_email(s: &str) -> String {
    let trimmed = s.trim();
    let address = match trimmed.get(..7) {
        Some(prefix) if prefix.eq_ignore_ascii_case("mailto:") => trimmed[7..].trim(),
        _ => trimmed,
    };
    let folded = fold(address);
    let Some((local, domain)) = folded.rsplit_once('@') else { return folded };
    if is_plain_ascii_domain(domain) {
        return folded;
    }
    match idna::domain_to_ascii(domain) {
        Ok(ascii) if !ascii.is_empty() => format!("{local}@{ascii}"),
        // Not a domain IDNA can map; validation judges it as written.
        _ => folded,
    }
}

/// Letters, digits, dots and hyphens, with no label IDNA decodes (`xn--`): a
/// folded domain that IDNA maps to itself, as most are, without its allocations.
fn is_plain_ascii_domain(domain: &str) -> bool {
    !domain.is_empty()
        && domain.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'.' || b == b'-')
        && !domain.contains("xn--")
}

/// A country calling code, such as `49` or `1`, that numbers written without
/// one are taken to belong to (`IMPORT_DEFAULT_PHONE_REGION`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CallingCode(String);

impl CallingCode {
    /// One to three digits, with or without a leading `+`.
    pub fn parse(text: &str) -> Result<Self, String> {
        let digits = text.trim().trim_start_matches('+');
        if (1..=3).contains(&digits.len()) && digits.bytes().all(|b| b.is_ascii_digit()) && !digits.starts_with('0') {
            Ok(Self(digits.to_owned()))
        } else {
            Err(format!("`{text}` is not a country calling code such as 49 or +1"))
        }
    }

    /// The national trunk prefix dialled before an area code: `1` in the North
    /// American plan, `0` in most other countries.
    fn trunk_prefix(&self) -> char {
        if self.0 == "1" {
            '1'
        } else {
            '0'
        }
    }
}

/// Digits only, with a leading `+` kept. A number without `+` stays as written,
/// unless a default calling code is set: then `00…` becomes `+…`, and a national
/// number loses its trunk prefix and gains `+` and the code.
pub fn normalize_phone(s: &str, default_code: Option<&CallingCode>) -> String {
    let trimmed = s.trim();
    // Room for the digits alone: a long value with few of them keeps no more.
    let room = 1 + trimmed.bytes().filter(u8::is_ascii_digit).count();
    if trimmed.starts_with('+') {
        let mut international = String::with_capacity(room);
        international.push('+');
        international.extend(trimmed.chars().filter(char::is_ascii_digit));
        return international;
    }
    let mut digits = String::with_capacity(room);
    digits.extend(trimmed.chars().filter(char::is_ascii_digit));
    let Some(code) = default_code.filter(|_| !digits.is_empty()) else { return digits };
    if let Some(international) = digits.strip_prefix("00") {
        return format!("+{international}");
    }
    let national = digits.strip_prefix(code.trunk_prefix()).unwrap_or(&digits);
    format!("+{}{national}", code.0)
}

/// A name as matching compares it: NFC, case-folded, whitespace collapsed.
pub fn match_name(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    for word in fold(name).split_whitespace() {
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(word);
    }
    out
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum IdentityKind {
    /// A normalised email address.
    Email,
    /// A matching name and one normalised phone, as `name|phone`.
    NamePhone,
    /// A matching name alone, held only by a contact without email or phone.
    Name,
}

impl IdentityKind {
    pub fn as_str(self) -> &'static str {
        match self {
            IdentityKind::Email => "email",
            IdentityKind::NamePhone => "name_phone",
            IdentityKind::Name => "name",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        [IdentityKind::Email, IdentityKind::NamePhone, IdentityKind::Name].into_iter().find(|kind| kind.as_str() == text)
    }
}

/// Identities as a contact's stored row lists them: `[[kind, value], …]` in JSON.
pub fn listing(identities: &[Identity]) -> String {
    let pairs: Vec<(&str, &str)> = identities.iter().map(|i| (i.kind.as_str(), i.value.as_str())).collect();
    serde_json::to_string(&pairs).expect("string pairs serialise")
}

/// A `listing` read back.
pub fn from_listing(listing: &str) -> Result<Vec<Identity>, String> {
    let pairs: Vec<(String, String)> = serde_json::from_str(listing).map_err(|e| e.to_string())?;
    pairs
        .into_iter()
        .map(|(kind, value)| Ok(Identity { kind: IdentityKind::parse(&kind).ok_or(format!("identity kind {kind}"))?, value }))
        .collect()
}

/// One thing that identifies a person: a row and a contact sharing one are the same person.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Identity {
    pub kind: IdentityKind,
    pub value: String,
}

impl Identity {
    pub fn email(address: &str) -> Self {
        Self { kind: IdentityKind::Email, value: address.to_owned() }
    }

    /// `name` already in its matching form; `phone` normalised (digits and `+`, never `|`).
    pub fn name_phone(name: &str, phone: &str) -> Self {
        Self { kind: IdentityKind::NamePhone, value: format!("{name}|{phone}") }
    }

    pub fn name(name: &str) -> Self {
        Self { kind: IdentityKind::Name, value: name.to_owned() }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_listing_reads_back_as_written() {
        let identities = vec![Identity::email("a\"b@x.io"), Identity::name_phone("zoë", "+1555"), Identity::name("bo")];
        assert_eq!(listing(&identities), r#"[["email","a\"b@x.io"],["name_phone","zoë|+1555"],["name","bo"]]"#);
        assert_eq!(from_listing(&listing(&identities)), Ok(identities));
        assert!(from_listing(r#"[["phone","1"]]"#).is_err());
    }

    #[test]
    fn folding_goes_beyond_ascii_and_ignores_composition() {
        assert_eq!(fold("ZOË"), "zoë");
        assert_eq!(fold("Zoe\u{308}"), "zoë", "NFD folds to the NFC form");
        assert_eq!(fold("STRASSE"), fold("Straße"));
        assert_eq!(fold("ΣΊΣΥΦΟΣ"), fold("σίσυφος"));
        assert_eq!(fold("Plain ASCII"), "plain ascii");
    }

    #[test]
    fn fold_of_nfc_text_needs_no_detour() {
        let by_nfd = |s: &str| -> String { s.nfd().default_case_fold().nfc().collect() };
        for c in (0..=0x10FFFFu32).filter_map(char::from_u32) {
            let text = c.to_string();
            assert_eq!(fold(&text), by_nfd(&text), "U+{:04X}", c as u32);
        }
        // Neighbours that compose or reorder: bases with the combining marks after them.
        let marks = ['\u{300}', '\u{301}', '\u{308}', '\u{327}', '\u{345}', '\u{307}', '\u{3099}'];
        for c in (0..0x2000u32).chain(0x1E00..0x2000).filter_map(char::from_u32) {
            for mark in marks {
                let text = format!("{c}{mark}");
                assert_eq!(fold(&text), by_nfd(&text), "U+{:04X} U+{:04X}", c as u32, mark as u32);
            }
        }
    }

    #[test]
    fn emails_are_trimmed_folded_and_their_domain_made_ascii() {
        assert_eq!(normalize_email("  MAILTO:Ana@Example.COM "), "ana@example.com");
        assert_eq!(normalize_email("BO@WORK.EXAMPLE"), "bo@work.example");
        assert_eq!(normalize_email("Jürgen@Müller.DE"), "jürgen@xn--mller-kva.de");
        assert_eq!(normalize_email("jürgen@xn--mller-kva.de"), "jürgen@xn--mller-kva.de");
        // NFD (e + combining diaeresis) and NFC are one address.
        assert_eq!(normalize_email("zoe\u{308}@example.com"), normalize_email("zoë@example.com"));
        // Dots and +tags are provider rules, so they stay.
        assert_eq!(normalize_email("First.Last+News@Gmail.com"), "first.last+news@gmail.com");
        assert_eq!(normalize_email("no-at-sign"), "no-at-sign");
    }

    proptest::proptest! {
        /// The shortcut past IDNA gives what IDNA gives: any plain domain, odd ones
        /// ("a..b", "-x", labels past 63 letters, "xn-" near-misses) included, and
        /// a domain with a letter IDNA maps never takes it.
        #[test]
        fn a_plain_domain_is_what_idna_makes_of_it(domain in "[a-z0-9.-]{1,80}|[a-z0-9-]{60,70}\\.[a-z]{2,3}|xn-[a-z0-9.-]{0,12}|[a-zäöüß_.-]{1,20}") {
            let domain = fold(&domain);
            let through_idna = match idna::domain_to_ascii(&domain) {
                Ok(ascii) if !ascii.is_empty() => format!("ana@{ascii}"),
                _ => format!("ana@{domain}"),
            };
            proptest::prop_assert_eq!(normalize_email(&format!("Ana@{domain}")), through_idna);
        }
    }

    #[test]
    fn phones_lose_formatting_and_keep_a_leading_plus() {
        assert_eq!(normalize_phone(" +1 (555) 010-0200 ", None), "+15550100200");
        assert_eq!(normalize_phone("+15550100200", None), "+15550100200");
        assert_eq!(normalize_phone(" +44 (0)20 7946-0958 ", None), "+4402079460958");
        assert_eq!(normalize_phone("030/123 45", None), "03012345");
        assert_eq!(normalize_phone("1+2", None), "12");
        assert_eq!(normalize_phone("n/a", None), "");
    }

    #[test]
    fn a_default_calling_code_completes_national_numbers_only() {
        let germany = CallingCode::parse("+49").unwrap();
        assert_eq!(normalize_phone("030 1234567", Some(&germany)), "+49301234567");
        assert_eq!(normalize_phone("0049 30 1234567", Some(&germany)), "+49301234567");
        assert_eq!(normalize_phone("+1 555 0100", Some(&germany)), "+15550100");
        assert_eq!(normalize_phone("n/a", Some(&germany)), "");
        let nanp = CallingCode::parse("1").unwrap();
        assert_eq!(normalize_phone("1 (555) 010-0200", Some(&nanp)), "+15550100200");
        assert_eq!(normalize_phone("(555) 010-0200", Some(&nanp)), "+15550100200");
        for bad in ["", "+", "0", "1234", "4a", "+049"] {
            assert!(CallingCode::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn names_match_folded_and_collapsed() {
        assert_eq!(match_name("  Ana   LIMA "), "ana lima");
        assert_eq!(match_name("ZOË\tAdams"), match_name("Zoe\u{308} adams"));
    }
}
