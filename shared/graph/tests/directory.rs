//! Typed users and groups against the sandbox's Graph subset (graph-api.md A.8-A.9, (c) rows 1-3).

mod common;

use std::collections::HashSet;

use common::*;
use entra_graph::{
    ExtensionAttribute, GraphError, ListQuery, NewUser, ObjectIdentity, PasswordProfile, UserPatch,
    odata,
};
use entra_sandbox::directory::{
    DEMO_GOOGLE_SUBJECT, DEMO_GOOGLE_USER_ID, DEMO_GROUP_GOLD_ID, DEMO_GROUP_SILVER_ID,
    DEMO_GROUP_VIP_ID, DEMO_USER_COUNT, DEMO_USER_EMAIL, DEMO_USER_ID,
};
use futures::{StreamExt, TryStreamExt};
use serde_json::json;

fn tier(sandbox: &entra_sandbox::Sandbox) -> ExtensionAttribute {
    ExtensionAttribute::new(&sandbox.config().extension_app_id, "loyaltyTier")
}

fn local_domain(sandbox: &entra_sandbox::Sandbox) -> String {
    format!("{}.onmicrosoft.com", sandbox.config().tenant_name)
}

#[tokio::test]
async fn pages_through_more_than_a_hundred_users() {
    let sandbox = sandbox().await;
    for n in 0..130 {
        sandbox
            .insert_user(json!({"displayName": format!("Bulk {n:03}")}))
            .unwrap();
    }
    let total = DEMO_USER_COUNT + 130;
    let graph = client(&sandbox);

    let users: Vec<_> = graph
        .users()
        .list(&ListQuery::new().top(40))
        .try_collect()
        .await
        .unwrap();
    assert_eq!(users.len(), total);
    let ids: HashSet<_> = users.iter().map(|u| u.id.clone()).collect();
    assert_eq!(ids.len(), total, "no duplicates across pages");
    let pages = requests_to(&sandbox, "/v1.0/users");
    assert_eq!(pages.len(), total.div_ceil(40));
    assert!(
        pages[1..]
            .iter()
            .all(|p| p.path_and_query.contains("$skiptoken="))
    );

    sandbox.faults().clear_request_log();
    let users: Vec<_> = graph
        .users()
        .list(&ListQuery::new())
        .try_collect()
        .await
        .unwrap();
    assert_eq!(users.len(), total);
    assert_eq!(
        requests_to(&sandbox, "/v1.0/users").len(),
        2,
        "default page size is 100"
    );
}

#[tokio::test]
async fn select_and_filter_with_quoted_literals() {
    let sandbox = sandbox().await;
    let graph = client(&sandbox);
    let filter = format!("surname eq {}", odata::quote("O'Brien"));
    let query = ListQuery::new()
        .filter(filter)
        .select(["displayName", tier(&sandbox).property()]);
    let users: Vec<_> = graph.users().list(&query).try_collect().await.unwrap();
    assert_eq!(users.len(), 1);
    assert_eq!(users[0].display_name.as_deref(), Some("Chloe O'Brien"));
    assert_eq!(users[0].extension_str(&tier(&sandbox)), Some("Gold"));
    assert_eq!(users[0].surname, None, "not selected");

    let query = ListQuery::new().filter("startswith(displayName,'Lucas')");
    let lucases: Vec<_> = graph.users().list(&query).try_collect().await.unwrap();
    assert_eq!(lucases.len(), 2);
}

#[tokio::test]
async fn count_sends_consistency_level_on_every_page() {
    let sandbox = sandbox().await;
    let graph = client(&sandbox);
    let mut pager = graph.users().pages(&ListQuery::new().count(true).top(10));
    let first = pager.next_page().await.unwrap().unwrap();
    assert_eq!(first.count, Some(DEMO_USER_COUNT as u64));
    let mut seen = first.items.len();
    while let Some(page) = pager.next_page().await {
        let page = page.unwrap();
        assert_eq!(page.count, None, "@odata.count is on the first page only");
        seen += page.items.len();
    }
    assert_eq!(seen, DEMO_USER_COUNT);
    let requests = requests_to(&sandbox, "/v1.0/users");
    assert_eq!(requests.len(), 3);
    for request in requests {
        assert_eq!(
            request.consistency_level.as_deref(),
            Some("eventual"),
            "{}",
            request.path_and_query
        );
        assert!(request.path_and_query.contains("count=true"));
    }

    let gold = format!("{} eq 'Gold'", tier(&sandbox).property());
    assert_eq!(graph.users().count(Some(&gold)).await.unwrap(), 6);
}

