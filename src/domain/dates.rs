//! A contact's dates (a birthday, an anniversary, a date of the exporter's own)
//! as every format writes them, including dates without a year.

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A calendar date whose year may be unknown (`--12-10`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PartialDate {
    pub year: Option<u16>,
    pub month: u8,
    pub day: u8,
}

/// How a file orders day and month in `10/03/1980`: Outlook writes the order of
/// the exporting machine's language.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
pub enum DayOrder {
    /// `03/10/1980` is March 10 (English).
    MonthFirst,
    /// `10/03/1980` and `10.3.1980` are March 10 (German, French, most of the world).
    #[default]
    DayFirst,
}

const MONTHS: [&str; 12] = ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"];

impl PartialDate {
    pub fn new(year: Option<u16>, month: u8, day: u8) -> Option<Self> {
        let days = match month {
            1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
            4 | 6 | 9 | 11 => 30,
            2 => match year {
                Some(year) if !(year % 4 == 0 && (year % 100 != 0 || year % 400 == 0)) => 28,
                _ => 29,
            },
            _ => return None,
        };
        ((1..=days).contains(&day) && year.is_none_or(|year| year > 0)).then_some(Self { year, month, day })
    }

    /// Reads the forms exporters write: ISO `1980-03-10` and `19800310` (a time
    /// after the date is dropped), year-less `--03-10` and `--0310`, `10 Mar
    /// 1980` (LinkedIn), and `10/03/1980`, `3/10/80`, `10.3.1980` in the file's
    /// `order` (Outlook). `Ok(None)` for what means "no date" (`0/0/00`, empty).
    pub fn parse(text: &str, order: DayOrder) -> Result<Option<Self>, ()> {
        let text = text.trim();
        let date = text.split(['T', 't', ' ']).next().unwrap_or_default();
        if text.is_empty() || is_zero_date(text) {
            return Ok(None);
        }
        let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
        let number = |s: &str| s.parse::<u16>().map_err(|_| ());
        if let Some(rest) = date.strip_prefix("--") {
            let (month, day) = match rest.split_once('-') {
                Some((month, day)) => (month, day),
                None if rest.len() == 4 && digits(rest) => rest.split_at(2),
                None => return Err(()),
            };
            return Self::new(None, number(month)? as u8, number(day)? as u8).map(Some).ok_or(());
        }
        if date.len() == 8 && digits(date) {
            return Self::new(Some(number(&date[..4])?), number(&date[4..6])? as u8, number(&date[6..])? as u8).map(Some).ok_or(());
        }
        let parts: Vec<&str> = date.split('-').collect();
        if parts.len() == 3 && parts[0].len() == 4 && parts.iter().all(|p| digits(p)) {
            return Self::new(Some(number(parts[0])?), number(parts[1])? as u8, number(parts[2])? as u8).map(Some).ok_or(());
        }
        let words: Vec<&str> = text.split_whitespace().collect();
        if let [day, month, year] = words.as_slice() {
            let month = MONTHS.iter().position(|m| month.to_lowercase().starts_with(m)).ok_or(())? as u8 + 1;
            return Self::new(Some(number(year)?), month, number(day)? as u8).map(Some).ok_or(());
        }
        for separator in ['/', '.'] {
            let parts: Vec<&str> = date.split(separator).collect();
            if parts.len() == 3 && parts.iter().all(|p| digits(p)) {
                let (a, b) = (number(parts[0])? as u8, number(parts[1])? as u8);
                let year = full_year(number(parts[2])?, parts[2].len());
                let (month, day) = match (order, separator) {
                    (DayOrder::MonthFirst, '/') if a <= 12 => (a, b),
                    _ if b <= 12 => (b, a),
                    _ => (a, b),
                };
                return Self::new(Some(year), month, day).map(Some).ok_or(());
            }
        }
        Err(())
    }

    /// ISO 8601: `1980-03-10`, or `--03-10` without a year.
    pub fn iso(&self) -> String {
        match self.year {
            Some(year) => format!("{year:04}-{:02}-{:02}", self.month, self.day),
            None => format!("--{:02}-{:02}", self.month, self.day),
        }
    }

    /// As a page shows it: "10 March 1980", or "10 March" without a year.
    pub fn shown(&self) -> String {
        const NAMES: [&str; 12] =
            ["January", "February", "March", "April", "May", "June", "July", "August", "September", "October", "November", "December"];
        let day_month = format!("{} {}", self.day, NAMES[usize::from(self.month - 1)]);
        match self.year {
            Some(year) => format!("{day_month} {year}"),
            None => day_month,
        }
    }

    /// vCard 4.0's basic form: `19800310`, or `--0310`.
    pub fn basic(&self) -> String {
        match self.year {
            Some(year) => format!("{year:04}{:02}{:02}", self.month, self.day),
            None => format!("--{:02}{:02}", self.month, self.day),
        }
    }
}

/// What Outlook and others write for "no date".
fn is_zero_date(text: &str) -> bool {
    text.chars().all(|c| c == '0' || c == '/' || c == '.' || c == '-') || text.starts_with("1/1/4501")
}

/// A two-digit year is in the last hundred years (a birthday, an anniversary).
fn full_year(year: u16, written: usize) -> u16 {
    if written > 2 {
        return year;
    }
    let this = chrono::Utc::now().format("%y").to_string().parse::<u16>().unwrap_or(0);
    if year <= this { 2000 + year } else { 1900 + year }
}

impl Serialize for PartialDate {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.iso())
    }
}

