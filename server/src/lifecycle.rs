//! The consent lifecycle: what the next record of a consent says, from
//! the request, the consent's previous record and the chain's head. Pure
//! rules, no I/O: a storage engine reads the previous record and the head,
//! calls [`next_record`] and stores what it returns, so every engine
//! applies the same rules. (The ids come minted in the draft.)
//!
//! - A choice without a consent id starts a consent (`given`); with one, it
//!   updates that consent (`updated`), which must exist on this site and
//!   not be withdrawn: a withdrawal ends a consent, so a later choice is a
//!   new consent, not an update of the ended one.
//! - A choice lasts the site's validity (`crumb_schema::rules::expires_at`).
//! - A withdrawal ends the consent now and leaves only what is strictly
//!   necessary; it keeps the previous record's language, texts and method
//!   (the context of what is withdrawn). A consent is withdrawn once.
//! - Each record follows the chain's head: the next `seq`, the head's hash
//!   as `prev_hash`.

use std::borrow::Cow;

use crumb_schema::{Category, ConsentId, Event, RecordHash, RecordId};

use crate::record::{RecordBody, split_choices};
use crate::storage::{Action, AppendError, Draft};
use crate::timefmt::Timestamp;

/// Fresh time-ordered ids for one record: its own, and the consent's if
/// the record starts a consent.
#[derive(Debug, Clone)]
pub struct Minted {
    pub record_id: RecordId,
    pub consent_id: ConsentId,
}

/// The position and hash of a site's newest record (0 and the genesis
/// hash for an empty chain).
pub type Head = (u64, RecordHash);

