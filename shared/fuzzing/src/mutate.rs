//! Mutation strategies: byte-level edits of a seed (what a fuzzer does to raw input) and JSON-level
//! edits of a parsed seed (drop, retype, rename, nest, grow a member), plus arbitrary JSON values.

use proptest::collection::vec;
use proptest::prelude::*;
use proptest::sample::select;
use serde_json::{Map, Value};

/// Byte sequences that steer a JSON, base64 or TOML parser into its less travelled paths.
pub const TOKENS: &[&[u8]] = &[
    b"{",
    b"}",
    b"[",
    b"]",
    b"\"",
    b"\\",
    b":",
    b",",
    b".",
    b"=",
    b"\n",
    b"null",
    b"true",
    b"-0",
    b"1e999",
    b"-1e-999",
    b"18446744073709551616",
    b"-9223372036854775809",
    b"0.0000000000000000000000000001",
    b"\\u0000",
    b"\\ud800",
    b"\\udfff\\ud800",
    b"\xff",
    b"\xc0\x80",
    b"\xed\xa0\x80",
    b"\xf4\x90\x80\x80",
    b"\xe2\x82",
    b"\0",
    b"[[[[[[[[[[[[[[[[",
    b"{\"a\":{\"a\":{\"a\":",
    b"'''",
    b"\"\"\"",
    b"[[",
    b"#",
    b"+",
    b"/",
    b"-",
    b"_",
];

/// A position chosen independently of the input length: a fraction of it, in 64-bit fixed point.
/// (proptest's `Index` is the same idea but cannot be built from a value, which tests need.)
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pick(pub u64);

impl Pick {
    /// The position this pick names among `len` (panics on `len == 0`).
    pub fn of(self, len: usize) -> usize {
        assert!(len > 0, "Pick::of an empty range");
        let scaled = (u128::from(self.0) * len as u128) >> 64;
        usize::try_from(scaled).expect("below len")
    }
}

impl Arbitrary for Pick {
    type Parameters = ();
    type Strategy = proptest::strategy::Map<proptest::num::u64::Any, fn(u64) -> Pick>;

    fn arbitrary_with((): ()) -> Self::Strategy {
        any::<u64>().prop_map(Pick)
    }
}

/// One byte-level edit; positions are [`Pick`]s so they fit any input length.
#[derive(Debug, Clone)]
pub enum ByteEdit {
    FlipBit {
        at: Pick,
        bit: u8,
    },
    Set {
        at: Pick,
        byte: u8,
    },
    Insert {
        at: Pick,
        bytes: Vec<u8>,
    },
    Token {
        at: Pick,
        token: &'static [u8],
    },
    Remove {
        at: Pick,
        len: usize,
    },
    Duplicate {
        at: Pick,
        len: usize,
    },
    Truncate {
        at: Pick,
    },
    /// Repeats one token many times (deep nesting, long runs).
    Repeat {
        at: Pick,
        token: &'static [u8],
        times: usize,
    },
}

/// Up to eight byte edits.
pub fn byte_edits() -> impl Strategy<Value = Vec<ByteEdit>> {
    let edit = prop_oneof![
        3 => (any::<Pick>(), 0u8..8).prop_map(|(at, bit)| ByteEdit::FlipBit { at, bit }),
        2 => (any::<Pick>(), any::<u8>()).prop_map(|(at, byte)| ByteEdit::Set { at, byte }),
        2 => (any::<Pick>(), vec(any::<u8>(), 1..16))
            .prop_map(|(at, bytes)| ByteEdit::Insert { at, bytes }),
        3 => (any::<Pick>(), select(TOKENS)).prop_map(|(at, token)| ByteEdit::Token { at, token }),
        2 => (any::<Pick>(), 1usize..64).prop_map(|(at, len)| ByteEdit::Remove { at, len }),
        1 => (any::<Pick>(), 1usize..256).prop_map(|(at, len)| ByteEdit::Duplicate { at, len }),
        1 => any::<Pick>().prop_map(|at| ByteEdit::Truncate { at }),
        1 => (any::<Pick>(), select(TOKENS), 1usize..2048)
            .prop_map(|(at, token, times)| ByteEdit::Repeat { at, token, times }),
    ];
    vec(edit, 1..8)
}

fn position(at: &Pick, len: usize) -> usize {
    // An insertion point may be the end; a byte position needs a byte.
    at.of(len + 1)
}

