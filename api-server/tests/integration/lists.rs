//! Lists: paging, ordering and every search form, including hostile input.

use crate::common;

use reqwest::Method;
use serde_json::json;
use sqlx::PgPool;

use hyperfleet_api_model::{ListParams, Resource};

async fn names(api: &common::TestApi, search: &str) -> Vec<String> {
    let params = ListParams {
        search: Some(search.into()),
        order: Some("name asc".into()),
        size: Some(100),
        ..Default::default()
    };
    let page = api.client.list_clusters(&params).await.unwrap_or_else(|err| panic!("{search}: {err}"));
    page.items.into_iter().map(|c| c.name).collect()
}

#[sqlx::test(migrator = "hyperfleet_api::store::MIGRATOR")]
async fn pages_cover_the_whole_list_exactly_once(pool: PgPool) {
    let api = common::start(pool).await;
    for i in 0..25 {
        api.cluster(&format!("cluster-{i:02}"), &[]).await;
    }
    let first = api.client.list_clusters(&ListParams::default()).await.unwrap();
    assert_eq!((first.page, first.size, first.total, first.items.len()), (1, 20, 25, 20));
    assert_eq!(first.items[0].name, "cluster-24", "newest first by default");

    let mut seen: Vec<String> = Vec::new();
    for page in 1..=3 {
        let params = ListParams { page: Some(page), size: Some(10), ..Default::default() };
        let answer = api.client.list_clusters(&params).await.unwrap();
        assert_eq!(answer.total, 25);
        assert_eq!(answer.size as usize, answer.items.len(), "size counts the items returned");
        seen.extend(answer.items.into_iter().map(|c| c.name));
    }
    seen.sort();
    seen.dedup();
    assert_eq!(seen.len(), 25);

    let beyond = api.client.list_clusters(&ListParams { page: Some(9), ..Default::default() }).await.unwrap();
    assert_eq!((beyond.items.len(), beyond.total), (0, 25));
    let max = api.client.list_clusters(&ListParams { size: Some(1000), ..Default::default() }).await.unwrap();
    assert_eq!(max.items.len(), 25);
}

#[sqlx::test(migrator = "hyperfleet_api::store::MIGRATOR")]
async fn bad_paging_and_order_are_rejected_with_the_reason(pool: PgPool) {
    let api = common::start(pool).await;
    // Out of range: field errors with the reference's constraint names.
    for (query, field, constraint) in
        [("page=0", "page", "min"), ("size=0", "size", "min"), ("size=1001", "size", "max")]
    {
        let answer = api.get(&format!("/clusters?{query}")).await;
        let error = answer.problem(400, "HYPERFLEET-VAL-000")["errors"][0].clone();
        assert_eq!(
            (error["field"].as_str(), error["constraint"].as_str()),
            (Some(field), Some(constraint)),
            "{query}"
        );
        assert!(error["message"].as_str().unwrap().contains("must be between 1 and"), "{query}: {error}");
    }
    for (query, message) in [
        ("size=ten", "size"),
        ("order=password", "cannot order by 'password'"),
        ("order=name%20up", "invalid order direction"),
    ] {
        let answer = api.get(&format!("/clusters?{query}")).await;
        let detail = answer.problem(400, "HYPERFLEET-VAL-005")["detail"].as_str().unwrap().to_owned();
        assert!(detail.contains(message), "{query}: {detail}");
    }
    // Liberal where it harms nothing, as the reference is: an unknown parameter (a reference
    // client's `pageSize`) is ignored, an empty `order` or `search` means the default.
    for query in ["pageSize=5", "order=", "search=", "search=%20&order=%20&pageSize=x"] {
        let answer = api.get(&format!("/clusters?{query}")).await;
        assert_eq!(answer.status, 200, "{query}: {:?}", answer.body);
    }
    let metadata = api.send_raw(reqwest::Method::GET, "/api/hyperfleet", None).await;
    assert_eq!(
        (metadata.body["id"].as_str(), metadata.body["kind"].as_str()),
        (Some("hyperfleet"), Some("API"))
    );
    assert_eq!(metadata.body["href"], "/api/hyperfleet");
    assert!(
        metadata.body["version"].is_string() && metadata.body["build_time"].is_string(),
        "{:?}",
        metadata.body
    );
}

