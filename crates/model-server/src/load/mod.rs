//! Load generator placeholder.
