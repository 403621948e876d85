//! A4 PDFs of agreement versions, written with `pdf-writer` in the standard Helvetica fonts (no
//! font embedding). The document is text only: no scripts, actions, forms or links, and every
//! string is written as a PDF string literal (the writer escapes it), so a `<script>` in a clause
//! or a party name is printed as those characters and nothing else. The one embedded file is the
//! version's text of record as `text/plain` (as PDF/A-3 invoices carry their XML): data to hash,
//! never something a reader runs.

use pdf_writer::{Content, Finish as _, Name, Pdf, Rect, Ref, Str, TextStr};

const PAGE_W: f32 = 595.0;
const PAGE_H: f32 = 842.0;
const MARGIN: f32 = 64.0;
const BODY_SIZE: f32 = 10.5;
const LEADING: f32 = 14.5;
/// Characters per line at the body size: Helvetica averages about half an em per character in
/// English prose, so 467 pt of line hold about 88.
const WRAP: usize = 88;

/// One styled line of the document.
#[derive(Debug, Clone)]
pub enum Block {
    Title(String),
    Heading(String),
    Para(String),
    Small(String),
}

/// Unicode → Windows-1252 (WinAnsiEncoding) for the standard fonts; anything else becomes `?`.
fn win_ansi(s: &str) -> Vec<u8> {
    s.chars()
        .map(|c| match c {
            ' '..='~' => c as u8,
            '\u{a0}'..='\u{ff}' => c as u32 as u8,
            '€' => 0x80,
            '‚' => 0x82,
            '„' => 0x84,
            '…' => 0x85,
            '‘' => 0x91,
            '’' => 0x92,
            '“' => 0x93,
            '”' => 0x94,
            '•' => 0x95,
            '–' => 0x96,
            '—' => 0x97,
            '™' => 0x99,
            '→' => b'>',
            '−' => b'-',
            _ => b'?',
        })
        .collect()
}

/// Greedy word wrap on character counts.
fn wrap(text: &str, width: usize) -> Vec<String> {
    let mut lines = Vec::new();
    for para in text.split('\n') {
        let mut line = String::new();
        for word in para.split_whitespace() {
            let mut word = word.to_owned();
            // A word longer than a line is cut, not allowed to run off the page.
            while word.chars().count() > width {
                let head: String = word.chars().take(width).collect();
                word = word.chars().skip(width).collect();
                if !line.is_empty() {
                    lines.push(std::mem::take(&mut line));
                }
                lines.push(head);
            }
            if !line.is_empty() && line.chars().count() + 1 + word.chars().count() > width {
                lines.push(std::mem::take(&mut line));
            }
            if !line.is_empty() {
                line.push(' ');
            }
            line.push_str(&word);
        }
        lines.push(line);
    }
    lines
}

/// A file carried inside the PDF (an `/EmbeddedFiles` entry), stored without compression so that
/// anyone can take it out and hash it.
#[derive(Debug, Clone, Copy)]
pub struct Attachment<'a> {
    pub name: &'a str,
    pub description: &'a str,
    pub bytes: &'a [u8],
}

