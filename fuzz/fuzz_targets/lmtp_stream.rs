#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| roost::fuzzing::lmtp_stream(data));
