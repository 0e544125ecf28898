//! The small markdown subset that descriptions in the OpenAPI document use: paragraphs, `-`,
//! `*` and `1.` lists, inline `code`, **bold** and `[links](https://…)`.
//!
//! Safety: the text is HTML-escaped before any markup is added, so nothing from the document
//! reaches the page as markup; the only tags in the output are the ones written here, and a
//! link's target must be `http(s)://`, `/…` or `#…` (anything else is shown as text).

/// Escapes text for HTML content and quoted attribute values.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// Escapes text for element content only (`<pre>`): `&`, `<` and `>`; quotes stay as they
/// are, which keeps JSON examples small and readable in the page's source.
pub fn escape_text(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            c => out.push(c),
        }
    }
    out
}

/// Blocks of a description: paragraphs and lists, rendered to HTML.
pub fn render(text: &str) -> String {
    let mut out = String::new();
    let mut paragraph: Vec<&str> = Vec::new();
    let mut list: Option<(bool, Vec<String>)> = None;
    let flush_paragraph = |paragraph: &mut Vec<&str>, out: &mut String| {
        if !paragraph.is_empty() {
            out.push_str("<p>");
            out.push_str(&inline(&paragraph.join(" ")));
            out.push_str("</p>");
            paragraph.clear();
        }
    };
    let flush_list = |list: &mut Option<(bool, Vec<String>)>, out: &mut String| {
        if let Some((ordered, items)) = list.take() {
            let tag = if ordered { "ol" } else { "ul" };
            out.push_str(&format!("<{tag}>"));
            for item in items {
                out.push_str("<li>");
                out.push_str(&inline(&item));
                out.push_str("</li>");
            }
            out.push_str(&format!("</{tag}>"));
        }
    };
    for line in text.lines() {
        let trimmed = line.trim();
        if trimmed.is_empty() {
            flush_paragraph(&mut paragraph, &mut out);
            flush_list(&mut list, &mut out);
            continue;
        }
        if let Some((ordered, item)) = list_item(trimmed) {
            flush_paragraph(&mut paragraph, &mut out);
            if list.as_ref().is_some_and(|(o, _)| *o != ordered) {
                flush_list(&mut list, &mut out);
            }
            list.get_or_insert_with(|| (ordered, Vec::new()))
                .1
                .push(item.to_owned());
            continue;
        }
        match list.as_mut().and_then(|(_, items)| items.last_mut()) {
            // An indented line goes on with the list item above it.
            Some(last) if line.starts_with([' ', '\t']) => {
                last.push(' ');
                last.push_str(trimmed);
            }
            _ => {
                flush_list(&mut list, &mut out);
                paragraph.push(trimmed);
            }
        }
    }
    flush_paragraph(&mut paragraph, &mut out);
    flush_list(&mut list, &mut out);
    out
}

/// Like [`render`], without the `<p>` around a description of one paragraph (table cells).
pub fn render_cell(text: &str) -> String {
    let html = render(text);
    match html
        .strip_prefix("<p>")
        .and_then(|h| h.strip_suffix("</p>"))
    {
        Some(inner) if !inner.contains("<p>") => inner.to_owned(),
        _ => html,
    }
}

/// `- item`, `* item` (unordered) or `1. item` (ordered).
fn list_item(line: &str) -> Option<(bool, &str)> {
    if let Some(rest) = line.strip_prefix("- ").or_else(|| line.strip_prefix("* ")) {
        return Some((false, rest.trim_start()));
    }
    let digits = line.chars().take_while(char::is_ascii_digit).count();
    if digits > 0 && digits < 4 {
        if let Some(rest) = line[digits..].strip_prefix(". ") {
            return Some((true, rest.trim_start()));
        }
    }
    None
}

/// One line of text: code spans verbatim (escaped), bold and links elsewhere.
pub fn inline(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 16);
    let mut rest = text;
    while let Some(start) = rest.find('`') {
        let after = &rest[start + 1..];
        let Some(len) = after.find('`') else { break };
        out.push_str(&emphasis_and_links(&escape(&rest[..start])));
        out.push_str("<code>");
        out.push_str(&escape(&after[..len]));
        out.push_str("</code>");
        rest = &after[len + 1..];
    }
    out.push_str(&emphasis_and_links(&escape(rest)));
    out
}