/// Lays `blocks` out on as many A4 pages as they need, with a footer on each page, and embeds
/// `attachment` if given (an agreement's PDF carries its exact text of record this way: the pages
/// are laid out for reading, the attachment is what the SHA-256 covers, byte for byte).
pub fn render(title: &str, footer: &str, blocks: &[Block], attachment: Option<Attachment<'_>>) -> Vec<u8> {
    // (font, size, text) lines, then paginated.
    let mut lines: Vec<(Name<'static>, f32, String, f32)> = Vec::new();
    for b in blocks {
        match b {
            Block::Title(t) => {
                for l in wrap(t, 52) {
                    lines.push((Name(b"F2"), 16.0, l, 22.0));
                }
                lines.push((Name(b"F1"), BODY_SIZE, String::new(), 8.0));
            }
            Block::Heading(t) => {
                lines.push((Name(b"F1"), BODY_SIZE, String::new(), 6.0));
                for l in wrap(t, 70) {
                    lines.push((Name(b"F2"), 11.5, l, 16.0));
                }
            }
            Block::Para(t) => {
                for l in wrap(t, WRAP) {
                    lines.push((Name(b"F1"), BODY_SIZE, l, LEADING));
                }
            }
            Block::Small(t) => {
                for l in wrap(t, 110) {
                    lines.push((Name(b"F1"), 8.0, l, 11.0));
                }
            }
        }
    }
    let mut pages: Vec<Vec<(Name<'static>, f32, String, f32)>> = vec![Vec::new()];
    let mut used = 0.0;
    let usable = PAGE_H - 2.0 * MARGIN - 20.0;
    for line in lines {
        if used + line.3 > usable {
            pages.push(Vec::new());
            used = 0.0;
        }
        used += line.3;
        if let Some(p) = pages.last_mut() {
            p.push(line);
        }
    }

    let mut pdf = Pdf::new();
    let catalog = Ref::new(1);
    let tree = Ref::new(2);
    let regular = Ref::new(3);
    let bold = Ref::new(4);
    let info = Ref::new(5);
    let first_page = 6;
    let page_ids: Vec<Ref> = (0..pages.len()).map(|i| Ref::new(first_page + 2 * i as i32)).collect();
    let after_pages = first_page + 2 * pages.len() as i32;
    let (file_id, spec_id) = (Ref::new(after_pages), Ref::new(after_pages + 1));
    {
        let mut cat = pdf.catalog(catalog);
        cat.pages(tree);
        if let Some(a) = &attachment {
            cat.names().embedded_files().names().insert(Str(a.name.as_bytes()), spec_id);
        }
    }
    if let Some(a) = &attachment {
        pdf.embedded_file(file_id, a.bytes).subtype(Name(b"text/plain"));
        pdf.file_spec(spec_id).path(Str(a.name.as_bytes())).unic_file(TextStr(a.name)).description(TextStr(a.description)).embedded_file(file_id);
    }
    pdf.pages(tree).kids(page_ids.iter().copied()).count(pages.len() as i32);
    pdf.type1_font(regular).base_font(Name(b"Helvetica")).encoding_predefined(Name(b"WinAnsiEncoding"));
    pdf.type1_font(bold).base_font(Name(b"Helvetica-Bold")).encoding_predefined(Name(b"WinAnsiEncoding"));
    pdf.document_info(info).title(TextStr(title)).producer(TextStr("Licentia"));
    let total = pages.len();
    for (i, (page_lines, page_id)) in pages.iter().zip(&page_ids).enumerate() {
        let content_id = Ref::new(page_id.get() + 1);
        let mut page = pdf.page(*page_id);
        page.media_box(Rect::new(0.0, 0.0, PAGE_W, PAGE_H));
        page.parent(tree);
        page.contents(content_id);
        let mut resources = page.resources();
        let mut fonts = resources.fonts();
        fonts.pair(Name(b"F1"), regular);
        fonts.pair(Name(b"F2"), bold);
        fonts.finish();
        resources.finish();
        page.finish();

        let mut c = Content::new();
        let mut y = PAGE_H - MARGIN;
        for (font, size, text, advance) in page_lines {
            y -= advance;
            if text.is_empty() {
                continue;
            }
            c.begin_text();
            c.set_font(*font, *size);
            c.next_line(MARGIN, y);
            c.show(Str(&win_ansi(text)));
            c.end_text();
        }
        c.begin_text();
        c.set_font(Name(b"F1"), 7.5);
        c.next_line(MARGIN, MARGIN - 24.0);
        c.show(Str(&win_ansi(&format!("{footer} · page {} of {total}", i + 1))));
        c.end_text();
        let data = c.finish();
        pdf.stream(content_id, &data);
    }
    pdf.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wrapping_keeps_every_word_and_no_line_overflows() {
        let text = "word ".repeat(100) + &"x".repeat(200);
        let lines = wrap(&text, 40);
        assert!(lines.iter().all(|l| l.chars().count() <= 40));
        assert_eq!(lines.join(" ").split_whitespace().filter(|w| *w == "word").count(), 100);
        assert_eq!(lines.concat().matches('x').count(), 200);
    }

    #[test]
    fn text_is_literal_and_the_document_has_no_active_content() {
        let pdf = render("t", "f", &[Block::Para("<script>alert(1)</script> (brackets) \\ back".into())], None);
        let raw = String::from_utf8_lossy(&pdf);
        assert!(raw.starts_with("%PDF-"));
        // A string literal drawn with Tj; the backslash is escaped, balanced parentheses may stay.
        let line = raw.lines().find(|l| l.ends_with(" Tj") && l.contains("script")).unwrap_or_default();
        assert!(line.starts_with("(<script>alert") && line.contains("\\\\ back) Tj"), "{line}");
        for active in ["/JavaScript", "/JS", "/OpenAction", "/AA", "/Launch", "/URI"] {
            assert!(!raw.contains(active), "{active}");
        }
    }
}
