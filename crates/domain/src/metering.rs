//! Usage metering: meters, CloudEvents usage events, what an event contributes to a meter, the
//! aggregate kept per rollup bucket, and query windows in a time zone. Pure: no I/O.
//!
//! Quantities are IEEE-754 doubles, as in OpenMeter's API (its query values are `double`):
//! integer quantities (calls, tokens, bytes) are exact up to 2^53 and add up the same in any
//! order; fractional quantities are rounded by rating, never here.

use std::collections::BTreeMap;

use jiff::tz::TimeZone;
use jiff::{RoundMode, ToSpan, Unit, Zoned, ZonedRound};
use serde::{Deserialize, Serialize};
use serde_json::Value;

mod filter;
pub use filter::{FilterString, MAX_LIKE_PATTERN};
use utoipa::ToSchema;

use crate::error::ValidationError;
use crate::time::Timestamp;

/// How a meter aggregates the values of its events.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Aggregation {
    Sum,
    Count,
    UniqueCount,
    Avg,
    Min,
    Max,
    Latest,
}

impl Aggregation {
    /// Whether the value property must hold a number (all but COUNT and UNIQUE_COUNT).
    fn numeric(self) -> bool {
        !matches!(self, Aggregation::Count | Aggregation::UniqueCount)
    }
}

/// The length of the windows a meter query aggregates over.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum WindowSize {
    Minute,
    Hour,
    Day,
    Month,
}

impl WindowSize {
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "MINUTE" => Some(Self::Minute),
            "HOUR" => Some(Self::Hour),
            "DAY" => Some(Self::Day),
            "MONTH" => Some(Self::Month),
            _ => None,
        }
    }
}

/// A meter, in OpenMeter's shape.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Meter {
    /// The store's compact key of the meter (rollups are keyed by it); not shown.
    #[serde(skip)]
    #[schema(ignore)]
    pub key: i64,
    /// A ULID, as OpenMeter's meter ids.
    pub id: String,
    pub slug: String,
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<BTreeMap<String, String>>,
    pub aggregation: Aggregation,
    pub event_type: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event_from: Option<Timestamp>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value_property: Option<String>,
    #[serde(default)]
    pub group_by: BTreeMap<String, String>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deleted_at: Option<Timestamp>,
}

/// A validated request to create a meter (OpenMeter's `MeterCreate`).
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct MeterCreate {
    /// 1 to 64 lower-case letters and digits, in words joined by single underscores.
    #[schema(
        example = "api_calls",
        max_length = 64,
        pattern = "^[a-z0-9]+(_[a-z0-9]+)*$"
    )]
    pub slug: String,
    pub aggregation: Aggregation,
    /// The CloudEvents `type` the meter counts: not blank, at most 256 bytes once trimmed.
    #[schema(min_length = 1, max_length = 256, pattern = r"\S")]
    pub event_type: String,
    /// Not blank; default: the slug.
    #[schema(min_length = 1, max_length = 256, pattern = r"\S")]
    pub name: Option<String>,
    #[schema(max_length = 1024)]
    pub description: Option<String>,
    pub metadata: Option<BTreeMap<String, String>>,
    pub event_from: Option<Timestamp>,
    /// A JSONPath into the event's data (`$.tokens`, `$.a.b`, `$['key']`, `$.list[0]`);
    /// required unless the aggregation is `COUNT`.
    #[schema(pattern = "^\\$")]
    pub value_property: Option<String>,
    /// Group-by key → JSONPath into the event's data.
    #[schema(value_type = Option<GroupBy>)]
    pub group_by: Option<BTreeMap<String, String>>,
}

crate::schema_only!(
    /// The schema of a meter's group-by map, as [`MeterCreate::into_meter`] checks it.
    GroupBy => utoipa::openapi::ObjectBuilder::new()
        .schema_type(utoipa::openapi::schema::Type::Object)
        .description(Some(
            "Keys of letters, digits and underscores (not `subject` or `customer_id`), each \
             a JSONPath into the event's data",
        ))
        .property_names(Some(
            utoipa::openapi::ObjectBuilder::new()
                .schema_type(utoipa::openapi::schema::Type::String)
                .pattern(Some("^(?!subject$|customer_id$)[A-Za-z0-9_]+$")),
        ))
        .additional_properties(Some(
            utoipa::openapi::ObjectBuilder::new()
                .schema_type(utoipa::openapi::schema::Type::String)
                .pattern(Some("^\\$")),
        ))
        .into()
);

