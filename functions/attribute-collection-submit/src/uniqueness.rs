//! Uniqueness against the directory: is any account already holding this value of a custom
//! attribute? One Graph `GET /users?$filter=extension_{appId}_{name} eq '…'&$select=id&$top=1`
//! per checked attribute (docs/protocols/graph-api.md A.8; the literal quoted with
//! `odata::quote`), run under the call's deadline. The account being signed up does not exist
//! yet, so any match is someone else.

use entra_graph::{GraphClient, Instant, ListQuery};

/// What the directory said about a value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Holder {
    /// No account holds it.
    Free,
    /// Another account holds it.
    Taken,
    /// The directory failed or did not answer by the deadline (the reason is for the log).
    Unknown(String),
}

/// Looks `property eq literal` up, answering by `deadline` whatever Graph does.
pub(crate) async fn holder(
    graph: &GraphClient,
    property: &str,
    literal: &str,
    deadline: Instant,
) -> Holder {
    let query = ListQuery::new()
        .filter(format!("{property} eq {literal}"))
        .select(["id"])
        .top(1);
    let graph = graph.with_deadline(deadline);
    let lookup = async {
        let mut pages = graph.users().pages(&query);
        match pages.next_page().await {
            None => Holder::Free,
            Some(Ok(page)) if page.items.is_empty() => Holder::Free,
            Some(Ok(_)) => Holder::Taken,
            Some(Err(error)) => Holder::Unknown(error.to_string()),
        }
    };
    // The client honours the deadline itself; this bound also covers anything it does not.
    tokio::time::timeout_at(deadline, lookup)
        .await
        .unwrap_or_else(|_| Holder::Unknown("deadline exceeded before Graph answered".into()))
}
