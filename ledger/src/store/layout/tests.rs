//! Tests of the chunk and run layouts.
