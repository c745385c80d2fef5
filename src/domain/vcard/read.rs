//! Push-based vCard (2.1, 3.0, 4.0) reading with bounded memory.
//!
//! Each card becomes one [`RawRecord`] whose fields are the card's properties,
//! one content line each (`[group.]NAME[;param…]:value`), unfolded and with
//! QUOTED-PRINTABLE and `CHARSET=` undone, so every property reaches the card's
//! reading (`card`) as UTF-8 text. Cards flow through the same pipeline,
//! checkpoints and row errors as CSV rows.
//!
//! Bytes are unfolded into logical lines (CRLF, LF, or the `CR CR LF` of iOS 5,
//! plus a space or tab, and QUOTED-PRINTABLE soft breaks) held up to
//! [`MAX_LINE_BYTES`]. A card keeps at most [`MAX_FIELDS`] properties and
//! [`MAX_CARD_BYTES`]; what it cannot keep is counted and told as a warning,
//! so a card of millions of lines costs no more than the caps.

use crate::domain::contact::MAX_PHOTO_BYTES;
use crate::domain::format::{RawRecord, RecordProblem, TextEncoding, MAX_FIELDS, MAX_FIELD_BYTES};
use encoding_rs::{CoderResult, Decoder, Encoding};

/// A logical line is kept up to this many bytes: the largest photo kept, in
/// base64, plus its name and parameters. A capped text value written as
/// QUOTED-PRINTABLE (three bytes a byte) fits too.
pub const MAX_LINE_BYTES: usize = MAX_PHOTO_BYTES / 3 * 4 + 4 * 1024;

/// The bytes of properties one card keeps.
pub const MAX_CARD_BYTES: usize = 2 * 1024 * 1024;

/// Property names whose lines past the caps are counted by name; more names
/// are counted together.
const SKIPPED_NAMES: usize = 16;

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
    properties: Vec<String>,
    bytes: usize,
    /// Lines past the caps, by property name.
    skipped: Vec<(String, u64)>,
    warnings: Vec<String>,
}

impl Card {
    fn keep(&mut self, name: &str, line: String) {
        if self.properties.len() >= MAX_FIELDS || self.bytes + line.len() > MAX_CARD_BYTES {
            let name = if self.skipped.len() < SKIPPED_NAMES || self.skipped.iter().any(|(n, _)| n == name) { name } else { "other" };
            match self.skipped.iter_mut().find(|(n, _)| n == name) {
                Some((_, count)) => *count += 1,
                None => self.skipped.push((name.to_owned(), 1)),
            }
            return;
        }
        self.bytes += line.len();
        self.properties.push(line);
    }

    fn warn(&mut self, warning: String) {
        // One card's warnings are few kinds; a card of a million broken lines warns once per kind.
        if self.warnings.len() < SKIPPED_NAMES && !self.warnings.contains(&warning) {
            self.warnings.push(warning);
        }
    }

    /// Bytes of values the card holds.
    fn held_bytes(&self) -> usize {
        self.properties.iter().map(|p| p.capacity() + std::mem::size_of::<String>()).sum::<usize>()
            + self.warnings.iter().map(String::capacity).sum::<usize>()
    }

