//! The lab cluster.
