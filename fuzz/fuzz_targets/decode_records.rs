//! Rows as records (`{"column": value}`) in `/predict` and KServe V1 bodies: arbitrary
//! bytes through the one records decoder, for the bundled model (columns by feature
//! name; then the model) and for a model of several typed inputs (the batch must fit).
#![no_main]

use function::protocol::{kserve_v1, predict};
use function_fuzz::{check, check_fits, columns_info, infos, MAX_ROWS};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|body: &[u8]| {
    for info in &infos() {
        check(predict::decode(body, info, MAX_ROWS));
        check(kserve_v1::decode(body, info, MAX_ROWS));
    }
    let columns = columns_info();
    check_fits(&columns, predict::decode(body, &columns, MAX_ROWS));
    check_fits(&columns, kserve_v1::decode(body, &columns, MAX_ROWS));
});