#[tokio::test]
async fn advanced_operators_need_the_advanced_flag() {
    let sandbox = sandbox().await;
    let graph = client(&sandbox);
    let ne = "accountEnabled ne false";
    let error = graph
        .users()
        .list(&ListQuery::new().filter(ne))
        .try_collect::<Vec<_>>()
        .await
        .unwrap_err();
    assert_eq!(error.code(), Some("Request_UnsupportedQuery"));
    let users: Vec<_> = graph
        .users()
        .list(&ListQuery::new().filter(ne).advanced())
        .try_collect()
        .await
        .unwrap();
    assert_eq!(users.len(), DEMO_USER_COUNT);
}

#[tokio::test]
async fn find_by_identity() {
    let sandbox = sandbox().await;
    let graph = client(&sandbox);
    let user = graph
        .users()
        .find_by_identity(&local_domain(&sandbox), DEMO_USER_EMAIL, &["identities"])
        .await
        .unwrap()
        .unwrap();
    assert_eq!(user.id, DEMO_USER_ID);
    let google = graph
        .users()
        .find_by_identity("google.com", DEMO_GOOGLE_SUBJECT, &[])
        .await
        .unwrap()
        .unwrap();
    assert_eq!(google.id, DEMO_GOOGLE_USER_ID);
    let nobody = graph
        .users()
        .find_by_identity("google.com", "o'neil", &[])
        .await
        .unwrap();
    assert!(nobody.is_none());
}

#[tokio::test]
async fn user_lifecycle_with_identities_and_extension_attributes() {
    let sandbox = sandbox().await;
    let graph = client(&sandbox);
    let tier = tier(&sandbox);
    let domain = local_domain(&sandbox);
    let new = NewUser::new("Grace Hopper")
        .with_names("Grace", "Hopper")
        .with_mail("grace@example.com")
        .with_identity(ObjectIdentity::email_address(&domain, "grace@example.com"))
        .with_password(PasswordProfile::new("Correct-Horse-1"))
        .with_extension(&tier, "Silver");
    let created = graph.users().create(&new).await.unwrap();
    assert_eq!(
        created.user_principal_name.as_deref(),
        Some(format!("{}@{domain}", created.id).as_str())
    );
    assert_eq!(created.extension_str(&tier), Some("Silver"));
    let stored = sandbox.user(&created.id).unwrap();
    assert!(
        stored["passwordProfile"]["password"].is_null(),
        "the password is not kept"
    );

    // Default projection: identities and extension attributes need $select.
    let plain = graph.users().get(&created.id, &[]).await.unwrap();
    assert!(plain.identities.is_none() && plain.extension(&tier).is_none());

    let patch = UserPatch::new()
        .display_name("Rear Admiral Hopper")
        .extension(&tier, "Gold")
        .identities(vec![
            ObjectIdentity::email_address(&domain, "grace@example.com"),
            ObjectIdentity::federated("google.com", "1090000000000000001"),
        ]);
    graph.users().update(&created.id, &patch).await.unwrap();
    let updated = graph
        .users()
        .get(&created.id, &["displayName", "identities", tier.property()])
        .await
        .unwrap();
    assert_eq!(updated.display_name.as_deref(), Some("Rear Admiral Hopper"));
    assert_eq!(updated.extension_str(&tier), Some("Gold"));
    assert_eq!(updated.identities.as_ref().unwrap().len(), 2);
    assert!(updated.identity("google.com").is_some());

    // Identities are replaced, not merged.
    let patch = UserPatch::new().identities(vec![ObjectIdentity::federated(
        "google.com",
        "1090000000000000001",
    )]);
    graph.users().update(&created.id, &patch).await.unwrap();
    let replaced = graph
        .users()
        .get(&created.id, &["identities"])
        .await
        .unwrap();
    assert_eq!(replaced.identities.unwrap().len(), 1);

    graph
        .users()
        .update(&created.id, &UserPatch::new().clear(tier.property()))
        .await
        .unwrap();
    let cleared = graph
        .users()
        .get(&created.id, &[tier.property()])
        .await
        .unwrap();
    assert_eq!(cleared.extension(&tier), None);

    graph.users().delete(&created.id).await.unwrap();
    assert!(
        graph
            .users()
            .get(&created.id, &[])
            .await
            .unwrap_err()
            .is_not_found()
    );
    assert!(
        graph
            .users()
            .find(&created.id, &[])
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        graph
            .users()
            .delete(&created.id)
            .await
            .unwrap_err()
            .is_not_found()
    );
}

