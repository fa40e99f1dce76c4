//! The local filesystem backend.
