//! Bank statements imported as CSV (RFC 4180: commas, fields in double quotes when they hold
//! commas, quotes or line breaks, `""` for a quote), one bank transaction per line.
//!
//! The header names the columns, in any order and case: `date` (the value date,
//! `YYYY-MM-DD`), `amount` (positive, in major units with at most the currency's decimals:
//! `1250.00`), `direction` (`credit`: into the platform's account; `debit`: out of it) and
//! `currency` are required; `id` (the bank's transaction id), `reference` and `counterparty`
//! are optional. A line without an `id` is known by a fingerprint of its fields and how many
//! identical lines came before it in the file, so importing a statement twice records it once.

use std::collections::HashMap;

use jiff::civil::Date;
use sha2::{Digest, Sha256};

use crate::error::ValidationError;
use crate::money::Currency;
use crate::treasury::matching::{BankTransaction, Direction};

/// Longest field accepted (a reference, a counterparty, an id).
pub const FIELD_LENGTH_MAX: usize = 200;

/// One line of a statement: the bank's id for it (or its fingerprint) and the transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatementLine {
    pub external_id: String,
    pub transaction: BankTransaction,
}

const REQUIRED: [&str; 4] = ["date", "amount", "direction", "currency"];
const OPTIONAL: [&str; 3] = ["id", "reference", "counterparty"];

/// Parses a statement of at most `max_lines` transactions. Errors name the line and column
/// (`lines[3].amount`, counting data lines from 1).
pub fn parse(text: &str, max_lines: usize) -> Result<Vec<StatementLine>, ValidationError> {
    let mut records = Records::new(text);
    let header = records.next().transpose()?.ok_or_else(|| {
        ValidationError::invalid("csv", "The statement is empty: expected a header line.")
    })?;
    let columns = Columns::from_header(&header)?;
    let mut lines = Vec::new();
    let mut seen: HashMap<String, u32> = HashMap::new();
    for (index, record) in records.enumerate() {
        let record = record?;
        if record.len() == 1 && record[0].trim().is_empty() {
            continue;
        }
        if lines.len() == max_lines {
            return Err(ValidationError::invalid(
                "csv",
                format!("A statement holds at most {max_lines} lines; split it."),
            ));
        }
        let line = columns.line(&record, index + 1, &mut seen)?;
        lines.push(line);
    }
    Ok(lines)
}

/// Where each known column is.
struct Columns {
    index: HashMap<&'static str, usize>,
    width: usize,
}

impl Columns {
    fn from_header(header: &[String]) -> Result<Columns, ValidationError> {
        let mut index = HashMap::new();
        for (position, name) in header.iter().enumerate() {
            let name = name.trim().to_ascii_lowercase();
            let known = REQUIRED
                .iter()
                .chain(OPTIONAL.iter())
                .find(|c| **c == name)
                .ok_or_else(|| {
                    ValidationError::invalid(
                        "csv",
                        format!(
                            "Unknown column '{name}': use date, amount, direction, currency, \
                             and optionally id, reference, counterparty."
                        ),
                    )
                })?;
            if index.insert(*known, position).is_some() {
                return Err(ValidationError::invalid(
                    "csv",
                    format!("Column '{name}' appears twice."),
                ));
            }
        }
        if let Some(missing) = REQUIRED.iter().find(|c| !index.contains_key(*c)) {
            return Err(ValidationError::invalid(
                "csv",
                format!("The header has no '{missing}' column."),
            ));
        }
        Ok(Columns {
            index,
            width: header.len(),
        })
    }

    fn field<'r>(&self, record: &'r [String], column: &str) -> Option<&'r str> {
        let value = record.get(*self.index.get(column)?)?.trim();
        (!value.is_empty()).then_some(value)
    }

    fn line(
        &self,
        record: &[String],
        number: usize,
        seen: &mut HashMap<String, u32>,
    ) -> Result<StatementLine, ValidationError> {
        let param = |column: &str| format!("lines[{number}].{column}");
        if record.len() != self.width {
            return Err(ValidationError::invalid(
                format!("lines[{number}]"),
                format!("Expected {} fields, found {}.", self.width, record.len()),
            ));
        }
        let required = |column: &str| {
            self.field(record, column)
                .ok_or_else(|| ValidationError::missing(param(column)))
        };
        let optional = |column: &str| -> Result<Option<String>, ValidationError> {
            match self.field(record, column) {
                Some(v) if v.len() > FIELD_LENGTH_MAX || v.chars().any(char::is_control) => {
                    Err(ValidationError::invalid(
                        param(column),
                        format!("At most {FIELD_LENGTH_MAX} bytes, no control characters."),
                    ))
                }
                other => Ok(other.map(str::to_owned)),
            }
        };
        let currency = Currency::parse(required("currency")?, &param("currency"))?;
        let transaction = BankTransaction {
            id: String::new(),
            currency,
            direction: parse_direction(required("direction")?, &param("direction"))?,
            amount: parse_major_units(required("amount")?, currency, &param("amount"))?,
            value_date: parse_date(required("date")?, &param("date"))?,
            counterparty: optional("counterparty")?,
            reference: optional("reference")?,
        };
        let external_id = match optional("id")? {
            Some(id) => id,
            None => fingerprint(&transaction, seen),
        };
        Ok(StatementLine {
            external_id,
            transaction,
        })
    }
}

