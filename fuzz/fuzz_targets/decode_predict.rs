//! `POST /predict` bodies: arbitrary bytes through the decoder, then the model.
#![no_main]

use function::protocol::predict;
use function_fuzz::{check, infos, MAX_ROWS};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|body: &[u8]| {
    for info in &infos() {
        check(predict::decode(body, info, MAX_ROWS));
    }
});