fn is_slug(text: &str) -> bool {
    !text.is_empty()
        && text.len() <= 64
        && text.split('_').all(|part| {
            !part.is_empty()
                && part
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        })
}

/// Whether `text` has the shape of a ULID (OpenMeter's resource ids).
pub fn is_ulid(text: &str) -> bool {
    text.len() == 26
        && text.as_bytes()[0] <= b'7'
        && text
            .bytes()
            .all(|b| b.is_ascii_digit() || (b.is_ascii_uppercase() && !b"ILOU".contains(&b)))
}

impl MeterCreate {
    /// Checks the request and builds the meter it describes.
    pub fn into_meter(self, now: Timestamp) -> Result<Meter, ValidationError> {
        if !is_slug(&self.slug) {
            return Err(ValidationError::invalid(
                "slug",
                "slug must be 1-64 lowercase letters, digits and single underscores (e.g. api_calls).",
            ));
        }
        let event_type = self.event_type.trim();
        if event_type.is_empty() || event_type.len() > 256 {
            return Err(ValidationError::invalid(
                "eventType",
                "eventType must be 1-256 characters.",
            ));
        }
        if let Some(name) = &self.name {
            if name.trim().is_empty() || name.chars().count() > 256 {
                return Err(ValidationError::invalid(
                    "name",
                    "name must be 1-256 characters.",
                ));
            }
        }
        if self
            .description
            .as_ref()
            .is_some_and(|d| d.chars().count() > 1024)
        {
            return Err(ValidationError::invalid(
                "description",
                "description must be at most 1024 characters.",
            ));
        }
        let value_property = match (self.aggregation, self.value_property) {
            (Aggregation::Count, _) => None,
            (aggregation, None) => {
                return Err(ValidationError::invalid(
                    "valueProperty",
                    format!("valueProperty is required for {aggregation:?} meters (a JSONPath into data, e.g. $.tokens)."),
                ))
            }
            (_, Some(path)) => {
                JsonPath::parse(&path).map_err(|e| ValidationError::invalid("valueProperty", e))?;
                Some(path)
            }
        };
        let group_by = self.group_by.unwrap_or_default();
        for (key, path) in &group_by {
            let param = format!("groupBy.{key}");
            if key.is_empty() || !key.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
                return Err(ValidationError::invalid(
                    param,
                    "groupBy keys are letters, digits and underscores.",
                ));
            }
            if key == "subject" || key == "customer_id" {
                return Err(ValidationError::invalid(
                    param,
                    format!("'{key}' is reserved."),
                ));
            }
            JsonPath::parse(path).map_err(|e| ValidationError::invalid(param, e))?;
        }
        Ok(Meter {
            key: 0,
            id: ulid::Ulid::new().to_string(),
            name: self.name.unwrap_or_else(|| self.slug.clone()),
            slug: self.slug,
            description: self.description,
            metadata: self.metadata,
            aggregation: self.aggregation,
            event_type: event_type.to_owned(),
            event_from: self.event_from,
            value_property,
            group_by,
            created_at: now,
            updated_at: now,
            deleted_at: None,
        })
    }
}

/// A JSONPath of the simple kind meters use: `$.a.b`, `$['a b']`, `$.list[0]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JsonPath(Vec<Segment>);

#[derive(Debug, Clone, PartialEq, Eq)]
enum Segment {
    Key(String),
    Index(usize),
}