    fn into_warnings(mut self) -> Vec<String> {
        if !self.skipped.is_empty() {
            let lines: Vec<String> = self.skipped.iter().map(|(name, count)| format!("{count} {name}")).collect();
            self.warnings.push(format!(
                "The card holds more than Intake keeps of one card ({MAX_FIELDS} properties, {} MB); these lines were not kept: {}.",
                MAX_CARD_BYTES / 1024 / 1024,
                lines.join(", ")
            ));
        }
        self.warnings
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
    /// caps of one card, however long the card.
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
            if b == b'\r' && self.prev_cr {
                // iOS 5 ended lines with CR CR LF: one line break, not a blank line.
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
        let Some(property) = RawProperty::parse(line) else {
            if let Some(card) = &mut self.card {
                card.warn(format!("Line {number} is not a vCard property; it was skipped."));
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
        let name = property.name_upper();
        let is_photo = name == "PHOTO";
        if truncated {
            card.warn(too_long(&name, is_photo));
            return;
        }
        let value = property.decoded(self.file_encoding);
        if !is_photo && value.len() > MAX_FIELD_BYTES {
            card.warn(too_long(&name, false));
            return;
        }
        if value.contains('\0') {
            card.warn(format!("The card's {name} holds a NUL byte, which is not allowed in text; it was not kept."));
            return;
        }
        let mut kept = String::with_capacity(line.len().min(value.len() + 256));
        kept.push_str(&String::from_utf8_lossy(property.group_and_name));
        for param in property.params.iter().filter(|p| !is_transfer_param(p)) {
            kept.push(';');
            kept.push_str(&String::from_utf8_lossy(param));
        }
        kept.push(':');
        kept.push_str(&value);
        card.keep(&name, kept);
    }

    fn emit(&mut self, mut card: Card, out: &mut Vec<RawRecord>) {
        let line = card.line;
        let fields = std::mem::take(&mut card.properties);
        let warnings = card.into_warnings();
        out.push(RawRecord { index: self.next_index, line, fields, problem: None, warnings });
        self.next_index += 1;
    }

    fn emit_broken(&mut self, card: Card, reason: String, out: &mut Vec<RawRecord>) {
        out.push(RawRecord {
            index: self.next_index,
            line: card.line,
            fields: Vec::new(),
            problem: Some(RecordProblem::BrokenCard { reason }),
            warnings: Vec::new(),
        });
        self.next_index += 1;
    }
}

fn too_long(name: &str, is_photo: bool) -> String {
    if is_photo {
        format!("The card's photo is larger than {} KB; it was not kept.", MAX_PHOTO_BYTES / 1024)
    } else {
        format!("The card's {name} is longer than {} KB; it was not kept.", MAX_FIELD_BYTES / 1024)
    }
}

/// `ENCODING=QUOTED-PRINTABLE` and `CHARSET=` describe bytes the reader has
/// already decoded; the card's reading must not decode them again.
fn is_transfer_param(param: &[u8]) -> bool {
    let text = String::from_utf8_lossy(param).to_ascii_uppercase();
    let text = text.trim();
    text == "QUOTED-PRINTABLE" || text == "ENCODING=QUOTED-PRINTABLE" || text.starts_with("CHARSET=")
}

/// One content line as read: `[group.]NAME[;param…]:value`, its value not decoded yet.
struct RawProperty<'a> {
    group_and_name: &'a [u8],
    name: &'a [u8],
    params: Vec<&'a [u8]>,
    raw_value: &'a [u8],
}

impl<'a> RawProperty<'a> {
    fn parse(line: &'a [u8]) -> Option<Self> {
        let colon = colon(line)?;
        let mut head = split_unquoted(&line[..colon], b';').into_iter();
        let qualified = head.next()?;
        // A group (`item1.EMAIL`) ties lines together; the name follows the last dot.
        let name = qualified.rsplit(|&b| b == b'.').next()?;
        let valid = |b: &u8| b.is_ascii_alphanumeric() || *b == b'-' || *b == b'_';
        if name.is_empty() || !qualified.iter().all(|b| valid(b) || *b == b'.') {
            return None;
        }
        Some(RawProperty { group_and_name: qualified, name, params: head.collect(), raw_value: &line[colon + 1..] })
    }

    fn is(&self, name: &str) -> bool {
        self.name.eq_ignore_ascii_case(name.as_bytes())
    }

    fn name_upper(&self) -> String {
        String::from_utf8_lossy(self.name).to_ascii_uppercase()
    }

    /// The value as text, QUOTED-PRINTABLE and `CHARSET` undone; a BASE64 value
    /// stays the ASCII it is.
    fn decoded(&self, file_encoding: &'static Encoding) -> String {
        let mut quoted_printable = false;
        let mut encoding = file_encoding;
        for param in &self.params {
            let text = String::from_utf8_lossy(param);
            let (name, value) = text.split_once('=').unwrap_or(("ENCODING", &text));
            let value = value.trim().trim_matches('"');
            match name.trim().to_ascii_uppercase().as_str() {
                "ENCODING" if value.eq_ignore_ascii_case("QUOTED-PRINTABLE") => quoted_printable = true,
                "CHARSET" => encoding = Encoding::for_label(value.as_bytes()).unwrap_or(file_encoding),
                _ => {}
            }
        }
        let bytes = if quoted_printable { decode_quoted_printable(self.raw_value) } else { self.raw_value.to_vec() };
        encoding.decode_without_bom_handling(&bytes).0.into_owned()
    }
}

/// The first `:` outside double quotes (4.0 parameter values may be quoted).
pub(super) fn colon(line: &[u8]) -> Option<usize> {
    let mut quoted = false;
    line.iter().position(|&b| {
        if b == b'"' {
            quoted = !quoted;
        }
        b == b':' && !quoted
    })
}

pub(super) fn split_unquoted(bytes: &[u8], separator: u8) -> Vec<&[u8]> {
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
