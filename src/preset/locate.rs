//! Where in a preset's text an error is: the error type (`file:line:col: message`), the
//! locator of a TOML key path, the dotted key at a byte, and the first non-finite number. Both
//! preset readers use it: problem presets ([`super::load`]) and training presets
//! ([`crate::train::preset`]).

use std::fmt;
use std::ops::Range;

/// A preset error with its location.
#[derive(Clone, Debug, PartialEq)]
pub struct PresetError {
    /// File name, or `<preset>` for text that came from no file.
    pub source: String,
    /// 1-based line and column (in characters) of the offending text.
    pub location: Option<(usize, usize)>,
    pub message: String,
}

impl fmt::Display for PresetError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.location {
            Some((line, col)) => write!(f, "{}:{line}:{col}: {}", self.source, self.message),
            None => write!(f, "{}: {}", self.source, self.message),
        }
    }
}

impl std::error::Error for PresetError {}

/// 1-based line and column of a byte offset.
pub fn line_col(text: &str, byte: usize) -> (usize, usize) {
    let byte = byte.min(text.len());
    let before = &text[..byte];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    (line, text[line_start..byte].chars().count() + 1)
}

/// A step in a path through the TOML document, for locating semantic errors.
#[derive(Clone, Copy, Debug)]
pub enum Key<'a> {
    Name(&'a str),
    Index(usize),
}

/// Byte span of the key at the end of `path` (or of the array element, or of the deepest part
/// of the path that exists).
pub fn locate(text: &str, path: &[Key<'_>]) -> Option<Range<usize>> {
    use toml::de::{DeTable, DeValue};
    let root = DeTable::parse(text).ok()?;
    let mut span = root.span();
    let mut current: Option<&DeValue<'_>> = None;
    let mut table: Option<&DeTable<'_>> = Some(root.get_ref());
    for (depth, key) in path.iter().enumerate() {
        let last = depth + 1 == path.len();
        let next = match (key, table, current) {
            (Key::Name(name), Some(t), _) => t.get_key_value(*name).map(|(k, v)| {
                // Point at the key itself for the last step (`nmae = …`, `params = { nu = … }`).
                if last {
                    span = k.span();
                }
                v
            }),
            (Key::Index(i), _, Some(DeValue::Array(a))) => a.get(*i),
            _ => None,
        };
        let Some(value) = next else { break };
        if !(last && matches!(key, Key::Name(_))) {
            span = value.span();
        }
        current = Some(value.get_ref());
        table = match value.get_ref() {
            DeValue::Table(t) => Some(t),
            _ => None,
        };
    }
    Some(span)
}

/// The dotted key (`problem.params.mu`, `problem.y0[1]`) of the innermost value that contains
/// byte `at`, if the document parses.
pub(crate) fn key_at(text: &str, at: usize) -> Option<String> {
    use toml::de::{DeTable, DeValue};
    fn walk(value: &toml::Spanned<DeValue<'_>>, key: String, at: usize) -> Option<String> {
        // A table's span may be its header only: look inside whatever it says.
        if let DeValue::Table(t) = value.get_ref() {
            return table(t, &key, at);
        }
        if !value.span().contains(&at) {
            return None;
        }
        let inner = match value.get_ref() {
            DeValue::Array(a) => a
                .iter()
                .enumerate()
                .find_map(|(i, v)| walk(v, format!("{key}[{i}]"), at)),
            _ => None,
        };
        Some(inner.unwrap_or(key))
    }
    fn table(t: &DeTable<'_>, prefix: &str, at: usize) -> Option<String> {
        t.iter().find_map(|(k, v)| {
            let key = if prefix.is_empty() {
                k.get_ref().to_string()
            } else {
                format!("{prefix}.{}", k.get_ref())
            };
            walk(v, key, at)
        })
    }
    let root = DeTable::parse(text).ok()?;
    table(root.get_ref(), "", at)
}

/// The first `nan` or `inf` in a TOML document: its span and its dotted key (`loss.target[0]`).
pub(crate) fn first_non_finite(text: &str) -> Option<(Range<usize>, String)> {
    use toml::de::{DeTable, DeValue};
    fn walk(value: &toml::Spanned<DeValue<'_>>, key: &str) -> Option<(Range<usize>, String)> {
        match value.get_ref() {
            DeValue::Float(f) => {
                let finite = f.as_str().parse::<f64>().is_ok_and(f64::is_finite);
                (!finite).then(|| (value.span(), key.to_string()))
            }
            DeValue::Array(a) => a
                .iter()
                .enumerate()
                .find_map(|(i, v)| walk(v, &format!("{key}[{i}]"))),
            DeValue::Table(t) => table(t, key),
            _ => None,
        }
    }
    fn table(t: &DeTable<'_>, prefix: &str) -> Option<(Range<usize>, String)> {
        t.iter().find_map(|(k, v)| {
            let key = if prefix.is_empty() {
                k.get_ref().to_string()
            } else {
                format!("{prefix}.{}", k.get_ref())
            };
            walk(v, &key)
        })
    }
    let root = DeTable::parse(text).ok()?;
    table(root.get_ref(), "")
}

/// Whether a preset text has a `[train]` table (to tell training presets from others).
pub fn is_train_preset(text: &str) -> bool {
    toml::from_str::<toml::Table>(text).is_ok_and(|t| t.contains_key("train"))
}
