//! # ferry-analyze (being written)
