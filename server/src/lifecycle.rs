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
//!   as `prev_hash`. Those two are all of a choice's record that needs the
//!   chain's order, so the HTTP worker makes the rest ahead ([`prepare`]:
//!   the body and its canonical JSON), and the single writer only checks
//!   the consent's previous record, puts the two in and hashes.

use std::borrow::Cow;

use crumb_schema::{
    Category, Choices, ConsentId, Event, LanguageTag, Method, RecordHash, RecordId, TextHash,
};

use crate::record::{Record, RecordBody, Unchained, split_choices};
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
/// unknown, or withdrawn already (for a choice as for a withdrawal). A
/// choice whose record was made ahead ([`prepare`]) only takes its place
/// in the chain here.
pub fn next_record(
    draft: &Draft,
    latest: Option<&RecordBody>,
    head: Head,
) -> Result<Record, AppendError> {
    let previous = latest.filter(|r| r.site_id == draft.site.id);
    match &draft.action {
        Action::Choose { consent_id, .. } => {
            let event = choice_event(consent_id.as_ref(), previous)?;
            Ok(match &draft.prepared {
                Some(unchained) => unchained.chain(head.0 + 1, head.1),
                None => sealed_after(choice_body(draft, event), head),
            })
        }
        Action::Withdraw { consent_id } => {
            let prev = previous.ok_or(AppendError::UnknownConsent)?;
            if prev.event == Event::Withdrawn {
                return Err(AppendError::AlreadyWithdrawn);
            }
            Ok(sealed_after(withdrawal_body(draft, consent_id, prev), head))
        }
    }
}

/// `body` sealed as the record that follows the chain's head.
fn sealed_after(mut body: RecordBody, (seq, prev_hash): Head) -> Record {
    body.seq = seq + 1;
    body.prev_hash = prev_hash;
    body.seal()
}

/// A choice's record made ahead of the writer, on the HTTP worker: all of
/// it but its place in the chain, which needs no stored record. (Whether
/// the consent it updates exists, and is not withdrawn, is for
/// [`next_record`] to say, in the chain's order.) A withdrawal repeats its
/// consent's previous record, so it is made by the writer.
pub fn prepare(draft: &Draft) -> Option<Unchained> {
    let Action::Choose { consent_id, .. } = &draft.action else {
        return None;
    };
    let event = match consent_id {
        None => Event::Given,
        Some(_) => Event::Updated,
    };
    Some(choice_body(draft, event).unchained())
}

/// The event a choice records: `given` without a consent id; with one, an
/// update of that consent, which must exist on this site (`previous` is
/// its newest record there) and not be withdrawn.
fn choice_event(
    consent_id: Option<&ConsentId>,
    previous: Option<&RecordBody>,
) -> Result<Event, AppendError> {
    match (consent_id, previous) {
        (None, _) => Ok(Event::Given),
        (Some(_), Some(prev)) if prev.event == Event::Withdrawn => {
            Err(AppendError::AlreadyWithdrawn)
        }
        (Some(_), Some(_)) => Ok(Event::Updated),
        (Some(_), None) => Err(AppendError::UnknownConsent),
    }
}

/// A choice's record as `event`, lasting the site's validity; its place in
/// the chain is left for [`Unchained::chain`].
fn choice_body(draft: &Draft, event: Event) -> RecordBody {
    let Action::Choose {
        consent_id,
        language,
        text_hash,
        method,
        choices,
    } = &draft.action
    else {
        unreachable!("only a choice has a choice's record");
    };
    let expires = crumb_schema::rules::expires_at(draft.event_time, draft.site.validity_months);
    body(
        draft,
        Says {
            consent_id: consent_id.as_ref().unwrap_or(&draft.ids.consent_id).clone(),
            event,
            expires_at: Timestamp::at(expires),
            language: language.clone(),
            text_hash: text_hash.clone(),
            method: *method,
            choices: Cow::Borrowed(choices),
        },
    )
}

/// A withdrawal's record: it ends the consent now, leaves only what is
/// strictly necessary, and keeps the context (language, texts, method) of
/// `prev`, the record it withdraws.
fn withdrawal_body(draft: &Draft, consent_id: &ConsentId, prev: &RecordBody) -> RecordBody {
    body(
        draft,
        Says {
            consent_id: consent_id.clone(),
            event: Event::Withdrawn,
            expires_at: Timestamp::at(draft.event_time),
            language: prev.language.clone(),
            text_hash: prev.text_hash.clone(),
            method: prev.method,
            choices: Cow::Owned(crumb_schema::Choices::necessary_only(&draft.site)),
        },
    )
}

/// What the rules decided a record says, beyond what the draft says itself.
struct Says<'a> {
    consent_id: ConsentId,
    event: Event,
    expires_at: Timestamp,
    language: LanguageTag,
    text_hash: TextHash,
    method: Method,
    choices: Cow<'a, Choices>,
}

/// The record's body, at no place in the chain yet (`seq` 0 after the
/// genesis hash).
fn body(draft: &Draft, says: Says<'_>) -> RecordBody {
    let site = &draft.site;
    let (categories_granted, categories_denied, services_granted, services_denied) =
        split_choices(&says.choices);
    debug_assert!(categories_granted.contains(&Category::Necessary));
    RecordBody {
        seq: 0,
        record_id: draft.ids.record_id.clone(),
        site_id: site.id.clone(),
        consent_id: says.consent_id,
        event: says.event,
        event_time: Timestamp::at(draft.event_time),
        expires_at: says.expires_at,
        policy_revision: site.revision,
        policy_url: site.policy_url.clone(),
        language: says.language,
        text_hash: says.text_hash,
        method: says.method,
        categories_granted,
        categories_denied,
        services_granted,
        services_denied,
        user_agent: draft.user_agent.clone(),
        ip_network: draft.ip_network.clone(),
        prev_hash: RecordHash::genesis(),
        gpc: draft.gpc,
    }
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
            prepared: None,
        }
    }

    /// [`next_record`] for `draft` as the store gets it from the writer (its
    /// record prepared on the HTTP worker) and as it gets it directly: the
    /// same record, or the same refusal, either way.
    fn next(
        draft: &Draft,
        latest: Option<&RecordBody>,
        head: Head,
    ) -> Result<RecordBody, AppendError> {
        let prepared = Draft {
            prepared: prepare(draft),
            ..draft.clone()
        };
        let whole = next_record(draft, latest, head.clone());
        assert_eq!(next_record(&prepared, latest, head), whole);
        whole.map(|record| record.body)
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
        next(&draft(choose(None)), None, (0, RecordHash::genesis())).unwrap()
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
        let body = next(
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
        let body = next(
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
            let update = next(
                &draft(choose(Some(elsewhere.consent_id.clone()))),
                latest,
                (1, RecordHash::parse(&"c".repeat(64)).unwrap()),
            );
            assert!(matches!(update, Err(AppendError::UnknownConsent)));
            let withdrawal = next(
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

        let body = next(
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
        let again = next(
            &withdraw,
            Some(&body),
            (2, RecordHash::parse(&"d".repeat(64)).unwrap()),
        );
        assert!(matches!(again, Err(AppendError::AlreadyWithdrawn)));
        // Nor is the ended consent updated: a new choice is a new consent.
        let update = next(
            &draft(choose(Some(first.consent_id.clone()))),
            Some(&body),
            (2, RecordHash::parse(&"d".repeat(64)).unwrap()),
        );
        assert!(matches!(update, Err(AppendError::AlreadyWithdrawn)));
    }
}
