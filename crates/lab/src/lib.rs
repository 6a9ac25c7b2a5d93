//! The lab cluster.
pub mod resources;
