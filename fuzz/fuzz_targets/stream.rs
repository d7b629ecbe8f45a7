//! The stream core's model-based check (`alore_socket::model`) on fuzzer-made scenarios.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: alore_socket::model::Input| {
    alore_socket::model::check(input);
});
