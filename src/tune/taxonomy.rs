//! The SOC action-card taxonomy: incident types (100..600) and the four severities, plus the
//! default mapping from a signature's classtype and vendor metadata to both.
//!
//! Default mapping (a tuning file's `[taxonomy]` section changes any part of it):
//! - incident type from the classtype (table [`default_type`]); no or unknown classtype: 600.
//!   Where the classtype is generic (none, `unknown`, `misc-activity`, `misc-attack`,
//!   `bad-unknown`, `policy-violation`), the category an ET or GPL message names decides when
//!   it is an attack or scan category ([`msg_type`]): `ET MALWARE` on a `misc-activity` rule
//!   is malware, `ET SCAN` reconnaissance;
//! - base severity from the vendor priority (rule `priority`, else the classtype's), on
//!   Suricata's scale: 1 Critical, 2 Serious, 3 Medium, 4 and above Informational;
//! - ET's `signature_severity` metadata (Informational, Minor, Major, Critical) then refines it:
//!   for suspicious/policy (400), reconnaissance (500) and other (600) it replaces the priority,
//!   which ET sets per class and so is coarse there; for unauthorized access (100), DoS (200)
//!   and malware (300) it may only raise. Lowering an attack class is left to the SOC's own
//!   evidence (overrides, `sekimori tune report`), not to a vendor label.

use serde::Deserialize;

/// Analyst severity, lowest first.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Deserialize)]
pub enum Severity {
    /// Logged for context; no action.
    Informational,
    /// Reviewed in bulk.
    Medium,
    /// Escalated.
    Serious,
    /// Escalated at once.
    Critical,
}

impl Severity {
    /// All severities, lowest first.
    pub const ALL: [Severity; 4] = [
        Severity::Informational,
        Severity::Medium,
        Severity::Serious,
        Severity::Critical,
    ];

    /// The value on Suricata's EVE scale (1 Critical ... 4 Informational).
    pub fn eve(self) -> u8 {
        match self {
            Severity::Critical => 1,
            Severity::Serious => 2,
            Severity::Medium => 3,
            Severity::Informational => 4,
        }
    }

    /// From an EVE severity / rule priority (4 and above are Informational, 0 is Critical).
    pub fn from_eve(v: u8) -> Severity {
        match v {
            0 | 1 => Severity::Critical,
            2 => Severity::Serious,
            3 => Severity::Medium,
            _ => Severity::Informational,
        }
    }

    /// The label used in files and EVE.
    pub fn label(self) -> &'static str {
        match self {
            Severity::Critical => "Critical",
            Severity::Serious => "Serious",
            Severity::Medium => "Medium",
            Severity::Informational => "Informational",
        }
    }

    /// Parses a label, case-insensitively.
    pub fn parse(s: &str) -> Option<Severity> {
        Severity::ALL
            .into_iter()
            .find(|v| v.label().eq_ignore_ascii_case(s.trim()))
    }

    /// Moves `steps` levels up (positive) or down, clamped to the scale.
    pub fn step(self, steps: i32) -> Severity {
        let i = (self as i32 + steps).clamp(0, 3);
        Severity::ALL[i as usize]
    }

    /// Serious or Critical: what a SOC escalates.
    pub fn escalates(self) -> bool {
        self >= Severity::Serious
    }
}

/// Incident type of the action cards.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum IncidentType {
    /// 100: unauthorized access.
    UnauthorizedAccess,
    /// 200: denial of service.
    DenialOfService,
    /// 300: malware.
    Malware,
    /// 400: suspicious or policy-violating traffic.
    Suspicious,
    /// 500: reconnaissance.
    Reconnaissance,
    /// 600: other.
    Other,
}

impl IncidentType {
    /// The numeric code (100..600).
    pub fn code(self) -> u16 {
        match self {
            IncidentType::UnauthorizedAccess => 100,
            IncidentType::DenialOfService => 200,
            IncidentType::Malware => 300,
            IncidentType::Suspicious => 400,
            IncidentType::Reconnaissance => 500,
            IncidentType::Other => 600,
        }
    }

    /// From a numeric code.
    pub fn from_code(c: u16) -> Option<IncidentType> {
        Some(match c {
            100 => IncidentType::UnauthorizedAccess,
            200 => IncidentType::DenialOfService,
            300 => IncidentType::Malware,
            400 => IncidentType::Suspicious,
            500 => IncidentType::Reconnaissance,
            600 => IncidentType::Other,
            _ => return None,
        })
    }

    /// The label written to EVE.
    pub fn label(self) -> &'static str {
        match self {
            IncidentType::UnauthorizedAccess => "unauthorized access",
            IncidentType::DenialOfService => "denial of service",
            IncidentType::Malware => "malware",
            IncidentType::Suspicious => "suspicious/policy traffic",
            IncidentType::Reconnaissance => "reconnaissance",
            IncidentType::Other => "other",
        }
    }

    /// Attack classes (100, 200, 300), where a vendor label may raise but not lower.
    pub fn is_attack(self) -> bool {
        matches!(
            self,
            IncidentType::UnauthorizedAccess
                | IncidentType::DenialOfService
                | IncidentType::Malware
        )
    }
}

