//! SEARCH wire tests (being written).
