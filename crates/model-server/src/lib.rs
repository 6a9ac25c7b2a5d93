//! Stand-in model server.
