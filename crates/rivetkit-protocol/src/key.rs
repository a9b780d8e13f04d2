//! Actor keys (§3.6): an array of strings that travels as one string (`key=` query values,
//! the `key` field of manager responses).
//!
//! The mapping is a bijection on what clients produce, so servers may use either form as the
//! identity; parsing also accepts the odd strings no serializer emits, the way the JS parser
//! reads them.

/// An actor key: an array of strings (§3.6), what [`serialize_key`] writes as one string.
/// Built from arrays and vectors only, never from one string, so user data can never inject a
/// key separator. Clients address actors with it, and so do actors calling actors.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct Key(pub Vec<String>);

impl Key {
    /// The empty key `[]`.
    pub fn empty() -> Key {
        Key(Vec::new())
    }
}

impl<S: Into<String>, const N: usize> From<[S; N]> for Key {
    fn from(parts: [S; N]) -> Key {
        Key(parts.into_iter().map(Into::into).collect())
    }
}

impl<S: Into<String>> From<Vec<S>> for Key {
    fn from(parts: Vec<S>) -> Key {
        Key(parts.into_iter().map(Into::into).collect())
    }
}

impl<S: Clone + Into<String>> From<&[S]> for Key {
    fn from(parts: &[S]) -> Key {
        Key(parts.iter().cloned().map(Into::into).collect())
    }
}

/// The serialized form of the empty key.
const EMPTY_KEY: &str = "/";
/// The marker for an empty-string part.
const EMPTY_PART: &str = "\\0";

/// The one-string form of a key: parts joined by `/`, with `\` and `/` inside a part escaped
/// by a `\`, an empty part written `\0`, and `/` alone for the empty key.
pub fn serialize_key(parts: &[String]) -> String {
    if parts.is_empty() {
        return EMPTY_KEY.to_owned();
    }
    let mut out = String::with_capacity(parts.iter().map(|p| p.len() + 1).sum());
    for (i, part) in parts.iter().enumerate() {
        if i > 0 {
            out.push('/');
        }
        if part.is_empty() {
            out.push_str(EMPTY_PART);
            continue;
        }
        for c in part.chars() {
            if c == '\\' || c == '/' {
                out.push('\\');
            }
            out.push(c);
        }
    }
    out
}

/// The parts of a serialized key; `""` and `/` are the empty key. Never fails: every string
/// reads as some key, as in the JS parser.
pub fn parse_key(s: &str) -> Vec<String> {
    if s.is_empty() || s == EMPTY_KEY {
        return Vec::new();
    }
    let mut parts = Vec::new();
    let mut current = String::new();
    // Set by `\0`: the part is the empty string whatever text follows before the next `/`.
    let mut empty_marker = false;
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => match chars.next() {
                Some('0') => empty_marker = true,
                Some(escaped) => current.push(escaped),
                // A dangling backslash is kept literally.
                None => current.push('\\'),
            },
            '/' => {
                parts.push(finish_part(&mut current, &mut empty_marker));
            }
            c => current.push(c),
        }
    }
    parts.push(finish_part(&mut current, &mut empty_marker));
    parts
}

fn finish_part(current: &mut String, empty_marker: &mut bool) -> String {
    let part = std::mem::take(current);
    if std::mem::take(empty_marker) {
        String::new()
    } else {
        part
    }
}
