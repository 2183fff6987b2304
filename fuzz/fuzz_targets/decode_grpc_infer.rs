//! gRPC `ModelInfer` calls: the bytes as a whole request body (a length-prefixed
//! message: truncated, compressed or extra bytes must be a status, never a panic), and
//! as a `ModelInferRequest` message, decoded and checked against the served model's
//! inputs and against several typed inputs.
#![no_main]

use function::http::grpc::frame;
use function::protocol::open_inference::grpc;
use function_fuzz::{check, check_fits, columns_info, infos, MAX_ROWS};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: &[u8]| {
    if let Ok(message) = frame::message(input.to_vec().into()) {
        assert!(message.len() + 5 == input.len());
    }
    for info in &infos() {
        check(grpc::decode_message(input, info, MAX_ROWS));
    }
    let columns = columns_info();
    check_fits(&columns, grpc::decode_message(input, &columns, MAX_ROWS));
});
