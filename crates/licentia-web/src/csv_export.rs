//! The one CSV writer every export uses. Spreadsheet programs run a cell that starts with `=`, `+`,
//! `-`, `@`, a tab or a carriage return as a formula (OWASP "CSV Injection"): such a cell is
//! prefixed with `'`, which spreadsheets show as text. A plain number (`-12.5`) is not a formula
//! and stays as it is, so credits and negative amounts remain numbers.

use crate::error::AppError;

/// A cell as a spreadsheet will read it safely.
pub fn defuse(cell: &str) -> std::borrow::Cow<'_, str> {
    let formula = cell.starts_with(['=', '+', '-', '@', '\t', '\r']) && cell.trim().parse::<f64>().is_err();
    if formula { std::borrow::Cow::Owned(format!("'{cell}")) } else { std::borrow::Cow::Borrowed(cell) }
}

/// A CSV document in memory whose every cell goes through [`defuse`].
pub struct SafeCsv(csv::Writer<Vec<u8>>);

impl SafeCsv {
    pub fn new() -> Self {
        Self(csv::Writer::from_writer(Vec::new()))
    }

    pub fn record<I, S>(&mut self, cells: I) -> Result<(), AppError>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let cells: Vec<String> = cells.into_iter().map(|c| defuse(c.as_ref()).into_owned()).collect();
        self.0.write_record(&cells).map_err(AppError::internal)
    }

    pub fn finish(self) -> Result<Vec<u8>, AppError> {
        self.0.into_inner().map_err(AppError::internal)
    }
}

impl Default for SafeCsv {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formulas_become_text_and_numbers_stay_numbers() -> Result<(), AppError> {
        let mut w = SafeCsv::new();
        w.record(["=HYPERLINK(\"http://evil\")", "+cmd|' /C calc'!A0", "-2+3", "@SUM(A1)", "\tx", "-12.5", "plain", "a,b"])?;
        let text = String::from_utf8(w.finish()?).map_err(AppError::internal)?;
        assert_eq!(text, "\"'=HYPERLINK(\"\"http://evil\"\")\",'+cmd|' /C calc'!A0,'-2+3,'@SUM(A1),'\tx,-12.5,plain,\"a,b\"\n");
        Ok(())
    }
}
