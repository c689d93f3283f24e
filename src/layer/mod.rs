//! The layer pipeline: compressed bytes in, a verified extracted tree out.
