//! Per-resource behaviour of the lab API server that upstream keeps in each type's registry:
//! defaulting (`pkg/apis/*/v1/defaults.go`), validation with upstream's field-error messages
//! (`pkg/apis/*/validation`), strict-decoding field checks, and the server-side Table printers
//! (`pkg/printers/internalversion/printers.go`). Everything here is a pure function over the JSON
//! the store keeps, keyed by the plural resource name, so the API layer can call it on any request
//! path without knowing the typed structs.

pub mod admission;
pub mod conversion;
pub mod defaults;
mod defaults_more;
mod json;
pub mod table;
pub mod validation;

pub use defaults::apply_defaults;
pub use table::{cells, columns, table};
pub use validation::{
    Cause, DecodeError, invalid_message, qualified_kind, unknown_fields, validate,
};