#[tokio::test]
async fn duplicate_identity_is_rejected() {
    let sandbox = sandbox().await;
    let new = NewUser::new("Impostor").with_identity(ObjectIdentity::email_address(
        &local_domain(&sandbox),
        DEMO_USER_EMAIL,
    ));
    let error = client(&sandbox).users().create(&new).await.unwrap_err();
    assert!(matches!(error, GraphError::Api(_)));
    assert_eq!(error.code(), Some("Request_BadRequest"));
}

#[tokio::test]
async fn ids_are_percent_encoded_in_paths() {
    let sandbox = sandbox().await;
    let upn = format!("odd#name?x@{}", local_domain(&sandbox));
    let id = sandbox
        .insert_user(json!({"displayName": "Odd", "userPrincipalName": upn}))
        .unwrap();
    let user = client(&sandbox).users().get(&upn, &[]).await.unwrap();
    assert_eq!(user.id, id);
}

#[tokio::test]
async fn membership_changes_are_idempotent() {
    let sandbox = sandbox().await;
    let groups = client(&sandbox).groups();
    groups
        .add_member(DEMO_GROUP_SILVER_ID, DEMO_USER_ID)
        .await
        .unwrap();
    groups
        .add_member(DEMO_GROUP_SILVER_ID, DEMO_USER_ID)
        .await
        .unwrap();
    let members = sandbox.group_member_ids(DEMO_GROUP_SILVER_ID);
    assert_eq!(members.iter().filter(|m| *m == DEMO_USER_ID).count(), 1);
    groups
        .remove_member(DEMO_GROUP_SILVER_ID, DEMO_USER_ID)
        .await
        .unwrap();
    groups
        .remove_member(DEMO_GROUP_SILVER_ID, DEMO_USER_ID)
        .await
        .unwrap();
    assert!(
        !sandbox
            .group_member_ids(DEMO_GROUP_SILVER_ID)
            .contains(&DEMO_USER_ID.to_owned())
    );
    let missing = groups
        .add_member(DEMO_GROUP_SILVER_ID, "no-such-object")
        .await
        .unwrap_err();
    assert!(missing.is_not_found());
}

#[tokio::test]
async fn transitive_membership_follows_nested_groups() {
    let sandbox = sandbox().await;
    let groups = client(&sandbox).groups();
    let names = |list: Vec<entra_graph::Group>| -> HashSet<String> {
        list.into_iter().map(|g| g.id).collect()
    };

    let direct = names(
        groups
            .member_of(DEMO_USER_ID, &ListQuery::new())
            .try_collect()
            .await
            .unwrap(),
    );
    assert!(direct.contains(DEMO_GROUP_GOLD_ID));
    assert!(!direct.contains(DEMO_GROUP_VIP_ID));
    let transitive = names(
        groups
            .transitive_member_of(DEMO_USER_ID, &ListQuery::new())
            .try_collect()
            .await
            .unwrap(),
    );
    assert!(transitive.contains(DEMO_GROUP_GOLD_ID) && transitive.contains(DEMO_GROUP_VIP_ID));

    // A new chain three levels deep, built through the client.
    let outer = sandbox
        .insert_group(json!({"displayName": "Outer"}))
        .unwrap();
    let middle = sandbox
        .insert_group(json!({"displayName": "Middle"}))
        .unwrap();
    groups.add_member(&outer, &middle).await.unwrap();
    groups.add_member(&middle, DEMO_GROUP_VIP_ID).await.unwrap();
    let transitive = names(
        groups
            .transitive_member_of(DEMO_USER_ID, &ListQuery::new().select(["displayName"]))
            .try_collect()
            .await
            .unwrap(),
    );
    for expected in [
        DEMO_GROUP_GOLD_ID,
        DEMO_GROUP_VIP_ID,
        middle.as_str(),
        outer.as_str(),
    ] {
        assert!(transitive.contains(expected), "missing {expected}");
    }
}

#[tokio::test]
async fn members_are_users_and_groups() {
    let sandbox = sandbox().await;
    let graph = client(&sandbox);
    let members: Vec<_> = graph
        .groups()
        .members(DEMO_GROUP_VIP_ID, &ListQuery::new())
        .try_collect()
        .await
        .unwrap();
    assert!(
        members
            .iter()
            .any(|m| m.is_group() && m.id == DEMO_GROUP_GOLD_ID)
    );
    assert!(members.iter().any(|m| m.is_user()));
    let vip = graph
        .groups()
        .get(DEMO_GROUP_VIP_ID, &["displayName"])
        .await
        .unwrap();
    assert_eq!(vip.display_name.as_deref(), Some("Customers - VIP"));
    let all = graph.groups().list(&ListQuery::new().top(2)).count().await;
    assert_eq!(all, 5);
    assert!(
        graph
            .groups()
            .get("missing", &[])
            .await
            .unwrap_err()
            .is_not_found()
    );
}
