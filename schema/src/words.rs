//! The few words Crumb itself says to visitors, beside the site's own
//! texts: the cookie declaration's type column and party names, the label
//! of a privacy-policy link, and how Crumb's own cookie is declared. In
//! English, Dutch, German and French; English for any other language.

use crate::LanguageTag;

/// Crumb's own words, in the languages it speaks; English for any other.
pub struct Words {
    pub type_column: &'static str,
    pub first_party: &'static str,
    pub third_party: &'static str,
    pub privacy_policy: &'static str,
    pub sets_no_cookies: &'static str,
    /// What `crumb_consent` is for, and how long it lasts.
    pub consent_purpose: &'static str,
    pub consent_retention: &'static str,
    /// A cookie that lasts for the browser session.
    pub session: &'static str,
    /// Units of a cookie's lifetime, singular and plural.
    pub days: (&'static str, &'static str),
    pub months: (&'static str, &'static str),
    pub years: (&'static str, &'static str),
    /// One line in the banner and the dialog when the browser sends Global
    /// Privacy Control: the signal was honoured.
    pub gpc_notice: &'static str,
}

pub fn for_language(lang: &LanguageTag) -> &'static Words {
    const EN: Words = Words {
        type_column: "Type",
        first_party: "First party",
        third_party: "Third party",
        privacy_policy: "Privacy policy",
        sets_no_cookies: "Sets no cookies",
        consent_purpose: "Remembers your cookie choices and which consent record is yours.",
        consent_retention: "Until your consent expires (at most 2 years); renewed for up to 400 days on each visit",
        session: "Session",
        days: ("day", "days"),
        months: ("month", "months"),
        years: ("year", "years"),
        gpc_notice: "Your browser's Global Privacy Control signal is honoured: cookies that sell or share your data stay off unless you allow them.",
    };
    const NL: Words = Words {
        type_column: "Soort",
        first_party: "Eigen (first party)",
        third_party: "Derde partij",
        privacy_policy: "Privacyverklaring",
        sets_no_cookies: "Plaatst geen cookies",
        consent_purpose: "Onthoudt uw cookiekeuzes en welk toestemmingsrecord van u is.",
        consent_retention: "Tot uw toestemming verloopt (hoogstens 2 jaar); bij elk bezoek verlengd tot hoogstens 400 dagen",
        session: "Sessie",
        days: ("dag", "dagen"),
        months: ("maand", "maanden"),
        years: ("jaar", "jaar"),
        gpc_notice: "Het Global Privacy Control-signaal van uw browser wordt gerespecteerd: cookies die uw gegevens verkopen of delen blijven uit, tenzij u ze toestaat.",
    };
    const DE: Words = Words {
        type_column: "Art",
        first_party: "Erstanbieter",
        third_party: "Drittanbieter",
        privacy_policy: "Datenschutzerklärung",
        sets_no_cookies: "Setzt keine Cookies",
        consent_purpose: "Speichert Ihre Cookie-Auswahl und welcher Einwilligungsnachweis Ihrer ist.",
        consent_retention: "Bis Ihre Einwilligung abläuft (höchstens 2 Jahre); bei jedem Besuch um bis zu 400 Tage verlängert",
        session: "Sitzung",
        days: ("Tag", "Tage"),
        months: ("Monat", "Monate"),
        years: ("Jahr", "Jahre"),
        gpc_notice: "Das Global-Privacy-Control-Signal Ihres Browsers wird beachtet: Cookies, die Ihre Daten verkaufen oder weitergeben, bleiben aus, solange Sie sie nicht erlauben.",
    };
    const FR: Words = Words {
        type_column: "Type",
        first_party: "Interne",
        third_party: "Tierce partie",
        privacy_policy: "Politique de confidentialité",
        sets_no_cookies: "Ne dépose aucun cookie",
        consent_purpose: "Mémorise vos choix en matière de cookies et l'enregistrement de consentement qui est le vôtre.",
        consent_retention: "Jusqu'à l'expiration de votre consentement (2 ans au plus) ; renouvelé pour 400 jours au plus à chaque visite",
        session: "Session",
        days: ("jour", "jours"),
        months: ("mois", "mois"),
        years: ("an", "ans"),
        gpc_notice: "Le signal Global Privacy Control de votre navigateur est respecté\u{a0}: les cookies qui vendent ou partagent vos données restent désactivés, sauf si vous les autorisez.",
    };
    match lang.as_str().split('-').next().unwrap_or_default() {
        "nl" => &NL,
        "de" => &DE,
        "fr" => &FR,
        _ => &EN,
    }
}
