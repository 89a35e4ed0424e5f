//! Helpers for the end-to-end tests live here once the widget lands.
