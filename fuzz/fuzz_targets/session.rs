//! The server session state machine driven by control lines, with fuzz-chosen I/O results.
//! The body is `ferry_proto::fuzzing::session`, also replayed on the committed corpus by
//! crates/ferry-proto/tests/fuzz_corpus.rs.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| ferry_proto::fuzzing::session(data));
