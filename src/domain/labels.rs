//! Labels of a contact's values ("home", "work", "mobile", a fax, or the
//! exporter's own text), kept in one canonical form so that every format's
//! spelling of a label reads back the same and exports as that format spells it.
//!
//! A standard label is kept in lower case ("work fax"); any other text is kept
//! as written ("Bakery", "Móvil").

/// Standard labels, in their canonical form, with the spellings exporters use.
const STANDARD: &[(&str, &[&str])] = &[
    ("home", &["home", "personal", "private", "privat", "domicile"]),
    ("work", &["work", "business", "office", "company", "geschäftlich", "bureau"]),
    ("mobile", &["mobile", "cell", "cellular", "cell phone", "mobile phone", "handy"]),
    ("main", &["main", "primary", "company main"]),
    ("fax", &["fax"]),
    ("home fax", &["home fax", "homefax", "fax home"]),
    ("work fax", &["work fax", "workfax", "business fax", "fax work"]),
    ("other fax", &["other fax", "otherfax"]),
    ("pager", &["pager"]),
    ("other", &["other"]),
    ("iphone", &["iphone"]),
    ("car", &["car"]),
    ("school", &["school"]),
    ("homepage", &["homepage", "home page"]),
    ("blog", &["blog"]),
    ("profile", &["profile"]),
    ("birthday", &["birthday"]),
    ("anniversary", &["anniversary"]),
    ("spouse", &["spouse"]),
    ("child", &["child"]),
    ("mother", &["mother"]),
    ("father", &["father"]),
    ("parent", &["parent"]),
    ("brother", &["brother"]),
    ("sister", &["sister"]),
    ("friend", &["friend"]),
    ("manager", &["manager"]),
    ("assistant", &["assistant", "assistantphone", "assistant phone"]),
    ("partner", &["partner", "domestic partner", "domestic_partner"]),
    ("relative", &["relative"]),
    ("referred by", &["referred by", "referred_by"]),
    ("google voice", &["google voice", "grand_central"]),
];

/// The canonical form of an exporter's label: Apple's `_$!<HomePage>!$_`
/// unwrapped, a standard label in lower case, anything else trimmed and kept.
pub fn canonical(text: &str) -> String {
    let text = text.trim();
    let text = text.strip_prefix("_$!<").and_then(|t| t.strip_suffix(">!$_")).unwrap_or(text).trim();
    let lower = text.to_lowercase();
    STANDARD
        .iter()
        .find(|(_, spellings)| spellings.contains(&lower.as_str()))
        .map_or_else(|| text.to_owned(), |(standard, _)| (*standard).to_owned())
}

/// Whether `label` is one of the standard labels (in canonical form).
pub fn is_standard(label: &str) -> bool {
    STANDARD.iter().any(|(standard, _)| *standard == label)
}

/// A label as the pages show it: a standard one capitalised, any other as written.
pub fn shown(label: &str) -> String {
    if !is_standard(label) {
        return label.to_owned();
    }
    let mut chars = label.chars();
    chars.next().map_or_else(String::new, |first| first.to_uppercase().chain(chars).collect())
}

/// Google writes a label with a leading `* ` on the primary value: the label
/// and whether it was primary.
pub fn google_label(text: &str) -> (String, bool) {
    let text = text.trim();
    match text.strip_prefix('*') {
        Some(rest) => (canonical(rest), true),
        None => (canonical(text), false),
    }
}

/// The label as Google's CSV writes it (`Work Fax`), with `* ` on the primary value.
pub fn to_google(label: &str, preferred: bool) -> String {
    let shown = shown(label);
    let shown = if is_standard(label) {
        shown.split(' ').map(|word| {
            let mut chars = word.chars();
            chars.next().map_or_else(String::new, |first| first.to_uppercase().chain(chars).collect::<String>())
        }).collect::<Vec<_>>().join(" ")
    } else {
        shown
    };
    if preferred { format!("* {shown}") } else { shown }
}

