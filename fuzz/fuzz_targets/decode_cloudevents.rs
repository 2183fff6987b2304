//! CloudEvents: structured-mode bodies, and binary-mode bodies whose `ce-*` headers come
//! from the first line of the input.
#![no_main]

use function::protocol::cloudevents;
use function_fuzz::{check, infos, MAX_ROWS};
use hyper::header::{HeaderMap, HeaderName, HeaderValue};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: &[u8]| {
    let (line, body) = match input.iter().position(|&b| b == b'\n') {
        Some(end) => (&input[..end], &input[end + 1..]),
        None => (&[][..], input),
    };
    // "specversion id source type", space-separated; unusable header bytes are skipped.
    let mut headers = HeaderMap::new();
    for (name, value) in ["ce-specversion", "ce-id", "ce-source", "ce-type"]
        .into_iter()
        .zip(line.split(|&b| b == b' '))
    {
        if let Ok(value) = HeaderValue::from_bytes(value) {
            headers.insert(HeaderName::from_static(name), value);
        }
    }
    for info in &infos() {
        check(cloudevents::decode_structured(input, info, MAX_ROWS).map(|(_, batch)| batch));
        check(cloudevents::decode_binary(&headers, body, info, MAX_ROWS).map(|(_, batch)| batch));
    }
});
