//! The JSON the publisher sends, member for member in the documented order, and the encryption of
//! rich notifications (docs/protocols/change-notifications.md A.3, B.3-B.4, D.4).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_lc_rs::cipher::{AES_256, EncryptionContext, PaddedBlockEncryptingKey, UnboundCipherKey};
use aws_lc_rs::digest;
use aws_lc_rs::hmac;
use aws_lc_rs::iv::FixedLength;
use aws_lc_rs::rsa::{OAEP_SHA1_MGF1SHA1, OaepPublicEncryptingKey, PublicEncryptingKey};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde::Serialize;
use serde_json::Value;

use crate::SandboxError;

/// Ticks (100 ns) between 0001-01-01 and 1970-01-01: .NET `DateTime.Ticks` of the Unix epoch.
const DOTNET_EPOCH_TICKS: i128 = 621_355_968_000_000_000;

/// `changeNotificationCollection`: `value` and, for rich notifications, `validationTokens`.
#[derive(Debug, Serialize)]
pub(crate) struct Collection<T> {
    pub(crate) value: Vec<T>,
    #[serde(rename = "validationTokens", skip_serializing_if = "Option::is_none")]
    pub(crate) validation_tokens: Option<Vec<String>>,
}

/// One directory change notification, shaped as the Event Grid `data` object of
/// `Microsoft.Graph.UserUpdated` (same members, same order), plus `encryptedContent` when rich.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ChangeNotification {
    pub(crate) change_type: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) client_state: Option<String>,
    pub(crate) resource: String,
    pub(crate) resource_data: ResourceData,
    pub(crate) subscription_expiration_date_time: String,
    pub(crate) subscription_id: String,
    pub(crate) tenant_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) encrypted_content: Option<EncryptedContent>,
}

/// `resourceData` of a user or group notification.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct ResourceData {
    #[serde(rename = "@odata.type")]
    pub(crate) odata_type: &'static str,
    #[serde(rename = "@odata.id")]
    pub(crate) odata_id: String,
    pub(crate) id: String,
    #[serde(rename = "organizationId")]
    pub(crate) organization_id: String,
    #[serde(rename = "eventTime")]
    pub(crate) event_time: String,
    #[serde(rename = "sequenceNumber")]
    pub(crate) sequence_number: String,
    /// Membership changes of a group, in delta-query form (observed, shape not documented).
    #[serde(rename = "members@delta", skip_serializing_if = "Option::is_none")]
    pub(crate) members_delta: Option<Vec<Value>>,
}

/// `changeNotificationEncryptedContent`, members in the documented order.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct EncryptedContent {
    pub(crate) data: String,
    pub(crate) data_signature: String,
    pub(crate) data_key: String,
    pub(crate) encryption_certificate_id: String,
    pub(crate) encryption_certificate_thumbprint: String,
}

/// One lifecycle notification, exactly the members of the documented payload in their order.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct LifecycleNotification {
    pub(crate) subscription_id: String,
    pub(crate) subscription_expiration_date_time: String,
    pub(crate) tenant_id: String,
    pub(crate) client_state: Option<String>,
    pub(crate) lifecycle_event: &'static str,
}

/// The RSA public key of a rich subscription's `encryptionCertificate`.
#[derive(Debug)]
pub(crate) struct RecipientKey {
    key: PublicEncryptingKey,
    /// Uppercase hex SHA-1 of the DER certificate.
    pub(crate) thumbprint: String,
}

impl RecipientKey {
    /// Reads `encryptionCertificate`: base64 of a DER X.509 certificate (whitespace tolerated) with
    /// an RSA key of 2,048 to 4,096 bits. The issuer and validity are not checked, as in Graph.
    pub(crate) fn from_base64_certificate(text: &str) -> Result<Self, String> {
        let compact: String = text.chars().filter(|c| !c.is_whitespace()).collect();
        let der = STANDARD
            .decode(compact)
            .map_err(|_| "the encryptionCertificate is not valid base64".to_owned())?;
        let (_, cert) = x509_parser::parse_x509_certificate(&der)
            .map_err(|_| "the encryptionCertificate is not a DER X.509 certificate".to_owned())?;
        let key = PublicEncryptingKey::from_der(cert.public_key().raw)
            .map_err(|_| "the encryptionCertificate must hold an RSA public key".to_owned())?;
        if !(2048..=4096).contains(&key.key_size_bits()) {
            return Err(format!(
                "the encryptionCertificate key has {} bits; 2048 to 4096 are supported",
                key.key_size_bits()
            ));
        }
        Ok(Self {
            key,
            thumbprint: sha1_hex_upper(&der),
        })
    }

