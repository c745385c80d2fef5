//! Push-based vCard (2.1, 3.0, 4.0) reading with bounded memory.
//!
//! Each card becomes one [`RawRecord`] whose fields are the columns of
//! [`VCARD_HEADERS`], so cards flow through the same mapping, validation,
//! dedupe and checkpoints as CSV rows. Several EMAIL or TEL values share one
//! field joined with the ` ::: ` separator Google's CSV uses, preferred first.
//!
//! Bytes are unfolded into logical lines (CRLF or LF plus a space or tab, and
//! QUOTED-PRINTABLE soft breaks) held up to [`MAX_LINE_BYTES`]; longer lines
//! keep their start only, so a huge PHOTO costs no more than the cap. Values are
//! decoded with their `CHARSET=` when given, else with the file's encoding.

use super::format::{RawRecord, RecordProblem, TextEncoding, MAX_FIELD_BYTES};
use encoding_rs::{CoderResult, Decoder, Encoding};

/// The columns a card is read into, in this order.
pub const VCARD_HEADERS: [&str; 9] = [
    "Name (FN)",
    "Given name (N)",
    "Family name (N)",
    "Email (EMAIL)",
    "Phone (TEL)",
    "Organization (ORG)",
    "Title (TITLE)",
    "Note (NOTE)",
    "Birthday (BDAY)",
];

const NAME: usize = 0;
/// N fills the given and the family name columns.
const GIVEN: usize = 1;
const EMAIL: usize = 3;
const PHONE: usize = 4;
const ORG: usize = 5;
const TITLE: usize = 6;
const NOTE: usize = 7;
const BDAY: usize = 8;

/// A logical line is kept up to this many bytes: a capped field written as
/// QUOTED-PRINTABLE (three bytes a byte), plus its name and parameters.
pub const MAX_LINE_BYTES: usize = 3 * MAX_FIELD_BYTES + 1024;

const MULTI_VALUE_JOIN: &str = " ::: ";

/// True when the text (the start of a file, decoded) opens with a vCard.
pub fn looks_like_vcard(text: &str) -> bool {
    let start = text.trim_start_matches(|c: char| c.is_whitespace() || c == '\u{feff}');
    start.get(..11).is_some_and(|s| s.eq_ignore_ascii_case("BEGIN:VCARD"))
}

pub struct VCardReader {
    /// UTF-16 files are turned into UTF-8 first; ASCII-compatible ones are read
    /// as bytes, so a `CHARSET=` can decode its own value.
    to_utf8: Option<Decoder>,
    /// Decodes values without a `CHARSET=`.
    file_encoding: &'static Encoding,
    line: Vec<u8>,
    line_truncated: bool,
    /// Whether the line's value is QUOTED-PRINTABLE, known once its head (name
    /// and parameters, up to the first colon outside quotes) is complete:
    /// judged once a line, however many soft breaks follow.
    quoted_printable: Option<bool>,
    head_in_quotes: bool,
    line_number: u64,
    /// True after a line break, until the next line's first byte says whether it continues.
    at_line_start: bool,
    prev_cr: bool,
    lines_seen: u64,
    card: Option<Card>,
    next_index: u64,
    version: Option<String>,
    finished: bool,
}

#[derive(Default)]
struct Card {
    line: u64,
    full_name: String,
    given: String,
    family: String,
    name_from_n: String,
    emails: Vec<(bool, String)>,
    phones: Vec<(bool, String)>,
    organization: String,
    title: String,
    notes: Vec<(bool, String)>,
    birthday: String,
    problem: Option<RecordProblem>,
}

impl Card {
    /// Keeps a value of a property a card may repeat (EMAIL, TEL, NOTE) while
    /// the field it is joined into stays within the field cap, and marks the card
    /// once it would not: a card of millions of lines holds one capped field,
    /// not the file.
    fn add_value(&mut self, column: usize, list: fn(&mut Card) -> &mut Vec<(bool, String)>, (preferred, mut value): (bool, String)) {
        if self.problem.is_some() || value.trim().is_empty() {
            return;
        }
        let values = list(self);
        let joined: usize = values.iter().map(|(_, v)| v.len() + MULTI_VALUE_JOIN.len()).sum();
        if joined + value.len() > MAX_FIELD_BYTES {
            let mut room = MAX_FIELD_BYTES.saturating_sub(joined);
            while !value.is_char_boundary(room) {
                room -= 1;
            }
            value.truncate(room);
            if !value.is_empty() {
                values.push((preferred, value));
            }
            self.problem = Some(RecordProblem::FieldTooLong { column });
        } else {
            values.push((preferred, value));
        }
    }

    /// Bytes of values the card holds.
    fn held_bytes(&self) -> usize {
        let singles = [&self.full_name, &self.given, &self.family, &self.name_from_n, &self.organization, &self.title, &self.birthday];
        let lists = [&self.emails, &self.phones, &self.notes];
        singles.iter().map(|s| s.capacity()).sum::<usize>()
            + lists.iter().flat_map(|list| list.iter()).map(|(_, v)| v.capacity() + std::mem::size_of::<(bool, String)>()).sum::<usize>()
    }
}

