//! Parity tests: the memory replica against the store.