    /// Graph's rich-notification encryption (B.4, run forwards): a random 32-byte key; AES-256-CBC
    /// with IV = key[0..16] and PKCS#7 padding; HMAC-SHA256 of the ciphertext under the key; the key
    /// wrapped with RSA-OAEP (SHA-1, MGF1-SHA-1, no label).
    pub(crate) fn encrypt(
        &self,
        certificate_id: &str,
        plaintext: &[u8],
    ) -> Result<EncryptedContent, SandboxError> {
        let crypto = |what: &str| SandboxError::Crypto(format!("rich notification: {what}"));
        let mut key = [0u8; 32];
        aws_lc_rs::rand::fill(&mut key).map_err(|_| crypto("random key"))?;
        let mut iv = [0u8; 16];
        iv.copy_from_slice(&key[..16]);
        let cipher = PaddedBlockEncryptingKey::cbc_pkcs7(
            UnboundCipherKey::new(&AES_256, &key).map_err(|_| crypto("AES key"))?,
        )
        .map_err(|_| crypto("CBC key"))?;
        let mut data = plaintext.to_vec();
        cipher
            .less_safe_encrypt(&mut data, EncryptionContext::Iv128(FixedLength::from(iv)))
            .map_err(|_| crypto("AES-CBC encryption"))?;
        let signature = hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, &key), &data);
        let oaep =
            OaepPublicEncryptingKey::new(self.key.clone()).map_err(|_| crypto("OAEP key"))?;
        let mut wrapped = vec![0u8; oaep.ciphertext_size()];
        let written = oaep
            .encrypt(&OAEP_SHA1_MGF1SHA1, &key, &mut wrapped, None)
            .map_err(|_| crypto("RSA-OAEP encryption"))?
            .len();
        wrapped.truncate(written);
        Ok(EncryptedContent {
            data: STANDARD.encode(&data),
            data_signature: STANDARD.encode(signature.as_ref()),
            data_key: STANDARD.encode(&wrapped),
            encryption_certificate_id: certificate_id.to_owned(),
            encryption_certificate_thumbprint: self.thumbprint.clone(),
        })
    }
}

fn sha1_hex_upper(bytes: &[u8]) -> String {
    digest::digest(&digest::SHA1_FOR_LEGACY_USE_ONLY, bytes)
        .as_ref()
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect()
}

/// 100 ns ticks since the Unix epoch (0 before it).
pub(crate) fn unix_ticks(at: SystemTime) -> i128 {
    at.duration_since(UNIX_EPOCH).map_or(0, |d| {
        i128::try_from(d.as_nanos() / 100).unwrap_or(i128::MAX)
    })
}

/// The instant truncated to whole 100 ns ticks, the precision Graph shows.
pub(crate) fn truncate_to_ticks(at: SystemTime) -> SystemTime {
    let ticks = unix_ticks(at);
    let nanos = u64::try_from(ticks.saturating_mul(100)).unwrap_or(u64::MAX);
    UNIX_EPOCH + Duration::from_nanos(nanos)
}

/// .NET `DateTime.Ticks` of an instant: what Graph's `sequenceNumber` tracks (an observed
/// `636784480202455800` sits next to `eventTime` `2018-11-22T01:47:00.2455823Z`).
pub(crate) fn dotnet_ticks(at: SystemTime) -> i128 {
    DOTNET_EPOCH_TICKS + unix_ticks(at)
}

/// `2016-11-20T18:23:45.9356913Z`: the subscription's `expirationDateTime`, `eventTime`, and the
/// lifecycle payload's `subscriptionExpirationDateTime`.
pub(crate) fn format_z(at: SystemTime) -> String {
    format!("{}Z", format_seven(at))
}

/// `2022-05-24T23:21:19.3554403+00:00`: `subscriptionExpirationDateTime` of directory change
/// notifications, as the Event Grid page shows it.
pub(crate) fn format_offset(at: SystemTime) -> String {
    format!("{}+00:00", format_seven(at))
}

fn format_seven(at: SystemTime) -> String {
    let format = time::macros::format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:7]"
    );
    time::OffsetDateTime::from(at)
        .format(&format)
        .unwrap_or_default()
}

/// Parses an `expirationDateTime` (RFC 3339: `2016-03-20T11:00:00.0000000Z`, any offset).
pub(crate) fn parse_date_time(text: &str) -> Option<SystemTime> {
    time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339)
        .ok()
        .map(SystemTime::from)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_have_seven_digits() {
        let at = UNIX_EPOCH + Duration::from_nanos(1_653_431_071_306_290_123);
        assert_eq!(format_z(at), "2022-05-24T22:24:31.3062901Z");
        assert_eq!(format_offset(at), "2022-05-24T22:24:31.3062901+00:00");
        assert_eq!(
            parse_date_time("2022-05-24T22:24:31.3062901Z").map(format_z),
            Some("2022-05-24T22:24:31.3062901Z".into())
        );
        assert_eq!(
            parse_date_time("2022-05-25T00:24:31.3062901+02:00").map(format_z),
            Some("2022-05-24T22:24:31.3062901Z".into())
        );
        assert!(parse_date_time("2022-05-24 22:24:31").is_none());
    }

    #[test]
    fn sequence_numbers_are_dotnet_ticks() {
        let at = parse_date_time("2018-11-22T01:47:00.2455823Z").unwrap();
        assert_eq!(dotnet_ticks(at), 636_784_480_202_455_823);
    }
}
