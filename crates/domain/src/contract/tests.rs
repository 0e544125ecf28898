use super::*;
use proptest::prelude::*;

const DAY: i64 = 86_400;
fn t(days: i64) -> Timestamp {
    Timestamp::from_unix_micros((1_735_689_600 + days * DAY) * 1_000_000)
}

fn draft() -> Operation {
    Operation::Create(ContractDraft {
        buyer_id: "cus_1".into(),
        seller_id: None,
        seasoning_days: None,
        referrer_id: None,
        referral_share_bps: None,
        currency: "USD".into(),
        term: Term {
            start: t(0),
            end: Some(t(365)),
            auto_renew: true,
            renewal_months: 12,
            notice_days: 30,
        },
        billing: BillingTerms {
            anchor_day: 1,
            payment_terms_days: 30,
            invoice_delivery: "email".into(),
            proration: Proration::Day,
        },
        trial_ends_at: None,
        trial_converts: true,
    })
}

fn entry(seq: u64, effective: i64, recorded: i64, operation: Operation) -> LogEntry {
    LogEntry {
        seq,
        effective_at: t(effective),
        recorded_at: t(recorded),
        operation,
    }
}

fn add(line: &str) -> Operation {
    Operation::AddLine {
        line_id: line.into(),
        product_id: "prod_1".into(),
        unit_amount: 1000,
        quantity: 1,
        timing: Timing::InAdvance,
        usage: None,
    }
}

#[test]
fn operations_are_validated_against_the_state() {
    let log = vec![entry(1, 0, 0, draft()), entry(2, 0, 0, add("l1"))];
    let bad = |op: Operation| validate("ctr", &log, &entry(3, 1, 1, op)).unwrap_err();
    assert!(validate("ctr", &log, &entry(3, 1, 1, Operation::Activate)).is_ok());
    assert!(matches!(
        bad(Operation::RemoveLine {
            line_id: "nope".into()
        }),
        ContractError::Invalid {
            code: "line_not_found",
            ..
        }
    ));
    assert!(matches!(
        bad(Operation::Resume),
        ContractError::State {
            current: ContractStatus::Draft,
            ..
        }
    ));
    assert!(matches!(
        bad(Operation::ChangeQuantity {
            line_id: "l1".into(),
            quantity: 0
        }),
        ContractError::Invalid {
            param: "quantity",
            ..
        }
    ));
    assert!(matches!(
        bad(add("l1")),
        ContractError::Invalid {
            code: "line_exists",
            ..
        }
    ));
    let mut ended = log.clone();
    ended.push(entry(3, 1, 1, Operation::Activate));
    ended.push(entry(
        4,
        2,
        2,
        Operation::Terminate {
            at: None,
            reason: None,
        },
    ));
    let again = validate("ctr", &ended, &entry(5, 3, 3, Operation::Activate)).unwrap_err();
    assert!(matches!(
        again,
        ContractError::State {
            current: ContractStatus::Terminated,
            ..
        }
    ));
    // Canceling a renewal inside the notice period is too late.
    let late = validate(
        "ctr",
        &ended[..3],
        &entry(4, 340, 340, Operation::CancelRenewal),
    )
    .unwrap_err();
    assert!(matches!(
        late,
        ContractError::Conflict {
            code: "notice_period_passed",
            ..
        }
    ));
}

