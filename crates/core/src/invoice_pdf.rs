//! An invoice as a PDF: A4 pages of up to 24 lines (fewer when long descriptions wrap), the
//! PDF base-14 Helvetica fonts (nothing embedded; text stays extractable), WinAnsi encoding.
//! Issuer, customer, number and dates, the lines with their tax (a description wraps onto as
//! many rows as it needs, never cut), totals per rate, amount due, payment instructions.

use bursar_domain::commerce::{Address, Company};
use bursar_domain::customer::Customer;
use bursar_domain::invoice::{Invoice, InvoiceLine, InvoiceStatus};
use pdf_writer::{Content, Finish, Name, Pdf, Rect, Ref, Str};

use bursar_domain::invoice::InvoiceSettings;

const PAGE_WIDTH: f32 = 595.0;
const PAGE_HEIGHT: f32 = 842.0;
const MARGIN: f32 = 56.0;
const LINES_PER_PAGE: usize = 24;
/// A line's first row, and each row after it (a wrapped description's, a discount's), in points.
const ROW: f32 = 14.0;
const NEXT_ROW: f32 = 11.0;
/// The height the lines of one page may take: 24 one-row lines.
const LINES_HEIGHT: f32 = LINES_PER_PAGE as f32 * ROW;

/// Helvetica's advance widths (thousandths of an em) for printable ASCII, from its AFM.
const HELVETICA: [u16; 95] = [
    278, 278, 355, 556, 556, 889, 667, 191, 333, 333, 389, 584, 278, 333, 278,
    278, // ' '..'/'
    556, 556, 556, 556, 556, 556, 556, 556, 556, 556, // digits
    278, 278, 584, 584, 584, 556, 1015, // ':'..'@'
    667, 667, 722, 722, 667, 611, 778, 722, 278, 500, 667, 556, 833, 722, 778, 667, 778, 722, 667,
    611, 722, 667, 944, 667, 667, 611, // 'A'..'Z'
    278, 278, 278, 469, 556, 333, // '['..'`'
    556, 556, 500, 556, 556, 278, 556, 556, 222, 222, 500, 222, 833, 556, 556, 556, 556, 333, 500,
    278, 556, 500, 722, 500, 500, 500, // 'a'..'z'
    334, 260, 334, 584, // '{'..'~'
];

/// Text in WinAnsi (Latin-1 where it agrees); other characters become `?`.
fn win_ansi(text: &str) -> Vec<u8> {
    text.chars()
        .map(|c| match c {
            '€' => 0x80,
            '–' => 0x96,
            '—' => 0x97,
            '…' => 0x85,
            c if (c as u32) < 0x7f && !c.is_control() => c as u8,
            c if (0xa0..=0xff).contains(&(c as u32)) => c as u8,
            _ => b'?',
        })
        .collect()
}

fn width(text: &str, size: f32) -> f32 {
    let units: u32 = win_ansi(text)
        .iter()
        .map(|&b| match b {
            32..=126 => u32::from(HELVETICA[usize::from(b - 32)]),
            _ => 556,
        })
        .sum();
    units as f32 * size / 1000.0
}

struct Page {
    content: Content,
}

impl Page {
    fn text(&mut self, x: f32, y: f32, size: f32, bold: bool, text: &str) {
        let font = if bold { Name(b"F2") } else { Name(b"F1") };
        self.content
            .begin_text()
            .set_font(font, size)
            .next_line(x, y)
            .show(Str(&win_ansi(text)))
            .end_text();
    }

    fn right(&mut self, right_edge: f32, y: f32, size: f32, bold: bool, text: &str) {
        // Helvetica-Bold runs about 6 % wider than the regular widths above.
        let scale = if bold { 1.06 } else { 1.0 };
        self.text(right_edge - width(text, size) * scale, y, size, bold, text);
    }

    fn rule(&mut self, y: f32) {
        self.content
            .set_line_width(0.5)
            .move_to(MARGIN, y)
            .line_to(PAGE_WIDTH - MARGIN, y)
            .stroke();
    }
}

fn day(at: Option<bursar_domain::time::Timestamp>) -> String {
    at.map(|t| t.to_rfc3339()[..10].to_owned())
        .unwrap_or_else(|| "—".into())
}

