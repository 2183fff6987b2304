//! BYTES tensors, the Open Inference Protocol's strings, for the model's string inputs:
//! in JSON each element is a string; in Triton's binary tensor extension each element is
//! its length in 4 little-endian bytes followed by that many bytes. ONNX strings are
//! UTF-8, so bytes that are not are refused.

use serde_json::Value;

use crate::protocol::rows::kind;

/// A JSON element of a BYTES tensor.
pub(super) fn string_from_json(
    value: &Value,
    at: impl std::fmt::Display,
    missing: bool,
) -> Result<String, String> {
    match value {
        Value::String(string) => Ok(string.clone()),
        // The model's missing category, the empty string.
        Value::Null if missing => Ok(String::new()),
        Value::Null => Err(format!(
            "`{at}` is null, and this input has no missing value; send a string"
        )),
        other => Err(format!("`{at}` is {}, not a string", kind(other))),
    }
}

/// The `count` elements of a BYTES tensor in the binary extension, which must be
/// exactly `bytes`.
pub(super) fn strings_from_binary(bytes: &[u8], count: usize) -> Result<Vec<String>, String> {
    // Each element takes at least its 4-byte length: refuse before allocating for a
    // count the bytes cannot hold.
    if count.checked_mul(4).is_none_or(|least| least > bytes.len()) {
        return Err(format!(
            "binary data has {} bytes, too few for {count} BYTES elements of 4-byte \
             length and content each",
            bytes.len()
        ));
    }
    let mut strings = Vec::with_capacity(count);
    let mut rest = bytes;
    for i in 0..count {
        let Some((length, after)) = rest.split_first_chunk::<4>() else {
            return Err(format!(
                "binary data ends before element {i}'s 4-byte length; the shape needs \
                 {count} elements"
            ));
        };
        let length = u32::from_le_bytes(*length) as usize;
        if length > after.len() {
            return Err(format!(
                "binary element {i} is {length} bytes long, but {} bytes remain",
                after.len()
            ));
        }
        let (text, after) = after.split_at(length);
        let text = std::str::from_utf8(text)
            .map_err(|_| format!("binary element {i} is not UTF-8 text"))?;
        strings.push(text.to_string());
        rest = after;
    }
    if !rest.is_empty() {
        return Err(format!(
            "binary data has {} bytes after the shape's {count} elements",
            rest.len()
        ));
    }
    Ok(strings)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// Triton's serialisation of `strings`: each a 4-byte little-endian length, then it.
    fn serialised(strings: &[&str]) -> Vec<u8> {
        strings
            .iter()
            .flat_map(|s| (s.len() as u32).to_le_bytes().into_iter().chain(s.bytes()))
            .collect()
    }

    #[test]
    fn binary_elements_are_length_prefixed_utf8() {
        let bytes = serialised(&["Dream", "", "Île"]);
        let strings = strings_from_binary(&bytes, 3).unwrap();
        assert_eq!(strings, ["Dream", "", "Île"]);
    }

    #[test]
    fn binary_elements_must_fill_the_data_exactly() {
        let bytes = serialised(&["Dream", "Biscoe"]);
        let message = strings_from_binary(&bytes, 1).unwrap_err();
        assert!(
            message.contains("10 bytes after the shape's 1 elements"),
            "{message}"
        );
        let message = strings_from_binary(&bytes[..bytes.len() - 1], 2).unwrap_err();
        assert!(message.contains("element 1 is 6 bytes long"), "{message}");
        let message = strings_from_binary(&bytes, 5).unwrap_err();
        assert!(
            message.contains("too few for 5 BYTES elements"),
            "{message}"
        );
        let message = strings_from_binary(&bytes, usize::MAX).unwrap_err();
        assert!(message.contains("too few"), "{message}");
    }

    #[test]
    fn binary_elements_that_are_not_utf8_are_refused() {
        let bytes = [2, 0, 0, 0, 0xff, 0xfe];
        let message = strings_from_binary(&bytes, 1).unwrap_err();
        assert!(message.contains("element 0 is not UTF-8"), "{message}");
    }

    #[test]
    fn json_elements_are_strings() {
        assert_eq!(
            string_from_json(&json!("Dream"), "data[0]", false).unwrap(),
            "Dream"
        );
        let message = string_from_json(&json!(1), "data[1]", true).unwrap_err();
        assert_eq!(message, "`data[1]` is 1, not a string");
        assert_eq!(string_from_json(&json!(null), "data[2]", true).unwrap(), "");
        let message = string_from_json(&json!(null), "data[2]", false).unwrap_err();
        assert!(message.contains("no missing value"), "{message}");
    }
}
