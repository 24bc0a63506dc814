//! The model owner's side (feature `compiler`): importing a model file, compiling it into a
//! client spec and a server plan, reporting how the compiled model does, and the shipped
//! fixtures.
//!
//! # Contract
//!
//! Nothing here is encrypted, and no user's data is involved: the compiler runs where the
//! model is, on the owner's clear files. Model files are hostile input ([`import`] bounds what
//! each importer allocates). Of what [`compile()`](compile::compile) returns, the
//! [`ClientSpec`](crate::ClientSpec) is public and holds no threshold, leaf or tree shape; the
//! [`ServerPlan`](crate::ServerPlan) holds the model and stays with the server.

pub mod compile;
pub mod dataset;
pub mod ensemble;
pub mod family;
pub mod fixtures;
pub mod import;
pub mod linear;
pub mod network;
pub mod report;
