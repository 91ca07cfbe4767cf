//! Token identity keys. `iss`+`jti` tokens get a 128-bit SipHash-2-4 state key
//! (a keyed PRF: cheap enough to run on every event, and collisions cannot be
//! chosen without the secret). Tokens without `jti` are named by a keyed
//! HMAC-SHA256 fingerprint (computed once per distinct token), which can be
//! shown in alerts without revealing or allowing a guess of the token.

use hmac::{Hmac, Mac};
use sha2::Sha256;
use siphasher::sip128::{Hasher128, SipHasher24};
use std::hash::Hasher;

use crate::model::TokenKey;

/// The key used when settings give none. Fine for a laptop; a deployment must
/// set its own (tokenhound warns at start when this one is in use).
pub const DEFAULT_IDENTITY_KEY: &str = "tokenhound-default-identity-key-change-me";

#[derive(Clone)]
pub struct IdentityKeys {
    sip: (u64, u64),
    hmac: Vec<u8>,
    pub is_default: bool,
}

impl std::fmt::Debug for IdentityKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "IdentityKeys(<secret>, default={})", self.is_default)
    }
}

impl IdentityKeys {
    pub fn new(secret: &[u8]) -> Self {
        let derive = |label: &[u8]| {
            let mut m = <Hmac<Sha256>>::new_from_slice(secret).expect("any key length");
            m.update(label);
            m.finalize().into_bytes()
        };
        let s = derive(b"tokenhound/state-key/v1");
        let h = derive(b"tokenhound/fingerprint/v1");
        IdentityKeys {
            sip: (
                u64::from_le_bytes(s[..8].try_into().expect("8")),
                u64::from_le_bytes(s[8..16].try_into().expect("8")),
            ),
            hmac: h.to_vec(),
            is_default: secret == DEFAULT_IDENTITY_KEY.as_bytes(),
        }
    }

    fn sip128(&self, parts: &[&[u8]]) -> [u8; 16] {
        let mut h = SipHasher24::new_with_keys(self.sip.0, self.sip.1);
        for p in parts {
            h.write(p);
            h.write_u8(0xff); // separator: ("ab","c") != ("a","bc")
        }
        h.finish128().as_bytes()
    }

    /// State key of an `iss` + `jti` token.
    pub fn jti_key(&self, iss: &str, jti: &str) -> TokenKey {
        TokenKey(self.sip128(&[b"jti", iss.as_bytes(), jti.as_bytes()]))
    }

    /// A cache key (not a state key) for `parts` under a domain `tag`: to
    /// find a token named by a fingerprint without computing the HMAC.
    pub fn lookup_key(&self, parts: &[&[u8]]) -> TokenKey {
        TokenKey(self.sip128(parts))
    }

    /// The cache key of unvouched claims: every claim `fill` reads, each with
    /// its presence, so two uses whose claims differ in anything (an `exp`, a
    /// `client_id`, an odd type) never share a cached entry.
    pub fn claims_lookup(&self, c: &super::RawClaims<'_>, lenient: bool) -> TokenKey {
        use super::{Aud, NumericDate};
        let mut nums = [[0u8; 9]; 3];
        for (n, d) in nums.iter_mut().zip([&c.exp, &c.iat, &c.nbf]) {
            match d {
                Some(NumericDate::Num(f)) => {
                    n[0] = 1;
                    n[1..].copy_from_slice(&f.to_le_bytes());
                }
                Some(NumericDate::Str(_)) => n[0] = 2,
                None => {}
            }
        }
        let n_aud = match &c.aud {
            Some(Aud::Many(v)) => (v.len() as u64).to_le_bytes(),
            _ => [0; 8],
        };
        let mut parts: smallvec::SmallVec<[&[u8]; 32]> = smallvec::smallvec![&b"lookup:claims"[..]];
        for t in [&c.iss, &c.jti, &c.sub, &c.azp, &c.client_id, &c.kid, &c.alg] {
            parts.push(if t.is_some() { b"1" } else { b"0" });
            parts.push(t.as_deref().map_or(&b""[..], str::as_bytes));
        }
        for (n, d) in nums.iter().zip([&c.exp, &c.iat, &c.nbf]) {
            parts.push(n);
            if let Some(NumericDate::Str(t)) = d {
                parts.push(t.as_bytes());
            }
        }
        match &c.aud {
            None => parts.push(b"aud0"),
            Some(Aud::One(t)) => parts.extend([&b"aud1"[..], t.as_bytes()]),
            Some(Aud::Many(v)) => {
                parts.extend([&b"audn"[..], &n_aud[..]]);
                parts.extend(v.iter().map(|t| t.as_bytes()));
            }
        }
        parts.push(c.odd.unwrap_or("").as_bytes());
        parts.push(if lenient { b"lenient" } else { b"strict" });
        self.lookup_key(&parts)
    }