impl VCardReader {
    pub fn new(encoding: TextEncoding) -> Self {
        let (to_utf8, file_encoding) = match encoding {
            TextEncoding::Utf16Le | TextEncoding::Utf16Be => {
                (Some(encoding.encoding().new_decoder_with_bom_removal()), encoding_rs::UTF_8)
            }
            TextEncoding::Utf8 | TextEncoding::Utf8Bom => (None, encoding_rs::UTF_8),
            TextEncoding::Windows1252 => (None, encoding_rs::WINDOWS_1252),
        };
        VCardReader {
            to_utf8,
            file_encoding,
            line: Vec::new(),
            line_truncated: false,
            quoted_printable: None,
            head_in_quotes: false,
            line_number: 0,
            at_line_start: true,
            prev_cr: false,
            lines_seen: 0,
            card: None,
            next_index: 0,
            version: None,
            finished: false,
        }
    }

    /// Bytes the reader holds for the card it is reading: at most about the
    /// capped fields of one card, however long the card.
    pub fn held_bytes(&self) -> usize {
        self.line.capacity() + self.card.as_ref().map_or(0, Card::held_bytes)
    }

    /// The VERSION of the first card that has one.
    pub fn version(&self) -> Option<&str> {
        self.version.as_deref()
    }

    /// Push raw bytes in chunks of any size; `last` = end of file. Finished
    /// cards are appended to `out`. Calls after `last` are ignored.
    pub fn feed(&mut self, bytes: &[u8], last: bool, out: &mut Vec<RawRecord>) {
        if self.finished {
            return;
        }
        if let Some(mut decoder) = self.to_utf8.take() {
            let mut utf8 = [0u8; 4096];
            let mut src = bytes;
            loop {
                let (result, read, written, _) = decoder.decode_to_utf8(src, &mut utf8, last);
                src = &src[read..];
                self.scan(&utf8[..written], out);
                if result == CoderResult::InputEmpty {
                    break;
                }
            }
            self.to_utf8 = Some(decoder);
        } else {
            self.scan(bytes, out);
        }
        if last {
            self.end_line(out);
            if let Some(card) = self.card.take() {
                self.emit_broken(card, "The card has no END:VCARD.".to_owned(), out);
            }
            self.finished = true;
        }
    }

    fn scan(&mut self, bytes: &[u8], out: &mut Vec<RawRecord>) {
        for &b in bytes {
            if b == b'\n' && self.prev_cr {
                self.prev_cr = false;
                continue;
            }
            self.prev_cr = b == b'\r';
            if b == b'\r' || b == b'\n' {
                self.lines_seen += 1;
                if self.at_line_start {
                    // A blank line ends any folding.
                    self.end_line(out);
                } else if self.is_soft_break() {
                    self.line.pop();
                    continue;
                }
                self.at_line_start = true;
                continue;
            }
            if self.at_line_start {
                self.at_line_start = false;
                if (b == b' ' || b == b'\t') && !self.line.is_empty() {
                    continue; // folded: the line goes on
                }
                self.end_line(out);
                self.line_number = self.lines_seen + 1;
            }
            self.push(b);
        }
    }

    fn push(&mut self, b: u8) {
        if self.line.len() >= MAX_LINE_BYTES {
            self.line_truncated = true;
            return;
        }
        if self.quoted_printable.is_none() {
            if b == b'"' {
                self.head_in_quotes = !self.head_in_quotes;
            } else if b == b':' && !self.head_in_quotes {
                let head = &self.line;
                self.quoted_printable = Some(head.windows(16).any(|w| w.eq_ignore_ascii_case(b"QUOTED-PRINTABLE")));
            }
        }
        self.line.push(b);
    }

    /// A QUOTED-PRINTABLE value ending in `=` continues on the next line.
    fn is_soft_break(&self) -> bool {
        self.line.last() == Some(&b'=') && self.quoted_printable == Some(true)
    }

    fn end_line(&mut self, out: &mut Vec<RawRecord>) {
        if self.line.is_empty() {
            return;
        }
        let line = std::mem::take(&mut self.line);
        let truncated = std::mem::replace(&mut self.line_truncated, false);
        self.quoted_printable = None;
        self.head_in_quotes = false;
        self.take_line(&line, truncated, out);
        // Reuse the allocation for the next line.
        self.line = line;
        self.line.clear();
    }