/// Cuts `text` to fit `max` points at `size`.
fn fit(text: &str, size: f32, max: f32) -> String {
    if width(text, size) <= max {
        return text.to_owned();
    }
    let mut cut = String::new();
    for c in text.chars() {
        if width(&format!("{cut}{c}…"), size) > max {
            break;
        }
        cut.push(c);
    }
    format!("{cut}…")
}

/// `text` in rows no wider than `max` points at `size`, broken between words (a word wider
/// than a row is broken where it must).
fn wrap(text: &str, size: f32, max: f32) -> Vec<String> {
    let mut rows: Vec<String> = Vec::new();
    let mut row = String::new();
    for word in text.split_whitespace() {
        let joined = if row.is_empty() {
            word.to_owned()
        } else {
            format!("{row} {word}")
        };
        if width(&joined, size) <= max {
            row = joined;
            continue;
        }
        if !row.is_empty() {
            rows.push(std::mem::take(&mut row));
        }
        for c in word.chars() {
            if !row.is_empty() && width(&format!("{row}{c}"), size) > max {
                rows.push(std::mem::take(&mut row));
            }
            row.push(c);
        }
    }
    if !row.is_empty() || rows.is_empty() {
        rows.push(row);
    }
    rows
}

/// An invoice line with its description's rows.
type RowedLine<'a> = (&'a InvoiceLine, Vec<String>);

/// The lines cut into pages by the height their rows take (at least one line a page).
fn pages_of(lines: &[InvoiceLine], description_width: f32) -> Vec<Vec<RowedLine<'_>>> {
    let mut pages: Vec<Vec<RowedLine<'_>>> = Vec::new();
    let mut page: Vec<RowedLine<'_>> = Vec::new();
    let mut used = 0.0;
    for line in lines {
        let rows = wrap(&line.description, 9.0, description_width);
        let extra = rows.len() - 1 + usize::from(line.discount_amount != 0);
        let height = ROW + extra as f32 * NEXT_ROW;
        if !page.is_empty() && used + height > LINES_HEIGHT {
            pages.push(std::mem::take(&mut page));
            used = 0.0;
        }
        used += height;
        page.push((line, rows));
    }
    pages.push(page);
    pages
}

/// Who the invoice bills, a row each: the customer's company (by name, with its billing
/// address) and the customer as its contact, or the customer alone.
fn bill_to(customer: &Customer, company: Option<&Company>) -> Vec<(f32, bool, String)> {
    let name = customer
        .name
        .as_ref()
        .map(|n| n.as_str().to_owned())
        .unwrap_or_else(|| customer.id.to_string());
    let mut rows = Vec::new();
    match company {
        Some(company) => {
            rows.push((10.0, true, company.name.clone()));
            rows.push((9.0, false, format!("Attn: {name}")));
        }
        None => rows.push((10.0, false, name)),
    }
    if let Some(email) = &customer.email {
        rows.push((9.0, false, email.as_str().to_owned()));
    }
    let address = company.and_then(|c| c.addresses.iter().find(|a| a.kind == "billing"));
    if let Some(address) = address {
        rows.extend(address_lines(address).into_iter().map(|l| (9.0, false, l)));
    }
    rows.push((8.0, false, format!("Customer {}", customer.id)));
    rows
}

/// An address as it is written on an envelope: street, city line, country.
fn address_lines(address: &Address) -> Vec<String> {
    let mut lines = vec![address.line1.clone()];
    lines.extend(address.line2.clone());
    let city = [
        address.postal_code.as_deref(),
        Some(address.city.as_str()),
        address.state.as_deref(),
    ];
    lines.push(city.into_iter().flatten().collect::<Vec<_>>().join(" "));
    lines.push(address.country.clone());
    lines
}

