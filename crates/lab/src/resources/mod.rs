//! TEMPORARY placeholder until the resources module lands.
pub mod defaults;
pub mod table;
pub mod validation;
