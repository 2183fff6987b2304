//! The fast records path held to the tree path: random valid bodies decode to the same
//! batch, and every irregular one is left to the tree path and its message.

use super::*;
use crate::protocol::{kserve_v1, predict};
use model::{InputInfo, Labels};

/// A string, a float taking missing values, an int64 and a float of two values.
fn penguins() -> ModelInfo {
    ModelInfo::columns_for_tests()
}

/// One float input of four named features, refusing missing values.
fn iris() -> ModelInfo {
    ModelInfo {
        inputs: vec![InputInfo::float("input", 4, false)],
        feature_names: Some(["a", "b", "c", "d"].map(String::from).to_vec()),
        ..ModelInfo::for_tests(Labels::Int(vec![0, 1, 2]), &["label"])
    }
}

const MAX_ROWS: usize = 4;

/// `/predict` (field `input`) or KServe V1 (`instances`).
#[derive(Clone, Copy)]
enum Protocol {
    Predict,
    KServe,
}

impl Protocol {
    fn field(self) -> &'static str {
        match self {
            Protocol::Predict => "input",
            Protocol::KServe => "instances",
        }
    }
    fn fast(self, body: &str, info: &ModelInfo) -> Option<Batch> {
        let one = match self {
            Protocol::Predict => OneRecord::Taken,
            Protocol::KServe => OneRecord::Refused,
        };
        decode(body.as_bytes(), self.field(), info, MAX_ROWS, one)
    }
    /// What the protocol answers, fast path included.
    fn answer(self, body: &str, info: &ModelInfo) -> String {
        format!(
            "{:?}",
            match self {
                Protocol::Predict => predict::decode(body.as_bytes(), info, MAX_ROWS),
                Protocol::KServe => kserve_v1::decode(body.as_bytes(), info, MAX_ROWS),
            }
        )
    }
    /// What the tree path alone answers.
    fn tree(self, body: &str, info: &ModelInfo) -> String {
        format!(
            "{:?}",
            match self {
                Protocol::Predict => predict::decode_explained(body.as_bytes(), info, MAX_ROWS),
                Protocol::KServe => {
                    kserve_v1::decode_explained(body.as_bytes(), info, MAX_ROWS)
                }
            }
        )
    }
}

/// The protocol answers `body` as the tree path does (a batch compared through Debug,
/// so NaN equals NaN; an error byte for byte), and the fast path takes it or not.
fn assert_same(protocol: Protocol, body: &str, info: &ModelInfo, fast: bool) {
    let tree = protocol.tree(body, info);
    assert_eq!(protocol.answer(body, info), tree, "{body}");
    if let Some(batch) = protocol.fast(body, info) {
        assert_eq!(format!("{:?}", Ok::<_, ()>(batch)), tree, "{body}");
    }
    assert_eq!(
        protocol.fast(body, info).is_some(),
        fast,
        "{body} -> {tree}"
    );
}

/// A small xorshift generator: the same bodies on every run.
struct Random(u64);

impl Random {
    fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % n as u64) as usize
    }
    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len())]
    }
}

/// A JSON string, escapes included.
fn string(random: &mut Random) -> String {
    let pieces = [
        "Dream",
        "Bis\\\"coe",
        "\\u00e9",
        "\\n",
        "é",
        "\\ud83d\\ude00",
        "\\\\",
        "",
    ];
    let text: String = (0..random.below(4)).map(|_| random.pick(&pieces)).collect();
    format!("\"{text}\"")
}

/// A valid value of a column of `element` type.
fn value(random: &mut Random, element: ElementType, takes_missing: bool) -> String {
    match element {
        ElementType::Str if takes_missing && random.below(4) == 0 => "null".into(),
        ElementType::Str => string(random),
        ElementType::I64 => random
            .pick(&["2007", "-3", "0", "9223372036854775807"])
            .into(),
        ElementType::F32 if takes_missing && random.below(4) == 0 => "null".into(),
        ElementType::F32 => random
            .pick(&[
                "39.1",
                "-2",
                "0",
                "1e-3",
                "3.4e38",
                "18446744073709551615",
                "-0.0",
            ])
            .into(),
    }
}

/// A key, sometimes with its first letter escaped.
fn key(random: &mut Random, name: &str) -> String {
    match random.below(5) {
        0 => format!("\"\\u{:04x}{}\"", name.as_bytes()[0], &name[1..]),
        _ => format!("{name:?}"),
    }
}

/// A record's entries: column (index into the model's fields), key and value.
type Entries = Vec<(usize, String, String)>;

/// The entries of a valid record of `info`'s columns, in a random order.
fn entries(random: &mut Random, info: &ModelInfo) -> Entries {
    let mut entries: Entries = (info.fields().iter().enumerate())
        .map(|(i, field)| {
            let mut one = || value(random, field.element, field.takes_missing);
            let value = match field.width {
                1 => one(),
                n => format!("[{}]", (0..n).map(|_| one()).collect::<Vec<_>>().join(",")),
            };
            (i, key(random, field.name), value)
        })
        .collect();
    for i in (1..entries.len()).rev() {
        entries.swap(i, random.below(i + 1));
    }
    entries
}

fn record(entries: &Entries) -> String {
    let entries: Vec<String> = (entries.iter())
        .map(|(_, k, v)| format!("{k}: {v}"))
        .collect();
    format!("{{{}}}", entries.join(", "))
}

