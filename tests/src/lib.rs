//! Shared fixtures for the end-to-end tests live in `tests/it/`.