#[sqlx::test(migrator = "hyperfleet_api::store::MIGRATOR")]
async fn order_by_columns_with_direction(pool: PgPool) {
    let api = common::start(pool).await;
    for name in ["bravo", "alpha", "charlie"] {
        api.cluster(name, &[]).await;
    }
    let ordered = |order: &str| ListParams { order: Some(order.into()), ..Default::default() };
    let asc = api.client.list_clusters(&ordered("name")).await.unwrap();
    assert_eq!(asc.items.iter().map(|c| c.name.as_str()).collect::<Vec<_>>(), ["alpha", "bravo", "charlie"]);
    let desc = api.client.list_clusters(&ordered("generation desc, name desc")).await.unwrap();
    assert_eq!(desc.items.iter().map(|c| c.name.as_str()).collect::<Vec<_>>(), ["charlie", "bravo", "alpha"]);
    // Every column a resource has, as the reference allows: href orders as its text does.
    let by_href = api.client.list_clusters(&ordered("href desc")).await.unwrap();
    let hrefs: Vec<&str> = by_href.items.iter().map(|c| c.href.as_str()).collect();
    let mut sorted = hrefs.clone();
    sorted.sort_unstable_by(|a, b| b.cmp(a));
    assert_eq!(hrefs, sorted);
    for order in ["kind", "deleted_by desc", "owner_id", "phase", "kind asc, href"] {
        let answer =
            api.client.list_clusters(&ordered(order)).await.unwrap_or_else(|err| panic!("{order}: {err}"));
        assert_eq!(answer.items.len(), 3, "{order}");
    }
}

async fn fleet(api: &common::TestApi) -> Vec<Resource> {
    let mut clusters = Vec::new();
    for (name, region, tier, nodes) in [
        ("east-gold", "us-east", Some("gold"), json!(5)),
        ("east-free", "us-east", None, json!(1)),
        ("west-gold", "eu-west", Some("gold"), json!(12)),
        ("west-silver", "eu-west", Some("silver"), json!("many")),
    ] {
        let mut labels = vec![("region", region)];
        labels.extend(tier.map(|t| ("tier", t)));
        let created = api.cluster(name, &labels).await;
        let spec = json!({"region": region, "nodes": nodes, "ha": tier == Some("gold")});
        let patch = hyperfleet_api_model::PatchResource { spec: Some(spec), labels: None };
        clusters.push(api.client.patch_cluster(created.id, &patch).await.unwrap());
    }
    clusters
}

#[sqlx::test(migrator = "hyperfleet_api::store::MIGRATOR")]
async fn every_search_form_selects_the_right_clusters(pool: PgPool) {
    let api = common::start(pool).await;
    let clusters = fleet(&api).await;
    let cases: &[(&str, &[&str])] = &[
        ("labels.region='us-east'", &["east-free", "east-gold"]),
        ("labels.region != 'us-east'", &["west-gold", "west-silver"]),
        // A missing label is not "not gold" (the reference's semantics)...
        ("labels.tier != 'gold'", &["west-silver"]),
        // ...unless asked for.
        ("labels.tier is null or labels.tier != 'gold'", &["east-free", "west-silver"]),
        ("labels.tier in ['gold', 'silver']", &["east-gold", "west-gold", "west-silver"]),
        ("labels.tier not in ['gold']", &["east-free", "west-silver"]),
        ("labels.tier is null", &["east-free"]),
        ("labels.tier is not null and labels.region = 'eu-west'", &["west-gold", "west-silver"]),
        ("labels.region = 'us-east' or labels.tier = 'silver'", &["east-free", "east-gold", "west-silver"]),
        ("not (labels.region = 'us-east')", &["west-gold", "west-silver"]),
        ("name like 'west-%'", &["west-gold", "west-silver"]),
        ("name in ['east-gold', 'nope']", &["east-gold"]),
        ("generation = 2", &["east-free", "east-gold", "west-gold", "west-silver"]),
        ("generation > 2", &[]),
        ("spec.region = 'eu-west'", &["west-gold", "west-silver"]),
        ("spec.nodes >= 5", &["east-gold", "west-gold"]),
        ("spec.nodes < 5.5", &["east-free", "east-gold"]),
        ("spec.ha = true", &["east-gold", "west-gold"]),
        ("spec.missing is null and spec.nodes = 'many'", &["west-silver"]),
        ("status.phase = 'Pending'", &["east-free", "east-gold", "west-gold", "west-silver"]),
        ("deleted_time is null", &["east-free", "east-gold", "west-gold", "west-silver"]),
        (
            "created_by = 'system@hyperfleet.local' and kind = 'Cluster'",
            &["east-free", "east-gold", "west-gold", "west-silver"],
        ),
    ];
    for (search, expected) in cases {
        assert_eq!(names(&api, search).await, *expected, "{search}");
    }
    let id = clusters[0].id;
    assert_eq!(names(&api, &format!("id = '{id}'")).await, ["east-gold"]);
    let after = (clusters[1].created_time).to_rfc3339();
    assert_eq!(names(&api, &format!("created_time > '{after}'")).await, ["west-gold", "west-silver"]);
}

