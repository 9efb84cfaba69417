//! Any bytes: the event parser answers with events, `Ignored` or an error - never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(value) = serde_json::from_slice::<serde_json::Value>(data) {
        let _ = lwct_domain::event::parse(&value);
    }
});
