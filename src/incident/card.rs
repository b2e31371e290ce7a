//! Action cards: the title and the "what to do" text an incident carries to the analyst. A
//! tuning file's `[[notify.card]]` entries replace the built-in texts below, most specific
//! first (type and severity, then type, then severity).

use crate::tune::policy::Card;
use crate::tune::{IncidentType, Severity};

/// The built-in action for a type, refined for Critical.
fn builtin(t: IncidentType, s: Severity) -> &'static str {
    use IncidentType::*;
    match (t, s >= Severity::Critical) {
        (UnauthorizedAccess, true) => {
            "Treat the victim as compromised: isolate it, preserve memory and disk, reset the credentials used on it, and search the other hosts for the attackers' addresses."
        }
        (UnauthorizedAccess, false) => {
            "Check whether the attempt succeeded (server logs at the alert times, new accounts, processes and outbound connections of the victim); patch or block the attackers if it did not."
        }
        (DenialOfService, _) => {
            "Confirm the service impact with its owner, rate-limit or block the sources upstream, and keep the evidence for the provider."
        }
        (Malware, true) => {
            "Isolate the host now, block the listed remote addresses, collect the malware sample and memory, and find how it arrived (mail, download, exploit) before reimaging."
        }
        (Malware, false) => {
            "Check the host with EDR for the named family, block the remote addresses, and reimage if the infection is confirmed."
        }
        (Suspicious, _) => {
            "Ask the host's owner whether the traffic is expected; record it as sanctioned (tuning override) or open a policy case."
        }
        (Reconnaissance, _) => {
            "Note the scanning sources, check that the probed services are meant to be reachable, and watch the victim for follow-up access attempts."
        }
        (Other, _) => "Review the evidence and classify the incident.",
    }
}

/// The action for an incident: the most specific configured card, else the built-in text.
pub fn action(cards: &[Card], t: IncidentType, s: Severity) -> (&str, bool) {
    let score = |c: &Card| -> Option<u8> {
        let ty = match c.itype {
            Some(x) if x == t => 2,
            Some(_) => return None,
            None => 0,
        };
        let sv = match c.severity {
            Some(x) if x == s => 1,
            Some(_) => return None,
            None => 0,
        };
        Some(ty + sv)
    };
    match cards
        .iter()
        .filter_map(|c| score(c).map(|s| (s, c)))
        .max_by_key(|(s, _)| *s)
    {
        Some((_, c)) => (c.action.as_str(), true),
        None => (builtin(t, s), false),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn card(t: Option<IncidentType>, s: Option<Severity>, a: &str) -> Card {
        Card {
            itype: t,
            severity: s,
            action: a.into(),
            from: "t".into(),
        }
    }

    #[test]
    fn most_specific_card_wins() {
        let cards = [
            card(None, Some(Severity::Critical), "any critical"),
            card(Some(IncidentType::Malware), None, "malware"),
            card(
                Some(IncidentType::Malware),
                Some(Severity::Critical),
                "critical malware",
            ),
        ];
        let a = |t, s| action(&cards, t, s).0.to_string();
        assert_eq!(
            a(IncidentType::Malware, Severity::Critical),
            "critical malware"
        );
        assert_eq!(a(IncidentType::Malware, Severity::Serious), "malware");
        assert_eq!(
            a(IncidentType::DenialOfService, Severity::Critical),
            "any critical"
        );
        let (text, configured) = action(&cards, IncidentType::Other, Severity::Medium);
        assert!(!configured && text.starts_with("Review"));
    }
}