#[sqlx::test(migrator = "hyperfleet_api::store::MIGRATOR")]
async fn condition_searches_find_what_the_sentinel_asks_for(pool: PgPool) {
    let api = common::start(pool).await;
    let clusters = fleet(&api).await;
    // Seeded as the aggregation stores them: the condition rows, and Reconciled mirrored on the
    // resource row. `Probe` gets the same rows without a mirror, so each search below is also run
    // through the EXISTS form, which must answer the same.
    for (cluster, status, age_minutes) in
        [(&clusters[0], "True", 60), (&clusters[1], "False", 1), (&clusters[2], "False", 30)]
    {
        sqlx::query(
            "insert into resource_conditions (resource_id, type, status, observed_generation, created_time, \
             last_updated_time, last_transition_time) \
             select $1, t, $2, 2, now(), now() - make_interval(mins => $3), now() from unnest(array['Reconciled', 'Probe']) t",
        )
        .bind(cluster.id)
        .bind(status)
        .bind(age_minutes)
        .execute(&api.pool)
        .await
        .unwrap();
        sqlx::query(
            "update resources r set reconciled_status = c.status, reconciled_time = c.last_updated_time \
             from resource_conditions c where c.resource_id = r.id and c.type = 'Reconciled' and r.id = $1",
        )
        .bind(cluster.id)
        .execute(&api.pool)
        .await
        .unwrap();
    }
    let ten_minutes_ago = (chrono::Utc::now() - chrono::Duration::minutes(10)).to_rfc3339();
    let cases: Vec<(String, &[&str])> = vec![
        ("status.conditions.Reconciled='True'".into(), &["east-gold"]),
        ("status.conditions.Reconciled = 'False'".into(), &["east-free", "west-gold"]),
        ("status.conditions.Reconciled is null".into(), &["west-silver"]),
        ("not status.conditions.Reconciled = 'True'".into(), &["east-free", "west-gold", "west-silver"]),
        (
            format!("status.conditions.Reconciled.last_updated_time < '{ten_minutes_ago}'"),
            &["east-gold", "west-gold"],
        ),
        (
            format!(
                "status.conditions.Reconciled='False' and status.conditions.Reconciled.last_updated_time < '{ten_minutes_ago}'"
            ),
            &["west-gold"],
        ),
        ("status.conditions.Reconciled.observed_generation < 2".into(), &[]),
        ("status.conditions.Reconciled != 'True'".into(), &["east-free", "west-gold"]),
        ("status.conditions.Reconciled not in ['True']".into(), &["east-free", "west-gold", "west-silver"]),
        ("status.conditions.Reconciled.last_updated_time is null".into(), &["west-silver"]),
        (
            "status.conditions.Reconciled.last_updated_time is not null".into(),
            &["east-free", "east-gold", "west-gold"],
        ),
        (
            format!(
                "status.conditions.Reconciled is null or status.conditions.Reconciled = 'False' or \
                 status.conditions.Reconciled.last_updated_time <= '{ten_minutes_ago}'"
            ),
            &["east-free", "east-gold", "west-gold", "west-silver"],
        ),
    ];
    for (search, expected) in cases {
        assert_eq!(names(&api, &search).await, expected, "{search}");
        let probe = search.replace("Reconciled", "Probe");
        assert_eq!(names(&api, &probe).await, expected, "{probe}: the EXISTS form answers the same");
    }
    let full = api.client.get_cluster(clusters[0].id).await.unwrap();
    assert_eq!(full.status.conditions[0].type_, "Reconciled", "conditions are part of the resource");
}

#[sqlx::test(migrator = "hyperfleet_api::store::MIGRATOR")]
async fn hostile_searches_are_rejected_or_match_nothing_never_500(pool: PgPool) {
    let api = common::start(pool).await;
    fleet(&api).await;
    let hostile = [
        "name = ''; drop table resources; --'",
        "name = 'x' or 1=1",
        "name = 'x'') or (''1''=''1'",
        "labels.region' or '1'='1 = 'x'",
        "labels.region = 'us-east''); drop table resources; --'",
        "spec.region = 'x\\' or 1=1 --'",
        "spec.a.b.c.d.e.f.g > 1e308",
        "spec.nodes > 99999999999999999999999",
        "status.conditions.Reconciled.last_updated_time < 'now()'",
        "name = 'é\u{0}'",
        "(((((((((((((((((((( name = 'x' ))))))))))))))))))))",
        "name = 'x' or",
        "pg_sleep(10) = 'x'",
        "name = 'x' union select * from resources",
    ];
    for search in hostile {
        let answer = api.send(Method::GET, "/clusters", None).await; // warm path
        assert_eq!(answer.status, 200);
        let encoded: String = url_encode(search);
        let answer = api.get(&format!("/clusters?search={encoded}")).await;
        let status = answer.status.as_u16();
        assert!(
            status == 400 || (status == 200 && answer.body["total"] == 0),
            "{search}: {status} {}",
            answer.body
        );
        if status == 400 {
            answer.problem(400, "HYPERFLEET-VAL-005");
        }
    }
    let still_there: i64 =
        sqlx::query_scalar("select count(*) from resources").fetch_one(&api.pool).await.unwrap();
    assert_eq!(still_there, 4);
}