/// `line_<hex>`: the fields, and the how-many-th identical line of the file this is.
fn fingerprint(transaction: &BankTransaction, seen: &mut HashMap<String, u32>) -> String {
    let fields = format!(
        "{}|{}|{:?}|{}|{}|{}",
        transaction.value_date,
        transaction.currency.code(),
        transaction.direction,
        transaction.amount,
        transaction.reference.as_deref().unwrap_or(""),
        transaction.counterparty.as_deref().unwrap_or("")
    );
    let occurrence = seen.entry(fields.clone()).or_default();
    *occurrence += 1;
    let digest = Sha256::digest(format!("{fields}|{occurrence}").as_bytes());
    format!("line_{}", hex_prefix(&digest))
}

fn hex_prefix(digest: &[u8]) -> String {
    digest.iter().take(16).map(|b| format!("{b:02x}")).collect()
}

/// `credit` or `debit`, any case.
pub fn parse_direction(value: &str, param: &str) -> Result<Direction, ValidationError> {
    match value.to_ascii_lowercase().as_str() {
        "credit" => Ok(Direction::Credit),
        "debit" => Ok(Direction::Debit),
        _ => Err(ValidationError::invalid(
            param,
            format!("Invalid direction '{value}': use credit or debit."),
        )),
    }
}

/// A calendar date, `YYYY-MM-DD`.
pub fn parse_date(value: &str, param: &str) -> Result<Date, ValidationError> {
    value
        .parse::<Date>()
        .ok()
        .filter(|_| value.len() == 10)
        .ok_or_else(|| {
            ValidationError::invalid(param, format!("Invalid date '{value}': use YYYY-MM-DD."))
        })
}

/// A positive amount in major units (`1250`, `1250.5`, `1250.00`) as exact minor units of
/// `currency`; more decimals than the currency has are refused, never rounded.
pub fn parse_major_units(
    value: &str,
    currency: Currency,
    param: &str,
) -> Result<i64, ValidationError> {
    let invalid = || {
        ValidationError::invalid(
            param,
            format!(
                "Invalid amount '{value}': a positive number with at most {} decimals, \
                 without sign, separators or exponent.",
                currency.exponent()
            ),
        )
    };
    let (whole, fraction) = value.split_once('.').unwrap_or((value, ""));
    let exponent = usize::from(currency.exponent());
    let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if whole.is_empty()
        || whole.len() > 15
        || !digits(whole)
        || !digits(fraction)
        || fraction.len() > exponent
    {
        return Err(invalid());
    }
    if value.contains('.') && fraction.is_empty() {
        return Err(invalid());
    }
    let padded = format!("{whole}{fraction:0<exponent$}");
    let amount: i64 = padded.parse().map_err(|_| invalid())?;
    if amount <= 0 {
        return Err(invalid());
    }
    Ok(amount)
}

/// The records of a CSV text, each a list of fields.
struct Records<'a> {
    bytes: &'a str,
    position: usize,
    line: usize,
}

impl<'a> Records<'a> {
    fn new(text: &'a str) -> Self {
        Records {
            bytes: text.strip_prefix('\u{feff}').unwrap_or(text),
            position: 0,
            line: 0,
        }
    }

    fn record(&mut self) -> Result<Vec<String>, ValidationError> {
        self.line += 1;
        let text = &self.bytes[self.position..];
        let mut fields = Vec::new();
        let mut field = String::new();
        let mut chars = text.char_indices().peekable();
        let mut quoted = false;
        let mut consumed = text.len();
        while let Some((i, c)) = chars.next() {
            match (quoted, c) {
                (true, '"') if chars.peek().map(|(_, n)| *n) == Some('"') => {
                    chars.next();
                    field.push('"');
                }
                (true, '"') => quoted = false,
                (true, c) => field.push(c),
                (false, '"') if field.is_empty() => quoted = true,
                (false, ',') => fields.push(std::mem::take(&mut field)),
                (false, '\n') => {
                    consumed = i + 1;
                    break;
                }
                (false, '\r') if chars.peek().map(|(_, n)| *n) == Some('\n') => {}
                (false, c) => field.push(c),
            }
        }
        if quoted {
            return Err(ValidationError::invalid(
                "csv",
                format!("Record {} has a quote that is never closed.", self.line),
            ));
        }
        fields.push(field);
        self.position += consumed;
        Ok(fields)
    }
}

impl Iterator for Records<'_> {
    type Item = Result<Vec<String>, ValidationError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.position >= self.bytes.len() {
            return None;
        }
        let record = self.record();
        if record.is_err() {
            self.position = self.bytes.len();
        }
        Some(record)
    }
}

#[cfg(test)]
#[path = "statement_tests.rs"]
mod tests;
