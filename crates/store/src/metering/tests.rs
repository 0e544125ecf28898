use super::*;
use crate::deferred::DeferredRollups;

fn deltas<'a>(subject: &'a str, contribution: &'a Contribution) -> Deltas<'a> {
    let mut deltas = Deltas::default();
    deltas.add(
        7,
        subject,
        Timestamp::from_unix_micros(90_000_000),
        contribution,
        "",
    );
    deltas
}

#[test]
fn deferred_rollups_keep_what_kept_jobs_added() {
    let one = Contribution::Number(2.0);
    let mut deferred = DeferredRollups::default();
    deferred.add(&deltas("acme", &one));
    deferred.job_ended(true);
    deferred.add(&deltas("acme", &one));
    deferred.job_ended(false);
    deferred.add(&deltas("globex", &one));
    deferred.job_ended(true);
    // Two levels × (subject, all subjects): acme and globex each once, the total twice.
    let acme = deferred.ids["acme"];
    let total = deferred.ids[ALL_SUBJECTS];
    let minute = |subject| deferred.group.aggs[&(7, 60, subject, 60, deferred.ids[""])];
    assert_eq!(
        minute(acme).count,
        1,
        "the failed job's event is not counted"
    );
    assert_eq!(minute(total).count, 2);
    assert_eq!(minute(total).sum, 4.0);
    assert_eq!(deferred.group.aggs.len(), 6);
    deferred.group_ended();
    assert!(deferred.group.aggs.is_empty() && deferred.names.is_empty());
}
