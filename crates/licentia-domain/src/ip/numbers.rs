//! Per-office number formats for applications, publications and grants. The check is on shape
//! (the offices' documented formats), normalised to upper case without spaces or thousands
//! separators; check digits are kept, not recomputed.

use crate::DomainError;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NumberKind {
    Application,
    Publication,
    Grant,
}

impl NumberKind {
    pub fn field(self) -> &'static str {
        match self {
            NumberKind::Application => "application_number",
            NumberKind::Publication => "publication_number",
            NumberKind::Grant => "grant_number",
        }
    }
}

/// `9` = a digit, `A` = a letter, `X` = a digit or `X` (Chinese check digits), `K` = a kind code
/// letter-digit pair or a lone letter at the end; anything else is literal.
fn matches(s: &str, pattern: &str) -> bool {
    let (s, p): (Vec<char>, Vec<char>) = (s.chars().collect(), pattern.chars().collect());
    fn go(s: &[char], p: &[char]) -> bool {
        match p.first() {
            None => s.is_empty(),
            Some('K') => {
                // Optional kind code: nothing, one letter, or a letter and a digit.
                go(s, &p[1..])
                    || (s.first().is_some_and(|c| c.is_ascii_uppercase())
                        && (go(&s[1..], &p[1..]) || (s.get(1).is_some_and(char::is_ascii_digit) && go(&s[2..], &p[1..]))))
            }
            Some(pc) => {
                let Some(sc) = s.first() else { return false };
                let ok = match pc {
                    '9' => sc.is_ascii_digit(),
                    'A' => sc.is_ascii_uppercase(),
                    'X' => sc.is_ascii_digit() || *sc == 'X',
                    lit => sc == lit,
                };
                ok && go(&s[1..], &p[1..])
            }
        }
    }
    go(&s, &p)
}

/// Formats per office (sources: USPTO MPEP 503 and 2972, EPO Guidelines A-III / Rule 68(1) EPC
/// publication numbers, WIPO ST.13 and PCT Rule 48, CNIPA 2003 numbering, JPO 2000 numbering,
/// UKIPO, DPMA 2004 file numbers).
fn patterns(office: &str, kind: NumberKind) -> Option<&'static [&'static str]> {
    use NumberKind::*;
    Some(match (office, kind) {
        ("US", Application) => &["99/999999", "99999999"],
        ("US", Publication) => &["US99999999999K", "US9999/9999999K"],
        ("US", Grant) => &["US9999999K", "US99999999K", "USRE99999K", "USD999999K", "USPP99999K"],
        ("EP", Application) => &["EP99999999.9", "99999999.9"],
        ("EP", Publication | Grant) => &["EP9999999K"],
        ("WO", Application) => &["PCT/AA9999/999999", "PCT/AA99/99999"],
        ("WO", Publication) => &["WO9999/999999K", "WO9999999999K"],
        ("CN", Application) => &["999999999999.X", "CN999999999999.X", "ZL999999999999.X", "99999999.X", "999999999.X"],
        ("CN", Publication | Grant) => &["CN999999999K"],
        ("JP", Application) => &["9999-999999", "JP9999-999999", "JP9999999999"],
        ("JP", Publication) => &["JP9999-999999K", "JP9999999999K"],
        ("JP", Grant) => &["JP9999999K"],
        ("GB", Application) => &["GB9999999.9", "9999999.9"],
        ("GB", Publication | Grant) => &["GB9999999K"],
        ("DE", Application) => &["999999999999.9", "DE999999999999.9", "999999999.9"],
        ("DE", Publication | Grant) => &["DE999999999999K", "DE99999999K", "DE9999999K"],
        _ => return None,
    })
}

/// A normalised number, or a 422-ready error naming the field.
pub fn parse(office: &str, kind: NumberKind, raw: &str) -> Result<String, DomainError> {
    let normal: String = raw.trim().to_uppercase().chars().filter(|c| !matches!(c, ' ' | ',' | '\u{00a0}')).collect();
    if normal.is_empty() {
        return Err(DomainError::new(kind.field(), "must not be empty"));
    }
    match patterns(office, kind) {
        Some(list) if list.iter().any(|p| matches(&normal, p)) => Ok(normal),
        Some(list) => Err(DomainError::new(kind.field(), format!("is not a valid {office} number (expected a form like {})", list[0]))),
        // Offices without a table: a plausible identifier.
        None if normal.len() <= 40 && normal.chars().all(|c| c.is_ascii_alphanumeric() || "/.-".contains(c)) => Ok(normal),
        None => Err(DomainError::new(kind.field(), "must be at most 40 letters, digits, / . or -")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use NumberKind::*;

    #[test]
    fn well_formed_numbers_of_each_office_normalise() {
        for (office, kind, raw, normal) in [
            ("US", Application, "16/123,456", "16/123456"),
            ("US", Grant, "US 11,234,567 B2", "US11234567B2"),
            ("US", Publication, "US 2021/0123456 A1", "US2021/0123456A1"),
            ("EP", Application, "EP 20 123 456.7", "EP20123456.7"),
            ("EP", Grant, "EP 3 123 456 B1", "EP3123456B1"),
            ("WO", Application, "PCT/US2020/012345", "PCT/US2020/012345"),
            ("WO", Publication, "WO 2021/123456 A1", "WO2021/123456A1"),
            ("CN", Application, "202010123456.X", "202010123456.X"),
            ("JP", Application, "2020-123456", "2020-123456"),
            ("GB", Application, "GB2012345.6", "GB2012345.6"),
            ("DE", Application, "10 2020 123 456.7", "102020123456.7"),
            ("FR", Application, "FR 2012345", "FR2012345"),
        ] {
            assert_eq!(parse(office, kind, raw).as_deref(), Ok(normal), "{office} {kind:?} {raw}");
        }
    }

    #[test]
    fn malformed_numbers_are_refused_with_their_field() {
        for (office, kind, raw) in [
            ("US", Application, "16/12345"),
            ("US", Application, "ABCDEFGH"),
            ("EP", Application, "EP20123456"),
            ("EP", Grant, "EP12345"),
            ("WO", Application, "PCT/2020/012345"),
            ("CN", Application, "20201012345.6"),
            ("JP", Application, "2020/123456"),
            ("DE", Application, "10202012345"),
            ("GB", Application, "GB20123.4"),
            ("FR", Application, "<script>"),
        ] {
            let err = parse(office, kind, raw).err();
            assert_eq!(err.as_ref().map(|e| e.field), Some(kind.field()), "{office} {raw} accepted");
        }
    }
}
