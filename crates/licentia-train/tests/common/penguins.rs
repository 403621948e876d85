//! The Palmer penguins table (CC0, `tests/data/README.md`) split in two halves, shared by the
//! engine's fine-tuning test, its example and the HTTP tests (each includes this file by path).

pub const PENGUINS: &str = include_str!("../../../../tests/data/penguins.csv");

/// The licensor's half (row pairs 0–1, 4–5, …) and the licensee's (2–3, 6–7, …), each with the
/// header: pairs, because the file lists each nest's male and female together.
pub fn halves() -> (String, String) {
    let mut lines = PENGUINS.lines();
    let header = lines.next().unwrap_or_default();
    let (mut a, mut b) = (format!("{header}\n"), format!("{header}\n"));
    for (i, line) in lines.enumerate() {
        let half = if i % 4 < 2 { &mut a } else { &mut b };
        half.push_str(line);
        half.push('\n');
    }
    (a, b)
}