impl<'de> Deserialize<'de> for PartialDate {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        match PartialDate::parse(&text, DayOrder::DayFirst) {
            Ok(Some(date)) => Ok(date),
            _ => Err(serde::de::Error::custom(format!("not a date: {text}"))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(text: &str, order: DayOrder) -> Option<String> {
        PartialDate::parse(text, order).ok().flatten().map(|date| date.iso())
    }

    #[test]
    fn every_exporter_form_reads() {
        let cases = [
            ("1980-03-10", "1980-03-10"),
            ("19800310", "1980-03-10"),
            ("1980-03-10T08:30:00Z", "1980-03-10"),
            ("--03-10", "--03-10"),
            ("--0310", "--03-10"),
            ("--12-10", "--12-10"),
            ("10 Mar 1980", "1980-03-10"),
            ("05 Mar 2024", "2024-03-05"),
            ("10.3.1980", "1980-03-10"),
            ("10/03/1980", "1980-03-10"),
            ("2000-02-29", "2000-02-29"),
        ];
        for (text, iso) in cases {
            assert_eq!(read(text, DayOrder::DayFirst).as_deref(), Some(iso), "{text}");
        }
        assert_eq!(read("3/10/1980", DayOrder::MonthFirst).as_deref(), Some("1980-03-10"));
        assert_eq!(read("25/12/1980", DayOrder::MonthFirst).as_deref(), Some("1980-12-25"), "a day past 12 settles the order");
        for none in ["", "0/0/00", "00.00.0000", "1/1/4501"] {
            assert_eq!(PartialDate::parse(none, DayOrder::MonthFirst), Ok(None), "{none}");
        }
        for bad in ["circa 1800", "1980-02-30", "1900-02-29", "--13-01", "yesterday", "1980-3"] {
            assert_eq!(PartialDate::parse(bad, DayOrder::DayFirst), Err(()), "{bad}");
        }
    }

    #[test]
    fn dates_serialise_as_iso_and_read_back() {
        for date in [PartialDate::new(Some(1980), 3, 10).unwrap(), PartialDate::new(None, 12, 10).unwrap()] {
            let json = serde_json::to_string(&date).unwrap();
            assert_eq!(serde_json::from_str::<PartialDate>(&json).unwrap(), date);
            assert_eq!(PartialDate::parse(&date.basic(), DayOrder::DayFirst), Ok(Some(date)));
        }
        assert_eq!(PartialDate::new(Some(1980), 3, 10).unwrap().shown(), "10 March 1980");
        assert_eq!(PartialDate::new(None, 12, 10).unwrap().shown(), "10 December");
    }
}