/// Makes one of `records` irregular; returns which.
fn spoil(random: &mut Random, records: &mut [Entries], info: &ModelInfo) -> usize {
    let row = random.below(records.len());
    let entries = &mut records[row];
    let at = random.below(entries.len());
    let field = info.fields()[entries[at].0];
    let wrong = match field.element {
        ElementType::Str => "3",
        _ => "\"3\"",
    };
    let value = &mut entries[at].2;
    match random.below(9) {
        0 => drop(entries.remove(at)),
        1 => entries.push(entries[at].clone()),
        2 => entries.push((0, "\"isle\"".into(), "1".into())),
        3 => *value = wrong.into(),
        4 if !field.takes_missing => *value = "null".into(),
        5 if field.element == ElementType::F32 => *value = "1e39".into(),
        6 if field.width > 1 => *value = "[1]".into(),
        7 => *value = "{\"a\": 1}".into(),
        _ => *value = "true".into(),
    }
    row
}

/// Random bodies of records (random column order, escapes, nulls, one or several
/// records): the fast path builds the tree path's batch, and refuses every body made
/// irregular, whose answer stays the tree path's message.
#[test]
fn random_records_decode_as_the_tree_path_does() {
    let mut random = Random(0x9e37_79b9_7f4a_7c15);
    // Penguins whose `island` learned a missing category: null is the empty string.
    let mut islands_missing = penguins();
    islands_missing.inputs[0].takes_missing = true;
    for info in [penguins(), islands_missing, iris()] {
        for protocol in [Protocol::Predict, Protocol::KServe] {
            let field = protocol.field();
            for _ in 0..300 {
                let mut records: Vec<_> = (0..1 + random.below(MAX_ROWS))
                    .map(|_| entries(&mut random, &info))
                    .collect();
                let spoilt =
                    (random.below(2) == 0).then(|| spoil(&mut random, &mut records, &info));
                let items: Vec<String> = records.iter().map(record).collect();
                let body = format!("{{\"{field}\": [{}]}}", items.join(",\n"));
                assert_same(protocol, &body, &info, spoilt.is_none());
                let one = format!("{{\"{field}\": {}}}", items[0]);
                let takes_one = matches!(protocol, Protocol::Predict) && spoilt != Some(0);
                assert_same(protocol, &one, &info, takes_one);
            }
        }
    }
}

/// The records tests' cases and the body around the records: every one is left to
/// the tree path, so its message is the one sent.
#[test]
fn irregular_bodies_get_the_tree_path_message() {
    let row = r#"{"island": "Dream", "bill_length": 39.1, "year": 2007, "flipper": [181, 3750]}"#;
    let with = |from: &str, to: &str| row.replace(from, to);
    let irregular = [
        format!("[{row}, {}]", with(r#", "year": 2007"#, "")),
        format!(
            "[{}]",
            with(r#"{"island""#, r#"{"isle": "Dream", "island""#)
        ),
        format!("[{row}, {}]", with(r#""Dream""#, "3")),
        format!("[{}]", with("[181, 3750]", "[181]")),
        format!("[{}]", with("[181, 3750]", "[181, 3750, 1]")),
        format!("[{}]", with("3750]", "null]")),
        format!("[{}]", with(r#""Dream""#, "null")),
        format!("[{}]", with("2007", "\"2007\"")),
        format!("[{}]", with("2007", "2007.0")),
        format!("[{}]", with("2007", "9223372036854775808")),
        format!("[{}]", with("2007", "null")),
        format!("[{}]", with("39.1", "1e39")),
        format!("[{}]", with("39.1", "[39.1]")),
        format!(
            "[{}]",
            with(r#", "year": 2007"#, r#", "year": 2007, "year": 2008"#)
        ),
        format!("[{row}, [1, 2]]"),
        format!("[{row}, 5]"),
        format!("[{row}, {row}, {row}, {row}, {row}]"),
        "[]".into(),
        "[{}]".into(),
        "\"Dream\"".into(),
        format!("{row}, \"x\": 1"),
    ];
    for protocol in [Protocol::Predict, Protocol::KServe] {
        let field = protocol.field();
        for value in &irregular {
            let body = format!("{{\"{field}\": {value}}}");
            assert_same(protocol, &body, &penguins(), false);
        }
        for body in [
            format!("{{\"{field}\": [{row}], \"x\": 1}}"),
            format!("{{\"x\": 1, \"{field}\": [{row}]}}"),
            format!("{{\"{field}\": [{row}], \"{field}\": [{row}]}}"),
            format!("{{\"{field}\": [{row}]}} x"),
            format!("[{row}]"),
        ] {
            assert_same(protocol, &body, &penguins(), false);
        }
        let valid = format!("{{\"{field}\": [{row}, {}]}}", with("Dream", "Atlantis"));
        assert_same(protocol, &valid, &penguins(), true);
    }
    let one = format!("{{\"input\": {}}}", with("2007", "\"2007\""));
    assert_same(Protocol::Predict, &one, &penguins(), false);
}

#[test]
fn a_model_of_repeated_column_names_is_left_to_the_tree_path() {
    let info = ModelInfo {
        feature_names: Some(["a", "a", "b", "c"].map(String::from).to_vec()),
        ..iris()
    };
    let body = r#"{"input": [{"a": 1, "b": 2, "c": 3}]}"#;
    assert_same(Protocol::Predict, body, &info, false);
}