impl JsonPath {
    pub fn parse(text: &str) -> Result<Self, String> {
        let fail = || {
            format!(
                "'{text}' is not a supported JSONPath (use $.field, $.a.b, $['key'] or $.list[0])."
            )
        };
        let mut rest = text.strip_prefix('$').ok_or_else(fail)?;
        let mut segments = Vec::new();
        while !rest.is_empty() {
            if let Some(after) = rest.strip_prefix('.') {
                let end = after.find(['.', '[']).unwrap_or(after.len());
                let key = &after[..end];
                if key.is_empty() {
                    return Err(fail());
                }
                segments.push(Segment::Key(key.to_owned()));
                rest = &after[end..];
            } else if let Some(after) = rest.strip_prefix('[') {
                let end = after.find(']').ok_or_else(fail)?;
                let inner = &after[..end];
                let quoted = inner
                    .strip_prefix('\'')
                    .and_then(|s| s.strip_suffix('\''))
                    .or_else(|| inner.strip_prefix('"').and_then(|s| s.strip_suffix('"')));
                match quoted {
                    Some(key) if !key.is_empty() => segments.push(Segment::Key(key.to_owned())),
                    Some(_) => return Err(fail()),
                    None => segments.push(Segment::Index(inner.parse().map_err(|_| fail())?)),
                }
                rest = &after[end + 1..];
            } else {
                return Err(fail());
            }
        }
        if segments.is_empty() {
            return Err(fail());
        }
        Ok(Self(segments))
    }

    /// The value at this path in `data`, if any.
    pub fn get<'v>(&self, data: &'v Value) -> Option<&'v Value> {
        self.0
            .iter()
            .try_fold(data, |value, segment| match segment {
                Segment::Key(key) => value.get(key.as_str()),
                Segment::Index(index) => value.get(*index),
            })
    }
}

/// A meter with its paths parsed once, ready to read events.
#[derive(Debug, Clone)]
pub struct CompiledMeter {
    pub meter: Meter,
    value: Option<JsonPath>,
    groups: Vec<(String, JsonPath)>,
}

/// What one event adds to a meter.
#[derive(Debug, Clone, PartialEq)]
pub enum Contribution {
    Count,
    Number(f64),
    Unique(String),
}

impl CompiledMeter {
    pub fn new(meter: Meter) -> Result<Self, String> {
        let value = meter
            .value_property
            .as_deref()
            .map(JsonPath::parse)
            .transpose()?;
        let groups = meter
            .group_by
            .iter()
            .map(|(k, p)| Ok((k.clone(), JsonPath::parse(p)?)))
            .collect::<Result<_, String>>()?;
        Ok(Self {
            meter,
            value,
            groups,
        })
    }

    /// What `event` adds to this meter and the group it falls in (`{"key":"value",…}` of the
    /// group-by values it has; `""` for none), or None when the meter does not take it (another
    /// type, or before `eventFrom`). Err names the property when the event's data cannot feed
    /// the meter.
    pub fn contribution(
        &self,
        event: &UsageEvent,
    ) -> Result<Option<(Contribution, String)>, String> {
        if event.event_type != self.meter.event_type
            || self.meter.event_from.is_some_and(|from| event.time < from)
        {
            return Ok(None);
        }
        let data = event.data.as_ref().unwrap_or(&Value::Null);
        let slug = &self.meter.slug;
        let contribution = match (self.meter.aggregation, &self.value) {
            (Aggregation::Count, _) | (_, None) => Contribution::Count,
            (aggregation, Some(path)) => {
                let property = self.meter.value_property.as_deref().unwrap_or("");
                let Some(found) = path.get(data) else {
                    return Err(format!(
                        "data has no {property}, which meter '{slug}' ({aggregation:?}) needs."
                    ));
                };
                if aggregation.numeric() {
                    let number = match found {
                        Value::Number(n) => n.as_f64(),
                        Value::String(s) => s.trim().parse::<f64>().ok(),
                        _ => None,
                    };
                    match number {
                        Some(n) if n.abs() > MAX_EVENT_VALUE => {
                            return Err(format!(
                                "data {property} must be at most {MAX_EVENT_VALUE:e} in magnitude for meter '{slug}'; got {found}."
                            ))
                        }
                        Some(n) if n.is_finite() => Contribution::Number(n),
                        _ => {
                            return Err(format!(
                                "data {property} must be a number (or a numeric string) for meter '{slug}' ({aggregation:?}); got {found}."
                            ))
                        }
                    }
                } else {
                    match found {
                        Value::String(s) => Contribution::Unique(s.clone()),
                        _ => {
                            return Err(format!(
                                "data {property} must be a string for meter '{slug}' (UNIQUE_COUNT); got {found}."
                            ))
                        }
                    }
                }
            }
        };
        let mut groups = BTreeMap::new();
        for (key, path) in &self.groups {
            let text = match path.get(data) {
                None | Some(Value::Null) => continue,
                Some(Value::String(s)) => s.clone(),
                Some(Value::Number(n)) => n.to_string(),
                Some(Value::Bool(b)) => b.to_string(),
                Some(other) => other.to_string(),
            };
            groups.insert(key.as_str(), text);
        }
        let group_key = if groups.is_empty() {
            String::new()
        } else {
            serde_json::to_string(&groups).unwrap_or_default()
        };
        Ok(Some((contribution, group_key)))
    }
}

