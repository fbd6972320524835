//! Header views over packet buffers.
