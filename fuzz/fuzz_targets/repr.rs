//! Every TYPE x STRU x MODE: decoders never panic, chunking is invisible, encode/decode round-trips.
//! The body is `ferry_proto::fuzzing::repr`, also replayed on the committed corpus by
//! crates/ferry-proto/tests/fuzz_corpus.rs.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| ferry_proto::fuzzing::repr(data));
