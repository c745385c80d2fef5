//! The downloadable error report: one CSV row per rejected line, and per line
//! imported with a warning.

/// Prefixes `'` to cells a spreadsheet would run as a formula (CSV injection):
/// those starting with `=`, `+`, `-`, `@`, a tab or a carriage return.
pub fn spreadsheet_safe(cell: &str) -> String {
    if cell.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{cell}")
    } else {
        cell.to_owned()
    }
}

pub const ERROR_REPORT_HEADER: &str = "line,kind,reason\n";

/// A row error's reason is kept up to this many bytes: it may quote a field of 64 KiB.
pub const MAX_REASON_BYTES: usize = 512;

/// `reason` within `MAX_REASON_BYTES`, cut at a character and marked with `…`.
pub fn capped_reason(mut reason: String) -> String {
    if reason.len() > MAX_REASON_BYTES {
        let mut end = MAX_REASON_BYTES - '…'.len_utf8();
        while !reason.is_char_boundary(end) {
            end -= 1;
        }
        reason.truncate(end);
        reason.push('…');
    }
    reason
}

/// `line,kind,reason` rows (LF-terminated) with CSV quoting and neutralised
/// cells, without the header: the report is written a page at a time. A
/// row's kind is `error` (it was rejected) or `warning` (it was imported).
pub fn error_report_rows(rows: &[(u64, bool, String)]) -> String {
    let mut out = String::new();
    for (line, warning, reason) in rows {
        out.push_str(&line.to_string());
        out.push_str(if *warning { ",warning," } else { ",error," });
        out.push_str(&quote(&spreadsheet_safe(reason)));
        out.push('\n');
    }
    out
}

/// The report's last row when only the first rows were kept.
pub fn error_report_more(not_stored: u64) -> String {
    format!(",,\"and {not_stored} more rows with errors or warnings, not listed\"\n")
}

#[cfg(test)]
#[test]
fn reasons_are_capped_at_a_character() {
    assert_eq!(capped_reason("short".to_owned()), "short");
    let long = capped_reason(format!("\"{}\" is not a valid email address.", "ü".repeat(40_000)));
    assert!(long.len() <= MAX_REASON_BYTES && long.ends_with('…'), "{}", long.len());
}

#[cfg(test)]
fn error_report_csv(rows: &[(u64, bool, String)]) -> String {
    format!("{ERROR_REPORT_HEADER}{}", error_report_rows(rows))
}

fn quote(cell: &str) -> String {
    if cell.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", cell.replace('"', "\"\""))
    } else {
        cell.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formula_starts_are_neutralised() {
        for risky in ["=1+1", "+1", "-2", "@SUM(A1)", "\tx", "\rx"] {
            assert_eq!(spreadsheet_safe(risky), format!("'{risky}"));
        }
        for safe in ["", "Ana", "1-2", "a=b", " =x"] {
            assert_eq!(spreadsheet_safe(safe), safe);
        }
    }

    #[test]
    fn report_quotes_and_neutralises() {
        let csv = error_report_csv(&[
            (2, false, "\"x\" is not a valid email address.".to_owned()),
            (5, true, "plain reason".to_owned()),
            (7, false, "=HYPERLINK(\"http://evil\",\"a,b\")".to_owned()),
            (9, false, "two\nlines".to_owned()),
        ]);
        assert_eq!(
            csv,
            "line,kind,reason\n\
2,error,\"\"\"x\"\" is not a valid email address.\"\n\
5,warning,plain reason\n\
7,error,\"'=HYPERLINK(\"\"http://evil\"\",\"\"a,b\"\")\"\n\
9,error,\"two\nlines\"\n"
        );
    }

    #[test]
    fn a_capped_report_ends_with_the_count_not_listed() {
        assert_eq!(error_report_more(3), ",,\"and 3 more rows with errors or warnings, not listed\"\n");
    }

    #[test]
    fn empty_report_has_only_the_header() {
        assert_eq!(error_report_csv(&[]), "line,kind,reason\n");
    }
}