/// The record that `draft` appends after `head`, where `latest` is the
/// newest stored record of the consent the draft names (of any site:
/// another site's consent is unknown here). Refused when the consent is
/// unknown, or withdrawn already (for a choice as for a withdrawal).
pub fn next_record(
    draft: &Draft,
    latest: Option<&RecordBody>,
    (seq, prev_hash): Head,
) -> Result<RecordBody, AppendError> {
    let site = &draft.site;
    let ids = &draft.ids;
    let previous = latest.filter(|r| r.site_id == site.id);
    let event_time = Timestamp::at(draft.event_time);
    let (consent_id, event, expires_at, language, text_hash, method, choices) = match &draft.action
    {
        Action::Choose {
            consent_id,
            language,
            text_hash,
            method,
            choices,
        } => {
            let (id, event) = match (consent_id, previous) {
                (None, _) => (ids.consent_id.clone(), Event::Given),
                (Some(_), Some(prev)) if prev.event == Event::Withdrawn => {
                    return Err(AppendError::AlreadyWithdrawn);
                }
                (Some(id), Some(_)) => (id.clone(), Event::Updated),
                (Some(_), None) => return Err(AppendError::UnknownConsent),
            };
            let expires = crumb_schema::rules::expires_at(draft.event_time, site.validity_months);
            (
                id,
                event,
                Timestamp::at(expires),
                language.clone(),
                text_hash.clone(),
                *method,
                Cow::Borrowed(choices),
            )
        }
        Action::Withdraw { consent_id } => {
            let prev = previous.ok_or(AppendError::UnknownConsent)?;
            if prev.event == Event::Withdrawn {
                return Err(AppendError::AlreadyWithdrawn);
            }
            (
                consent_id.clone(),
                Event::Withdrawn,
                event_time,
                prev.language.clone(),
                prev.text_hash.clone(),
                prev.method,
                Cow::Owned(crumb_schema::Choices::necessary_only(site)),
            )
        }
    };
    let (categories_granted, categories_denied, services_granted, services_denied) =
        split_choices(&choices);
    debug_assert!(categories_granted.contains(&Category::Necessary));
    Ok(RecordBody {
        seq: seq + 1,
        record_id: ids.record_id.clone(),
        site_id: site.id.clone(),
        consent_id,
        event,
        event_time,
        expires_at,
        policy_revision: site.revision,
        policy_url: site.policy_url.clone(),
        language,
        text_hash,
        method,
        categories_granted,
        categories_denied,
        services_granted,
        services_denied,
        user_agent: draft.user_agent.clone(),
        ip_network: draft.ip_network.clone(),
        prev_hash,
        gpc: draft.gpc,
    })
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use crumb_schema::{Choices, LanguageTag, Method, SiteId, TextHash};
    use time::macros::datetime;

    use super::*;

    fn id(n: u8) -> ConsentId {
        ConsentId::time_ordered(1_780_000_000_000, [n; 10])
    }

    fn ids() -> Minted {
        Minted {
            record_id: RecordId::time_ordered(1_780_000_000_000, [1; 10]),
            consent_id: id(2),
        }
    }

    fn draft(action: Action) -> Draft {
        Draft {
            site: Arc::new(crate::demo::demo_site()),
            action,
            event_time: datetime!(2026-02-28 12:00 UTC),
            ids: ids(),
            user_agent: "test agent".into(),
            ip_network: "192.0.2.0/24".into(),
            gpc: false,
            idempotency: None,
        }
    }

    fn choose(consent_id: Option<ConsentId>) -> Action {
        let site = crate::demo::demo_site();
        Action::Choose {
            consent_id,
            language: LanguageTag::parse("nl").unwrap(),
            text_hash: TextHash::parse(&"b".repeat(64)).unwrap(),
            method: Method::AcceptAll,
            choices: Choices {
                categories: site.categories.iter().map(|c| (c.id, true)).collect(),
                services: site.services.iter().map(|s| (s.id.clone(), true)).collect(),
            },
        }
    }

    fn given() -> RecordBody {
        next_record(&draft(choose(None)), None, (0, RecordHash::genesis())).unwrap()
    }

    #[test]
    fn a_choice_without_an_id_starts_a_consent_that_lasts_the_sites_validity() {
        let body = given();
        assert_eq!(body.event, Event::Given);
        assert_eq!(body.consent_id, id(2));
        assert_eq!(body.record_id.as_str(), id(1).as_str());
        // The demo site's 24 months from 2026-02-28.
        assert_eq!(body.event_time.to_string(), "2026-02-28T12:00:00.000Z");
        assert_eq!(body.expires_at.to_string(), "2028-02-28T12:00:00.000Z");
        assert!(body.categories_denied.is_empty());
    }

    #[test]
    fn each_record_follows_the_chain_head() {
        let body = next_record(
            &draft(choose(None)),
            None,
            (41, RecordHash::parse(&"ab".repeat(32)).unwrap()),
        )
        .unwrap();
        assert_eq!(body.seq, 42);
        assert_eq!(body.prev_hash.as_str(), "ab".repeat(32));
    }

    #[test]
    fn a_choice_with_a_known_id_updates_that_consent() {
        let first = given();
        let body = next_record(
            &draft(choose(Some(first.consent_id.clone()))),
            Some(&first),
            (1, RecordHash::parse(&"c".repeat(64)).unwrap()),
        )
        .unwrap();
        assert_eq!(body.event, Event::Updated);
        assert_eq!(body.consent_id, first.consent_id);
    }

    #[test]
    fn an_unknown_id_or_another_sites_consent_is_refused() {
        let mut elsewhere = given();
        elsewhere.site_id = SiteId::parse("other").unwrap();
        for latest in [None, Some(&elsewhere)] {
            let update = next_record(
                &draft(choose(Some(elsewhere.consent_id.clone()))),
                latest,
                (1, RecordHash::parse(&"c".repeat(64)).unwrap()),
            );
            assert!(matches!(update, Err(AppendError::UnknownConsent)));
            let withdrawal = next_record(
                &draft(Action::Withdraw {
                    consent_id: elsewhere.consent_id.clone(),
                }),
                latest,
                (1, RecordHash::parse(&"c".repeat(64)).unwrap()),
            );
            assert!(matches!(withdrawal, Err(AppendError::UnknownConsent)));
        }
    }

    #[test]
    fn a_withdrawal_ends_the_consent_now_leaving_only_the_necessary_once() {
        let first = given();
        let withdraw = draft(Action::Withdraw {
            consent_id: first.consent_id.clone(),
        });

        let body = next_record(
            &withdraw,
            Some(&first),
            (1, RecordHash::parse(&"c".repeat(64)).unwrap()),
        )
        .unwrap();

        assert_eq!(body.event, Event::Withdrawn);
        assert_eq!(body.expires_at, body.event_time);
        assert_eq!(body.categories_granted, [Category::Necessary]);
        assert!(body.services_granted.iter().all(|s| {
            let site = crate::demo::demo_site();
            site.services
                .iter()
                .any(|d| d.id == *s && d.category == Category::Necessary)
        }));
        // What was withdrawn keeps its context.
        assert_eq!(
            (&body.language, &body.text_hash, body.method),
            (&first.language, &first.text_hash, first.method)
        );
        let again = next_record(
            &withdraw,
            Some(&body),
            (2, RecordHash::parse(&"d".repeat(64)).unwrap()),
        );
        assert!(matches!(again, Err(AppendError::AlreadyWithdrawn)));
        // Nor is the ended consent updated: a new choice is a new consent.
        let update = next_record(
            &draft(choose(Some(first.consent_id.clone()))),
            Some(&body),
            (2, RecordHash::parse(&"d".repeat(64)).unwrap()),
        );
        assert!(matches!(update, Err(AppendError::AlreadyWithdrawn)));
    }
}
