//! Kerberos 5 messages built for tests and fuzz seeds (DER by hand): an AS-REQ, an AS-REP
//! with a ticket, a KRB-ERROR.

/// A DER element of `tag` around `content`.
fn tlv(tag: u8, content: &[u8]) -> Vec<u8> {
    let mut v = vec![tag];
    let n = content.len();
    if n < 0x80 {
        v.push(n as u8);
    } else if n < 0x100 {
        v.extend_from_slice(&[0x81, n as u8]);
    } else {
        v.extend_from_slice(&[0x82, (n >> 8) as u8, n as u8]);
    }
    v.extend_from_slice(content);
    v
}

fn ctx(n: u8, content: &[u8]) -> Vec<u8> {
    tlv(0xa0 | n, content)
}

fn int(v: i32) -> Vec<u8> {
    let b = v.to_be_bytes();
    let skip = b.iter().take(3).take_while(|&&x| x == 0).count();
    let mut c = b[skip..].to_vec();
    if c[0] & 0x80 != 0 && v >= 0 {
        c.insert(0, 0);
    }
    tlv(0x02, &c)
}

fn kstr(s: &str) -> Vec<u8> {
    tlv(0x1b, s.as_bytes())
}

fn principal(parts: &[&str]) -> Vec<u8> {
    let names: Vec<u8> = parts.iter().flat_map(|p| kstr(p)).collect();
    tlv(
        0x30,
        &[ctx(0, &int(1)), ctx(1, &tlv(0x30, &names))].concat(),
    )
}

fn enc_data(etype: i32) -> Vec<u8> {
    tlv(
        0x30,
        &[ctx(0, &int(etype)), ctx(2, &tlv(0x04, b"\x01\x02\x03\x04"))].concat(),
    )
}

/// An AS-REQ from `user` in `realm` for service `sname`.
pub fn as_req(user: &str, realm: &str, sname: &[&str]) -> Vec<u8> {
    let body = tlv(
        0x30,
        &[
            ctx(0, &tlv(0x03, b"\x00\x40\x81\x00\x10")),
            ctx(1, &principal(&[user])),
            ctx(2, &kstr(realm)),
            ctx(3, &principal(sname)),
            ctx(7, &int(12345)),
            ctx(8, &tlv(0x30, &[int(18), int(23)].concat())),
        ]
        .concat(),
    );
    let seq = tlv(
        0x30,
        &[ctx(1, &int(5)), ctx(2, &int(10)), ctx(4, &body)].concat(),
    );
    tlv(0x6a, &seq)
}

/// An AS-REP to `user` with a ticket for `sname`: the reply encrypted with `etype`, the
/// ticket with `ticket_etype`.
pub fn as_rep(user: &str, sname: &[&str], etype: i32, ticket_etype: i32) -> Vec<u8> {
    let ticket = tlv(
        0x61,
        &tlv(
            0x30,
            &[
                ctx(0, &int(5)),
                ctx(1, &kstr("CORP.EXAMPLE")),
                ctx(2, &principal(sname)),
                ctx(3, &enc_data(ticket_etype)),
            ]
            .concat(),
        ),
    );
    let seq = tlv(
        0x30,
        &[
            ctx(0, &int(5)),
            ctx(1, &int(11)),
            ctx(3, &kstr("CORP.EXAMPLE")),
            ctx(4, &principal(&[user])),
            ctx(5, &ticket),
            ctx(6, &enc_data(etype)),
        ]
        .concat(),
    );
    tlv(0x6b, &seq)
}

/// A KRB-ERROR with `code` about `user` and `sname`.
pub fn krb_error(code: i32, user: &str, sname: &[&str]) -> Vec<u8> {
    let seq = tlv(
        0x30,
        &[
            ctx(0, &int(5)),
            ctx(1, &int(30)),
            ctx(4, &tlv(0x18, b"20261129120000Z")),
            ctx(5, &int(0)),
            ctx(6, &int(code)),
            ctx(8, &principal(&[user])),
            ctx(9, &kstr("CORP.EXAMPLE")),
            ctx(10, &principal(sname)),
        ]
        .concat(),
    );
    tlv(0x7e, &seq)
}

/// An SPNEGO-wrapped Kerberos AP-REQ for a ticket to `sname` in `realm` (an SMB session
/// setup's security blob).
pub fn spnego_ap_req(realm: &str, sname: &[&str]) -> Vec<u8> {
    let ticket = tlv(
        0x61,
        &tlv(
            0x30,
            &[
                ctx(0, &int(5)),
                ctx(1, &kstr(realm)),
                ctx(2, &principal(sname)),
                ctx(3, &enc_data(18)),
            ]
            .concat(),
        ),
    );
    let ap_req = tlv(
        0x6e,
        &tlv(
            0x30,
            &[
                ctx(0, &int(5)),
                ctx(1, &int(14)),
                ctx(2, &tlv(0x03, b"\x00\x20\x00\x00\x00")),
                ctx(3, &ticket),
                ctx(4, &enc_data(18)),
            ]
            .concat(),
        ),
    );
    // GSS-API framing: the Kerberos OID and the AP-REQ token id, inside SPNEGO's init token.
    let mut krb = b"\x06\x09\x2a\x86\x48\x86\xf7\x12\x01\x02\x02\x01\x00".to_vec();
    krb.extend_from_slice(&ap_req);
    let mech_token = ctx(2, &tlv(0x04, &tlv(0x60, &krb)));
    tlv(
        0x60,
        &[
            b"\x06\x06\x2b\x06\x01\x05\x05\x02".to_vec(),
            ctx(0, &tlv(0x30, &mech_token)),
        ]
        .concat(),
    )
}