/// The group-by values of a rollup's group key.
pub fn group_values(group_key: &str) -> BTreeMap<String, String> {
    if group_key.is_empty() {
        return BTreeMap::new();
    }
    serde_json::from_str(group_key).unwrap_or_default()
}

/// How far in the past a usage event may be dated: five years (late and back-filled usage
/// is welcome; a mistyped year is not).
pub const MAX_EVENT_AGE_SECONDS: i64 = 5 * 366 * 86_400;
/// How far in the future a usage event may be dated: a year (usage recorded ahead of its
/// period, clocks that run ahead); year 9999 is refused.
pub const MAX_EVENT_LEAD_SECONDS: i64 = 366 * 86_400;
/// The largest magnitude of one event's value: sums of many stay far from overflowing.
pub const MAX_EVENT_VALUE: f64 = 1e15;

fn check_event_time(time: Timestamp, now: Timestamp) -> Result<(), (String, String)> {
    let earliest = now.plus_seconds(-MAX_EVENT_AGE_SECONDS);
    let latest = now.plus_seconds(MAX_EVENT_LEAD_SECONDS);
    if time < earliest || time > latest {
        return Err((
            "time".into(),
            format!(
                "time must be between {} and {} (at most five years ago and one year ahead).",
                earliest.to_rfc3339(),
                latest.to_rfc3339()
            ),
        ));
    }
    Ok(())
}

crate::schema_only!(
    /// The schema of a usage event as [`UsageEvent::parse`] reads it.
    CloudEvent => {
        use utoipa::openapi::schema::{SchemaType, Type};
        use utoipa::openapi::ObjectBuilder;
        let text = |description: &str| {
            ObjectBuilder::new()
                .schema_type(Type::String)
                .description(Some(description))
                .min_length(Some(1))
                .max_length(Some(1024))
        };
        let nullable = |kind: Type| SchemaType::from_iter([kind, Type::Null]);
        ObjectBuilder::new()
            .schema_type(Type::Object)
            .description(Some("A CloudEvents 1.0 event in JSON; other attributes are kept."))
            .property(
                "specversion",
                ObjectBuilder::new().schema_type(Type::String).enum_values(Some(["1.0"])),
            )
            .property("id", text("Unique per `source`: a resent event counts once (bytes)"))
            .property("source", text("Where the event comes from (bytes)"))
            .property("type", text("The event type meters count (bytes)"))
            .property("subject", text("Whose usage it is: a customer id or a usage subject (bytes)"))
            .property(
                "time",
                ObjectBuilder::new()
                    .schema_type(nullable(Type::String))
                    .format(Some(utoipa::openapi::SchemaFormat::KnownFormat(
                        utoipa::openapi::KnownFormat::DateTime,
                    )))
                    .description(Some("Default now; at most five years ago and one year ahead")),
            )
            .property(
                "datacontenttype",
                ObjectBuilder::new()
                    .schema_type(nullable(Type::String))
                    .enum_values(Some([Some("application/json"), None])),
            )
            .property("data", ObjectBuilder::new().schema_type(nullable(Type::Object)))
            .required("specversion")
            .required("id")
            .required("source")
            .required("type")
            .required("subject")
            .into()
    }
);

/// A validated CloudEvents 1.0 usage event.
#[derive(Debug, Clone, PartialEq)]
pub struct UsageEvent {
    pub id: String,
    pub source: String,
    pub event_type: String,
    pub subject: String,
    pub time: Timestamp,
    pub data: Option<Value>,
}

