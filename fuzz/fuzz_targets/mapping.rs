//! Any bytes: mapping files and wire strings are accepted or refused with problems - never a
//! panic - and whatever is accepted survives the wire encoding unchanged.
#![no_main]

use libfuzzer_sys::fuzz_target;
use lwct_domain::mapping::AccountMapping;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(mapping) = AccountMapping::from_json_str(text) {
        let decoded = AccountMapping::from_wire(&mapping.to_wire());
        assert_eq!(decoded.ok().as_ref(), Some(&mapping));
    }
    let _ = AccountMapping::from_wire(text);
});