    fn take_line(&mut self, line: &[u8], truncated: bool, out: &mut Vec<RawRecord>) {
        // A UTF-8 BOM can only start the first line.
        let line = line.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(line).trim_ascii();
        if line.is_empty() {
            return;
        }
        let number = self.line_number;
        let Some(property) = Property::parse(line) else {
            if let Some(card) = &mut self.card {
                card.problem.get_or_insert(RecordProblem::BrokenCard {
                    reason: format!("Line {number} is not a vCard property."),
                });
            }
            return;
        };
        if property.is("BEGIN") && property.raw_value.eq_ignore_ascii_case(b"VCARD") {
            if let Some(card) = self.card.take() {
                self.emit_broken(card, "The card has no END:VCARD.".to_owned(), out);
            }
            self.card = Some(Card { line: number, ..Card::default() });
            return;
        }
        let Some(card) = &mut self.card else { return };
        if property.is("END") && property.raw_value.eq_ignore_ascii_case(b"VCARD") {
            let card = self.card.take().expect("a card is open");
            self.emit(card, out);
            return;
        }
        if property.is("VERSION") {
            let version = String::from_utf8_lossy(property.raw_value).trim().to_owned();
            self.version.get_or_insert(version);
            return;
        }
        let column = match property.name_upper().as_str() {
            "FN" => NAME,
            "N" => GIVEN,
            "EMAIL" => EMAIL,
            "TEL" => PHONE,
            "ORG" => ORG,
            "TITLE" => TITLE,
            "NOTE" => NOTE,
            "BDAY" => BDAY,
            // PHOTO, ADR, X-… and the rest: not kept.
            _ => return,
        };
        if truncated {
            card.problem.get_or_insert(RecordProblem::FieldTooLong { column });
        }
        let Some(value) = property.decoded(self.file_encoding) else { return };
        if value.contains('\0') {
            card.problem.get_or_insert(RecordProblem::NulByte { column });
        }
        let preferred = property.is_preferred();
        match column {
            NAME => fill(&mut card.full_name, unescape(&value)),
            GIVEN => {
                let parts = components(&value);
                let part = |i: usize| parts.get(i).map(String::as_str).unwrap_or_default().trim();
                fill(&mut card.family, part(0).to_owned());
                fill(&mut card.given, part(1).to_owned());
                let order = [part(3), part(1), part(2), part(0), part(4)];
                fill(&mut card.name_from_n, order.iter().filter(|p| !p.is_empty()).copied().collect::<Vec<_>>().join(" "));
            }
            EMAIL => {
                let email = strip_scheme(&unescape(&value), "mailto:");
                card.add_value(column, |card| &mut card.emails, (preferred, email))
            }
            PHONE => card.add_value(column, |card| &mut card.phones, (preferred, phone_number(&unescape(&value)))),
            ORG => {
                let units: Vec<String> = components(&value).into_iter().filter(|u| !u.trim().is_empty()).collect();
                fill(&mut card.organization, units.join(", "));
            }
            TITLE => fill(&mut card.title, unescape(&value)),
            NOTE => card.add_value(column, |card| &mut card.notes, (false, unescape(&value))),
            _ => fill(&mut card.birthday, iso_date(&unescape(&value))),
        }
    }

    fn emit(&mut self, card: Card, out: &mut Vec<RawRecord>) {
        let Card { line, full_name, given, family, name_from_n, emails, phones, organization, title, notes, birthday, mut problem } = card;
        let name = [full_name, name_from_n, organization.clone()].into_iter().find(|n| !n.trim().is_empty()).unwrap_or_default();
        let notes: Vec<String> = notes.into_iter().map(|(_, note)| note).collect();
        let mut fields = vec![name, given, family, preferred_first(emails), preferred_first(phones), organization, title, notes.join("\n"), birthday];
        for (column, field) in fields.iter_mut().enumerate() {
            if field.len() > MAX_FIELD_BYTES {
                let mut end = MAX_FIELD_BYTES;
                while !field.is_char_boundary(end) {
                    end -= 1;
                }
                field.truncate(end);
                problem.get_or_insert(RecordProblem::FieldTooLong { column });
            }
        }
        out.push(RawRecord { index: self.next_index, line, fields, problem });
        self.next_index += 1;
    }

    fn emit_broken(&mut self, card: Card, reason: String, out: &mut Vec<RawRecord>) {
        let problem = match card.problem {
            Some(RecordProblem::BrokenCard { reason }) => reason,
            _ => reason,
        };
        out.push(RawRecord {
            index: self.next_index,
            line: card.line,
            fields: vec![String::new(); VCARD_HEADERS.len()],
            problem: Some(RecordProblem::BrokenCard { reason: problem }),
        });
        self.next_index += 1;
    }
}

/// One content line: `[group.]NAME[;param…]:value`.
struct Property<'a> {
    name: &'a [u8],
    params: Vec<&'a [u8]>,
    raw_value: &'a [u8],
}

impl<'a> Property<'a> {
    fn parse(line: &'a [u8]) -> Option<Self> {
        let colon = colon(line)?;
        let mut head = split_unquoted(&line[..colon], b';').into_iter();
        let qualified = head.next()?;
        // A group (`item1.EMAIL`) only ties lines together; the name follows the last dot.
        let name = qualified.rsplit(|&b| b == b'.').next()?;
        let valid = |b: &u8| b.is_ascii_alphanumeric() || *b == b'-' || *b == b'_';
        if name.is_empty() || !qualified.iter().all(|b| valid(b) || *b == b'.') {
            return None;
        }
        Some(Property { name, params: head.collect(), raw_value: &line[colon + 1..] })
    }

    fn is(&self, name: &str) -> bool {
        self.name.eq_ignore_ascii_case(name.as_bytes())
    }

    fn name_upper(&self) -> String {
        String::from_utf8_lossy(self.name).to_ascii_uppercase()
    }