fn required_text(
    event: &serde_json::Map<String, Value>,
    field: &str,
) -> Result<String, (String, String)> {
    match event.get(field) {
        Some(Value::String(s)) if !s.is_empty() => Ok(s.clone()),
        Some(Value::String(_)) | None | Some(Value::Null) => Err((
            field.to_owned(),
            format!("{field} is required (a non-empty string)."),
        )),
        Some(other) => Err((
            field.to_owned(),
            format!("{field} must be a string, not {other}."),
        )),
    }
}

impl UsageEvent {
    /// Reads a CloudEvents 1.0 event (JSON format). Err is (field, message). An event without
    /// `time` happened `now`.
    pub fn parse(value: &Value, now: Timestamp) -> Result<Self, (String, String)> {
        let Value::Object(event) = value else {
            return Err((String::new(), "an event must be a JSON object.".into()));
        };
        match event.get("specversion") {
            Some(Value::String(v)) if v == "1.0" => {}
            None | Some(Value::Null) => {
                return Err((
                    "specversion".into(),
                    "specversion is required (\"1.0\").".into(),
                ))
            }
            Some(other) => {
                return Err((
                    "specversion".into(),
                    format!("specversion must be \"1.0\", not {other}."),
                ))
            }
        }
        let id = required_text(event, "id")?;
        let source = required_text(event, "source")?;
        let event_type = required_text(event, "type")?;
        let subject = required_text(event, "subject")?;
        for (field, text) in [
            ("id", &id),
            ("source", &source),
            ("type", &event_type),
            ("subject", &subject),
        ] {
            if text.len() > 1024 {
                return Err((field.into(), format!("{field} must be at most 1024 bytes.")));
            }
        }
        let time = match event.get("time") {
            None | Some(Value::Null) => now,
            Some(Value::String(text)) => Timestamp::parse_rfc3339(text).ok_or_else(|| {
                (
                    "time".to_owned(),
                    format!("time '{text}' is not an RFC 3339 timestamp."),
                )
            })?,
            Some(other) => {
                return Err((
                    "time".into(),
                    format!("time must be an RFC 3339 string, not {other}."),
                ))
            }
        };
        check_event_time(time, now)?;
        match event.get("datacontenttype") {
            None | Some(Value::Null) => {}
            Some(Value::String(t)) if t == "application/json" => {}
            Some(other) => {
                return Err((
                    "datacontenttype".into(),
                    format!("datacontenttype must be \"application/json\", not {other}."),
                ))
            }
        }
        let data = match event.get("data") {
            None | Some(Value::Null) => None,
            Some(object @ Value::Object(_)) => Some(object.clone()),
            Some(other) => {
                return Err((
                    "data".into(),
                    format!("data must be a JSON object, not {other}."),
                ))
            }
        };
        Ok(Self {
            id,
            source,
            event_type,
            subject,
            time,
            data,
        })
    }
}

/// The aggregate of a set of events: enough to answer every aggregation, and to merge with
/// another set's (rollups add up into windows).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Agg {
    pub count: i64,
    pub sum: f64,
    pub min: Option<f64>,
    pub max: Option<f64>,
    /// The value of the latest event, by event time (µs); ties go to the later arrival.
    pub latest: Option<(i64, f64)>,
}

impl Default for Agg {
    fn default() -> Self {
        Self {
            count: 0,
            sum: 0.0,
            min: None,
            max: None,
            latest: None,
        }
    }
}

impl Agg {
    pub fn add(&mut self, contribution: &Contribution, time: Timestamp) {
        self.count += 1;
        if let Contribution::Number(n) = contribution {
            let n = *n;
            self.sum += n;
            self.min = Some(self.min.map_or(n, |m| m.min(n)));
            self.max = Some(self.max.map_or(n, |m| m.max(n)));
            let t = time.unix_micros();
            if self.latest.is_none_or(|(lt, _)| t >= lt) {
                self.latest = Some((t, n));
            }
        }
    }