/// The invoice as PDF bytes; `company` is the customer's, when it belongs to one.
pub fn render(
    invoice: &Invoice,
    customer: &Customer,
    company: Option<&Company>,
    settings: &InvoiceSettings,
) -> Vec<u8> {
    let money = |amount: i64| invoice.currency.format(amount);
    let right_edge = PAGE_WIDTH - MARGIN;
    let (qty_x, unit_x, tax_x) = (right_edge - 250.0, right_edge - 170.0, right_edge - 90.0);
    let chunks = pages_of(&invoice.lines, qty_x - MARGIN - 40.0);
    let page_count = chunks.len();
    let mut pages = Vec::with_capacity(page_count);
    for (index, lines) in chunks.iter().enumerate() {
        let mut page = Page {
            content: Content::new(),
        };
        let mut y = PAGE_HEIGHT - MARGIN;
        // Header: issuer on the left, the document's title and number on the right.
        page.text(MARGIN, y, 16.0, true, &settings.issuer_name);
        let title = match invoice.status {
            InvoiceStatus::Draft => "DRAFT INVOICE",
            InvoiceStatus::Void => "INVOICE (VOID)",
            _ => "INVOICE",
        };
        page.right(right_edge, y, 16.0, true, title);
        y -= 16.0;
        for line in &settings.issuer_address {
            page.text(MARGIN, y, 9.0, false, line);
            y -= 11.0;
        }
        if let Some(tax_id) = &settings.issuer_tax_id {
            page.text(MARGIN, y, 9.0, false, &format!("Tax ID: {tax_id}"));
            y -= 11.0;
        }
        let mut meta_y = PAGE_HEIGHT - MARGIN - 16.0;
        let number = invoice
            .number
            .clone()
            .unwrap_or_else(|| "(not issued)".into());
        for (label, value) in [
            ("Invoice number", number),
            ("Issue date", day(invoice.issued_at)),
            ("Due date", day(invoice.due_at)),
            ("Status", invoice.status.as_str().replace('_', " ")),
        ] {
            page.right(right_edge - 110.0, meta_y, 9.0, false, label);
            page.right(right_edge, meta_y, 9.0, true, &value);
            meta_y -= 11.0;
        }
        y = y.min(meta_y) - 18.0;
        // Bill to.
        page.text(MARGIN, y, 9.0, true, "Bill to");
        y -= 12.0;
        for (size, bold, row) in bill_to(customer, company) {
            page.text(MARGIN, y, size, bold, &row);
            y -= 12.0;
        }
        y -= 12.0;
        // The lines.
        page.text(MARGIN, y, 9.0, true, "Description");
        page.right(qty_x, y, 9.0, true, "Qty");
        page.right(unit_x, y, 9.0, true, "Unit price");
        page.right(tax_x, y, 9.0, true, "Tax");
        page.right(right_edge, y, 9.0, true, "Amount");
        y -= 6.0;
        page.rule(y);
        y -= 13.0;
        for (line, rows) in lines.iter() {
            page.text(MARGIN, y, 9.0, false, &rows[0]);
            page.right(qty_x, y, 9.0, false, &line.quantity.to_string());
            page.right(unit_x, y, 9.0, false, &money(line.unit_amount));
            let tax = if line.tax_rate_id.is_some() {
                format!(
                    "{}.{:02}%{}",
                    line.tax_percentage_bp / 100,
                    line.tax_percentage_bp % 100,
                    if line.tax_inclusive { " incl." } else { "" }
                )
            } else {
                "—".into()
            };
            page.right(tax_x, y, 9.0, false, &tax);
            page.right(
                right_edge,
                y,
                9.0,
                false,
                &money(line.amount - line.discount_amount),
            );
            for row in &rows[1..] {
                y -= NEXT_ROW;
                page.text(MARGIN, y, 9.0, false, row);
            }
            if line.discount_amount != 0 {
                y -= NEXT_ROW;
                page.text(
                    MARGIN + 10.0,
                    y,
                    8.0,
                    false,
                    &format!("discount {}", money(line.discount_amount)),
                );
            }
            y -= ROW;
        }
        page.rule(y + 6.0);
        if index + 1 == page_count {
            // Totals.
            y -= 10.0;
            let total_row =
                |page: &mut Page, y: &mut f32, label: &str, value: String, bold: bool| {
                    page.right(right_edge - 110.0, *y, 10.0, bold, label);
                    page.right(right_edge, *y, 10.0, bold, &value);
                    *y -= 14.0;
                };
            total_row(
                &mut page,
                &mut y,
                "Subtotal (net)",
                money(invoice.subtotal),
                false,
            );
            for rate in &invoice.tax_totals {
                let label = format!(
                    "Tax {}.{:02}%{} on {}",
                    rate.percentage_bp / 100,
                    rate.percentage_bp % 100,
                    if rate.inclusive { " (incl.)" } else { "" },
                    money(rate.taxable_amount)
                );
                total_row(&mut page, &mut y, &label, money(rate.tax_amount), false);
            }
            total_row(&mut page, &mut y, "Total", money(invoice.total), true);
            if invoice.amount_paid != 0 {
                total_row(
                    &mut page,
                    &mut y,
                    "Paid",
                    money(-invoice.amount_paid),
                    false,
                );
            }
            if invoice.amount_credited != 0 {
                total_row(
                    &mut page,
                    &mut y,
                    "Credited",
                    money(-invoice.amount_credited),
                    false,
                );
            }
            total_row(
                &mut page,
                &mut y,
                "Amount due",
                money(invoice.amount_due),
                true,
            );
            y -= 16.0;
            if let Some(memo) = &invoice.memo {
                page.text(MARGIN, y, 9.0, false, &fit(memo, 9.0, right_edge - MARGIN));
                y -= 16.0;
            }
            if let Some(instructions) = &settings.payment_instructions {
                page.text(MARGIN, y, 9.0, true, "How to pay");
                y -= 12.0;
                for line in instructions.lines() {
                    page.text(MARGIN, y, 9.0, false, &fit(line, 9.0, right_edge - MARGIN));
                    y -= 11.0;
                }
            }
        }
        page.text(
            MARGIN,
            MARGIN - 20.0,
            8.0,
            false,
            &format!(
                "{} · {} · page {} of {page_count}",
                settings.issuer_name,
                invoice.number.as_deref().unwrap_or("draft"),
                index + 1
            ),
        );
        pages.push(page.content.finish());
    }

    // The document: catalog, page tree, pages, fonts, contents.
    let mut pdf = Pdf::new();
    let catalog = Ref::new(1);
    let tree = Ref::new(2);
    let regular = Ref::new(3);
    let bold = Ref::new(4);
    let first_page = 5;
    let page_ids: Vec<Ref> = (0..page_count)
        .map(|i| Ref::new(first_page + 2 * i as i32))
        .collect();
    pdf.catalog(catalog).pages(tree);
    pdf.pages(tree)
        .kids(page_ids.iter().copied())
        .count(page_count as i32);
    pdf.type1_font(regular)
        .base_font(Name(b"Helvetica"))
        .encoding_predefined(Name(b"WinAnsiEncoding"));
    pdf.type1_font(bold)
        .base_font(Name(b"Helvetica-Bold"))
        .encoding_predefined(Name(b"WinAnsiEncoding"));
    for (page_id, content) in page_ids.iter().zip(&pages) {
        let content_id = Ref::new(page_id.get() + 1);
        let mut page = pdf.page(*page_id);
        page.media_box(Rect::new(0.0, 0.0, PAGE_WIDTH, PAGE_HEIGHT));
        page.parent(tree);
        page.contents(content_id);
        page.resources()
            .fonts()
            .pair(Name(b"F1"), regular)
            .pair(Name(b"F2"), bold);
        page.finish();
        pdf.stream(content_id, content.as_slice());
    }
    pdf.finish()
}

