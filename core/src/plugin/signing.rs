//! Publisher signatures: a plugin bundle may carry `plugin.sig`, an Ed25519 signature by its
//! publisher over the SHA-256 digests of the component and of the manifest text.

use ed25519_dalek::{Signature, Signer, SigningKey, Verifier, VerifyingKey};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// Prefix of the signed message, so a signature cannot be replayed for another purpose.
const CONTEXT: &str = "shopkeeper-plugin-signature-v1";

/// The contents of `plugin.sig` (TOML).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PluginSignature {
    /// The publisher's Ed25519 public key, 64 hex digits.
    pub publisher_key: String,
    /// The signature, 128 hex digits.
    pub signature: String,
}

fn message(component: &[u8], manifest: &str) -> String {
    format!("{CONTEXT}\n{}\n{}\n", hex::encode(Sha256::digest(component)), hex::encode(Sha256::digest(manifest.as_bytes())))
}

impl PluginSignature {
    pub fn parse(text: &str) -> anyhow::Result<PluginSignature> {
        toml::from_str(text).map_err(|error| anyhow::anyhow!("invalid plugin.sig: {error}"))
    }

    pub fn to_toml(&self) -> String {
        toml::to_string(self).expect("a signature serialises")
    }

    /// Checks the signature over `component` and `manifest` with the key it names.
    pub fn verify(&self, component: &[u8], manifest: &str) -> anyhow::Result<()> {
        let key = parse_public_key(&self.publisher_key)?;
        let bytes: [u8; 64] = hex::decode(&self.signature)
            .ok()
            .and_then(|bytes| bytes.try_into().ok())
            .ok_or_else(|| anyhow::anyhow!("plugin.sig: `signature` is not 128 hex digits"))?;
        key.verify(message(component, manifest).as_bytes(), &Signature::from_bytes(&bytes)).map_err(|_| {
            anyhow::anyhow!(
                "the signature does not match publisher key {} for this component and manifest; \
                 the files were changed after signing or signed with another key",
                self.publisher_key
            )
        })
    }
}

pub fn parse_public_key(text: &str) -> anyhow::Result<VerifyingKey> {
    let bytes: [u8; 32] = hex::decode(text.trim())
        .ok()
        .and_then(|bytes| bytes.try_into().ok())
        .ok_or_else(|| anyhow::anyhow!("publisher key {text:?} is not 64 hex digits (an Ed25519 public key)"))?;
    VerifyingKey::from_bytes(&bytes).map_err(|_| anyhow::anyhow!("publisher key {text:?} is not a valid Ed25519 public key"))
}

/// A new publisher key pair as (secret key hex, public key hex).
pub fn generate_key() -> (String, String) {
    let key = SigningKey::generate(&mut rand::rngs::OsRng);
    (hex::encode(key.to_bytes()), hex::encode(key.verifying_key().to_bytes()))
}

/// Signs a component and manifest with a secret key given as 64 hex digits.
pub fn sign(secret_key_hex: &str, component: &[u8], manifest: &str) -> anyhow::Result<PluginSignature> {
    let bytes: [u8; 32] = hex::decode(secret_key_hex.trim())
        .ok()
        .and_then(|bytes| bytes.try_into().ok())
        .ok_or_else(|| anyhow::anyhow!("the secret key is not 64 hex digits"))?;
    let key = SigningKey::from_bytes(&bytes);
    let signature = key.sign(message(component, manifest).as_bytes());
    Ok(PluginSignature { publisher_key: hex::encode(key.verifying_key().to_bytes()), signature: hex::encode(signature.to_bytes()) })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signature_round_trip() {
        let (secret, public) = generate_key();
        let signature = sign(&secret, b"component", "id = \"x\"").unwrap();
        assert_eq!(signature.publisher_key, public);
        signature.verify(b"component", "id = \"x\"").unwrap();
        let parsed = PluginSignature::parse(&signature.to_toml()).unwrap();
        assert_eq!(parsed, signature);
    }

    #[test]
    fn changed_files_fail_verification() {
        let (secret, public) = generate_key();
        let signature = sign(&secret, b"component", "manifest").unwrap();
        let error = signature.verify(b"componenT", "manifest").unwrap_err().to_string();
        assert!(error.contains(&public), "{error}");
        assert!(signature.verify(b"component", "manifest2").is_err());
        let (_, other_public) = generate_key();
        let forged = PluginSignature { publisher_key: other_public, ..signature };
        assert!(forged.verify(b"component", "manifest").is_err());
    }

    #[test]
    fn malformed_keys_are_named() {
        let error = parse_public_key("abc").unwrap_err().to_string();
        assert!(error.contains("\"abc\""), "{error}");
    }
}
