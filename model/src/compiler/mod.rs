//! The model owner's side (feature `compiler`): importing a model file, compiling it into a
//! client spec and a server plan, reporting how the compiled model does, and the shipped
//! fixtures.

pub mod compile;
pub mod dataset;
pub mod ensemble;
pub mod fixtures;
pub mod import;
pub mod report;
