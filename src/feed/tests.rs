//! Tests of the whole `feed::parse` path.
