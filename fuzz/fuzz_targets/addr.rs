//! PORT/PASV/EPRT/EPSV codecs: no panic, and format/parse round trips.
//! The body is `ferry_proto::fuzzing::addr`, also replayed on the committed corpus by
//! crates/ferry-proto/tests/fuzz_corpus.rs.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| ferry_proto::fuzzing::addr(data));
