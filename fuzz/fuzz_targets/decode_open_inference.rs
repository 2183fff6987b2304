//! Open Inference Protocol `infer` bodies, JSON or with Triton's binary extension: the
//! first two bytes pick the `Inference-Header-Content-Length` (none when both are 0xff).
#![no_main]

use function::protocol::open_inference;
use function_fuzz::{check, infos, MAX_ROWS};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: &[u8]| {
    let (header_length, body) = match input {
        [0xff, 0xff, body @ ..] => (None, body),
        [high, low, body @ ..] => (Some(usize::from(*high) << 8 | usize::from(*low)), body),
        _ => (None, input),
    };
    for info in &infos() {
        let decoded = open_inference::decode(body, header_length, info, MAX_ROWS);
        check(decoded.map(|decoded| decoded.batch));
    }
});
