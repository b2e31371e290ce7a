//! NTLMSSP authentication, as carried in SMB session setups and DCERPC binds (inside SPNEGO
//! or bare): the AUTHENTICATE message names the user, domain and host that logged on.

use super::wire::{le16, le32, slice, u8_at, utf16le};

/// NTLMSSP's signature.
const SIGNATURE: &[u8] = b"NTLMSSP\0";
/// NegotiateFlags: strings are UTF-16LE.
const NEGOTIATE_UNICODE: u32 = 0x0000_0001;
/// NegotiateFlags: the Version field is present.
const NEGOTIATE_VERSION: u32 = 0x0200_0000;
/// Longest name kept (bytes, after decoding).
const MAX_NAME: usize = 512;

/// Who authenticated: the fields of an NTLMSSP AUTHENTICATE message.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NtlmAuth {
    /// User name (UTF-8).
    pub user: Vec<u8>,
    /// Domain name (UTF-8).
    pub domain: Vec<u8>,
    /// Client workstation name (UTF-8).
    pub host: Vec<u8>,
    /// The client's OS version: major, minor, build, NTLM revision.
    pub version: Option<(u8, u8, u16, u8)>,
}

impl NtlmAuth {
    /// EVE `version`: `6.1 build 7601 rev 15`.
    pub fn version_string(&self) -> Option<String> {
        self.version
            .map(|(maj, min, build, rev)| format!("{maj}.{min} build {build} rev {rev}"))
    }

    /// Heap bytes held.
    pub fn heap(&self) -> usize {
        self.user.capacity() + self.domain.capacity() + self.host.capacity()
    }
}

/// Finds an NTLMSSP AUTHENTICATE message in a security blob (SPNEGO-wrapped or bare) and
/// reads it. None when the blob carries none (a NEGOTIATE or CHALLENGE, Kerberos) or it is
/// malformed.
pub fn find_auth(blob: &[u8]) -> Option<NtlmAuth> {
    let mut from = 0;
    while let Some(i) = memchr::memmem::find(&blob[from..], SIGNATURE) {
        let msg = &blob[from + i..];
        if le32(msg, 8) == Some(3) {
            return parse_auth(msg);
        }
        from += i + SIGNATURE.len();
    }
    None
}

/// Reads an AUTHENTICATE message starting at its signature.
fn parse_auth(msg: &[u8]) -> Option<NtlmAuth> {
    let flags = le32(msg, 60)?;
    let unicode = flags & NEGOTIATE_UNICODE != 0;
    let field = |at: usize| -> Option<Vec<u8>> {
        let len = usize::from(le16(msg, at)?);
        let off = le32(msg, at + 4)? as usize;
        let raw = slice(msg, off, len)?;
        let mut s = if unicode { utf16le(raw) } else { raw.to_vec() };
        s.truncate(MAX_NAME);
        Some(s)
    };
    let domain = field(28)?;
    let user = field(36)?;
    let host = field(44).unwrap_or_default();
    // The version sits before the payload: only when the first field's data starts past it.
    let payload_start = le32(msg, 32)? as usize;
    let version = (flags & NEGOTIATE_VERSION != 0 && payload_start >= 72)
        .then(|| {
            Some((
                u8_at(msg, 64)?,
                u8_at(msg, 65)?,
                le16(msg, 66)?,
                u8_at(msg, 71)?,
            ))
        })
        .flatten();
    Some(NtlmAuth {
        user,
        domain,
        host,
        version,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testgen::smb::auth_message;

    #[test]
    fn reads_user_domain_host_and_version() {
        let mut blob = b"\xa1\x81\x80\x30\x7e\xa2\x7c\x04\x7a".to_vec();
        blob.extend_from_slice(&auth_message("alice", "CORP", "WS01"));
        let a = find_auth(&blob).unwrap();
        assert_eq!(
            (a.user.as_slice(), a.domain.as_slice(), a.host.as_slice()),
            (&b"alice"[..], &b"CORP"[..], &b"WS01"[..])
        );
        assert_eq!(a.version_string().unwrap(), "6.1 build 7601 rev 15");
    }

    #[test]
    fn other_messages_and_truncation_yield_nothing() {
        let mut neg = SIGNATURE.to_vec();
        neg.extend_from_slice(&1u32.to_le_bytes());
        assert_eq!(find_auth(&neg), None);
        let full = auth_message("bob", "D", "H");
        for cut in 0..full.len() - 1 {
            // Never panics; a cut message is either rejected or read as far as it goes.
            let _ = find_auth(&full[..cut]);
        }
        assert_eq!(find_auth(&full[..60]), None);
    }
}