    /// Parameters as (upper-case name, value); 2.1's bare `CELL` or
    /// `QUOTED-PRINTABLE` are named by what they are.
    fn each_param(&self) -> impl Iterator<Item = (String, String)> + '_ {
        self.params.iter().map(|param| {
            let text = String::from_utf8_lossy(param);
            match text.split_once('=') {
                Some((name, value)) => (name.trim().to_ascii_uppercase(), value.trim().trim_matches('"').to_owned()),
                None => {
                    let value = text.trim().to_owned();
                    let upper = value.to_ascii_uppercase();
                    let name = match upper.as_str() {
                        "QUOTED-PRINTABLE" | "BASE64" | "8BIT" | "7BIT" => "ENCODING",
                        _ => "TYPE",
                    };
                    (name.to_owned(), value)
                }
            }
        })
    }

    fn is_preferred(&self) -> bool {
        self.each_param().any(|(name, value)| {
            (name == "TYPE" && value.split(',').any(|t| t.trim().eq_ignore_ascii_case("pref"))) || name == "PREF"
        })
    }

    /// The value as text, QUOTED-PRINTABLE and CHARSET undone; `None` for binary (BASE64) values.
    fn decoded(&self, file_encoding: &'static Encoding) -> Option<String> {
        let mut quoted_printable = false;
        let mut encoding = file_encoding;
        for (name, value) in self.each_param() {
            match name.as_str() {
                "ENCODING" if value.eq_ignore_ascii_case("QUOTED-PRINTABLE") => quoted_printable = true,
                "ENCODING" if value.eq_ignore_ascii_case("B") || value.eq_ignore_ascii_case("BASE64") => return None,
                "CHARSET" => encoding = Encoding::for_label(value.as_bytes()).unwrap_or(file_encoding),
                _ => {}
            }
        }
        let bytes = if quoted_printable { decode_quoted_printable(self.raw_value) } else { self.raw_value.to_vec() };
        Some(encoding.decode_without_bom_handling(&bytes).0.into_owned())
    }
}

/// The first `:` outside double quotes (4.0 parameter values may be quoted).
fn colon(line: &[u8]) -> Option<usize> {
    let mut quoted = false;
    line.iter().position(|&b| {
        if b == b'"' {
            quoted = !quoted;
        }
        b == b':' && !quoted
    })
}

fn split_unquoted(bytes: &[u8], separator: u8) -> Vec<&[u8]> {
    let mut parts = Vec::new();
    let (mut quoted, mut start) = (false, 0);
    for (at, &b) in bytes.iter().enumerate() {
        if b == b'"' {
            quoted = !quoted;
        } else if b == separator && !quoted {
            parts.push(&bytes[start..at]);
            start = at + 1;
        }
    }
    parts.push(&bytes[start..]);
    parts
}

/// `=XX` hex escapes become bytes; soft line breaks were removed while unfolding.
fn decode_quoted_printable(raw: &[u8]) -> Vec<u8> {
    let hex = |b: u8| (b as char).to_digit(16);
    let mut out = Vec::with_capacity(raw.len());
    let mut at = 0;
    while at < raw.len() {
        if raw[at] == b'=' {
            if let (Some(hi), Some(lo)) = (raw.get(at + 1).and_then(|&b| hex(b)), raw.get(at + 2).and_then(|&b| hex(b))) {
                out.push((hi * 16 + lo) as u8);
                at += 3;
                continue;
            }
        }
        out.push(raw[at]);
        at += 1;
    }
    out
}

/// Undoes `\,` `\;` `\\` and `\n` (a line break).
fn unescape(value: &str) -> String {
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

/// The `;`-separated components of a structured value (N, ORG), unescaped.
fn components(value: &str) -> Vec<String> {
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
        } else if c == ';' {
            parts.push(String::new());
        } else {
            current.push(c);
        }
    }
    parts.iter().map(|p| unescape(p)).collect()
}

fn strip_scheme(value: &str, scheme: &str) -> String {
    let value = value.trim();
    match value.get(..scheme.len()) {
        Some(head) if head.eq_ignore_ascii_case(scheme) => value[scheme.len()..].to_owned(),
        _ => value.to_owned(),
    }
}

/// A 4.0 `tel:` URI's number, without its parameters (`;ext=…`).
fn phone_number(value: &str) -> String {
    let value = value.trim();
    if value.get(..4).is_some_and(|head| head.eq_ignore_ascii_case("tel:")) {
        value[4..].split(';').next().unwrap_or_default().to_owned()
    } else {
        value.to_owned()
    }
}

/// `19960415`, `1996-04-15` and `1996-04-15T10:00:00Z` become `1996-04-15`;
/// 4.0's year-less `--0415` becomes `--04-15`; anything else is kept as written.
fn iso_date(value: &str) -> String {
    let value = value.trim();
    let date = value.split(['T', 't']).next().unwrap_or_default();
    // Checked as bytes: a range of a non-ASCII value may split a character.
    // Slicing the str below is safe once its bytes are known to be ASCII digits.
    let bytes = date.as_bytes();
    let digits = |range: std::ops::Range<usize>| bytes.get(range).is_some_and(|d| !d.is_empty() && d.iter().all(u8::is_ascii_digit));
    if bytes.len() == 8 && digits(0..8) {
        return format!("{}-{}-{}", &date[..4], &date[4..6], &date[6..]);
    }
    if bytes.len() == 10 && digits(0..4) && bytes[4] == b'-' && digits(5..7) && bytes[7] == b'-' && digits(8..10) {
        return date.to_owned();
    }
    if bytes.len() == 6 && date.starts_with("--") && digits(2..6) {
        return format!("--{}-{}", &date[2..4], &date[4..]);
    }
    value.to_owned()
}

