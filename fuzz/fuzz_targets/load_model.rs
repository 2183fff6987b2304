//! Model loading from arbitrary bytes: an error or a model, never a panic that escapes;
//! a model that loads answers its example row (zeros, or the categories its encoders
//! know).
#![no_main]

use libfuzzer_sys::fuzz_target;
use model::Model;

fuzz_target!(
    init: {
        // Loading catches tract's panics on malformed graphs and returns an error;
        // libfuzzer-sys's hook would abort on those before they are caught. A panic
        // that escapes still aborts (libfuzzer-sys's wrapper) and is reported.
        std::panic::set_hook(Box::new(|info| eprintln!("{info}")));
    },
    |bytes: &[u8]| {
        if let Ok(model) = Model::from_bytes(bytes) {
            // A fuzzed file may declare millions of features; one row of them is enough.
            if model.n_features() <= 4096 {
                let _ = model.predict(&model.info().example_row());
            }
        }
    }
);