    pub fn merge(&mut self, other: &Agg) {
        self.count += other.count;
        self.sum += other.sum;
        self.min = match (self.min, other.min) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        self.max = match (self.max, other.max) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, b) => a.or(b),
        };
        if let Some((t, v)) = other.latest {
            if self.latest.is_none_or(|(lt, _)| t >= lt) {
                self.latest = Some((t, v));
            }
        }
    }

    /// The meter's value for this aggregate (UNIQUE_COUNT is counted from the values instead).
    #[allow(clippy::cast_precision_loss)]
    pub fn value(&self, aggregation: Aggregation) -> f64 {
        match aggregation {
            Aggregation::Count | Aggregation::UniqueCount => self.count as f64,
            Aggregation::Sum => self.sum,
            Aggregation::Avg if self.count > 0 => self.sum / self.count as f64,
            Aggregation::Avg => 0.0,
            Aggregation::Min => self.min.unwrap_or(0.0),
            Aggregation::Max => self.max.unwrap_or(0.0),
            Aggregation::Latest => self.latest.map_or(0.0, |(_, v)| v),
        }
    }
}

/// Rollup levels: bucket lengths in seconds, finest first.
pub const LEVELS: [i64; 2] = [60, 3600];

/// The start (unix seconds) of the `level`-second bucket holding `time`.
pub fn bucket_of(time: Timestamp, level: i64) -> i64 {
    time.unix_micros().div_euclid(1_000_000).div_euclid(level) * level
}

/// Looks up an IANA time zone (`UTC`, `Europe/Berlin`).
pub fn time_zone(name: &str) -> Result<TimeZone, ValidationError> {
    TimeZone::get(name).map_err(|_| {
        ValidationError::invalid(
            "windowTimeZone",
            format!("'{name}' is not an IANA time zone (e.g. UTC, Europe/Berlin)."),
        )
    })
}

fn zoned(seconds: i64, tz: &TimeZone) -> Result<Zoned, String> {
    let at = jiff::Timestamp::from_second(seconds).map_err(|e| e.to_string())?;
    Ok(at.to_zoned(tz.clone()))
}

/// The start (unix seconds) of the window holding `seconds`.
pub fn window_floor(size: WindowSize, tz: &TimeZone, seconds: i64) -> Result<i64, String> {
    let at = zoned(seconds, tz)?;
    let start = match size {
        WindowSize::Minute => at.round(
            ZonedRound::new()
                .smallest(Unit::Minute)
                .mode(RoundMode::Trunc),
        ),
        WindowSize::Hour => at.round(
            ZonedRound::new()
                .smallest(Unit::Hour)
                .mode(RoundMode::Trunc),
        ),
        WindowSize::Day => at.start_of_day(),
        WindowSize::Month => at.first_of_month().and_then(|d| d.start_of_day()),
    }
    .map_err(|e| e.to_string())?;
    Ok(start.timestamp().as_second())
}

/// The start of the window after the one starting at `start`.
pub fn window_next(size: WindowSize, tz: &TimeZone, start: i64) -> Result<i64, String> {
    match size {
        WindowSize::Minute => Ok(start + 60),
        WindowSize::Hour => Ok(start + 3600),
        WindowSize::Day | WindowSize::Month => {
            let span = if size == WindowSize::Day {
                1.day()
            } else {
                1.month()
            };
            let next = zoned(start, tz)?
                .checked_add(span)
                .map_err(|e| e.to_string())?;
            // A day or month may start at a time a DST change skips; start it where the zone
            // says the calendar unit starts.
            window_floor(size, tz, next.timestamp().as_second())
        }
    }
}

/// At most this many windows per query.
pub const WINDOWS_MAX: usize = 100_000;

/// The window boundaries `[b0, b1, …, bn]` from `from` to `to` (both window starts), so window
/// `i` is `[b_i, b_i+1)`.
pub fn window_bounds(
    size: WindowSize,
    tz: &TimeZone,
    from: i64,
    to: i64,
) -> Result<Vec<i64>, String> {
    let mut bounds = vec![from];
    let mut at = from;
    while at < to {
        at = window_next(size, tz, at)?;
        bounds.push(at);
        if bounds.len() > WINDOWS_MAX + 1 {
            return Err(format!("the query spans more than {WINDOWS_MAX} windows; narrow from/to or use a larger windowSize."));
        }
    }
    Ok(bounds)
}