/// The incident type an ET/GPL message category names (`ET MALWARE ...`, `GPL EXPLOIT ...`),
/// for the categories that name one kind of attack or scan; None for the others (`ET INFO`,
/// `ET POLICY`, `ET HUNTING`...) and for other vendors' messages.
pub fn msg_type(msg: &str) -> Option<IncidentType> {
    use IncidentType::*;
    let mut words = msg.split_ascii_whitespace();
    if !matches!(words.next(), Some("ET" | "GPL")) {
        return None;
    }
    Some(match words.next()? {
        "MALWARE" | "MOBILE_MALWARE" | "TROJAN" | "CNC" | "COINMINER" | "EXPLOIT_KIT" | "WORM"
        | "VIRUS" | "BOTCC" => Malware,
        "EXPLOIT" | "ATTACK_RESPONSE" | "SHELLCODE" | "WEB_SERVER" | "WEB_SPECIFIC_APPS"
        | "SQL" | "RPC" => UnauthorizedAccess,
        "SCAN" => Reconnaissance,
        "DOS" => DenialOfService,
        _ => return None,
    })
}

/// The default incident type of a signature: its classtype's ([`default_type`]), or, for a
/// generic classtype (none, `unknown`, `misc-activity`, `misc-attack`, `bad-unknown`,
/// `policy-violation`), the attack or scan category its message names.
pub fn sig_type(classtype: &str, msg: &str) -> IncidentType {
    let t = default_type(classtype);
    let generic = matches!(
        classtype,
        "" | "unknown" | "misc-activity" | "misc-attack" | "bad-unknown" | "policy-violation"
    );
    match generic {
        true => msg_type(msg).unwrap_or(t),
        false => t,
    }
}

/// The default incident type of a classtype (Suricata/ET classification.config names).
pub fn default_type(classtype: &str) -> IncidentType {
    use IncidentType::*;
    match classtype {
        "attempted-user"
        | "unsuccessful-user"
        | "successful-user"
        | "attempted-admin"
        | "successful-admin"
        | "web-application-attack"
        | "default-login-attempt"
        | "suspicious-login"
        | "credential-theft"
        | "shellcode-detect"
        | "system-call-detect" => UnauthorizedAccess,
        "attempted-dos" | "successful-dos" | "denial-of-service" => DenialOfService,
        "trojan-activity"
        | "command-and-control"
        | "domain-c2"
        | "exploit-kit"
        | "targeted-activity"
        | "coin-mining" => Malware,
        "bad-unknown"
        | "policy-violation"
        | "misc-activity"
        | "misc-attack"
        | "string-detect"
        | "suspicious-filename-detect"
        | "unusual-client-port-connection"
        | "non-standard-protocol"
        | "protocol-command-decode"
        | "web-application-activity"
        | "external-ip-check"
        | "pup-activity"
        | "social-engineering"
        | "tcp-connection" => Suspicious,
        "attempted-recon"
        | "successful-recon-limited"
        | "successful-recon-largescale"
        | "network-scan"
        | "rpc-portmap-decode"
        | "icmp-event" => Reconnaissance,
        _ => Other,
    }
}

/// The default reading of ET's `signature_severity` metadata values.
pub fn default_metadata_severity(label: &str) -> Option<Severity> {
    Some(match label.to_ascii_lowercase().as_str() {
        "informational" => Severity::Informational,
        "minor" => Severity::Medium,
        "major" => Severity::Serious,
        "critical" => Severity::Critical,
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scale_round_trips_and_clamps() {
        for s in Severity::ALL {
            assert_eq!(Severity::from_eve(s.eve()), s);
            assert_eq!(Severity::parse(&s.label().to_uppercase()), Some(s));
        }
        assert_eq!(Severity::from_eve(7), Severity::Informational);
        assert_eq!(Severity::Critical.step(1), Severity::Critical);
        assert_eq!(Severity::Medium.step(-5), Severity::Informational);
        assert_eq!(Severity::Medium.step(1), Severity::Serious);
        assert!(Severity::Serious.escalates() && !Severity::Medium.escalates());
    }

    #[test]
    fn classtypes_map_to_types() {
        assert_eq!(default_type("trojan-activity").code(), 300);
        assert_eq!(default_type("attempted-admin").code(), 100);
        assert_eq!(default_type("attempted-dos").code(), 200);
        assert_eq!(default_type("policy-violation").code(), 400);
        assert_eq!(default_type("network-scan").code(), 500);
        assert_eq!(default_type("no-such-class").code(), 600);
        // A generic classtype takes the attack category the message names.
        let t = |c: &str, m: &str| sig_type(c, m).code();
        assert_eq!(
            t("misc-activity", "ET MALWARE Win32/Agent CnC Checkin"),
            300
        );
        assert_eq!(
            t(
                "misc-attack",
                "GPL RPC sadmind query with root credentials attempt UDP"
            ),
            100
        );
        assert_eq!(
            t("bad-unknown", "ET SCAN Nmap Scripting Engine User-Agent"),
            500
        );
        assert_eq!(t("", "ET DOS Possible NTP DDoS"), 200);
        assert_eq!(
            t("misc-activity", "ET INFO Observed DNS Query to .cloud TLD"),
            400
        );
        assert_eq!(
            t("policy-violation", "ET POLICY Dropbox Client Broadcasting"),
            400
        );
        // A specific classtype stands; other vendors' words are not read.
        assert_eq!(t("trojan-activity", "ET SCAN odd"), 300);
        assert_eq!(t("misc-activity", "SEKIMORI MALWARE beacon"), 400);
        for t in [100, 200, 300, 400, 500, 600] {
            assert_eq!(IncidentType::from_code(t).unwrap().code(), t);
        }
        assert!(IncidentType::from_code(700).is_none());
    }
}
