//! System calls behind safe functions.