    /// Key of the raw-token decode cache: keyed SipHash-1-3 (the variant
    /// Rust's HashMap uses; half the rounds of the state keys' 2-4), 128
    /// bits, over every byte of a token hundreds of bytes long on every
    /// request. It names nothing outside the cache.
    pub fn cache_key(&self, raw: &str) -> u128 {
        let mut h = siphasher::sip128::SipHasher13::new_with_keys(self.sip.0 ^ 0x7261_7763_6163_6865, self.sip.1);
        h.write(raw.as_bytes());
        u128::from_le_bytes(h.finish128().as_bytes())
    }

    /// Keyed HMAC-SHA256 fingerprint of a raw token: (state key, hex id).
    /// The names of claims (below) always hold a NUL and a raw token never
    /// does as it is hashed (one that holds a NUL is hashed behind a `raw`
    /// prefix), so a bearer value cannot take the name of logged claims.
    pub fn fingerprint(&self, raw: &str) -> (TokenKey, String) {
        if raw.contains('\0') {
            return self.hmac_of(&[b"raw\0", raw.as_bytes()]);
        }
        self.hmac_of(&[raw.as_bytes()])
    }

    /// Keyed fingerprint of a name made of parts: `domain`, then each part
    /// length-prefixed (`<len>:<part>`, NUL-separated), so no part can
    /// forge a boundary whatever bytes it holds.
    pub fn fingerprint_parts(&self, domain: &str, parts: &[&str]) -> (TokenKey, String) {
        let mut name = String::from(domain);
        for p in parts {
            name.push('\0');
            name.push_str(&p.len().to_string());
            name.push(':');
            name.push_str(p);
        }
        self.hmac_of(&[name.as_bytes()])
    }

    /// A logged name (`claims\0...`, one NUL-joined string) as it was always
    /// hashed; callers make sure no part holds a NUL.
    pub fn fingerprint_name(&self, name: &str) -> (TokenKey, String) {
        debug_assert!(name.contains('\0'));
        self.hmac_of(&[name.as_bytes()])
    }

    fn hmac_of(&self, bytes: &[&[u8]]) -> (TokenKey, String) {
        let mut m = <Hmac<Sha256>>::new_from_slice(&self.hmac).expect("any key length");
        for b in bytes {
            m.update(b);
        }
        let out = m.finalize().into_bytes();
        let mut k = [0u8; 16];
        k.copy_from_slice(&out[..16]);
        (TokenKey(k), hex::encode(k))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_depend_on_secret_and_fields() {
        let a = IdentityKeys::new(b"one");
        let b = IdentityKeys::new(b"two");
        assert_ne!(a.jti_key("i", "j"), b.jti_key("i", "j"));
        assert_ne!(a.jti_key("ab", "c"), a.jti_key("a", "bc"));
        assert_eq!(a.jti_key("i", "j"), a.jti_key("i", "j"));
        let (k1, h1) = a.fingerprint("tok");
        let (k2, h2) = b.fingerprint("tok");
        assert_ne!(k1, k2);
        assert_ne!(h1, h2);
        assert_eq!(h1.len(), 32);
        assert!(IdentityKeys::new(DEFAULT_IDENTITY_KEY.as_bytes()).is_default);
    }
}
