//! Notification emails: the mailbox (everything rendered, sent or kept).
