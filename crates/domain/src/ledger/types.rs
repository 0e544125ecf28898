//! Ledger values: ids, accounts, transfers, result codes.

use std::collections::BTreeMap;

use crate::money::Currency;
use crate::time::Timestamp;
use crate::ValidationError;

/// Longest account or transfer id.
pub const LEDGER_ID_LENGTH_MAX: usize = 64;
/// Most transfers in one request.
pub const TRANSFERS_PER_BATCH_MAX: usize = 8190;
/// Longest pending timeout: a year.
pub const PENDING_TIMEOUT_SECONDS_MAX: i64 = 366 * 24 * 60 * 60;

fn parse_ledger_id(value: &str, param: &str) -> Result<String, ValidationError> {
    let ok_chars = value
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "_-.:".contains(c));
    if value.is_empty() || value.len() > LEDGER_ID_LENGTH_MAX || !ok_chars {
        return Err(ValidationError::invalid(
            param,
            format!(
                "Ids must be 1 to {LEDGER_ID_LENGTH_MAX} characters of letters, digits, '_', \
                 '-', '.' or ':'."
            ),
        ));
    }
    Ok(value.to_owned())
}

macro_rules! ledger_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub struct $name(std::sync::Arc<str>);

        impl $name {
            pub fn parse(value: &str, param: &str) -> Result<Self, ValidationError> {
                parse_ledger_id(value, param).map(|id| Self(id.into()))
            }

            pub fn from_trusted(value: String) -> Self {
                Self(value.into())
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        // Hashes and compares as its text, so maps keyed by ids can be searched with a `&str`.
        impl std::borrow::Borrow<str> for $name {
            fn borrow(&self) -> &str {
                &self.0
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl utoipa::PartialSchema for $name {
            fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
                utoipa::openapi::ObjectBuilder::new()
                    .schema_type(utoipa::openapi::schema::Type::String)
                    .description(Some("Letters, digits, `_`, `-`, `.` or `:`"))
                    .pattern(Some(format!("^[A-Za-z0-9_.:-]{{1,{LEDGER_ID_LENGTH_MAX}}}$")))
                    .into()
            }
        }

        impl utoipa::ToSchema for $name {}
    };
}

ledger_id!(
    /// A ledger account's id, chosen by the client (or generated).
    AccountId
);

impl AccountId {
    /// A fresh, time-sortable id for an account created without one: `acct_<ulid>`.
    pub fn generate() -> Self {
        Self::from_trusted(format!(
            "acct_{}",
            crate::id::next_ulid().to_string().to_ascii_lowercase()
        ))
    }
}
ledger_id!(
    /// A transfer's id, chosen by the client: the idempotency key of the transfer.
    TransferId
);

/// Balance limits of an account.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct AccountFlags {
    /// Debits (pending and posted) may never exceed posted credits: an asset the holder owns,
    /// such as a wallet, that must not go negative.
    pub debits_must_not_exceed_credits: bool,
    /// Credits (pending and posted) may never exceed posted debits.
    pub credits_must_not_exceed_debits: bool,
    /// Keep the account's history: its balances after every change, so that its transfers can
    /// be listed and its balances read as of any past instant. Off by default, as in
    /// TigerBeetle: the history index is the most expensive write of a transfer, so accounts
    /// that need it (wallets, clearing accounts) ask for it.
    pub history: bool,
}

/// The four balances of an account, in minor units.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct Balances {
    pub debits_pending: i64,
    pub debits_posted: i64,
    pub credits_pending: i64,
    pub credits_posted: i64,
}

impl Balances {
    /// Posted credits minus posted debits (what a liability account, such as a wallet, holds).
    pub fn credit_balance(&self) -> i128 {
        i128::from(self.credits_posted) - i128::from(self.debits_posted)
    }

    /// Credits minus debits, counting pending debits: what can still be spent.
    pub fn available_credit(&self) -> i128 {
        i128::from(self.credits_posted)
            - i128::from(self.debits_posted)
            - i128::from(self.debits_pending)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    pub id: AccountId,
    pub currency: Currency,
    /// What kind of account this is, in the client's own numbering (chart of accounts).
    pub code: i64,
    pub flags: AccountFlags,
    pub metadata: BTreeMap<String, String>,
    pub balances: Balances,
    pub timestamp: Timestamp,
}

impl Account {
    /// Whether a creation request describes this same account.
    pub fn same_as(&self, request: &NewAccount) -> bool {
        self.currency == request.currency
            && self.code == request.code
            && self.flags == request.flags
            && self.metadata == request.metadata
    }
}

/// A request to create an account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewAccount {
    pub id: AccountId,
    pub currency: Currency,
    pub code: i64,
    pub flags: AccountFlags,
    pub metadata: BTreeMap<String, String>,
}

