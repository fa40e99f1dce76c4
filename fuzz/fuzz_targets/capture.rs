//! Any bytes as a capture file: the whole analyzer (capture reader, packet decoding, TCP
//! reassembly, FTP sessions, linking, findings) must return results or an error, never
//! panic or hang.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let opts = ferry_analyze::AnalyzeOptions::default();
    let _ = ferry_analyze::analyze_reader(data, "fuzz", &opts);
});
