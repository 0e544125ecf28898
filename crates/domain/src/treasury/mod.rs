//! Treasury: money that moves through banks. Pure rules — matching bank transactions to
//! expected payments, and NACHA's ACH returns — for the bank-rails use cases to build on.

pub mod connection;
pub mod matching;
pub mod objects;
pub mod returns;
pub mod statement;
