//! Crumb's consent widget. The banner itself lands with the widget issue;
//! this crate exists now so the workspace layout is final from day one.
