//! Backend selection tables.
