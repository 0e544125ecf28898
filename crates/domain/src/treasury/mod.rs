//! Treasury: money that moves through banks. Pure rules — matching bank transactions to
//! expected payments, NACHA's ACH returns, and payouts — for the bank-rails use cases to build
//! on.

pub mod connection;
pub mod matching;
pub mod objects;
pub mod pay_ins;
pub mod payout_objects;
pub mod payouts;
pub mod returns;
pub mod settlement;
pub mod statement;
