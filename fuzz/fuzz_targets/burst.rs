//! libFuzzer over the burst processor; the oracle is in `natrix_fuzz::check`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    natrix_fuzz::check(data);
});