#[test]
fn a_back_dated_change_may_not_break_later_operations_or_invoiced_periods() {
    let log = vec![
        entry(1, 0, 0, draft()),
        entry(2, 0, 0, add("l1")),
        entry(
            3,
            10,
            10,
            Operation::ChangeQuantity {
                line_id: "l1".into(),
                quantity: 3,
            },
        ),
    ];
    // Removing the line before the quantity change breaks it.
    let broken = validate(
        "ctr",
        &log,
        &entry(
            4,
            5,
            20,
            Operation::RemoveLine {
                line_id: "l1".into(),
            },
        ),
    )
    .unwrap_err();
    assert!(matches!(
        broken,
        ContractError::Conflict {
            code: "later_operation_conflicts",
            ..
        }
    ));
    let mut billed = log.clone();
    billed.push(entry(4, 30, 30, Operation::MarkBilled { through: t(30) }));
    let invoiced = validate(
        "ctr",
        &billed,
        &entry(
            5,
            20,
            40,
            Operation::ChangePrice {
                line_id: "l1".into(),
                unit_amount: 5,
            },
        ),
    )
    .unwrap_err();
    assert!(matches!(
        invoiced,
        ContractError::Conflict {
            code: "period_invoiced",
            ..
        }
    ));
    assert!(validate(
        "ctr",
        &billed,
        &entry(
            5,
            31,
            40,
            Operation::ChangePrice {
                line_id: "l1".into(),
                unit_amount: 5
            }
        )
    )
    .is_ok());
}

#[test]
fn bitemporal_projections_answer_as_of_and_as_known() {
    let log = vec![
        entry(1, 0, 0, draft()),
        entry(2, 0, 0, add("l1")),
        // Learned on day 20 that the price changed on day 10.
        entry(
            3,
            10,
            20,
            Operation::ChangePrice {
                line_id: "l1".into(),
                unit_amount: 700,
            },
        ),
    ];
    let price = |as_of, known_at| {
        project("ctr", &log, t(as_of), t(known_at))
            .unwrap()
            .unwrap()
            .lines[0]
            .unit_amount
    };
    assert_eq!(price(15, 15), 1000, "on day 15 we did not know yet");
    assert_eq!(price(15, 25), 700, "known now: it was 700 on day 15");
    assert_eq!(price(5, 25), 1000, "before the change took effect");
    assert!(project("ctr", &log, t(-1), t(25)).unwrap().is_none());
}

#[test]
fn trials_remind_then_convert_or_lapse() {
    let Operation::Create(mut trial) = draft() else {
        unreachable!()
    };
    trial.trial_ends_at = Some(t(14));
    let log = |converts: bool| {
        let mut d = trial.clone();
        d.trial_converts = converts;
        vec![
            entry(1, 0, 0, Operation::Create(d)),
            entry(2, 0, 0, add("l")),
            entry(3, 0, 0, Operation::Activate),
        ]
    };
    let c = project("ctr", &log(true), t(1), t(1)).unwrap().unwrap();
    assert!(due(&c, t(10)).is_empty());
    assert_eq!(due(&c, t(11)), vec![(Operation::RemindTrialEnd, t(11))]);
    let mut lapsing = log(false);
    lapsing.push(entry(4, 11, 11, Operation::RemindTrialEnd));
    let c = project("ctr", &lapsing, t(14), t(14)).unwrap().unwrap();
    assert_eq!(due(&c, t(14)), vec![(Operation::EndTrial, t(14))]);
    lapsing.push(entry(5, 14, 14, Operation::EndTrial));
    assert_eq!(
        project("ctr", &lapsing, t(15), t(15))
            .unwrap()
            .unwrap()
            .status,
        ContractStatus::Expired
    );
    let mut converted = log(false);
    converted.push(entry(4, 5, 5, Operation::ConvertTrial));
    converted.push(entry(5, 14, 14, Operation::EndTrial));
    let c = project("ctr", &converted, t(15), t(15)).unwrap().unwrap();
    assert_eq!((c.status, c.trial_ended), (ContractStatus::Active, true));
    let early = validate("ctr", &log(true), &entry(4, 10, 10, Operation::EndTrial)).unwrap_err();
    assert!(matches!(
        early,
        ContractError::Invalid {
            code: "trial_not_over",
            ..
        }
    ));
}