/// The coarsest rollup level every boundary falls on.
pub fn level_for(bounds: &[i64]) -> Option<i64> {
    LEVELS
        .iter()
        .rev()
        .copied()
        .find(|level| bounds.iter().all(|b| b.rem_euclid(*level) == 0))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn event(data: Value) -> UsageEvent {
        UsageEvent::parse(
            &json!({"specversion": "1.0", "id": "1", "source": "s", "type": "prompt", "subject": "c", "time": "2025-01-01T00:00:00Z", "data": data}),
            Timestamp::parse_rfc3339("2025-01-02T00:00:00Z").unwrap(),
        )
        .unwrap()
    }

    fn meter(aggregation: Aggregation, value: Option<&str>) -> CompiledMeter {
        let create = MeterCreate {
            slug: "tokens".into(),
            aggregation,
            event_type: "prompt".into(),
            name: None,
            description: None,
            metadata: None,
            event_from: None,
            value_property: value.map(str::to_owned),
            group_by: Some(BTreeMap::from([("model".to_owned(), "$.model".to_owned())])),
        };
        CompiledMeter::new(create.into_meter(Timestamp::default()).unwrap()).unwrap()
    }

    #[test]
    fn paths_read_nested_keys_and_indexes() {
        let data = json!({"a": {"b c": [1, {"d": 2}]}});
        assert_eq!(
            JsonPath::parse("$.a['b c'][1].d").unwrap().get(&data),
            Some(&json!(2))
        );
        assert_eq!(JsonPath::parse("$.a.x").unwrap().get(&data), None);
        for bad in ["a.b", "$", "$.", "$[x", "$..a", "$['']"] {
            assert!(JsonPath::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn contributions_check_the_value_type() {
        let sum = meter(Aggregation::Sum, Some("$.tokens"));
        let (c, group) = sum
            .contribution(&event(json!({"tokens": "12.5", "model": "gpt"})))
            .unwrap()
            .unwrap();
        assert_eq!(
            (c, group.as_str()),
            (Contribution::Number(12.5), r#"{"model":"gpt"}"#)
        );
        assert!(sum
            .contribution(&event(json!({"tokens": true})))
            .unwrap_err()
            .contains("$.tokens"));
        assert!(sum
            .contribution(&event(json!({})))
            .unwrap_err()
            .contains("no $.tokens"));
        // One event's value is bounded, so no sum of events overflows to infinity.
        assert!(sum
            .contribution(&event(json!({"tokens": 1e308})))
            .unwrap_err()
            .contains("at most 1e15"));
        assert!(sum.contribution(&event(json!({"tokens": -1e15}))).is_ok());
        let unique = meter(Aggregation::UniqueCount, Some("$.user"));
        assert!(unique.contribution(&event(json!({"user": 5}))).is_err());
        let count = meter(Aggregation::Count, None);
        assert_eq!(
            count.contribution(&event(json!(null))).unwrap(),
            Some((Contribution::Count, String::new()))
        );
    }

    #[test]
    fn events_are_validated_field_by_field() {
        let now = Timestamp::default();
        let good =
            json!({"specversion": "1.0", "id": "1", "source": "s", "type": "t", "subject": "c"});
        assert_eq!(UsageEvent::parse(&good, now).unwrap().time, now);
        for (field, patch) in [
            ("specversion", json!({"specversion": "0.3"})),
            ("id", json!({"id": ""})),
            ("subject", json!({"subject": null})),
            ("time", json!({"time": "yesterday"})),
            ("data", json!({"data": [1]})),
            ("datacontenttype", json!({"datacontenttype": "text/plain"})),
        ] {
            let mut bad = good.clone();
            for (k, v) in patch.as_object().unwrap() {
                bad[k] = v.clone();
            }
            assert_eq!(UsageEvent::parse(&bad, now).unwrap_err().0, field);
        }
    }

    /// A far-future or far-past event would break every later query of its meter: refused.
    #[test]
    fn event_times_are_bounded_around_now() {
        let now = Timestamp::parse_rfc3339("2026-12-06T00:00:00Z").unwrap();
        let at = |time: &str| json!({"specversion": "1.0", "id": "1", "source": "s", "type": "t", "subject": "c", "time": time});
        for refused in [
            "9999-12-31T23:59:59Z",
            "0001-01-01T00:00:00Z",
            "2021-12-01T00:00:00Z",
            "2027-12-07T00:00:01Z",
        ] {
            let error = UsageEvent::parse(&at(refused), now).unwrap_err();
            assert_eq!(error.0, "time", "{refused}");
            assert!(error.1.contains("five years ago"), "{}", error.1);
        }
        for accepted in [
            "2022-01-01T00:00:00Z",
            "2027-12-07T00:00:00Z",
            "2026-12-05T23:00:00Z",
        ] {
            assert!(UsageEvent::parse(&at(accepted), now).is_ok(), "{accepted}");
        }
    }

    #[test]
    fn aggregates_merge_like_one_set() {
        let t = |s: i64| Timestamp::from_unix_micros(s * 1_000_000);
        let values = [(3.0, 1), (1.0, 5), (7.0, 2), (2.0, 5)];
        let mut whole = Agg::default();
        let (mut left, mut right) = (Agg::default(), Agg::default());
        for (i, (v, at)) in values.iter().enumerate() {
            whole.add(&Contribution::Number(*v), t(*at));
            if i % 2 == 0 { &mut left } else { &mut right }.add(&Contribution::Number(*v), t(*at));
        }
        left.merge(&right);
        assert_eq!(left, whole);
        assert_eq!(whole.value(Aggregation::Sum), 13.0);
        assert_eq!(whole.value(Aggregation::Avg), 3.25);
        assert_eq!(whole.value(Aggregation::Min), 1.0);
        assert_eq!(whole.value(Aggregation::Max), 7.0);
        // Two events at the latest time: the later arrival wins.
        assert_eq!(whole.value(Aggregation::Latest), 2.0);
    }

    #[test]
    fn windows_follow_the_time_zone() {
        let berlin = time_zone("Europe/Berlin").unwrap();
        // 2025-03-30 is the spring-forward day in Berlin: 23 hours long.
        let start = window_floor(WindowSize::Day, &berlin, 1_743_300_000).unwrap();
        let next = window_next(WindowSize::Day, &berlin, start).unwrap();
        assert_eq!(next - start, 23 * 3600);
        let kolkata = time_zone("Asia/Kolkata").unwrap();
        let hour = window_floor(WindowSize::Hour, &kolkata, 1_735_689_600).unwrap();
        assert_eq!(hour.rem_euclid(3600), 1800, "+05:30 hours start at :30 UTC");
        assert_eq!(level_for(&[hour, hour + 3600]), Some(60));
        let utc = time_zone("UTC").unwrap();
        let bounds = window_bounds(WindowSize::Month, &utc, 1_735_689_600, 1_743_465_600).unwrap();
        assert_eq!(bounds.len(), 4, "Jan, Feb, Mar 2025");
        assert_eq!(level_for(&bounds), Some(3600));
        assert!(time_zone("Mars/Olympus").is_err());
    }
}

/// A customer's usage subjects.
#[derive(Debug, Serialize, ToSchema)]
pub struct UsageSubjects {
    /// Always `usage_subjects`.
    pub object: &'static str,
    pub customer_id: String,
    /// The customer's own id first (events with it as subject are the customer's), then the
    /// subjects registered to it.
    pub subjects: Vec<String>,
    /// Usage before this instant is closed (invoiced): later-arriving events for it are
    /// counted at this instant instead.
    pub closed_until: Option<Timestamp>,
}

/// A row of a meter query (OpenMeter's `MeterQueryRow`).
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct MeterQueryRow {
    pub value: f64,
    pub window_start: String,
    pub window_end: String,
    pub subject: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub customer_id: Option<String>,
    pub group_by: BTreeMap<String, Option<String>>,
}

/// The answer of a meter query (OpenMeter's `MeterQueryResult`).
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct MeterQueryResult {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub to: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub window_size: Option<WindowSize>,
    pub data: Vec<MeterQueryRow>,
}
