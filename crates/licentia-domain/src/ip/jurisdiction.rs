//! Jurisdictions: ISO 3166-1 alpha-2 countries plus the regional offices (EP: European Patent
//! Office, WO: PCT/WIPO, EM: EUIPO, AP: ARIPO, OA: OAPI, EA: Eurasian Patent Office).

use std::fmt;

use serde::Serialize;

use crate::DomainError;

/// The 249 officially assigned ISO 3166-1 alpha-2 codes.
const ISO_3166: [&str; 249] = [
    "AD", "AE", "AF", "AG", "AI", "AL", "AM", "AO", "AQ", "AR", "AS", "AT", "AU", "AW", "AX", "AZ", "BA", "BB", "BD", "BE", "BF", "BG", "BH", "BI", "BJ", "BL",
    "BM", "BN", "BO", "BQ", "BR", "BS", "BT", "BV", "BW", "BY", "BZ", "CA", "CC", "CD", "CF", "CG", "CH", "CI", "CK", "CL", "CM", "CN", "CO", "CR", "CU", "CV",
    "CW", "CX", "CY", "CZ", "DE", "DJ", "DK", "DM", "DO", "DZ", "EC", "EE", "EG", "EH", "ER", "ES", "ET", "FI", "FJ", "FK", "FM", "FO", "FR", "GA", "GB", "GD",
    "GE", "GF", "GG", "GH", "GI", "GL", "GM", "GN", "GP", "GQ", "GR", "GS", "GT", "GU", "GW", "GY", "HK", "HM", "HN", "HR", "HT", "HU", "ID", "IE", "IL", "IM",
    "IN", "IO", "IQ", "IR", "IS", "IT", "JE", "JM", "JO", "JP", "KE", "KG", "KH", "KI", "KM", "KN", "KP", "KR", "KW", "KY", "KZ", "LA", "LB", "LC", "LI", "LK",
    "LR", "LS", "LT", "LU", "LV", "LY", "MA", "MC", "MD", "ME", "MF", "MG", "MH", "MK", "ML", "MM", "MN", "MO", "MP", "MQ", "MR", "MS", "MT", "MU", "MV", "MW",
    "MX", "MY", "MZ", "NA", "NC", "NE", "NF", "NG", "NI", "NL", "NO", "NP", "NR", "NU", "NZ", "OM", "PA", "PE", "PF", "PG", "PH", "PK", "PL", "PM", "PN", "PR",
    "PS", "PT", "PW", "PY", "QA", "RE", "RO", "RS", "RU", "RW", "SA", "SB", "SC", "SD", "SE", "SG", "SH", "SI", "SJ", "SK", "SL", "SM", "SN", "SO", "SR", "SS",
    "ST", "SV", "SX", "SY", "SZ", "TC", "TD", "TF", "TG", "TH", "TJ", "TK", "TL", "TM", "TN", "TO", "TR", "TT", "TV", "TW", "TZ", "UA", "UG", "UM", "US", "UY",
    "UZ", "VA", "VC", "VE", "VG", "VI", "VN", "VU", "WF", "WS", "YE", "YT", "ZA", "ZM", "ZW",
];

const REGIONAL: [&str; 6] = ["EP", "WO", "EM", "AP", "OA", "EA"];

#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, utoipa::ToSchema)]
#[serde(transparent)]
pub struct Jurisdiction(String);

/// Whether `code` (upper case) is an ISO 3166-1 alpha-2 country.
pub fn is_country(code: &str) -> bool {
    ISO_3166.contains(&code)
}

/// Every ISO 3166-1 alpha-2 country (what a worldwide territory expands to).
pub fn countries() -> &'static [&'static str] {
    &ISO_3166
}

impl Jurisdiction {
    pub fn parse(raw: &str) -> Result<Self, DomainError> {
        let code = raw.trim().to_ascii_uppercase();
        if ISO_3166.contains(&code.as_str()) || REGIONAL.contains(&code.as_str()) {
            Ok(Self(code))
        } else {
            Err(DomainError::new("jurisdiction", "must be an ISO 3166 country code or EP, WO, EM, AP, OA, EA"))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Jurisdiction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn countries_and_regional_offices_parse_and_nothing_else() {
        for ok in ["us", "EP", "WO", "em", "JP", "CN", "GB", "DE"] {
            assert!(Jurisdiction::parse(ok).is_ok(), "{ok}");
        }
        for bad in ["", "UK", "EU", "XX", "USA", "E"] {
            assert!(Jurisdiction::parse(bad).is_err(), "{bad}");
        }
    }
}