/// Applies `edits` to a copy of `seed`.
pub fn apply_bytes(seed: &[u8], edits: &[ByteEdit]) -> Vec<u8> {
    let mut bytes = seed.to_vec();
    for edit in edits {
        let len = bytes.len();
        match edit {
            ByteEdit::FlipBit { at, bit } if len > 0 => bytes[at.of(len)] ^= 1 << bit,
            ByteEdit::Set { at, byte } if len > 0 => bytes[at.of(len)] = *byte,
            ByteEdit::FlipBit { .. } | ByteEdit::Set { .. } => {}
            ByteEdit::Insert { at, bytes: new } => {
                let at = position(at, len);
                bytes.splice(at..at, new.iter().copied());
            }
            ByteEdit::Token { at, token } => {
                let at = position(at, len);
                bytes.splice(at..at, token.iter().copied());
            }
            ByteEdit::Remove { at, len: n } => {
                let at = position(at, len);
                let end = (at + n).min(len);
                bytes.drain(at..end);
            }
            ByteEdit::Duplicate { at, len: n } => {
                let at = position(at, len);
                let end = (at + n).min(len);
                let copy = bytes[at..end].to_vec();
                bytes.splice(end..end, copy);
            }
            ByteEdit::Truncate { at } => bytes.truncate(position(at, len)),
            ByteEdit::Repeat { at, token, times } => {
                let at = position(at, len);
                let run = token.repeat(*times);
                bytes.splice(at..at, run);
            }
        }
    }
    bytes
}

/// One of `seeds` with byte edits applied.
pub fn mutated_bytes(seeds: Vec<Vec<u8>>) -> impl Strategy<Value = Vec<u8>> {
    (select(seeds), byte_edits()).prop_map(|(seed, edits)| apply_bytes(&seed, &edits))
}

/// Strings a parser must survive: short Unicode, control characters, and occasionally long.
pub fn arb_string() -> impl Strategy<Value = String> {
    prop_oneof![
        24 => ".{0,24}",
        8 => "[\\x00-\\x1f\"\\\\]{0,8}",
        1 => (0usize..20_000, any::<char>()).prop_map(|(n, c)| c.to_string().repeat(n)),
    ]
}

/// Numbers of every shape JSON allows and then some: huge, negative, fractional.
pub fn arb_number() -> impl Strategy<Value = Value> {
    prop_oneof![
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>()
            .prop_filter("JSON has no NaN or infinity", |f| f.is_finite())
            .prop_map(Value::from),
        Just(Value::from(u64::MAX)),
        Just(Value::from(i64::MIN)),
        Just(Value::from(1e300)),
        Just(Value::from(-0.5)),
    ]
}

/// Any JSON value, nested a few levels.
pub fn arb_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        arb_number(),
        arb_string().prop_map(Value::String),
    ];
    leaf.prop_recursive(3, 24, 6, |inner| {
        prop_oneof![
            vec(inner.clone(), 0..6).prop_map(Value::Array),
            vec((".{0,12}", inner), 0..6)
                .prop_map(|members| Value::Object(members.into_iter().collect::<Map<_, _>>())),
        ]
    })
}

/// A step in a path to a node of a JSON tree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    Key(String),
    At(usize),
}

/// Every node of `value` except the root, as paths from the root, parents before children.
pub fn paths(value: &Value) -> Vec<Vec<Step>> {
    fn walk(value: &Value, prefix: &mut Vec<Step>, out: &mut Vec<Vec<Step>>) {
        match value {
            Value::Object(map) => {
                for (key, child) in map {
                    prefix.push(Step::Key(key.clone()));
                    out.push(prefix.clone());
                    walk(child, prefix, out);
                    prefix.pop();
                }
            }
            Value::Array(items) => {
                for (i, child) in items.iter().enumerate() {
                    prefix.push(Step::At(i));
                    out.push(prefix.clone());
                    walk(child, prefix, out);
                    prefix.pop();
                }
            }
            _ => {}
        }
    }
    let mut out = Vec::new();
    walk(value, &mut Vec::new(), &mut out);
    out
}

/// The node at `path`, mutably.
pub fn node_mut<'a>(value: &'a mut Value, path: &[Step]) -> Option<&'a mut Value> {
    path.iter()
        .try_fold(value, |node, step| match (node, step) {
            (Value::Object(map), Step::Key(key)) => map.get_mut(key),
            (Value::Array(items), Step::At(i)) => items.get_mut(*i),
            _ => None,
        })
}

/// One JSON-level edit at a node chosen by an [`Pick`] into [`paths`].
#[derive(Debug, Clone)]
pub enum JsonEdit {
    /// Drops the member or array element.
    Remove(Pick),
    /// Replaces the node with an arbitrary value.
    Replace(Pick, Value),
    /// Renames an object member, changing the ASCII case of its key.
    Recase(Pick, u64),
    /// Wraps the node in `depth` one-element arrays.
    Nest(Pick, usize),
    /// Adds a member with an arbitrary name and value to the object at (or holding) the node.
    Add(Pick, String, Value),
}

