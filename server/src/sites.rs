//! The rules for writing a site's config, shared by the CLI and the admin
//! API. Replacing one (`crumb site update`, `PUT /v1/admin/sites/{site}`):
//! the new config is the same site at the same policy revision (a new
//! revision asks every visitor again, so it is its own, explicit step:
//! `bump-revision`). Creating one whose id has a log already (the site was
//! deleted; its records stay): no earlier revision than the log's newest,
//! or consents given under an older policy would count again.
//!
//! Every change is decided against the config as stored when it is
//! written (`Store::update_site` runs [`check_update`] or [`bump`] inside
//! the write's transaction), so a bump is never undone by an update that
//! read the config before it, on this node or another. An owner's client
//! that sends `If-Match` with the config's [`config_tag`] (its `ETag`)
//! also keeps another owner's edit from being overwritten unseen.
//!
//! Every version of a config's texts is kept as a [`Notice`], with the
//! config: a record names the texts the visitor was shown by their hash
//! only, and the hash proves nothing once the texts it was taken of are
//! gone.

use crumb_schema::{LanguageTag, PolicyRevision, SiteConfig, SiteId, TextHash};

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
    #[error(
        "the config changed since the version you sent If-Match for (it is now {current}); \
         fetch it again and redo your change"
    )]
    Stale { current: String },
}

/// The texts a site's banner shows in one language, as a consent record's
/// `text_hash` names them: `texts` are the exact bytes whose SHA-256 is
/// `text_hash` (the banner's texts and each category's, in the config's
/// order, as JSON), so an auditor can check that they are what was hashed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notice {
    pub language: LanguageTag,
    pub text_hash: TextHash,
    pub texts: String,
}

/// The texts of `site` in `lang`, if it has that language.
pub fn notice(site: &SiteConfig, lang: &LanguageTag) -> Option<Notice> {
    let banner = site.texts.get(lang)?;
    let categories: Vec<_> = site.categories.iter().map(|c| c.texts.get(lang)).collect();
    let texts = serde_json::to_string(&(banner, categories)).expect("texts serialise");
    let hash = crate::record::sha256_hex(texts.as_bytes());
    Some(Notice {
        language: lang.clone(),
        text_hash: TextHash::parse(&hash).expect("a SHA-256 in hex is a text hash"),
        texts,
    })
}

/// The texts of `site` in each of its languages: what a store keeps with
/// every config it writes.
pub fn notices(site: &SiteConfig) -> Vec<Notice> {
    site.languages
        .iter()
        .filter_map(|lang| notice(site, lang))
        .collect()
}

/// The tag of a config as stored: its `ETag` in the owner's API, quoted.
pub fn config_tag(site: &SiteConfig) -> String {
    let json = serde_json::to_string(site).expect("a site config serialises");
    format!("\"{}\"", &crate::record::sha256_hex(json.as_bytes())[..32])
}

/// Whether an `If-Match` value (absent: no condition) names `current`.
pub fn check_if_match(current: &SiteConfig, if_match: Option<&str>) -> Result<(), UpdateRefused> {
    let Some(tags) = if_match else {
        return Ok(());
    };
    let tag = config_tag(current);
    let strip_weak = |t: &str| t.trim().trim_start_matches("W/").to_owned();
    if tags.trim() == "*" || tags.split(',').any(|t| strip_weak(t) == tag) {
        Ok(())
    } else {
        Err(UpdateRefused::Stale { current: tag })
    }
}

/// The config `current` becomes on a revision bump.
pub fn bump(current: &SiteConfig) -> SiteConfig {
    let mut next = current.clone();
    next.revision = current.revision.next();
    next
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

/// A new config for a site id whose log goes up to a later revision.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "site {site}'s log has consents under revision {logged}, so a config for it starts at revision \
     {logged} or later (at {sent}, consents given under an older policy would count again)"
)]
pub struct BehindLog {
    pub site: SiteId,
    pub sent: PolicyRevision,
    pub logged: PolicyRevision,
}

/// Whether `new` may create its site, where `logged` is the revision of
/// the newest record its id already has in the log.
pub fn check_create(new: &SiteConfig, logged: Option<PolicyRevision>) -> Result<(), BehindLog> {
    match logged {
        Some(logged) if logged > new.revision => Err(BehindLog {
            site: new.id.clone(),
            sent: new.revision,
            logged,
        }),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_site_created_again_does_not_go_back_to_an_older_revision() {
        let site: SiteConfig =
            serde_json::from_str(include_str!("../../examples/demo-site.json")).unwrap();
        let later = site.revision.next();
        assert_eq!(check_create(&site, None), Ok(()));
        assert_eq!(check_create(&site, Some(site.revision)), Ok(()));
        let refused = check_create(&site, Some(later)).unwrap_err();
        assert_eq!((refused.sent, refused.logged), (site.revision, later));
    }

    #[test]
    fn each_language_keeps_the_bytes_its_text_hash_is_taken_of() {
        let site: SiteConfig =
            serde_json::from_str(include_str!("../../examples/demo-site.json")).unwrap();
        let before = notices(&site);
        assert_eq!(before.len(), site.languages.len());
        for n in &before {
            assert_eq!(
                crate::record::sha256_hex(n.texts.as_bytes()),
                n.text_hash.as_str()
            );
        }
        // A category's description is part of what was shown: changing it
        // in one language makes a new version of that language only.
        let mut edited = site.clone();
        let nl = LanguageTag::parse("nl").unwrap();
        edited.categories[1].texts.get_mut(&nl).unwrap().description = "Anders".into();
        let after = notices(&edited);
        let changed: Vec<&str> = before
            .iter()
            .zip(&after)
            .filter(|(b, a)| b.text_hash != a.text_hash)
            .map(|(_, a)| a.language.as_str())
            .collect();
        assert_eq!(changed, ["nl"]);
    }

    #[test]
    fn if_match_names_the_config_as_stored() {
        let current: SiteConfig =
            serde_json::from_str(include_str!("../../examples/demo-site.json")).unwrap();
        let tag = config_tag(&current);
        let mut edited = current.clone();
        edited.name = "Renamed".into();
        assert_ne!(config_tag(&edited), tag);
        assert_eq!(check_if_match(&current, None), Ok(()));
        assert_eq!(check_if_match(&current, Some(&tag)), Ok(()));
        assert_eq!(check_if_match(&current, Some("*")), Ok(()));
        assert_eq!(
            check_if_match(&current, Some(&format!("\"x\", W/{tag}"))),
            Ok(())
        );
        assert_eq!(
            check_if_match(&edited, Some(&tag)),
            Err(UpdateRefused::Stale {
                current: config_tag(&edited)
            })
        );
        assert_eq!(bump(&current).revision, current.revision.next());
    }

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