/// `**bold**` and `[text](target)` in already escaped text (escaping leaves `*`, `[`, `]`, `(`
/// and `)` alone, and turns every quote into an entity, so a target cannot end its attribute).
fn emphasis_and_links(escaped: &str) -> String {
    let mut out = String::with_capacity(escaped.len());
    let mut rest = escaped;
    loop {
        let bold = rest.find("**");
        let link = rest.find('[');
        match (bold, link) {
            (Some(b), l) if l.is_none_or(|l| b < l) => {
                let after = &rest[b + 2..];
                match after.find("**") {
                    Some(end) if end > 0 => {
                        out.push_str(&rest[..b]);
                        out.push_str("<strong>");
                        out.push_str(&emphasis_and_links(&after[..end]));
                        out.push_str("</strong>");
                        rest = &after[end + 2..];
                    }
                    _ => {
                        out.push_str(&rest[..b + 2]);
                        rest = after;
                    }
                }
            }
            (_, Some(l)) => {
                out.push_str(&rest[..l]);
                rest = &rest[l..];
                match parse_link(rest) {
                    Some((label, target, used)) => {
                        out.push_str(&format!("<a href=\"{target}\">{label}</a>"));
                        rest = &rest[used..];
                    }
                    None => {
                        out.push('[');
                        rest = &rest[1..];
                    }
                }
            }
            _ => break,
        }
    }
    out.push_str(rest);
    out
}

/// `[label](target)` at the start of `text`: (label, target, bytes used), if the target is safe.
fn parse_link(text: &str) -> Option<(&str, &str, usize)> {
    let close = text.find("](")?;
    let label = &text[1..close];
    if label.is_empty() || label.contains('[') {
        return None;
    }
    let after = &text[close + 2..];
    let end = after.find(')')?;
    let target = &after[..end];
    let safe = target.starts_with("https://")
        || target.starts_with("http://")
        || (target.starts_with('/') && !target.starts_with("//"))
        || target.starts_with('#');
    (safe && !target.contains(char::is_whitespace)).then_some((label, target, close + 2 + end + 1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn html_in_a_description_is_escaped() {
        let html = render("Hi <script>alert('x')</script> & `<b>` **<i>**");
        assert!(!html.contains("<script>"), "{html}");
        assert!(
            html.contains("&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;"),
            "{html}"
        );
        assert!(html.contains("<code>&lt;b&gt;</code>"), "{html}");
        assert!(html.contains("<strong>&lt;i&gt;</strong>"), "{html}");
        assert!(html.contains("&amp;"), "{html}");
    }

    #[test]
    fn code_bold_and_paragraphs() {
        assert_eq!(
            render("Use `cus_…` ids.\nSecond line.\n\nA **new** paragraph."),
            "<p>Use <code>cus_…</code> ids. Second line.</p><p>A <strong>new</strong> paragraph.</p>"
        );
        // Markup inside code is shown as written.
        assert_eq!(inline("`**x**`"), "<code>**x**</code>");
        // An unmatched backtick or star stays as text.
        assert_eq!(inline("a ` b ** c"), "a ` b ** c");
    }

    #[test]
    fn one_paragraph_cells_lose_their_p() {
        assert_eq!(render_cell("A `b`."), "A <code>b</code>.");
        assert_eq!(render_cell("A\n\nB"), "<p>A</p><p>B</p>");
        assert_eq!(render_cell(""), "");
    }

    #[test]
    fn lists() {
        assert_eq!(
            render("Kinds:\n- `a`: first\n- b\n  continued\n\n1. one\n2. two"),
            "<p>Kinds:</p><ul><li><code>a</code>: first</li><li>b continued</li></ul>\
             <ol><li>one</li><li>two</li></ol>"
        );
    }

    #[test]
    fn links_are_kept_only_when_safe() {
        assert_eq!(
            inline("See [the spec](https://example.com/a?b=1&c=2)."),
            "See <a href=\"https://example.com/a?b=1&amp;c=2\">the spec</a>."
        );
        assert_eq!(
            inline("[x](#schema-Customer)"),
            "<a href=\"#schema-Customer\">x</a>"
        );
        let hostile = inline("[x](javascript:alert(1)) [y](\"onclick=\"z)");
        assert!(!hostile.contains("<a"), "{hostile}");
        assert!(!hostile.contains('"'), "{hostile}");
        assert_eq!(inline("a [b] c"), "a [b] c");
    }
}
