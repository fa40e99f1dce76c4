//! PROXY protocol v1/v2 headers: no panic, consistent lengths, prefixes are Incomplete.
//! The body is `ferry_proto::fuzzing::proxy`, also replayed on the committed corpus by
//! crates/ferry-proto/tests/fuzz_corpus.rs.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| ferry_proto::fuzzing::proxy(data));