/// Outcome of creating an account.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AccountResult {
    Ok,
    Exists,
    ExistsWithDifferentFields,
    FlagsAreMutuallyExclusive,
}

impl AccountResult {
    pub fn as_str(self) -> &'static str {
        match self {
            AccountResult::Ok => "ok",
            AccountResult::Exists => "exists",
            AccountResult::ExistsWithDifferentFields => "exists_with_different_fields",
            AccountResult::FlagsAreMutuallyExclusive => "flags_are_mutually_exclusive",
        }
    }
}

/// What a transfer does.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum TransferKind {
    /// Moves `amount` at once.
    Single,
    /// Reserves `amount` until posted or voided, or until the timeout voids it.
    Pending { timeout_seconds: Option<i64> },
    /// Posts (all or, with a smaller amount, part of) a pending transfer.
    PostPending { pending_id: TransferId },
    /// Releases a pending transfer.
    VoidPending { pending_id: TransferId },
}

impl TransferKind {
    pub fn as_str(&self) -> &'static str {
        match self {
            TransferKind::Single => "single",
            TransferKind::Pending { .. } => "pending",
            TransferKind::PostPending { .. } => "post_pending",
            TransferKind::VoidPending { .. } => "void_pending",
        }
    }

    pub fn pending_id(&self) -> Option<&TransferId> {
        match self {
            TransferKind::PostPending { pending_id } | TransferKind::VoidPending { pending_id } => {
                Some(pending_id)
            }
            TransferKind::Single | TransferKind::Pending { .. } => None,
        }
    }
}

/// A transfer as requested. Debit and credit accounts may be left out of a post or void (they
/// are the pending transfer's); the amount may be left out of a post (the whole pending amount),
/// a void, or a balancing transfer (as much as the balance allows).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct NewTransfer {
    pub id: TransferId,
    pub debit_account_id: Option<AccountId>,
    pub credit_account_id: Option<AccountId>,
    pub amount: Option<i64>,
    pub code: i64,
    pub kind: TransferKind,
    /// This transfer and the next succeed or fail together.
    pub linked: bool,
    /// Move at most what keeps the debit account's debits within its credits.
    pub balancing_debit: bool,
    /// Move at most what keeps the credit account's credits within its debits.
    pub balancing_credit: bool,
    pub metadata: BTreeMap<String, String>,
}

impl NewTransfer {
    /// A plain single transfer of `amount` from `debit` to `credit`.
    pub fn single(
        id: TransferId,
        debit: AccountId,
        credit: AccountId,
        amount: i64,
        code: i64,
    ) -> Self {
        NewTransfer {
            id,
            debit_account_id: Some(debit),
            credit_account_id: Some(credit),
            amount: Some(amount),
            code,
            kind: TransferKind::Single,
            linked: false,
            balancing_debit: false,
            balancing_credit: false,
            metadata: BTreeMap::new(),
        }
    }

    /// A single or pending transfer that names both accounts and its amount and does not
    /// balance: the transfer it creates records every field of the request, so a retry can be
    /// recognised from the record alone.
    pub fn is_plain(&self) -> bool {
        matches!(
            self.kind,
            TransferKind::Single | TransferKind::Pending { .. }
        ) && self.debit_account_id.is_some()
            && self.credit_account_id.is_some()
            && self.amount.is_some()
            && !self.balancing_debit
            && !self.balancing_credit
    }

    /// A canonical description of the request, which tells a retry apart from a different
    /// transfer reusing the id.
    pub fn fingerprint(&self) -> String {
        let opt = |v: Option<&str>| v.unwrap_or("").to_owned();
        let metadata = serde_json::to_string(&self.metadata).unwrap_or_default();
        format!(
            "{}|{}|{}|{}|{}|{}|{}|{}|{}|{}|{}|{}",
            self.id,
            opt(self.debit_account_id.as_ref().map(AccountId::as_str)),
            opt(self.credit_account_id.as_ref().map(AccountId::as_str)),
            self.amount.map(|a| a.to_string()).unwrap_or_default(),
            self.code,
            self.kind.as_str(),
            opt(self.kind.pending_id().map(TransferId::as_str)),
            match &self.kind {
                TransferKind::Pending {
                    timeout_seconds: Some(t),
                } => t.to_string(),
                _ => String::new(),
            },
            self.linked,
            self.balancing_debit,
            self.balancing_credit,
            metadata,
        )
    }
}

