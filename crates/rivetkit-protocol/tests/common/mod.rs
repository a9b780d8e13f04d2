//! Shared plumbing for the vector tests: loading `spec/vectors/*.jsonl` (in the repository) and turning the
//! vectors' "typed JSON" notation into compat-space values.

use std::path::PathBuf;

use rivetkit_protocol::value::{self, Value};

/// Every record of one vector file. Panics with a clear message when the folder is missing, so a
/// misplaced checkout cannot turn into a silently passing suite.
pub fn load(file: &str) -> Vec<Value> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../spec/vectors");
    assert!(
        dir.is_dir(),
        "test vectors not found at {} (the repository's spec/vectors)",
        dir.display()
    );
    let path = dir.join(file);
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    let records: Vec<Value> = text
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{file}: bad line {l}: {e}")))
        .collect();
    assert!(!records.is_empty(), "{file} has no records");
    records
}

/// How a JS `undefined` inside an object is represented.
#[derive(Clone, Copy, PartialEq)]
pub enum Undefined {
    /// As `JSON.stringify` does: the member disappears (array elements become null).
    DropMembers,
    /// As this crate's value model does everywhere else: null.
    Null,
}

/// Typed-JSON notation (see the vectors README) → the compat-space value for that JS value.
pub fn compat(typed: &Value, undefined: Undefined) -> Value {
    match typed {
        Value::Object(map) => {
            if let Some(special) = special(map, undefined) {
                return special;
            }
            let mut out = serde_json::Map::new();
            for (k, v) in map {
                if undefined == Undefined::DropMembers && is_undefined(v) {
                    continue;
                }
                out.insert(k.clone(), compat(v, undefined));
            }
            Value::Object(out)
        }
        Value::Array(items) => {
            let mut items: Vec<Value> = items.iter().map(|v| compat(v, undefined)).collect();
            // A real JS array of the shape ["$x", v] is stored escaped.
            if let [Value::String(tag), _] = items.as_mut_slice() {
                if tag.starts_with('$') {
                    tag.insert(0, '$');
                }
            }
            Value::Array(items)
        }
        other => other.clone(),
    }
}

pub fn is_undefined(v: &Value) -> bool {
    v.get("$undefined").is_some()
}

fn special(map: &serde_json::Map<String, Value>, undefined: Undefined) -> Option<Value> {
    let (tag, payload) = map.iter().next().filter(|_| map.len() == 1)?;
    Some(match tag.as_str() {
        "$bigint" => value::bigint(payload.as_str()?.parse().ok()?),
        "$bytes" => value::bytes(&hex::decode(payload.as_str()?).ok()?),
        "$undefined" => Value::Null,
        // Date#toJSON: the ISO text itself.
        "$date" => payload.clone(),
        // A JS Map is read as an object with stringified keys.
        "$map" => Value::Object(
            payload
                .as_array()?
                .iter()
                .map(|pair| {
                    let key = match &pair[0] {
                        Value::String(s) => s.clone(),
                        other => other.to_string(),
                    };
                    (key, compat(&pair[1], undefined))
                })
                .collect(),
        ),
        "$number" => Value::Null,
        _ => return None,
    })
}

/// True if the typed value holds something the compat value model cannot reproduce on output
/// (undefined, Date, Map): encoders legitimately differ there.
pub fn has_unrepresentable(typed: &Value) -> bool {
    match typed {
        Value::Object(map) => {
            ["$undefined", "$date", "$map"]
                .iter()
                .any(|t| map.len() == 1 && map.contains_key(*t))
                || map.values().any(has_unrepresentable)
        }
        Value::Array(items) => items.iter().any(has_unrepresentable),
        _ => false,
    }
}

/// The payload of a record: `hex` decoded, or `text` / `data` as bytes (hex for binary
/// encodings).
pub fn payload(record: &Value, field: &str, binary: bool) -> Vec<u8> {
    let s = record[field]
        .as_str()
        .unwrap_or_else(|| panic!("record without {field}: {record}"));
    if binary {
        hex::decode(s).unwrap_or_else(|e| panic!("bad hex in {record}: {e}"))
    } else {
        s.as_bytes().to_vec()
    }
}

pub fn str_field<'a>(record: &'a Value, field: &str) -> &'a str {
    record[field]
        .as_str()
        .unwrap_or_else(|| panic!("record without string {field}: {record}"))
}

/// Collects mismatches so one run reports every failing record, then fails once.
#[derive(Default)]
pub struct Checks {
    pub passed: usize,
    pub failures: Vec<String>,
}

impl Checks {
    pub fn check(&mut self, ok: bool, what: impl FnOnce() -> String) {
        if ok {
            self.passed += 1;
        } else {
            self.failures.push(what());
        }
    }

    pub fn eq<T: PartialEq + std::fmt::Debug>(&mut self, what: &str, got: T, want: T) {
        self.check(got == want, || {
            format!("{what}:\n    got  {got:?}\n    want {want:?}")
        });
    }

    pub fn finish(self, file: &str, records: usize) {
        eprintln!(
            "{file}: {records} records, {} checks passed, {} failed",
            self.passed,
            self.failures.len()
        );
        assert!(self.passed > 0, "{file}: nothing was checked");
        assert!(
            self.failures.is_empty(),
            "{file}: {} failures:\n{}",
            self.failures.len(),
            self.failures.join("\n")
        );
    }
}