/// Invoice `id` of `workspace_id` as a PDF, with the file name it is offered under
/// (`{number}.pdf`, or its id while a draft); `None` when there is no such invoice, or
/// `only_for` is given and the invoice is not of one of those customers.
pub async fn pdf_of(
    app: &crate::App,
    workspace_id: &bursar_domain::id::WorkspaceId,
    id: &str,
    only_for: Option<Vec<bursar_domain::id::CustomerId>>,
) -> Result<Option<(Invoice, String, Vec<u8>)>, crate::Error> {
    use bursar_store::documents::{self, COMPANY, INVOICE};
    let (workspace_id, id) = (workspace_id.clone(), id.to_owned());
    let loaded = app
        .db
        .read(move |tx: &mut bursar_store::Tx| {
            Box::pin(async move {
                let invoice: Option<Invoice> =
                    documents::get(tx, INVOICE, &workspace_id, &id, false).await?;
                let Some(invoice) = invoice.filter(|invoice| {
                    only_for
                        .as_ref()
                        .is_none_or(|customers| customers.contains(&invoice.customer_id))
                }) else {
                    return Ok::<_, crate::Error>(None);
                };
                let customer =
                    bursar_store::customers::get(tx, &workspace_id, &invoice.customer_id, false)
                        .await?;
                let Some(customer) = customer else {
                    return Ok(None);
                };
                let company: Option<Company> = match &customer.company_id {
                    Some(company) => {
                        documents::get(tx, COMPANY, &workspace_id, company.as_str(), false).await?
                    }
                    None => None,
                };
                let settings = crate::invoices::load_settings(tx, &workspace_id).await?;
                Ok::<_, crate::Error>(Some((invoice, customer, company, settings)))
            })
        })
        .await?;
    Ok(loaded.map(|(invoice, customer, company, settings)| {
        let bytes = render(&invoice, &customer, company.as_ref(), &settings);
        let name = format!(
            "{}.pdf",
            invoice
                .number
                .clone()
                .unwrap_or_else(|| invoice.id.to_string())
        );
        (invoice, name, bytes)
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn widths_and_encoding() {
        assert_eq!(width("10.00", 10.0), (556.0 * 4.0 + 278.0) * 10.0 / 1000.0);
        assert_eq!(
            win_ansi("Grüße €"),
            vec![b'G', b'r', 0xfc, 0xdf, b'e', b' ', 0x80]
        );
        assert_eq!(win_ansi("日本"), b"??");
        assert!(fit("a very long description indeed", 9.0, 40.0).ends_with('…'));
    }

    #[test]
    fn long_descriptions_wrap_between_words_and_lose_nothing() {
        let text = "Platform seats for the analytics team, November, prorated from the 12th";
        let rows = wrap(text, 9.0, 120.0);
        assert!(rows.len() > 1, "{rows:?}");
        assert!(rows.iter().all(|r| width(r, 9.0) <= 120.0), "{rows:?}");
        assert_eq!(rows.join(" "), text);
        let word = "x".repeat(80);
        let broken = wrap(&word, 9.0, 60.0);
        assert!(broken.len() > 1 && broken.iter().all(|r| width(r, 9.0) <= 60.0));
        assert_eq!(broken.concat(), word);
        assert_eq!(wrap("", 9.0, 60.0), [""]);
        assert_eq!(wrap("short", 9.0, 60.0), ["short"]);
    }

    #[test]
    fn pages_hold_the_height_of_24_one_row_lines() {
        let line = |description: &str| {
            let kind = bursar_domain::invoice::LineKind::Fixed;
            InvoiceLine::new(kind, description.into(), 1, 100, 0, None, None, "line").unwrap()
        };
        let short: Vec<InvoiceLine> = (0..30).map(|_| line("Seat")).collect();
        let sizes = |pages: Vec<Vec<RowedLine<'_>>>| pages.iter().map(Vec::len).collect::<Vec<_>>();
        assert_eq!(sizes(pages_of(&short, 200.0)), [24, 6]);
        assert_eq!(sizes(pages_of(&[], 200.0)), [0]);
        // Sixty words take seven rows (nine a row): 14 + 6 × 11 = 80 points, which leaves
        // 336 − 80 = 256 for 18 short lines (252) on the first page.
        let mut mixed = vec![line(&"word ".repeat(60))];
        mixed.extend((0..24).map(|_| line("Seat")));
        let pages = pages_of(&mixed, 200.0);
        assert_eq!(pages[0][0].1.len(), 7, "{:?}", pages[0][0].1);
        assert_eq!(sizes(pages), [19, 6]);
        // A line taller than a page goes on one of its own (descriptions have at most 500
        // characters, about 14 rows: none is that tall).
        let tall = [line(&"word ".repeat(2_000)), line("Seat")];
        assert_eq!(sizes(pages_of(&tall, 200.0)), [1, 1]);
    }
}