fn url_encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            other => format!("%{other:02X}"),
        })
        .collect()
}

/// Every id of the `keyset-` clusters, paged two at a time with `after`: the first page asks
/// for `id asc`, the next ones for `order` (absent is the same).
async fn keyset_pages(api: &common::TestApi, order: Option<&str>) -> Vec<uuid::Uuid> {
    let (mut seen, mut after) = (Vec::new(), None::<uuid::Uuid>);
    loop {
        let params = ListParams {
            size: Some(2),
            order: if after.is_none() { Some("id asc".into()) } else { order.map(str::to_owned) },
            search: Some("name like 'keyset-%'".into()),
            count: Some(false),
            after,
            ..Default::default()
        };
        let page = api.client.list_clusters(&params).await.unwrap();
        assert_eq!(page.total, -1, "not counted");
        after = page.items.last().map(|c| c.id);
        let short = page.items.len() < 2;
        seen.extend(page.items.into_iter().map(|c| c.id));
        if short {
            return seen;
        }
    }
}

#[sqlx::test(migrator = "hyperfleet_api::store::MIGRATOR")]
async fn large_lists_page_by_id_without_counting(pool: PgPool) {
    let api = common::start(pool).await;
    let mut created = Vec::new();
    for i in 0..5 {
        created.push(api.cluster(&format!("keyset-{i}"), &[]).await.id);
    }
    for order in [Some("id asc"), None] {
        assert_eq!(
            keyset_pages(&api, order).await,
            created,
            "UUIDv7 ids page in creation order, each once ({order:?})"
        );
    }
    let counted = api.client.list_clusters(&ListParams::search("name like 'keyset-%'")).await.unwrap();
    assert_eq!(counted.total, 5, "counting stays the default");
    for (params, message) in [
        (ListParams { after: Some(created[0]), page: Some(2), ..Default::default() }, "takes no `page`"),
        (
            ListParams { after: Some(created[0]), order: Some("name".into()), ..Default::default() },
            "`id asc`",
        ),
    ] {
        let err = api.client.list_clusters(&params).await.unwrap_err().to_string();
        assert!(err.contains(message), "{err}");
    }
}

#[sqlx::test(migrator = "hyperfleet_api::store::MIGRATOR")]
async fn status_lists_page_like_every_other_list(pool: PgPool) {
    let api = common::start(pool).await;
    let cluster = api.cluster("paged", &[]).await;
    let path = format!("/clusters/{}/statuses", cluster.id);
    for adapter in ["a1", "a2", "a3", "a4", "a5", "a6"] {
        let report = json!({"adapter": adapter, "observed_generation": 1, "conditions": [
            {"type": "Applied", "status": "True"}, {"type": "Available", "status": "True"}, {"type": "Health", "status": "True"}]});
        assert_eq!(api.send(reqwest::Method::PUT, &path, Some(report)).await.status, 201);
    }
    let page = |query: &str| {
        let api = &api;
        let path = format!("{path}?{query}");
        async move { api.send(reqwest::Method::GET, &path, None).await }
    };
    let second = page("page=2&size=5").await;
    assert_eq!(
        (second.body["page"].clone(), second.body["size"].clone(), second.body["total"].clone()),
        (json!(2), json!(1), json!(6))
    );
    assert_eq!(second.body["items"][0]["adapter"], "a6");
    let first = page("size=5").await;
    assert_eq!(first.body["items"].as_array().unwrap().len(), 5);
    assert_eq!(
        page("page=3&size=5").await.body["items"],
        json!([]),
        "a client paging to an empty page stops"
    );
    page("size=abc").await.problem(400, "HYPERFLEET-VAL-005");
    page("size=0").await.problem(400, "HYPERFLEET-VAL-000");
    // The typed client asks for them all at once.
    assert_eq!(api.client.list_statuses(&cluster.href).await.unwrap().items.len(), 6);
}