#[test]
fn a_canceled_renewal_resumes_until_the_term_ends() {
    let active = vec![
        entry(1, 0, 0, draft()),
        entry(2, 0, 0, add("l")),
        entry(3, 0, 0, Operation::Activate),
    ];
    let not_canceled = validate("ctr", &active, &entry(4, 10, 10, Operation::ResumeRenewal));
    assert!(matches!(
        not_canceled,
        Err(ContractError::State {
            code: "renewal_not_canceled",
            current: ContractStatus::Active,
            ..
        })
    ));
    let mut canceled = active.clone();
    canceled.push(entry(4, 10, 10, Operation::CancelRenewal));
    // Inside the notice period (day 340 of 365) it may still resume; at the end it may not.
    let resumed = entry(5, 340, 340, Operation::ResumeRenewal);
    let c = validate("ctr", &canceled, &resumed).unwrap();
    assert!(!c.latest.renewal_canceled);
    assert_eq!(resumed.operation.event_type(), "contract.renewal_resumed");
    let late = validate(
        "ctr",
        &canceled,
        &entry(5, 365, 365, Operation::ResumeRenewal),
    );
    assert!(matches!(
        late,
        Err(ContractError::State {
            code: "term_ended",
            ..
        })
    ));
}

#[test]
fn the_scheduler_renews_or_expires_at_the_end() {
    let mut c = project(
        "ctr",
        &[
            entry(1, 0, 0, draft()),
            entry(2, 0, 0, add("l")),
            entry(3, 0, 0, Operation::Activate),
        ],
        t(1),
        t(1),
    )
    .unwrap()
    .unwrap();
    assert!(due(&c, t(300)).is_empty());
    assert_eq!(due(&c, t(365)), vec![(Operation::Renew, t(365))]);
    c.renewal_canceled = true;
    assert_eq!(due(&c, t(366)), vec![(Operation::Expire, t(365))]);
    assert_eq!(add_months(t(30), 1), t(58), "Jan 31 + 1 month is Feb 28");
}

fn operation() -> impl Strategy<Value = Operation> {
    let line = prop::sample::select(vec!["a", "b", "c"]).prop_map(str::to_owned);
    prop_oneof![
        line.clone().prop_map(|l| Operation::AddLine {
            line_id: l,
            product_id: "p".into(),
            unit_amount: 100,
            quantity: 1,
            timing: Timing::InAdvance,
            usage: None,
        }),
        line.clone()
            .prop_map(|l| Operation::RemoveLine { line_id: l }),
        (line.clone(), 0..5_i64).prop_map(|(l, q)| Operation::ChangeQuantity {
            line_id: l,
            quantity: q
        }),
        (line.clone(), 0..5000_i64).prop_map(|(l, a)| Operation::ChangePrice {
            line_id: l,
            unit_amount: a
        }),
        (line, prop::option::of(0..9000_i64)).prop_map(|(l, m)| Operation::SetCommitment {
            line_id: l,
            minimum_commitment: m
        }),
        Just(Operation::Activate),
        Just(Operation::Suspend),
        Just(Operation::Resume),
        Just(Operation::CancelRenewal),
        Just(Operation::ResumeRenewal),
        Just(Operation::Renew),
        Just(Operation::Terminate {
            at: None,
            reason: None
        }),
    ]
}

proptest! {
    /// Operations appended one by one (each validated, effective on random days, many
    /// back-dated) keep a stored projection equal to the replay of the log; and the log as
    /// known at any earlier moment replays too, at every point in time.
    #[test]
    fn the_projection_is_the_replay_of_the_log(ops in prop::collection::vec((operation(), 0..100_i64), 1..40)) {
        let mut log = vec![entry(1, 0, 0, draft())];
        let mut stored = project("ctr", &log, t(i64::from(i32::MAX) / DAY), t(0)).unwrap();
        for (index, (op, day)) in ops.into_iter().enumerate() {
            let candidate = entry(log.len() as u64 + 1, day, 100 + index as i64, op);
            if let Ok(validated) = validate("ctr", &log, &candidate) {
                log.push(candidate);
                stored = Some(validated.latest);
            }
        }
        let end_of_time = t(10_000);
        prop_assert_eq!(&project("ctr", &log, end_of_time, end_of_time).unwrap(), &stored);
        for known in 0..log.len() {
            let known_at = log[known].recorded_at;
            for as_of in [0, 10, 50, 99, 10_000] {
                prop_assert!(project("ctr", &log, t(as_of), known_at).is_ok());
            }
        }
    }
}
