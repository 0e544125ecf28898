//! OpenMeter's string filters on group-by values, with a LIKE matcher that runs in bounded
//! time whatever the pattern.

use serde::Deserialize;

/// OpenMeter's `FilterString`: conditions on a group-by value (`$eq`, `$ne`, `$in`, `$nin`,
/// `$like`, `$nlike`, `$ilike`, `$nilike`, `$gt`, `$gte`, `$lt`, `$lte`, `$and`, `$or`); the
/// conditions of one object must all hold. An event without the value matches only negations.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FilterString {
    #[serde(rename = "$eq")]
    eq: Option<String>,
    #[serde(rename = "$ne")]
    ne: Option<String>,
    #[serde(rename = "$in")]
    in_: Option<Vec<String>>,
    #[serde(rename = "$nin")]
    nin: Option<Vec<String>>,
    #[serde(rename = "$like", default, deserialize_with = "bounded_pattern")]
    like: Option<String>,
    #[serde(rename = "$nlike", default, deserialize_with = "bounded_pattern")]
    nlike: Option<String>,
    #[serde(rename = "$ilike", default, deserialize_with = "bounded_pattern")]
    ilike: Option<String>,
    #[serde(rename = "$nilike", default, deserialize_with = "bounded_pattern")]
    nilike: Option<String>,
    #[serde(rename = "$gt")]
    gt: Option<String>,
    #[serde(rename = "$gte")]
    gte: Option<String>,
    #[serde(rename = "$lt")]
    lt: Option<String>,
    #[serde(rename = "$lte")]
    lte: Option<String>,
    #[serde(rename = "$and")]
    and: Option<Vec<FilterString>>,
    #[serde(rename = "$or")]
    or: Option<Vec<FilterString>>,
}

/// SQL LIKE: `%` any run of characters, `_` any one character. Greedy with one backtrack
/// point (the last `%`), so it runs in O(pattern × text) time and never backtracks
/// exponentially however many `%` a pattern holds.
fn like(pattern: &[char], text: &[char]) -> bool {
    let (mut p, mut t) = (0, 0);
    // After the last `%` seen: the pattern position after it and the text position it was
    // tried at.
    let mut retry: Option<(usize, usize)> = None;
    while t < text.len() {
        match pattern.get(p) {
            Some('%') => {
                retry = Some((p + 1, t));
                p += 1;
            }
            Some(&c) if c == '_' || c == text[t] => {
                p += 1;
                t += 1;
            }
            _ => match retry {
                // Let the last `%` swallow one more character and try again from there.
                Some((after, tried)) => {
                    retry = Some((after, tried + 1));
                    p = after;
                    t = tried + 1;
                }
                None => return false,
            },
        }
    }
    pattern[p..].iter().all(|&c| c == '%')
}

/// The longest `$like` family pattern accepted, in characters.
pub const MAX_LIKE_PATTERN: usize = 256;

fn bounded_pattern<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<String>, D::Error> {
    let pattern = Option::<String>::deserialize(deserializer)?;
    if let Some(p) = &pattern {
        if p.chars().count() > MAX_LIKE_PATTERN {
            return Err(serde::de::Error::custom(format!(
                "a like pattern has at most {MAX_LIKE_PATTERN} characters"
            )));
        }
    }
    Ok(pattern)
}

fn like_str(pattern: &str, text: &str, fold: bool) -> bool {
    let chars = |s: &str| -> Vec<char> {
        if fold {
            s.to_lowercase().chars().collect()
        } else {
            s.chars().collect()
        }
    };
    like(&chars(pattern), &chars(text))
}

