//! A minimal DER reader (X.690): enough to take a public key out of a
//! SubjectPublicKeyInfo and a common name out of a certificate. Input is
//! untrusted; every read is bounds-checked and nothing panics.

/// The next tag-length-value: (tag, contents, what follows).
pub fn next(input: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, rest) = input.split_first()?;
    let (&first, rest) = rest.split_first()?;
    let (len, rest) = if first < 0x80 {
        (usize::from(first), rest)
    } else {
        let n = usize::from(first & 0x7f);
        if n == 0 || n > 3 || rest.len() < n {
            return None;
        }
        let len = rest[..n]
            .iter()
            .fold(0usize, |acc, b| (acc << 8) | usize::from(*b));
        (len, &rest[n..])
    };
    if rest.len() < len {
        return None;
    }
    Some((tag, &rest[..len], &rest[len..]))
}

/// The id-at-commonName OID (2.5.4.3), as DER contents.
const COMMON_NAME: &[u8] = &[0x55, 0x04, 0x03];

/// The subject's (last) common name of an X.509 certificate (RFC 5280
/// §4.1), as Dovecot's `ssl_cert_username_field = commonName` reads it.
pub fn subject_common_name(cert: &[u8]) -> Option<String> {
    let (0x30, certificate, _) = next(cert)? else {
        return None;
    };
    let (0x30, tbs, _) = next(certificate)? else {
        return None;
    };
    let mut rest = tbs;
    // [0] version is optional; then serial, signature, issuer, validity.
    if rest.first() == Some(&0xa0) {
        rest = next(rest)?.2;
    }
    for _ in 0..4 {
        rest = next(rest)?.2;
    }
    let (0x30, mut subject, _) = next(rest)? else {
        return None;
    };
    let mut found = None;
    // Each RDN is a SET of attribute SEQUENCEs.
    while !subject.is_empty() {
        let (0x31, mut rdn, after) = next(subject)? else {
            return None;
        };
        subject = after;
        while !rdn.is_empty() {
            let (0x30, attr, after) = next(rdn)? else {
                return None;
            };
            rdn = after;
            let (0x06, oid, value) = next(attr)? else {
                return None;
            };
            if oid == COMMON_NAME {
                // UTF8String, PrintableString, T61String, IA5String.
                let (tag, text, _) = next(value)?;
                if matches!(tag, 0x0c | 0x13 | 0x14 | 0x16) {
                    found = Some(std::str::from_utf8(text).ok()?.to_string());
                }
            }
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn common_name_of_generated_certificates() {
        let key = rcgen::KeyPair::generate().unwrap();
        let mut params = rcgen::CertificateParams::new(vec!["x.test".into()]).unwrap();
        params.distinguished_name = rcgen::DistinguishedName::new();
        params
            .distinguished_name
            .push(rcgen::DnType::OrganizationName, "Org");
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "carol@example.com");
        let cert = params.self_signed(&key).unwrap();
        assert_eq!(
            subject_common_name(cert.der()).as_deref(),
            Some("carol@example.com")
        );
        let mut params = rcgen::CertificateParams::new(vec!["x.test".into()]).unwrap();
        params.distinguished_name = rcgen::DistinguishedName::new();
        let cert = params.self_signed(&key).unwrap();
        assert_eq!(subject_common_name(cert.der()), None);
        let der = cert.der().to_vec();
        for cut in [0, 1, 10, der.len() / 2, der.len() - 1] {
            let _ = subject_common_name(&der[..cut]);
        }
        assert_eq!(subject_common_name(b"\x30\x84\xff\xff\xff\xff"), None);
    }
}