fn fill(slot: &mut String, value: String) {
    if slot.trim().is_empty() {
        *slot = value.trim().to_owned();
    }
}

/// The values joined as one multi-value field, preferred ones first.
fn preferred_first(mut values: Vec<(bool, String)>) -> String {
    values.retain(|(_, v)| !v.trim().is_empty());
    values.sort_by_key(|(preferred, _)| !preferred);
    values.iter().map(|(_, v)| v.trim()).collect::<Vec<_>>().join(MULTI_VALUE_JOIN)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::contact::{build_row, RowOutcome};
    use crate::domain::mapping::{detect, Preset};
    use crate::domain::format::FileFormat;
    use crate::domain::sniff::sniff;

    fn read(encoding: TextEncoding, bytes: &[u8], chunk: usize) -> Vec<RawRecord> {
        let mut reader = VCardReader::new(encoding);
        let mut out = Vec::new();
        for part in bytes.chunks(chunk.max(1)) {
            reader.feed(part, false, &mut out);
        }
        reader.feed(&[], true, &mut out);
        out
    }

    fn cards(text: &str) -> Vec<RawRecord> {
        let whole = read(TextEncoding::Utf8, text.as_bytes(), text.len());
        for chunk in [1, 2, 3, 7, 64] {
            assert_eq!(read(TextEncoding::Utf8, text.as_bytes(), chunk), whole, "chunk {chunk}");
        }
        whole
    }

    fn field<'a>(card: &'a RawRecord, header: &str) -> &'a str {
        let at = VCARD_HEADERS.iter().position(|h| *h == header).expect("a vCard column");
        &card.fields[at]
    }

    fn contact(card: &RawRecord) -> crate::domain::contact::Contact {
        let (preset, mapping) = detect(&VCARD_HEADERS.iter().map(|h| (*h).to_owned()).collect::<Vec<_>>());
        assert_eq!(preset, Preset::VCard);
        match build_row(card, &mapping, None) {
            RowOutcome::Contact(row) => row.contact,
            other => panic!("not a contact: {other:?}"),
        }
    }

    #[test]
    fn rfc_2426_example_with_folding_and_preferred_email() {
        let text = "BEGIN:vCard\r\nVERSION:3.0\r\nFN:Frank Dawson\r\nORG:Lotus Development Corporation\r\n\
ADR;TYPE=WORK,POSTAL,PARCEL:;;6544 Battleford Drive\r\n ;Raleigh;NC;27613-3502;U.S.A.\r\n\
TEL;TYPE=VOICE,MSG,WORK:+1-919-676-9515\r\nTEL;TYPE=FAX,WORK:+1-919-676-9564\r\n\
EMAIL;TYPE=INTERNET,PREF:Frank_Dawson@Lotus.com\r\nEMAIL;TYPE=INTERNET:fdawson@earthlink.net\r\n\
URL:http://home.earthlink.net/~fdawson\r\nEND:vCard\r\n\r\n\
BEGIN:vCard\r\nVERSION:3.0\r\nFN:Tim Howes\r\nORG:Netscape Communications Corp.\r\n\
TEL;TYPE=WORK,MSG:+1-415-937-3419\r\nEMAIL;TYPE=INTERNET:howes@netscape.com\r\nEND:vCard\r\n";
        let recs = cards(text);
        assert_eq!(recs.len(), 2);
        assert_eq!((recs[0].index, recs[0].line, recs[1].index, recs[1].line), (0, 1, 1, 14));
        assert_eq!(field(&recs[0], "Name (FN)"), "Frank Dawson");
        assert_eq!(field(&recs[0], "Email (EMAIL)"), "Frank_Dawson@Lotus.com ::: fdawson@earthlink.net");
        assert_eq!(field(&recs[0], "Phone (TEL)"), "+1-919-676-9515 ::: +1-919-676-9564");
        assert_eq!(field(&recs[1], "Organization (ORG)"), "Netscape Communications Corp.");
        let frank = contact(&recs[0]);
        assert_eq!(frank.emails, vec!["frank_dawson@lotus.com", "fdawson@earthlink.net"]);
        assert_eq!(frank.phones.len(), 2);
    }

    #[test]
    fn birthdays_become_iso_and_anything_else_stays_as_written() {
        assert_eq!(iso_date("19960415"), "1996-04-15");
        assert_eq!(iso_date("1996-04-15T10:00:00Z"), "1996-04-15");
        assert_eq!(iso_date("--0415"), "--04-15");
        // Ten bytes whose fifth falls inside a character: found by the property test.
        assert_eq!(iso_date("--\u{FFFD}20\u{FFFD}"), "--\u{FFFD}20\u{FFFD}");
        assert_eq!(iso_date("1996-0\u{e9}-1"), "1996-0\u{e9}-1");
    }

    #[test]
    fn rfc_6350_example_with_tel_uris_and_yearless_birthday() {
        let text = "BEGIN:VCARD\nVERSION:4.0\nFN:Simon Perreault\nN:Perreault;Simon;;;ing. jr,M.Sc.\nBDAY:--0203\n\
GENDER:M\nEMAIL;TYPE=work:simon.perreault@viagenie.ca\n\
TEL;VALUE=uri;TYPE=\"work,voice\";PREF=1:tel:+1-418-656-9254;ext=102\n\
TEL;VALUE=uri;TYPE=\"work,cell,voice,video,text\":tel:+1-418-262-6501\nEND:VCARD\n";
        let recs = cards(text);
        assert_eq!(field(&recs[0], "Given name (N)"), "Simon");
        assert_eq!(field(&recs[0], "Family name (N)"), "Perreault");
        assert_eq!(field(&recs[0], "Phone (TEL)"), "+1-418-656-9254 ::: +1-418-262-6501");
        assert_eq!(field(&recs[0], "Birthday (BDAY)"), "--02-03");
        let simon = contact(&recs[0]);
        assert_eq!(simon.phones[0].normalized, "+14186569254");
    }

    #[test]
    fn vcard_2_1_bare_parameters_and_quoted_printable_soft_breaks() {
        let text = "BEGIN:VCARD\r\nVERSION:2.1\r\nN:Smith;John;M.;Mr.;Esq.\r\nTEL;WORK;VOICE:+1-213-555-1234\r\n\
TEL;CELL:+1-213-555-5678\r\nEMAIL;INTERNET:john.smith@ibm.com\r\n\
NOTE;ENCODING=QUOTED-PRINTABLE:This is a note that spans=0D=0A=\r\ntwo lines, =3D equal.\r\nEND:VCARD\r\n";
        let recs = cards(text);
        // No FN: the name comes from N, in reading order.
        assert_eq!(field(&recs[0], "Name (FN)"), "Mr. John M. Smith Esq.");
        assert_eq!(field(&recs[0], "Phone (TEL)"), "+1-213-555-1234 ::: +1-213-555-5678");
        assert_eq!(field(&recs[0], "Note (NOTE)"), "This is a note that spans\r\ntwo lines, = equal.");
        assert_eq!(recs[0].problem, None);
    }

    #[test]
    fn apple_icloud_groups_pref_and_a_skipped_photo() {
        let text = "BEGIN:VCARD\r\nVERSION:3.0\r\nPRODID:-//Apple Inc.//iPhone OS 17.0//EN\r\nN:Appleseed;Johnny;;;\r\n\
FN:Johnny Appleseed\r\nORG:Apple Inc.;\r\nTITLE:Engineer\r\nEMAIL;type=INTERNET;type=HOME:j.a@home.example\r\n\
item1.EMAIL;type=INTERNET;type=pref:johnny@example.com\r\nitem1.X-ABLabel:_$!<Other>!$_\r\n\
TEL;type=CELL;type=VOICE;type=pref:+1 (408) 555-0100\r\nitem2.TEL:(408) 555-0199\r\n\
item2.X-ABLabel:_$!<Other>!$_\r\nPHOTO;ENCODING=b;TYPE=JPEG:/9j/4AAQSkZJRgABAQAAAQABAAD\r\n  /2wBDAAgGBgcGBQgHBwcJ\r\n\
BDAY;value=date:1980-05-12\r\nEND:VCARD\r\n";
        let recs = cards(text);
        assert_eq!(field(&recs[0], "Email (EMAIL)"), "johnny@example.com ::: j.a@home.example");
        assert_eq!(field(&recs[0], "Organization (ORG)"), "Apple Inc.");
        assert_eq!(field(&recs[0], "Title (TITLE)"), "Engineer");
        assert_eq!(field(&recs[0], "Birthday (BDAY)"), "1980-05-12");
        let johnny = contact(&recs[0]);
        assert_eq!(johnny.display_name, "Johnny Appleseed");
        assert_eq!(johnny.emails, vec!["johnny@example.com", "j.a@home.example"]);
        assert_eq!(johnny.phones.len(), 2);
    }

    #[test]
    fn google_escapes() {
        let text = "BEGIN:VCARD\nVERSION:3.0\nFN:Ana Lima\nN:Lima;Ana;;;\nEMAIL;TYPE=INTERNET;TYPE=WORK:ana@work.example\n\
TEL;TYPE=CELL:+55 11 91234-5678\nORG:Acme\\, Inc.\nNOTE:Met at the conference\\nSecond line\\; with semicolon\\\\\n\
CATEGORIES:myContacts\nEND:VCARD\n";
        let recs = cards(text);
        assert_eq!(field(&recs[0], "Organization (ORG)"), "Acme, Inc.");
        assert_eq!(field(&recs[0], "Note (NOTE)"), "Met at the conference\nSecond line; with semicolon\\");
    }

    #[test]
    fn android_2_1_quoted_printable_utf8() {
        let text = "BEGIN:VCARD\r\nVERSION:2.1\r\nN;CHARSET=UTF-8;ENCODING=QUOTED-PRINTABLE:M=C3=BCller;J=C3=BCrgen;;;\r\n\
FN;CHARSET=UTF-8;ENCODING=QUOTED-PRINTABLE:J=C3=BCrgen M=C3=BCller\r\nTEL;CELL:+49 170 1234567\r\nTEL;HOME:030 1234567\r\n\
EMAIL;HOME:juergen@example.de\r\nNOTE;CHARSET=UTF-8;ENCODING=QUOTED-PRINTABLE:Erste Zeile=0A=\r\n=\r\nZweite mit =C3=\r\n=9F\r\nEND:VCARD\r\n";
        let recs = cards(text);
        assert_eq!(field(&recs[0], "Name (FN)"), "Jürgen Müller");
        assert_eq!(field(&recs[0], "Family name (N)"), "Müller");
        assert_eq!(field(&recs[0], "Note (NOTE)"), "Erste Zeile\nZweite mit ß");
    }

    #[test]
    fn outlook_2_1_in_windows_1252_with_charsets() {
        let bytes = b"BEGIN:VCARD\r\nVERSION:2.1\r\nN;LANGUAGE=de:M\xfcller;J\xfcrgen\r\nFN:J\xfcrgen M\xfcller\r\n\
ORG:Gro\xdfhandel GmbH\r\nTEL;WORK;VOICE:+49 89 1234\r\nEMAIL;PREF;INTERNET:j.mueller@example.de\r\n\
NOTE;ENCODING=QUOTED-PRINTABLE;CHARSET=Windows-1252:Caf=E9 =80 5\r\nTITLE;CHARSET=ISO-8859-1:Gesch\xe4ftsf\xfchrer\r\n\
END:VCARD\r\n";
        let sniffed = sniff(bytes, true).unwrap();
        assert_eq!(sniffed.encoding, TextEncoding::Windows1252);
        assert_eq!(sniffed.format, FileFormat::VCard { version: "2.1".to_owned() });
        let recs = read(TextEncoding::Windows1252, bytes, 5);
        assert_eq!(field(&recs[0], "Name (FN)"), "Jürgen Müller");
        assert_eq!(field(&recs[0], "Organization (ORG)"), "Großhandel GmbH");
        assert_eq!(field(&recs[0], "Note (NOTE)"), "Café € 5");
        assert_eq!(field(&recs[0], "Title (TITLE)"), "Geschäftsführer");
    }

    #[test]
    fn nextcloud_4_0() {
        let text = "BEGIN:VCARD\r\nVERSION:4.0\r\nPRODID:-//Sabre//Sabre VObject 4.5.0//EN\r\nUID:2b8a-41c0\r\nFN:Zoë Nextcloud\r\n\
ADR;TYPE=HOME:;;Street 1;City;;12345;Germany\r\nEMAIL;TYPE=HOME:zoe@example.org\r\n\
TEL;TYPE=\"HOME,VOICE\";VALUE=uri:tel:+49-30-123456\r\nREV;VALUE=TIMESTAMP:20240101T120000Z\r\nEND:VCARD\r\n";
        let recs = cards(text);
        assert_eq!(field(&recs[0], "Name (FN)"), "Zoë Nextcloud");
        assert_eq!(field(&recs[0], "Phone (TEL)"), "+49-30-123456");
        assert_eq!(contact(&recs[0]).emails, vec!["zoe@example.org"]);
    }

    #[test]
    fn a_soft_break_is_judged_by_the_head_before_the_first_unquoted_colon() {
        let recs = cards("BEGIN:VCARD\r\nFN:Q\r\nNOTE;X-A=\"a:b\";ENCODING=QUOTED-PRINTABLE:x=\r\ny\r\nTITLE:QUOTED-PRINTABLE=\r\nEND:VCARD\r\n");
        assert_eq!(field(&recs[0], "Note (NOTE)"), "xy");
        assert_eq!(field(&recs[0], "Title (TITLE)"), "QUOTED-PRINTABLE=");
    }

    #[test]
    fn folding_with_tabs_and_bare_lf() {
        let recs = cards("BEGIN:VCARD\nVERSION:3.0\nFN:Very Long\n\t Name\nEMAIL:a@exa\n mple.com\nEND:VCARD\n");
        assert_eq!(field(&recs[0], "Name (FN)"), "Very Long Name");
        assert_eq!(field(&recs[0], "Email (EMAIL)"), "a@example.com");
    }

    #[test]
    fn name_falls_back_to_n_then_org() {
        let recs = cards("BEGIN:VCARD\nVERSION:3.0\nN:Doe;Jane;;;\nEND:VCARD\nBEGIN:VCARD\nVERSION:3.0\nORG:Acme;Sales\nTEL:123\nEND:VCARD\n");
        assert_eq!(field(&recs[0], "Name (FN)"), "Jane Doe");
        assert_eq!(field(&recs[1], "Name (FN)"), "Acme, Sales");
    }

    #[test]
    fn broken_cards_are_row_errors_and_their_neighbours_import() {
        let text = "BEGIN:VCARD\nVERSION:3.0\nFN:First\nEND:VCARD\n\
BEGIN:VCARD\nVERSION:3.0\nFN:No end\n\
BEGIN:VCARD\nVERSION:3.0\nFN:Third\nthis is not a property\nEND:VCARD\n\
BEGIN:VCARD\nFN:Fourth\nEND:VCARD\nBEGIN:VCARD\nFN:Cut short\n";
        let recs = cards(text);
        let names: Vec<&str> = recs.iter().map(|r| field(r, "Name (FN)")).collect();
        assert_eq!(names, vec!["First", "", "Third", "Fourth", ""]);
        let problems: Vec<(u64, Option<RecordProblem>)> = recs.iter().map(|r| (r.line, r.problem.clone())).collect();
        let broken = |reason: &str| Some(RecordProblem::BrokenCard { reason: reason.to_owned() });
        assert_eq!(problems, vec![
            (1, None),
            (5, broken("The card has no END:VCARD.")),
            (8, broken("Line 11 is not a vCard property.")),
            (13, None),
            (16, broken("The card has no END:VCARD.")),
        ]);
        let (_, mapping) = detect(&VCARD_HEADERS.iter().map(|h| (*h).to_owned()).collect::<Vec<_>>());
        assert_eq!(
            build_row(&recs[2], &mapping, None),
            RowOutcome::Rejected { line: 8, reason: "Line 11 is not a vCard property.".to_owned() }
        );
    }

    #[test]
    fn a_huge_photo_is_skipped_with_bounded_memory() {
        let mut reader = VCardReader::new(TextEncoding::Utf8);
        let mut out = Vec::new();
        reader.feed(b"BEGIN:VCARD\r\nVERSION:3.0\r\nFN:Pic\r\nPHOTO;ENCODING=b:", false, &mut out);
        let block = [b'A'; 8192];
        for _ in 0..1024 {
            reader.feed(&block, false, &mut out);
            reader.feed(b"\r\n ", false, &mut out);
            assert!(reader.line.capacity() <= 2 * MAX_LINE_BYTES);
        }
        reader.feed(b"\r\nEMAIL:pic@example.com\r\nEND:VCARD\r\n", true, &mut out);
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].problem, None);
        assert_eq!(field(&out[0], "Email (EMAIL)"), "pic@example.com");
    }

    #[test]
    fn a_card_of_endless_email_lines_holds_one_capped_field() {
        // Issue 21: one 60 MB card of 3 million EMAIL lines held them all until END.
        let mut reader = VCardReader::new(TextEncoding::Utf8);
        let mut out = Vec::new();
        reader.feed(b"BEGIN:VCARD\r\nVERSION:3.0\r\nFN:Many\r\n", false, &mut out);
        let lines: String = (0..2000).map(|i| format!("EMAIL:p{i}@example.com\r\n")).collect();
        let mut peak = 0;
        for _ in 0..150 {
            reader.feed(lines.as_bytes(), false, &mut out);
            peak = peak.max(reader.held_bytes());
        }
        reader.feed(b"NOTE:after\r\nEND:VCARD\r\n", true, &mut out);
        assert!(peak <= 4 * MAX_FIELD_BYTES, "held {peak} bytes for one card");
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].problem, Some(RecordProblem::FieldTooLong { column: EMAIL }));
    }

    #[test]
    fn an_overlong_note_is_capped_and_flagged() {
        let text = format!("BEGIN:VCARD\nFN:Long\nNOTE:{}\nEND:VCARD\n", "x".repeat(MAX_FIELD_BYTES + 10));
        let recs = cards(&text);
        assert_eq!(field(&recs[0], "Note (NOTE)").len(), MAX_FIELD_BYTES);
        assert_eq!(recs[0].problem, Some(RecordProblem::FieldTooLong { column: NOTE }));
    }

    #[test]
    fn utf16_and_bom_files() {
        let text = "BEGIN:VCARD\r\nVERSION:3.0\r\nFN:Hélène\r\nEND:VCARD\r\n";
        let mut utf16 = vec![0xFF, 0xFE];
        for unit in text.encode_utf16() {
            utf16.extend_from_slice(&unit.to_le_bytes());
        }
        assert_eq!(sniff(&utf16, true).unwrap().encoding, TextEncoding::Utf16Le);
        assert_eq!(field(&read(TextEncoding::Utf16Le, &utf16, 3)[0], "Name (FN)"), "Hélène");
        let bom = [b"\xEF\xBB\xBF".as_slice(), text.as_bytes()].concat();
        assert_eq!(field(&read(TextEncoding::Utf8Bom, &bom, 1)[0], "Name (FN)"), "Hélène");
    }

    #[test]
    fn the_sniffer_recognises_vcards_by_content() {
        let text = "\r\nBEGIN:VCARD\r\nVERSION:3.0\r\nFN:Ana\r\nEMAIL:ana@example.com\r\nEND:VCARD\r\nBEGIN:VCARD\r\nVERSION:3.0\r\nFN:Bo\r\nEND:VCARD\r\n";
        let sniffed = sniff(text.as_bytes(), true).unwrap();
        assert_eq!(sniffed.format.label(), "vCard 3.0");
        assert_eq!(sniffed.first_data_record(), 0);
        assert_eq!(sniffed.headers, VCARD_HEADERS.to_vec());
        assert_eq!(sniffed.sample_rows.len(), 2);
        assert_eq!(sniffed.sample_rows[0][EMAIL], "ana@example.com");
        let (preset, mapping) = detect(&sniffed.headers);
        assert_eq!(preset.label(), "vCard properties");
        assert_eq!(mapping.columns[BDAY], None);
        assert!(!looks_like_vcard("Name,Email\nBEGIN:VCARD"));
    }
}
