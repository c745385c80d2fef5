//! The downloadable error report: one CSV row per rejected line.

/// Prefixes `'` to cells a spreadsheet would run as a formula (CSV injection):
/// those starting with `=`, `+`, `-`, `@`, a tab or a carriage return.
pub fn spreadsheet_safe(cell: &str) -> String {
    if cell.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{cell}")
    } else {
        cell.to_owned()
    }
}

/// `line,reason` rows (LF-terminated) with CSV quoting and neutralised cells.
pub fn error_report_csv(rows: &[(u64, String)]) -> String {
    let mut out = String::from("line,reason\n");
    for (line, reason) in rows {
        out.push_str(&line.to_string());
        out.push(',');
        out.push_str(&quote(&spreadsheet_safe(reason)));
        out.push('\n');
    }
    out
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
            (2, "\"x\" is not a valid email address.".to_owned()),
            (5, "plain reason".to_owned()),
            (7, "=HYPERLINK(\"http://evil\",\"a,b\")".to_owned()),
            (9, "two\nlines".to_owned()),
        ]);
        assert_eq!(
            csv,
            "line,reason\n\
2,\"\"\"x\"\" is not a valid email address.\"\n\
5,plain reason\n\
7,\"'=HYPERLINK(\"\"http://evil\"\",\"\"a,b\"\")\"\n\
9,\"two\nlines\"\n"
        );
    }

    #[test]
    fn empty_report_has_only_the_header() {
        assert_eq!(error_report_csv(&[]), "line,reason\n");
    }
}