/// vCard `TYPE` values: the label they make, and whether the value is preferred.
/// `internet`, `voice`, `x400` and the like say nothing a person chose.
pub fn from_vcard_types<'a>(types: impl IntoIterator<Item = &'a str>) -> (String, bool) {
    let (mut home, mut work, mut fax, mut preferred) = (false, false, false, false);
    let mut single: Option<&'static str> = None;
    let mut other: Option<String> = None;
    for kind in types {
        let kind = kind.trim();
        match kind.to_ascii_lowercase().as_str() {
            "pref" => preferred = true,
            "home" => home = true,
            "work" => work = true,
            "fax" => fax = true,
            "cell" | "mobile" => single = Some("mobile"),
            "pager" => single = Some("pager"),
            "main" => single = Some("main"),
            "iphone" => single = Some("iphone"),
            "car" => single = Some("car"),
            "other" => single = Some("other"),
            "internet" | "voice" | "x400" | "intl" | "dom" | "postal" | "parcel" | "msg" | "text" | "video"
            | "textphone" | "bbs" | "modem" | "isdn" | "pcs" | "uri" | "" => {}
            _ => {
                let unknown = kind.get(..2).filter(|p| p.eq_ignore_ascii_case("x-")).map_or(kind, |_| &kind[2..]);
                other.get_or_insert_with(|| canonical(unknown));
            }
        }
    }
    let label = match (single, fax, home, work) {
        (_, true, true, _) => "home fax".to_owned(),
        (_, true, _, true) => "work fax".to_owned(),
        (_, true, _, _) => "fax".to_owned(),
        (Some(single), ..) => single.to_owned(),
        (None, _, true, _) => "home".to_owned(),
        (None, _, _, true) => "work".to_owned(),
        _ => other.unwrap_or_default(),
    };
    (label, preferred)
}

/// The vCard `TYPE` values a label is written as, or `None` when it has none
/// and goes into an `X-ABLabel` instead (Apple's and Google's way).
pub fn to_vcard_types(label: &str) -> Option<&'static [&'static str]> {
    Some(match label {
        "" => &[],
        "home" => &["home"],
        "work" => &["work"],
        "mobile" => &["cell"],
        "fax" => &["fax"],
        "home fax" => &["home", "fax"],
        "work fax" => &["work", "fax"],
        "pager" => &["pager"],
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_spelling_reads_as_one_label() {
        for (text, label) in [
            ("Mobile", "mobile"),
            ("CELL", "mobile"),
            ("_$!<HomePage>!$_", "homepage"),
            ("Work Fax", "work fax"),
            ("Business", "work"),
            ("Bakery", "Bakery"),
            ("  Móvil ", "Móvil"),
            ("GRAND_CENTRAL", "google voice"),
        ] {
            assert_eq!(canonical(text), label, "{text}");
        }
        assert_eq!(google_label("* Mobile"), ("mobile".to_owned(), true));
        assert_eq!(google_label("*"), (String::new(), true));
        assert_eq!(google_label("Otro"), ("Otro".to_owned(), false));
    }

    #[test]
    fn labels_go_out_as_each_format_spells_them_and_read_back() {
        for (label, preferred) in [("work fax", true), ("mobile", false), ("Bakery", false), ("", true), ("google voice", false)] {
            assert_eq!(google_label(&to_google(label, preferred)), (label.to_owned(), preferred), "{label}");
            if let Some(types) = to_vcard_types(label) {
                let with_pref: Vec<&str> = types.iter().copied().chain(preferred.then_some("pref")).collect();
                assert_eq!(from_vcard_types(with_pref), (label.to_owned(), preferred), "{label}");
            }
        }
        assert_eq!(from_vcard_types(["INTERNET", "HOME"]), ("home".to_owned(), false));
        assert_eq!(from_vcard_types(["CELL", "VOICE", "pref"]), ("mobile".to_owned(), true));
        assert_eq!(from_vcard_types(["X-Bakery"]), ("Bakery".to_owned(), false));
        assert_eq!(shown("work fax"), "Work fax");
        assert_eq!(to_google("work fax", false), "Work Fax");
    }
}
