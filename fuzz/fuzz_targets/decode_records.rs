//! Rows as records (`{"column": value}`) in `/predict` and KServe V1 bodies: arbitrary
//! bytes through the records decoders, for the bundled model (columns by feature name;
//! then the model) and for a model of several typed inputs (the batch must fit). Each
//! protocol's answer must be its tree path's, byte for byte: the fast path (no JSON tree)
//! builds the same batch or steps aside.
#![no_main]

use function::error::ApiError;
use function::protocol::{kserve_v1, predict};
use function_fuzz::{check, check_fits, columns_info, infos, MAX_ROWS};
use libfuzzer_sys::fuzz_target;
use model::ModelInfo;

/// Both protocols' answers to `body`, each checked against its tree path alone (Debug,
/// so that NaN equals NaN and errors compare as text).
fn answers(body: &[u8], info: &ModelInfo) -> [Result<model::Batch, ApiError>; 2] {
    let same = |answer: Result<model::Batch, ApiError>, tree: Result<model::Batch, ApiError>| {
        assert_eq!(format!("{answer:?}"), format!("{tree:?}"));
        answer
    };
    [
        same(
            predict::decode(body, info, MAX_ROWS),
            predict::decode_explained(body, info, MAX_ROWS),
        ),
        same(
            kserve_v1::decode(body, info, MAX_ROWS),
            kserve_v1::decode_explained(body, info, MAX_ROWS),
        ),
    ]
}

fuzz_target!(|body: &[u8]| {
    for info in &infos() {
        answers(body, info).into_iter().for_each(check);
    }
    let columns = columns_info();
    for answer in answers(body, &columns) {
        check_fits(&columns, answer);
    }
});
