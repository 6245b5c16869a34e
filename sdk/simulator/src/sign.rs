//! TOP request signing: `md5`, `hmac` (HMAC-MD5) and `hmac-sha256`.

use hmac::{Hmac, Mac};
use md5::{Digest, Md5};
use sha2::Sha256;

/// A value of the TOP `sign_method` parameter.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SignMethod {
    /// `md5`: uppercase hex of MD5(secret + string + secret). TOP uses it when `sign_method` is absent.
    Md5,
    /// `hmac`: uppercase hex of HMAC-MD5 keyed with the secret.
    HmacMd5,
    /// `hmac-sha256`: uppercase hex of HMAC-SHA256 keyed with the secret.
    HmacSha256,
}

impl SignMethod {
    /// Parses a `sign_method` value. Returns `None` for a method TOP does not define.
    pub fn parse(value: &str) -> Option<Self> {
        match value {
            "md5" => Some(Self::Md5),
            "hmac" => Some(Self::HmacMd5),
            "hmac-sha256" => Some(Self::HmacSha256),
            _ => None,
        }
    }

    /// Returns the `sign_method` parameter value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Md5 => "md5",
            Self::HmacMd5 => "hmac",
            Self::HmacSha256 => "hmac-sha256",
        }
    }
}

/// Builds the string that TOP signs: every parameter except `sign`, sorted by name in byte order,
/// each name followed directly by its value. Parameters with an empty name or value are skipped.
pub fn sign_base_string<'a>(params: impl IntoIterator<Item = (&'a str, &'a str)>) -> String {
    let mut pairs: Vec<(&str, &str)> = params
        .into_iter()
        .filter(|(name, value)| *name != "sign" && !name.is_empty() && !value.is_empty())
        .collect();
    // A stable sort keeps repeated names in request order, so the signer and the checker agree.
    pairs.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));

    let mut base = String::new();
    for (name, value) in pairs {
        base.push_str(name);
        base.push_str(value);
    }
    base
}

/// Computes the TOP `sign` value (uppercase hex) of `params` with the app secret.
pub fn top_sign<'a>(
    params: impl IntoIterator<Item = (&'a str, &'a str)>,
    secret: &str,
    method: SignMethod,
) -> String {
    let base = sign_base_string(params);
    let digest = match method {
        SignMethod::Md5 => {
            let mut hasher = Md5::new();
            hasher.update(secret.as_bytes());
            hasher.update(base.as_bytes());
            hasher.update(secret.as_bytes());
            hasher.finalize().to_vec()
        }
        SignMethod::HmacMd5 => {
            let mut mac = Hmac::<Md5>::new_from_slice(secret.as_bytes())
                .expect("HMAC accepts a key of any length");
            mac.update(base.as_bytes());
            mac.finalize().into_bytes().to_vec()
        }
        SignMethod::HmacSha256 => {
            let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes())
                .expect("HMAC accepts a key of any length");
            mac.update(base.as_bytes());
            mac.finalize().into_bytes().to_vec()
        }
    };
    hex::encode_upper(digest)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The parameters of the official TOP signing example, without `sign_method`.
    const EXAMPLE_PARAMS: [(&str, &str); 8] = [
        ("method", "taobao.item.seller.get"),
        ("app_key", "12345678"),
        ("session", "test"),
        ("timestamp", "2016-01-01 12:00:00"),
        ("format", "json"),
        ("v", "2.0"),
        ("fields", "num_iid,title,nick,price,num"),
        ("num_iid", "11223344"),
    ];

    fn example_with(sign_method: &'static str) -> Vec<(&'static str, &'static str)> {
        let mut params = EXAMPLE_PARAMS.to_vec();
        params.push(("sign_method", sign_method));
        params
    }

    #[test]
    fn base_string_sorts_and_skips() {
        let params = example_with("md5");
        assert_eq!(
            sign_base_string(params.iter().copied()),
            "app_key12345678fieldsnum_iid,title,nick,price,numformatjsonmethodtaobao.item.seller.get\
             num_iid11223344sessiontestsign_methodmd5timestamp2016-01-01 12:00:00v2.0"
        );
        let with_extras = [
            ("sign", "ABC"),
            ("", "x"),
            ("empty", ""),
            ("b", "2"),
            ("a", "1"),
        ];
        assert_eq!(sign_base_string(with_extras), "a1b2");
    }

    #[test]
    fn md5_vector_v1() {
        let params = example_with("md5");
        assert_eq!(
            top_sign(params.iter().copied(), "helloworld", SignMethod::Md5),
            "66987CB115214E59E6EC978214934FB8"
        );
    }

    #[test]
    fn hmac_md5_vector_v5() {
        let params = example_with("hmac");
        assert_eq!(
            top_sign(params.iter().copied(), "helloworld", SignMethod::HmacMd5),
            "D56D7858309C31B6251083A874D48273"
        );
    }

    #[test]
    fn hmac_sha256_vector_v6() {
        let params = example_with("hmac-sha256");
        assert_eq!(
            top_sign(params.iter().copied(), "helloworld", SignMethod::HmacSha256),
            "04DB15AD0774D5CFCE2C837DE43E3FCEA9011ED74F3038FB6AB5F3C4CEA119E8"
        );
    }

    #[test]
    fn sign_method_parse_round_trip() {
        for method in [SignMethod::Md5, SignMethod::HmacMd5, SignMethod::HmacSha256] {
            assert_eq!(SignMethod::parse(method.as_str()), Some(method));
        }
        assert_eq!(SignMethod::parse("sha1"), None);
        assert_eq!(SignMethod::parse("MD5"), None);
    }
}
