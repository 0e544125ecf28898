//! Bursar's background work, over the application core: the event relay and its subscribers
//! (signed webhooks, email, fulfillment, subscription projection) and the periodic jobs
//! (billing, contract renewals, sweeps). It depends on `bursar-core`, never on a surface.

pub mod email;
pub mod fulfillment;
pub mod onboarding_mail;
pub mod portal_mail;
pub mod relay;
pub mod scheduler;
pub mod settlement;
pub mod subscriber;
pub mod subscriptions;
pub mod webhook_delivery;