impl FilterString {
    pub fn matches(&self, value: Option<&str>) -> bool {
        let positive = |cond: bool| value.is_some() && cond;
        let v = value.unwrap_or("");
        self.eq.as_ref().is_none_or(|x| positive(v == x))
            && self.ne.as_ref().is_none_or(|x| value.is_none() || v != x)
            && self
                .in_
                .as_ref()
                .is_none_or(|xs| positive(xs.iter().any(|x| x == v)))
            && self
                .nin
                .as_ref()
                .is_none_or(|xs| value.is_none() || xs.iter().all(|x| x != v))
            && self
                .like
                .as_ref()
                .is_none_or(|p| positive(like_str(p, v, false)))
            && self
                .nlike
                .as_ref()
                .is_none_or(|p| value.is_none() || !like_str(p, v, false))
            && self
                .ilike
                .as_ref()
                .is_none_or(|p| positive(like_str(p, v, true)))
            && self
                .nilike
                .as_ref()
                .is_none_or(|p| value.is_none() || !like_str(p, v, true))
            && self.gt.as_ref().is_none_or(|x| positive(v > x.as_str()))
            && self.gte.as_ref().is_none_or(|x| positive(v >= x.as_str()))
            && self.lt.as_ref().is_none_or(|x| positive(v < x.as_str()))
            && self.lte.as_ref().is_none_or(|x| positive(v <= x.as_str()))
            && self
                .and
                .as_ref()
                .is_none_or(|all| all.iter().all(|f| f.matches(value)))
            && self
                .or
                .as_ref()
                .is_none_or(|any| any.iter().any(|f| f.matches(value)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::{json, Value};

    #[test]
    fn string_filters_follow_openmeter() {
        let f = |json: Value| serde_json::from_value::<FilterString>(json).unwrap();
        assert!(f(json!({"$eq": "gpt-4"})).matches(Some("gpt-4")));
        assert!(!f(json!({"$eq": "gpt-4"})).matches(None));
        assert!(f(json!({"$ne": "gpt-4"})).matches(None));
        assert!(f(json!({"$in": ["a", "b"]})).matches(Some("b")));
        assert!(f(json!({"$nin": ["a", "b"]})).matches(Some("c")));
        assert!(f(json!({"$like": "gpt-%"})).matches(Some("gpt-4o")));
        assert!(!f(json!({"$like": "gpt-_"})).matches(Some("gpt-4o")));
        assert!(f(json!({"$ilike": "GPT%"})).matches(Some("gpt-4o")));
        assert!(f(json!({"$gte": "b", "$lt": "d"})).matches(Some("c")));
        assert!(f(json!({"$or": [{"$eq": "x"}, {"$eq": "y"}]})).matches(Some("y")));
        assert!(!f(json!({"$and": [{"$like": "g%"}, {"$ne": "gpt"}]})).matches(Some("gpt")));
        assert!(serde_json::from_value::<FilterString>(json!({"$regex": "x"})).is_err());
    }

    /// The plain recursive definition of LIKE, exponential on many `%`: the reference the
    /// bounded matcher must agree with on small inputs.
    fn like_reference(pattern: &[char], text: &[char]) -> bool {
        match pattern.split_first() {
            None => text.is_empty(),
            Some(('%', rest)) => (0..=text.len()).any(|skip| like_reference(rest, &text[skip..])),
            Some(('_', rest)) => !text.is_empty() && like_reference(rest, &text[1..]),
            Some((c, rest)) => text.first() == Some(c) && like_reference(rest, &text[1..]),
        }
    }

    proptest! {
        #[test]
        fn like_agrees_with_its_definition(pattern in "[ab%_]{0,8}", text in "[ab]{0,10}") {
            let (p, t): (Vec<char>, Vec<char>) = (pattern.chars().collect(), text.chars().collect());
            prop_assert_eq!(like(&p, &t), like_reference(&p, &t));
        }
    }

    #[test]
    fn a_pattern_of_many_wildcards_costs_bounded_time() {
        // `%%%…%x` against a long text without `x`: exponential for a backtracking matcher.
        let pattern: String = "%".repeat(MAX_LIKE_PATTERN - 1) + "x";
        let filter: FilterString = serde_json::from_value(json!({ "$like": pattern })).unwrap();
        let text = "a".repeat(10_000);
        let started = std::time::Instant::now();
        assert!(!filter.matches(Some(&text)));
        assert!(started.elapsed() < std::time::Duration::from_secs(5));
    }

    #[test]
    fn a_pattern_longer_than_the_cap_is_refused() {
        let pattern = "%".repeat(MAX_LIKE_PATTERN + 1);
        for op in ["$like", "$nlike", "$ilike", "$nilike"] {
            let error = serde_json::from_value::<FilterString>(json!({ op: pattern })).unwrap_err();
            assert!(
                error.to_string().contains("at most 256 characters"),
                "{error}"
            );
        }
        let nested = json!({ "$or": [{ "$like": pattern }] });
        assert!(serde_json::from_value::<FilterString>(nested).is_err());
    }
}
