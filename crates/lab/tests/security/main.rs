//! The lab is not an open door and refuses what a real API server refuses: TLS with its own
//! CA and a bearer token (`access`), pod processes that are not root (`pods`), and the
//! request and object limits and read timeouts (`limits`).

mod access;
mod limits;
mod pods;
mod wire;
