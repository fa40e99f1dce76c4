//! A reply stream: chunked parsing equals one-shot parsing; replies encode back to themselves.
//! The body is `ferry_proto::fuzzing::reply`, also replayed on the committed corpus by
//! crates/ferry-proto/tests/fuzz_corpus.rs.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| ferry_proto::fuzzing::reply(data));
