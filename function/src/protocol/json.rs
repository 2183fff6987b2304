//! JSON bodies as every protocol parses them: nesting refused past a depth before
//! parsing, and errors that say what is wrong (NaN and Infinity tokens named, since
//! Python's `json.dumps` writes them for a missing value).

use serde::de::DeserializeOwned;

/// Deepest JSON nesting accepted. The deepest valid request (an Open Inference request
/// with nested `data` and `parameters`) needs 6; serde_json's own limit is 128.
pub const MAX_JSON_DEPTH: usize = 32;

/// Parses a JSON body, after checking its nesting depth. The error says what is wrong
/// with the body, to follow "request body ...".
pub fn parse_json<T: DeserializeOwned>(body: &[u8]) -> Result<T, String> {
    // serde_json calls an empty body "EOF while parsing a value at line 1 column 0".
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err("is empty".into());
    }
    check_depth(body)?;
    serde_json::from_slice(body).map_err(|error| {
        if error.is_syntax() && non_json_number_at(body, &error) {
            format!(
                "holds NaN or Infinity, which JSON does not have ({error}); send a number, \
                 or null for a missing value if the model takes missing values"
            )
        } else if error.is_data() {
            format!("does not have the expected fields ({error})")
        } else {
            format!("is not valid JSON ({error})")
        }
    })
}

/// Refuses JSON nested deeper than [`MAX_JSON_DEPTH`] before parsing it: a clear 400
/// rather than serde_json's recursion error, and no deep value to build or drop.
fn check_depth(body: &[u8]) -> Result<(), String> {
    let (mut depth, mut in_string, mut escaped) = (0usize, false, false);
    for &byte in body {
        if in_string {
            match byte {
                _ if escaped => escaped = false,
                b'\\' => escaped = true,
                b'"' => in_string = false,
                _ => {}
            }
            continue;
        }
        match byte {
            b'"' => in_string = true,
            b'[' | b'{' => {
                depth += 1;
                if depth > MAX_JSON_DEPTH {
                    return Err(format!(
                        "nests arrays and objects more than {MAX_JSON_DEPTH} levels deep"
                    ));
                }
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    Ok(())
}

/// Whether a syntax error is at a `NaN` or `Infinity` token, as Python's `json.dumps`
/// writes for a float NaN: the commonest way a missing value reaches us.
fn non_json_number_at(body: &[u8], error: &serde_json::Error) -> bool {
    let line_start: usize = body
        .split(|&b| b == b'\n')
        .take(error.line().saturating_sub(1))
        .map(|line| line.len() + 1)
        .sum();
    let at = (line_start + error.column())
        .saturating_sub(1)
        .min(body.len());
    let from = at.saturating_sub(1);
    let near = &body[from..body.len().min(at + 9)];
    [&b"NaN"[..], b"Infinity"]
        .iter()
        .any(|token| near.windows(token.len()).any(|w| w == *token))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_json_nested_too_deep_but_not_brackets_in_strings() {
        let deep = format!(
            "{}{}",
            "[".repeat(MAX_JSON_DEPTH + 1),
            "]".repeat(MAX_JSON_DEPTH + 1)
        );
        let message = parse_json::<serde_json::Value>(deep.as_bytes()).unwrap_err();
        assert!(message.contains("more than 32 levels deep"), "{message}");
        let shallow = format!(
            "{}{}",
            "[".repeat(MAX_JSON_DEPTH),
            "]".repeat(MAX_JSON_DEPTH)
        );
        assert!(parse_json::<serde_json::Value>(shallow.as_bytes()).is_ok());
        let quoted = format!(r#"{{"a":"{}\"["}}"#, "[".repeat(100));
        assert!(parse_json::<serde_json::Value>(quoted.as_bytes()).is_ok());
    }

    #[test]
    fn an_empty_body_is_called_empty() {
        for body in ["", " \r\n"] {
            let message = parse_json::<serde_json::Value>(body.as_bytes()).unwrap_err();
            assert_eq!(message, "is empty", "{body:?}");
        }
    }

    #[test]
    fn names_nan_and_infinity_tokens() {
        for body in [
            r#"{"input":[1,NaN]}"#,
            "{\"input\":\n[-Infinity, 2]}",
            "[Infinity]",
        ] {
            let message = parse_json::<serde_json::Value>(body.as_bytes()).unwrap_err();
            assert!(message.contains("NaN or Infinity"), "{body}: {message}");
        }
        let message = parse_json::<serde_json::Value>(b"{\"input\":[1,nope]}").unwrap_err();
        assert!(message.contains("not valid JSON"), "{message}");
    }
}
