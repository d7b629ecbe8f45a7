//! The stream core's model-based check (`alore_socket::check`) on fuzzer-made scenarios.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: alore_socket::check::Input| {
    alore_socket::check::check(input);
});
