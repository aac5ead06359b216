//! Turns a SentinelConfig's shard selector (and the "possibly due" cut) into a typed search
//! [`Expr`] (the API's `search` language), so a poll fetches only this shard's resources that may
//! need an event instead of the whole fleet. Label keys are checked here, since the API would
//! reject them anyway; values are literals, quoted when the expression is rendered.

use chrono::{DateTime, SecondsFormat, Utc};

use uuid::Uuid;

use hyperfleet_api_model::search::{CompareOp, Expr, Field, Literal, MAX_SEARCH_LEN};
use hyperfleet_crds::v1alpha1::{SelectorOperator, ShardSelector};

/// A selector the API's search language cannot express.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("shardSelector: {0}")]
pub struct SelectorError(String);

fn label(key: &str) -> Result<Field, SelectorError> {
    let valid = key.chars().next().is_some_and(|c| c.is_ascii_alphanumeric())
        && key.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '/' | '-'));
    if valid { Ok(Field::label(key)) } else { Err(SelectorError(format!("invalid label key '{key}'"))) }
}

/// The shard as a search expression; `None` selects everything.
pub fn shard_search(selector: &ShardSelector) -> Result<Option<Expr>, SelectorError> {
    let mut terms = Vec::new();
    for (key, value) in &selector.match_labels {
        terms.push(Expr::eq(label(key)?, value.as_str()));
    }
    for requirement in &selector.match_expressions {
        let field = label(&requirement.key)?;
        let values: Vec<Literal> = requirement.values.iter().map(|v| Literal::from(v.as_str())).collect();
        let needs_values = matches!(requirement.operator, SelectorOperator::In | SelectorOperator::NotIn);
        if needs_values == values.is_empty() {
            let what = if needs_values { "needs values" } else { "takes no values" };
            return Err(SelectorError(format!("{:?} on '{}' {what}", requirement.operator, requirement.key)));
        }
        terms.push(match requirement.operator {
            SelectorOperator::In => Expr::In { field, values, negated: false },
            // Kubernetes semantics: resources without the label match NotIn and DoesNotExist.
            SelectorOperator::NotIn => Expr::In { field, values, negated: true },
            SelectorOperator::Exists => Expr::is_null(field, true),
            SelectorOperator::DoesNotExist => Expr::is_null(field, false),
        });
    }
    Ok(Expr::all(terms))
}

/// Resources that may be due at `now`: not reconciled, or reconciled but not re-checked within
/// `backoff_ready`. Reconciled-and-fresh resources (most of a healthy fleet) are left out.
pub fn possibly_due(now: DateTime<Utc>, backoff_ready: chrono::Duration) -> Expr {
    let stale = (now - backoff_ready).to_rfc3339_opts(SecondsFormat::Micros, true);
    Expr::is_null(Field::condition("Reconciled", None), false)
        .or(Expr::eq(Field::condition("Reconciled", None), "False"))
        .or(Expr::compare(Field::condition("Reconciled", Some("last_updated_time")), CompareOp::Le, stale))
}

/// Searches for the shard's resources among `ids` (the change feed's), as many ids in each as
/// the API's search length allows (at most 100, under a list page).
pub fn among_ids(shard: Option<&Expr>, ids: &[Uuid]) -> Vec<Expr> {
    /// A quoted uuid and its separator.
    const PER_ID: usize = 40;
    let fixed = shard.map_or(0, |shard| shard.to_string().len()) + 32;
    let per_search = (MAX_SEARCH_LEN.saturating_sub(fixed) / PER_ID).clamp(1, 100);
    ids.chunks(per_search)
        .map(|chunk| {
            let values = chunk.iter().map(|id| Literal::from(id.to_string().as_str())).collect();
            let among = Expr::In { field: Field::new("id"), values, negated: false };
            match shard {
                Some(shard) => shard.clone().and(among),
                None => among,
            }
        })
        .collect()
}

