//! Building the text of statements both backends run.

/// Statements take at most this many rows of values, far below either backend's
/// parameter limit.
pub const ROWS_PER_STATEMENT: usize = 500;

/// `($first, …), (…)`: `rows` tuples of `width` numbered placeholders.
pub(crate) fn placeholders(first: usize, rows: usize, width: usize) -> String {
    use std::fmt::Write;
    let mut out = String::with_capacity(rows * width * 7);
    for row in 0..rows {
        out.push_str(if row == 0 { "(" } else { ", (" });
        for column in 0..width {
            if column > 0 {
                out.push_str(", ");
            }
            let _ = write!(out, "${}", first + row * width + column);
        }
        out.push(')');
    }
    out
}

/// The text of a statement over `rows` rows of values. Every chunk of a batch but
/// its last is `ROWS_PER_STATEMENT` rows long, so that text is built once per
/// process (in `full`) instead of once per chunk.
pub(crate) fn chunk_statement(
    full: &'static std::sync::OnceLock<String>,
    rows: usize,
    build: fn(usize) -> String,
) -> std::borrow::Cow<'static, str> {
    if rows == ROWS_PER_STATEMENT {
        full.get_or_init(|| build(rows)).as_str().into()
    } else {
        build(rows).into()
    }
}

/// Whether sqlx should keep the prepared statement for `sql` in the
/// connection's cache: only for a text every chunk shares. sqlx keeps up to a
/// hundred statements per connection, and a text built for one chunk's size
/// (thousands of parameters, each shape seldom seen again) filled those caches
/// on SQLite as a long file went through more sizes.
pub(crate) fn worth_keeping(sql: &std::borrow::Cow<'static, str>) -> bool {
    matches!(sql, std::borrow::Cow::Borrowed(_))
}
