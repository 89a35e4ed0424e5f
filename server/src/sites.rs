//! The rule for replacing a site's config, shared by `crumb site update`
//! and `PUT /v1/admin/sites/{site}`: the new config is the same site at the
//! same policy revision (a new revision asks every visitor again, so it is
//! its own, explicit step: `bump-revision`).

use crumb_schema::{PolicyRevision, SiteConfig, SiteId};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UpdateRefused {
    #[error("the config's id {new:?} is not the site's {current:?}")]
    OtherSite { new: SiteId, current: SiteId },
    #[error(
        "the config says revision {sent}, the site is at {current}; change revisions with bump-revision"
    )]
    RevisionConflict {
        sent: PolicyRevision,
        current: PolicyRevision,
    },
}

/// Whether `new` may replace `current`.
pub fn check_update(current: &SiteConfig, new: &SiteConfig) -> Result<(), UpdateRefused> {
    if new.id != current.id {
        return Err(UpdateRefused::OtherSite {
            new: new.id.clone(),
            current: current.id.clone(),
        });
    }
    if new.revision != current.revision {
        return Err(UpdateRefused::RevisionConflict {
            sent: new.revision,
            current: current.revision,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_update_keeps_the_site_and_its_revision() {
        let current: SiteConfig =
            serde_json::from_str(include_str!("../../examples/demo-site.json")).unwrap();
        let mut new = current.clone();
        new.name = "Renamed".into();
        assert_eq!(check_update(&current, &new), Ok(()));
        new.revision = current.revision.next();
        assert!(matches!(
            check_update(&current, &new),
            Err(UpdateRefused::RevisionConflict { .. })
        ));
        new.revision = current.revision;
        new.id = SiteId::parse("other").unwrap();
        assert!(matches!(
            check_update(&current, &new),
            Err(UpdateRefused::OtherSite { .. })
        ));
    }
}
