use proptest::prelude::*;

use super::*;

fn usd() -> Currency {
    Currency::from_code("USD").unwrap()
}

fn day(d: i8) -> Date {
    jiff::civil::date(2026, 5, d)
}

fn expect(id: &str, amount: i64, party: &str, reference: Option<&str>) -> Expectation {
    Expectation {
        id: id.into(),
        currency: usd(),
        direction: Direction::Credit,
        amount_lower: amount,
        amount_upper: amount,
        date_lower: day(10),
        date_upper: day(15),
        counterparty: Some(party.into()),
        reference: reference.map(Into::into),
        reconciled: 0,
    }
}

fn wire(
    id: &str,
    amount: i64,
    date: i8,
    party: Option<&str>,
    reference: Option<&str>,
) -> BankTransaction {
    BankTransaction {
        id: id.into(),
        currency: usd(),
        direction: Direction::Credit,
        amount,
        value_date: day(date),
        counterparty: party.map(Into::into),
        reference: reference.map(Into::into),
    }
}

fn matched(expectation: &str, rule: Rule, complete: bool) -> Decision {
    Decision::Matched {
        expectation: expectation.into(),
        rule,
        complete,
    }
}

#[test]
fn an_exact_reference_wins_over_everything_else() {
    // Another expectation of the same buyer and amount fits by rule 2: the reference decides.
    let mut book = Matcher::new(vec![
        expect("ep_a", 20_000, "cp_1", Some("INV-7")),
        expect("ep_b", 20_000, "cp_1", Some("INV-8")),
    ]);
    let decision = book.apply(&wire("t1", 20_000, 12, Some("cp_1"), Some(" inv-8 ")));
    assert_eq!(decision, matched("ep_b", Rule::Reference, true));
    assert!(book.expectations()[1].is_reconciled());
}

#[test]
fn amount_date_and_counterparty_match_one_and_refuse_to_guess_between_two() {
    let mut book = Matcher::new(vec![expect("ep_a", 5_000, "cp_1", None)]);
    assert_eq!(
        book.apply(&wire("t1", 5_000, 11, Some("cp_1"), None)),
        matched("ep_a", Rule::AmountDateCounterparty, true)
    );
    let mut twins = Matcher::new(vec![
        expect("ep_a", 5_000, "cp_1", None),
        expect("ep_b", 5_000, "cp_1", None),
    ]);
    assert_eq!(
        twins.apply(&wire("t1", 5_000, 11, Some("cp_1"), None)),
        Decision::Review(Review::Ambiguous(vec!["ep_a".into(), "ep_b".into()]))
    );
    assert_eq!(
        twins.expectations()[0].reconciled,
        0,
        "a review records nothing"
    );
}

#[test]
fn several_payments_sum_to_one_expectation() {
    let mut book = Matcher::new(vec![expect("ep_a", 9_000, "cp_1", None)]);
    assert_eq!(
        book.apply(&wire("t1", 4_000, 10, Some("cp_1"), None)),
        matched("ep_a", Rule::PartOfSum, false)
    );
    assert_eq!(
        book.apply(&wire("t2", 5_000, 14, Some("cp_1"), None)),
        matched("ep_a", Rule::AmountDateCounterparty, true)
    );
    assert_eq!(
        book.apply(&wire("t3", 1, 14, Some("cp_1"), None)),
        Decision::Review(Review::Unmatched),
        "a reconciled expectation takes nothing more"
    );
}

#[test]
fn out_of_window_overpaying_and_unknown_transactions_go_to_review() {
    let mut book = Matcher::new(vec![expect("ep_a", 5_000, "cp_1", Some("REF-1"))]);
    assert_eq!(
        book.apply(&wire("t1", 5_000, 20, Some("cp_1"), Some("REF-1"))),
        Decision::Review(Review::OutOfWindow("ep_a".into()))
    );
    assert_eq!(
        book.apply(&wire("t2", 5_001, 12, Some("cp_1"), Some("REF-1"))),
        Decision::Review(Review::Overpays("ep_a".into()))
    );
    assert_eq!(
        book.apply(&wire("t3", 5_000, 20, Some("cp_1"), None)),
        Decision::Review(Review::Unmatched),
        "late without a reference"
    );
    assert_eq!(
        book.apply(&wire("t4", 5_000, 12, Some("cp_2"), None)),
        Decision::Review(Review::Unmatched),
        "another counterparty"
    );
    assert!(book.expectations()[0].is_overdue(day(16)));
    assert!(!book.expectations()[0].is_overdue(day(15)));
}

#[test]
fn currency_and_direction_must_agree() {
    let mut book = Matcher::new(vec![expect("ep_a", 5_000, "cp_1", Some("R"))]);
    let mut euros = wire("t1", 5_000, 12, Some("cp_1"), Some("R"));
    euros.currency = Currency::from_code("EUR").unwrap();
    assert_eq!(book.apply(&euros), Decision::Review(Review::Unmatched));
    let mut outgoing = wire("t2", 5_000, 12, Some("cp_1"), Some("R"));
    outgoing.direction = Direction::Debit;
    assert_eq!(book.apply(&outgoing), Decision::Review(Review::Unmatched));
}

proptest! {
    /// For any expectations and transactions: each transaction either matches exactly one open
    /// expectation within its bounds or goes to review; no expectation ever takes more than its
    /// upper bound; and the same inputs always give the same decisions.
    #[test]
    fn matching_is_deterministic_and_never_overfills(
        wanted in prop::collection::vec((1i64..5, 0usize..4, prop::option::of(0u8..6)), 1..12),
        paid in prop::collection::vec((1i64..9, 0usize..4, prop::option::of(0u8..8), 8i8..18), 0..30),
    ) {
        let expectations: Vec<Expectation> = wanted
            .iter()
            .enumerate()
            .map(|(i, (amount, party, reference))| {
                let mut e = expect(&format!("ep_{i}"), amount * 1_000, &format!("cp_{party}"), None);
                e.amount_upper = e.amount_lower + 500;
                e.reference = reference.map(|r| format!("REF-{r}"));
                e
            })
            .collect();
        let transactions: Vec<BankTransaction> = paid
            .iter()
            .enumerate()
            .map(|(i, (amount, party, reference, date))| {
                let party = format!("cp_{party}");
                let reference = reference.map(|r| format!("ref-{r}"));
                wire(&format!("t{i}"), amount * 500, *date, Some(&party), reference.as_deref())
            })
            .collect();
        let run = || {
            let mut book = Matcher::new(expectations.clone());
            let decisions: Vec<Decision> = transactions.iter().map(|t| book.apply(t)).collect();
            (decisions, book.expectations().to_vec())
        };
        let (decisions, after) = run();
        prop_assert_eq!(&run().0, &decisions);
        let mut taken = vec![0i64; after.len()];
        for (transaction, decision) in transactions.iter().zip(&decisions) {
            if let Decision::Matched { expectation, .. } = decision {
                let index = after.iter().position(|e| &e.id == expectation).unwrap();
                taken[index] += transaction.amount;
                prop_assert!(after[index].in_window(transaction.value_date));
            }
        }
        for (expectation, total) in after.iter().zip(taken) {
            prop_assert_eq!(expectation.reconciled, total);
            prop_assert!(expectation.reconciled <= expectation.amount_upper);
        }
    }
}
