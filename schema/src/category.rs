//! The four consent categories every Crumb site speaks in.

use std::fmt;

use serde::{Deserialize, Serialize};

/// A consent category. `Necessary` is always granted and cannot be refused;
/// the other three need the visitor's opt-in.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Category {
    Necessary,
    Functional,
    Analytics,
    Marketing,
}

impl Category {
    pub const ALL: [Category; 4] = [
        Category::Necessary,
        Category::Functional,
        Category::Analytics,
        Category::Marketing,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Category::Necessary => "necessary",
            Category::Functional => "functional",
            Category::Analytics => "analytics",
            Category::Marketing => "marketing",
        }
    }

    pub fn parse(s: &str) -> Option<Category> {
        Category::ALL.into_iter().find(|c| c.as_str() == s)
    }
}

impl fmt::Display for Category {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