/// The full `search` of one poll.
pub fn poll_search(shard: Option<&Expr>, now: DateTime<Utc>, backoff_ready: chrono::Duration) -> Expr {
    match shard {
        Some(shard) => shard.clone().and(possibly_due(now, backoff_ready)),
        None => possibly_due(now, backoff_ready),
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use chrono::TimeZone;
    use hyperfleet_crds::v1alpha1::SelectorRequirement;

    use super::*;

    fn requirement(key: &str, operator: SelectorOperator, values: &[&str]) -> SelectorRequirement {
        SelectorRequirement {
            key: key.into(),
            operator,
            values: values.iter().map(|v| (*v).into()).collect(),
        }
    }

    #[test]
    fn every_selector_form_becomes_a_search_term() {
        let selector = ShardSelector {
            match_labels: BTreeMap::from([
                ("region".into(), "us-east".into()),
                ("tier".into(), "o'brien".into()),
            ]),
            match_expressions: vec![
                requirement("env", SelectorOperator::In, &["prod", "stage"]),
                requirement("canary", SelectorOperator::NotIn, &["true"]),
                requirement("example.com/owner", SelectorOperator::Exists, &[]),
                requirement("legacy", SelectorOperator::DoesNotExist, &[]),
            ],
        };
        assert_eq!(
            shard_search(&selector).unwrap().unwrap().to_string(),
            "labels.region = 'us-east' and labels.tier = 'o''brien' and labels.env in ['prod', 'stage'] \
             and labels.canary not in ['true'] and labels.example.com/owner is not null and labels.legacy is null"
        );
        assert_eq!(shard_search(&ShardSelector::default()).unwrap(), None, "empty selects everything");
    }

    #[test]
    fn selectors_the_api_cannot_express_are_errors() {
        let bad_key = ShardSelector {
            match_labels: BTreeMap::from([("bad key".into(), "x".into())]),
            ..Default::default()
        };
        assert!(shard_search(&bad_key).unwrap_err().to_string().contains("invalid label key 'bad key'"));
        let no_values = ShardSelector {
            match_expressions: vec![requirement("env", SelectorOperator::In, &[])],
            ..Default::default()
        };
        assert!(shard_search(&no_values).unwrap_err().to_string().contains("needs values"));
    }

    #[test]
    fn polls_ask_only_for_what_may_be_due() {
        let now = Utc.with_ymd_and_hms(2026, 1, 1, 12, 0, 0).unwrap();
        let shard = Expr::eq(Field::label("region"), "eu");
        assert_eq!(
            poll_search(Some(&shard), now, chrono::Duration::minutes(30)).to_string(),
            "labels.region = 'eu' and (status.conditions.Reconciled is null or status.conditions.Reconciled = 'False' \
             or status.conditions.Reconciled.last_updated_time <= '2026-01-01T11:30:00.000000Z')"
        );
    }

    #[test]
    fn changed_resources_are_read_in_searches_the_api_accepts() {
        let ids: Vec<Uuid> = (0..250u128).map(|n| Uuid::from_u128(n << 64 | 7)).collect();
        let long_shard = Expr::eq(Field::label("team"), "x".repeat(1500).as_str());
        for shard in [None, Some(&long_shard)] {
            let searches = among_ids(shard, &ids);
            let mut named: Vec<&Uuid> = Vec::new();
            for search in &searches {
                let rendered = search.to_string();
                let parsed = hyperfleet_api_model::search::parse_search(&rendered).expect("accepted");
                assert_eq!(&parsed, search, "round-trips");
                named.extend(ids.iter().filter(|id| rendered.contains(&id.to_string())));
            }
            assert_eq!(named, ids.iter().collect::<Vec<_>>(), "every id once, in order");
            assert!(searches.len() <= if shard.is_none() { 3 } else { 4 }, "{} searches", searches.len());
        }
    }
}
