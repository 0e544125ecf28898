//! Customers: the rules their ids and links follow.

use bursar_domain::id::CustomerId;

use crate::error::Error;

pub fn parse_customer_id(id: &str) -> Result<CustomerId, Error> {
    // A malformed id cannot name any customer: answer as for a missing one.
    CustomerId::parse(id, "id").map_err(|_| Error::not_found("customer", id))
}
