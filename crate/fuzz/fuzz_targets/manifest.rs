#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    univid::fuzzing::manifest(data);
});
