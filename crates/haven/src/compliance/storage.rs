//! The storage layer.