/// A transfer as recorded. Never updated or deleted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transfer {
    pub id: TransferId,
    pub debit_account_id: AccountId,
    pub credit_account_id: AccountId,
    pub currency: Currency,
    pub amount: i64,
    pub code: i64,
    pub kind: TransferKind,
    /// When a pending transfer voids itself, if it has a timeout.
    pub expires_at: Option<Timestamp>,
    pub linked: bool,
    pub balancing_debit: bool,
    pub balancing_credit: bool,
    pub metadata: BTreeMap<String, String>,
    pub timestamp: Timestamp,
    /// The [`NewTransfer::fingerprint`] of the request, or empty when the request was plain
    /// ([`NewTransfer::is_plain`]): then the record itself says what it was.
    pub fingerprint: String,
}

impl Transfer {
    /// The fingerprint of the request that created this transfer.
    pub fn request_fingerprint(&self) -> std::borrow::Cow<'_, str> {
        if !self.fingerprint.is_empty() {
            return std::borrow::Cow::Borrowed(&self.fingerprint);
        }
        let request = NewTransfer {
            id: self.id.clone(),
            debit_account_id: Some(self.debit_account_id.clone()),
            credit_account_id: Some(self.credit_account_id.clone()),
            amount: Some(self.amount),
            code: self.code,
            kind: self.kind.clone(),
            linked: self.linked,
            balancing_debit: false,
            balancing_credit: false,
            metadata: self.metadata.clone(),
        };
        std::borrow::Cow::Owned(request.fingerprint())
    }
}

/// Where a pending transfer stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PendingStatus {
    Pending,
    Posted,
    Voided,
    Expired,
}

impl PendingStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            PendingStatus::Pending => "pending",
            PendingStatus::Posted => "posted",
            PendingStatus::Voided => "voided",
            PendingStatus::Expired => "expired",
        }
    }

    pub fn parse(value: &str) -> Option<Self> {
        [Self::Pending, Self::Posted, Self::Voided, Self::Expired]
            .into_iter()
            .find(|s| s.as_str() == value)
    }
}

macro_rules! result_codes {
    ($($variant:ident => $text:literal, $transient:literal;)*) => {
        /// The outcome of one transfer of a batch.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum TransferResult {
            $($variant,)*
        }

        impl TransferResult {
            pub const ALL: &'static [TransferResult] = &[$(TransferResult::$variant,)*];

            pub fn as_str(self) -> &'static str {
                match self {
                    $(TransferResult::$variant => $text,)*
                }
            }

            /// Whether the outcome depends on the ledger's state at the time (rather than on
            /// the request alone). A transfer id that failed this way keeps failing with
            /// `id_already_failed`, so a retry can never succeed after the state changed.
            pub fn is_transient(self) -> bool {
                match self {
                    $(TransferResult::$variant => $transient,)*
                }
            }

            pub fn parse(value: &str) -> Option<Self> {
                Self::ALL.iter().copied().find(|r| r.as_str() == value)
            }
        }
    };
}

result_codes! {
    Ok => "ok", false;
    Exists => "exists", false;
    ExistsWithDifferentFields => "exists_with_different_fields", false;
    IdAlreadyFailed => "id_already_failed", false;
    LinkedEventFailed => "linked_event_failed", false;
    LinkedEventChainOpen => "linked_event_chain_open", false;
    AccountsMustBeDifferent => "accounts_must_be_different", false;
    DebitAccountIdRequired => "debit_account_id_required", false;
    CreditAccountIdRequired => "credit_account_id_required", false;
    AmountRequired => "amount_required", false;
    AmountMustBePositive => "amount_must_be_positive", false;
    BalancingOnlyForSingleOrPending => "balancing_only_for_single_or_pending", false;
    TimeoutOutOfRange => "timeout_out_of_range", false;
    DebitAccountNotFound => "debit_account_not_found", true;
    CreditAccountNotFound => "credit_account_not_found", true;
    CurrencyMismatch => "currency_mismatch", true;
    PendingTransferNotFound => "pending_transfer_not_found", true;
    PendingTransferNotPending => "pending_transfer_not_pending", true;
    PendingTransferAlreadyPosted => "pending_transfer_already_posted", true;
    PendingTransferAlreadyVoided => "pending_transfer_already_voided", true;
    PendingTransferExpired => "pending_transfer_expired", true;
    PendingTransferHasDifferentDebitAccount => "pending_transfer_has_different_debit_account", true;
    PendingTransferHasDifferentCreditAccount => "pending_transfer_has_different_credit_account", true;
    ExceedsPendingTransferAmount => "exceeds_pending_transfer_amount", true;
    VoidAmountMustMatchPending => "void_amount_must_match_pending", true;
    ExceedsCredits => "exceeds_credits", true;
    ExceedsDebits => "exceeds_debits", true;
    OverflowsDebits => "overflows_debits", true;
    OverflowsCredits => "overflows_credits", true;
}
