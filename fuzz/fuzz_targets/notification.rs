//! Any bytes: the notification and object-key parsers answer or refuse - never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = lwct_domain::object_key::ObjectKey::parse(text);
    }
    if let Ok(value) = serde_json::from_slice::<serde_json::Value>(data) {
        let _ = lwct_domain::notification::parse(&value);
    }
});
