#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| roost::fuzzing::search_program(data));