/// Up to four JSON edits.
pub fn json_edits() -> impl Strategy<Value = Vec<JsonEdit>> {
    let edit = prop_oneof![
        2 => any::<Pick>().prop_map(JsonEdit::Remove),
        3 => (any::<Pick>(), arb_json()).prop_map(|(at, v)| JsonEdit::Replace(at, v)),
        1 => (any::<Pick>(), any::<u64>()).prop_map(|(at, bits)| JsonEdit::Recase(at, bits)),
        1 => (any::<Pick>(), 1usize..200).prop_map(|(at, depth)| JsonEdit::Nest(at, depth)),
        2 => (any::<Pick>(), ".{0,16}", arb_json()).prop_map(|(at, k, v)| JsonEdit::Add(at, k, v)),
    ];
    vec(edit, 1..4)
}

/// `key` with the case of its ASCII letters flipped where `bits` says.
pub fn recase(key: &str, bits: u64) -> String {
    key.chars()
        .enumerate()
        .map(|(i, c)| {
            if bits >> (i % 64) & 1 == 1 {
                if c.is_ascii_lowercase() {
                    c.to_ascii_uppercase()
                } else {
                    c.to_ascii_lowercase()
                }
            } else {
                c
            }
        })
        .collect()
}

/// Applies `edits` to a copy of `seed`.
pub fn apply_json(seed: &Value, edits: &[JsonEdit]) -> Value {
    let mut value = seed.clone();
    for edit in edits {
        let all = paths(&value);
        let pick = |at: &Pick| (!all.is_empty()).then(|| all[at.of(all.len())].clone());
        match edit {
            JsonEdit::Remove(at) => {
                if let Some(path) = pick(at) {
                    let (last, parent) = path.split_last().expect("paths are never empty");
                    match (node_mut(&mut value, parent), last) {
                        (Some(Value::Object(map)), Step::Key(key)) => {
                            map.remove(key);
                        }
                        (Some(Value::Array(items)), Step::At(i)) => {
                            items.remove(*i);
                        }
                        _ => {}
                    }
                }
            }
            JsonEdit::Replace(at, new) => {
                let node = match pick(at) {
                    Some(path) => node_mut(&mut value, &path),
                    None => Some(&mut value),
                };
                if let Some(node) = node {
                    *node = new.clone();
                }
            }
            JsonEdit::Recase(at, bits) => {
                if let Some(path) = pick(at)
                    && let (Step::Key(key), parent) =
                        path.split_last().expect("paths are never empty")
                    && let Some(Value::Object(map)) = node_mut(&mut value, parent)
                    && let Some(member) = map.remove(key)
                {
                    map.insert(recase(key, *bits), member);
                }
            }
            JsonEdit::Nest(at, depth) => {
                let node = match pick(at) {
                    Some(path) => node_mut(&mut value, &path),
                    None => Some(&mut value),
                };
                if let Some(node) = node {
                    let mut nested = node.take();
                    for _ in 0..*depth {
                        nested = Value::Array(vec![nested]);
                    }
                    *node = nested;
                }
            }
            JsonEdit::Add(at, key, new) => {
                let target = match pick(at) {
                    Some(path) => match node_mut(&mut value, &path) {
                        Some(Value::Object(_)) => path,
                        _ => path[..path.len() - 1].to_vec(),
                    },
                    None => Vec::new(),
                };
                if let Some(Value::Object(map)) = node_mut(&mut value, &target) {
                    map.insert(key.clone(), new.clone());
                }
            }
        }
    }
    value
}

/// One of `seeds` with JSON edits applied.
pub fn mutated_json(seeds: Vec<Value>) -> impl Strategy<Value = Value> {
    (select(seeds), json_edits()).prop_map(|(seed, edits)| apply_json(&seed, &edits))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn byte_edits_apply_at_the_edges() {
        let at_end = Pick(u64::MAX);
        let edits = [
            ByteEdit::Token {
                at: at_end,
                token: b"}",
            },
            ByteEdit::Remove {
                at: Pick(0),
                len: 1,
            },
        ];
        assert_eq!(apply_bytes(b"{a}", &edits), b"a}}");
        assert_eq!(apply_bytes(b"", &[ByteEdit::Truncate { at: at_end }]), b"");
    }

    #[test]
    fn json_edits_reach_nested_members() {
        let seed = json!({"a": {"b": [1, 2]}});
        assert_eq!(paths(&seed).len(), 4);
        let removed = apply_json(&seed, &[JsonEdit::Remove(Pick(u64::MAX))]);
        assert_eq!(removed, json!({"a": {"b": [1]}}));
        let nested = apply_json(&seed, &[JsonEdit::Nest(Pick(0), 2)]);
        assert_eq!(nested, json!({"a": [[{"b": [1, 2]}]]}));
        assert_eq!(recase("type", 0b1001), "TypE");
    }
}
