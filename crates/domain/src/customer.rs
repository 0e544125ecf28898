//! Customers: the people and businesses that pay.

use std::collections::BTreeMap;

use crate::id::CustomerId;
use crate::metadata::Metadata;
use crate::time::Timestamp;
use crate::ValidationError;

pub const EMAIL_LENGTH_MAX: usize = 254;
pub const NAME_LENGTH_MAX: usize = 256;

/// An email address in the shape mail systems accept: `local@domain.tld`, no spaces or control
/// characters. Whether the mailbox exists is for mail delivery to find out, not for parsing.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Email(String);

impl Email {
    pub fn parse(value: &str, param: &str) -> Result<Self, ValidationError> {
        let value = value.trim();
        let invalid = |why: &str| {
            ValidationError::invalid(param, format!("Invalid email address '{value}': {why}."))
        };
        if value.is_empty() {
            return Err(invalid("it is empty"));
        }
        if value.len() > EMAIL_LENGTH_MAX {
            return Err(invalid("it is longer than 254 characters"));
        }
        if value.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(invalid("it contains white space"));
        }
        let (local, domain) = value
            .rsplit_once('@')
            .ok_or_else(|| invalid("it has no '@'"))?;
        if local.is_empty() || local.contains('@') {
            return Err(invalid("the part before '@' is malformed"));
        }
        let labels_ok = domain
            .split('.')
            .all(|label| !label.is_empty() && !label.starts_with('-') && !label.ends_with('-'));
        if !domain.contains('.') || !labels_ok {
            return Err(invalid("the domain is malformed"));
        }
        Ok(Self(value.to_owned()))
    }

    pub fn from_trusted(value: String) -> Self {
        Self(value)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A display name: non-empty after trimming, bounded length.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct CustomerName(String);

impl CustomerName {
    pub fn parse(value: &str, param: &str) -> Result<Self, ValidationError> {
        let value = value.trim();
        if value.is_empty() {
            return Err(ValidationError::invalid(param, "Name must not be empty."));
        }
        if value.chars().count() > NAME_LENGTH_MAX {
            return Err(ValidationError::invalid(
                param,
                format!("Name must be at most {NAME_LENGTH_MAX} characters long."),
            ));
        }
        Ok(Self(value.to_owned()))
    }

    pub fn from_trusted(value: String) -> Self {
        Self(value)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A customer as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Customer {
    pub id: CustomerId,
    pub email: Option<Email>,
    pub name: Option<CustomerName>,
    pub metadata: Metadata,
    /// The company the customer buys for: its agreements price the customer's orders.
    pub company_id: Option<crate::id::CompanyId>,
    /// The customer's own price book; overrides the company's.
    pub price_book_id: Option<crate::id::PriceBookId>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

/// A customer as the API shows it.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct CustomerObject {
    /// `cus_` followed by a time-sortable ULID.
    #[schema(example = "cus_01jdx2k3m4n5p6q7r8s9t0v1w2")]
    pub id: String,
    /// Always `customer`.
    #[schema(example = "customer")]
    pub object: &'static str,
    pub email: Option<String>,
    pub name: Option<String>,
    pub metadata: BTreeMap<String, String>,
    /// The company the customer buys for (`comp_…`).
    pub company_id: Option<String>,
    /// The customer's own price book (`pb_…`).
    pub price_book_id: Option<String>,
    /// RFC 3339, UTC.
    pub created_at: String,
    pub updated_at: String,
}

impl From<Customer> for CustomerObject {
    fn from(c: Customer) -> Self {
        CustomerObject {
            id: c.id.to_string(),
            object: "customer",
            email: c.email.map(|e| e.as_str().to_owned()),
            name: c.name.map(|n| n.as_str().to_owned()),
            metadata: c.metadata.as_map().clone(),
            company_id: c.company_id.map(String::from),
            price_book_id: c.price_book_id.map(String::from),
            created_at: c.created_at.to_rfc3339(),
            updated_at: c.updated_at.to_rfc3339(),
        }
    }
}

/// A validated request to create a customer.
#[derive(Debug, Clone)]
pub struct NewCustomer {
    pub email: Option<Email>,
    pub name: Option<CustomerName>,
    pub metadata: Metadata,
    pub company_id: Option<crate::id::CompanyId>,
    pub price_book_id: Option<crate::id::PriceBookId>,
}

impl NewCustomer {
    pub fn parse(
        email: Option<&str>,
        name: Option<&str>,
        metadata: Option<BTreeMap<String, String>>,
    ) -> Result<Self, ValidationError> {
        Ok(Self {
            email: email.map(|e| Email::parse(e, "email")).transpose()?,
            name: name.map(|n| CustomerName::parse(n, "name")).transpose()?,
            metadata: Metadata::parse(metadata.unwrap_or_default())?,
            company_id: None,
            price_book_id: None,
        })
    }
}

/// A field in an update: left alone, cleared (JSON `null`), or set.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum FieldChange<T> {
    #[default]
    Keep,
    Clear,
    Set(T),
}

impl<T> FieldChange<T> {
    pub fn apply(self, current: Option<T>) -> Option<T> {
        match self {
            FieldChange::Keep => current,
            FieldChange::Clear => None,
            FieldChange::Set(value) => Some(value),
        }
    }
}

/// A validated update of a customer.
#[derive(Debug, Clone, Default)]
pub struct CustomerUpdate {
    pub email: FieldChange<Email>,
    pub name: FieldChange<CustomerName>,
    pub metadata: BTreeMap<String, Option<String>>,
    pub company_id: FieldChange<crate::id::CompanyId>,
    pub price_book_id: FieldChange<crate::id::PriceBookId>,
}

impl CustomerUpdate {
    /// `None` means the field was absent; `Some(None)` means it was JSON `null`.
    pub fn parse(
        email: Option<Option<&str>>,
        name: Option<Option<&str>>,
        metadata: Option<BTreeMap<String, Option<String>>>,
    ) -> Result<Self, ValidationError> {
        let email = match email {
            None => FieldChange::Keep,
            Some(None) => FieldChange::Clear,
            Some(Some(e)) => FieldChange::Set(Email::parse(e, "email")?),
        };
        let name = match name {
            None => FieldChange::Keep,
            Some(None) => FieldChange::Clear,
            Some(Some(n)) => FieldChange::Set(CustomerName::parse(n, "name")?),
        };
        Ok(Self {
            email,
            name,
            metadata: metadata.unwrap_or_default(),
            ..Self::default()
        })
    }

    /// The customer after this update, or the rule the update breaks.
    pub fn applied_to(
        self,
        current: &Customer,
        now: Timestamp,
    ) -> Result<Customer, ValidationError> {
        Ok(Customer {
            id: current.id.clone(),
            email: self.email.apply(current.email.clone()),
            name: self.name.apply(current.name.clone()),
            metadata: current.metadata.merged(self.metadata)?,
            company_id: self.company_id.apply(current.company_id.clone()),
            price_book_id: self.price_book_id.apply(current.price_book_id.clone()),
            created_at: current.created_at,
            updated_at: now,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn email_accepts_ordinary_addresses() {
        for ok in [
            "a@b.co",
            "first.last+tag@example.com",
            " padded@example.org ",
        ] {
            assert!(Email::parse(ok, "email").is_ok(), "{ok}");
        }
    }

    #[test]
    fn email_refuses_malformed_addresses_naming_the_field() {
        for bad in [
            "",
            "plain",
            "@example.com",
            "a@",
            "a@b",
            "a b@c.de",
            "a@b..c",
            "a@-b.c",
            "a@@b.c",
        ] {
            let err = Email::parse(bad, "email").unwrap_err();
            assert_eq!(err.param, "email", "{bad}");
        }
    }

    #[test]
    fn update_keeps_clears_and_sets() {
        let now = Timestamp::from_unix_micros(5);
        let customer = Customer {
            id: CustomerId::new(),
            email: Some(Email::parse("a@b.co", "email").unwrap()),
            name: Some(CustomerName::parse("Ann", "name").unwrap()),
            metadata: Metadata::default(),
            company_id: None,
            price_book_id: None,
            created_at: Timestamp::from_unix_micros(1),
            updated_at: Timestamp::from_unix_micros(1),
        };
        let update = CustomerUpdate::parse(Some(None), None, None).unwrap();
        let updated = update.applied_to(&customer, now).unwrap();
        assert_eq!(updated.email, None);
        assert_eq!(updated.name, customer.name);
        assert_eq!(updated.updated_at, now);
        assert_eq!(updated.created_at, customer.created_at);
        let update = CustomerUpdate::parse(None, Some(Some("Bo")), None).unwrap();
        assert_eq!(
            update
                .applied_to(&customer, now)
                .unwrap()
                .name
                .unwrap()
                .as_str(),
            "Bo"
        );
    }
}
