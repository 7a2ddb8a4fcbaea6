//! Collections: query options and `@odata.nextLink` paging (change-notifications.md E.4,
//! graph-api.md (c) rows 1-3).
//!
//! Next links are followed verbatim (never rebuilt from a `$skiptoken`); headers such as
//! `ConsistencyLevel` are sent again on every page because Graph does not carry them over; a page may
//! be empty and still have a next link; `@odata.count` is on the first page only. A next link must
//! point at the same scheme, host and port as the Graph root, so the bearer token is never sent
//! anywhere else.

use std::marker::PhantomData;

use futures::Stream;
use reqwest::header::{HeaderMap, HeaderValue};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use url::Url;

use crate::client::{GraphClient, GraphRequest};
use crate::error::GraphError;

/// OData query options for a collection request.
///
/// ```
/// use entra_graph::{ListQuery, odata};
/// let query = ListQuery::new()
///     .select(["id", "displayName"])
///     .filter(format!("startswith(displayName,{})", odata::quote("O'Brien")))
///     .top(50)
///     .count(true);
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListQuery {
    select: Vec<String>,
    filter: Option<String>,
    top: Option<u32>,
    count: bool,
    order_by: Option<String>,
    eventual: bool,
}

impl ListQuery {
    /// No options: Graph's defaults (all items, default page size and properties).
    pub fn new() -> Self {
        Self::default()
    }

    /// `$select`: the properties to return (Graph always adds `id`).
    pub fn select<I, S>(mut self, properties: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.select.extend(properties.into_iter().map(Into::into));
        self
    }

    /// `$filter`; quote literals with [`crate::odata::quote`].
    pub fn filter(mut self, filter: impl Into<String>) -> Self {
        self.filter = Some(filter.into());
        self
    }

    /// `$top`: page size (Graph allows 1-999 for directory objects; default 100).
    pub fn top(mut self, top: u32) -> Self {
        self.top = Some(top);
        self
    }

    /// `$count=true`, which Graph only accepts with `ConsistencyLevel: eventual` (sent automatically).
    pub fn count(mut self, count: bool) -> Self {
        self.count = count;
        if count {
            self.eventual = true;
        }
        self
    }

    /// `$orderby`.
    pub fn order_by(mut self, order_by: impl Into<String>) -> Self {
        self.order_by = Some(order_by.into());
        self
    }

    /// An advanced query (`ne`, `not`, `endsWith`, ...): sends `ConsistencyLevel: eventual` and
    /// `$count=true`, as Graph requires for them.
    pub fn advanced(mut self) -> Self {
        self.count = true;
        self.eventual = true;
        self
    }

    pub(crate) fn apply(&self, url: &mut Url) {
        let mut pairs = url.query_pairs_mut();
        if !self.select.is_empty() {
            pairs.append_pair("$select", &self.select.join(","));
        }
        if let Some(filter) = &self.filter {
            pairs.append_pair("$filter", filter);
        }
        if let Some(top) = self.top {
            pairs.append_pair("$top", &top.to_string());
        }
        if self.count {
            pairs.append_pair("$count", "true");
        }
        if let Some(order_by) = &self.order_by {
            pairs.append_pair("$orderby", order_by);
        }
        drop(pairs);
        if url.query() == Some("") {
            url.set_query(None);
        }
    }

    pub(crate) fn headers(&self) -> HeaderMap {
        let mut headers = HeaderMap::new();
        if self.eventual {
            headers.insert("ConsistencyLevel", HeaderValue::from_static("eventual"));
        }
        headers
    }
}

/// One page of a collection.
#[derive(Debug, Clone, PartialEq)]
pub struct Page<T> {
    pub items: Vec<T>,
    /// `@odata.count` (first page of a `$count=true` request only).
    pub count: Option<u64>,
    /// Where the next page is, verbatim.
    pub next_link: Option<Url>,
}

#[derive(Deserialize)]
struct RawPage<T> {
    #[serde(default = "Vec::new")]
    value: Vec<T>,
    #[serde(rename = "@odata.count", default)]
    count: Option<u64>,
    #[serde(rename = "@odata.nextLink", default)]
    next_link: Option<String>,
}

/// Walks a collection page by page.
#[derive(Debug)]
pub struct Pager<T> {
    client: GraphClient,
    /// The next page to fetch, or the reason its link cannot be followed (reported on the next call,
    /// after the items of the page that carried it).
    next: Option<Result<Url, GraphError>>,
    headers: HeaderMap,
    item: PhantomData<fn() -> T>,
}

impl<T: DeserializeOwned> Pager<T> {
    pub(crate) fn new(client: GraphClient, first: Url, headers: HeaderMap) -> Self {
        Self {
            client,
            next: Some(Ok(first)),
            headers,
            item: PhantomData,
        }
    }

    /// The next page, or `None` after the last one (or after an error).
    pub async fn next_page(&mut self) -> Option<Result<Page<T>, GraphError>> {
        let url = match self.next.take()? {
            Ok(url) => url,
            Err(error) => return Some(Err(error)),
        };
        let mut request = GraphRequest::get(url);
        request.headers = self.headers.clone();
        let raw = match self
            .client
            .send(request)
            .await
            .and_then(|r| r.json::<RawPage<T>>())
        {
            Ok(raw) => raw,
            Err(error) => return Some(Err(error)),
        };
        self.next = raw.next_link.map(|link| self.checked_next_link(&link));
        Some(Ok(Page {
            items: raw.value,
            count: raw.count,
            next_link: self
                .next
                .as_ref()
                .and_then(|next| next.as_ref().ok())
                .cloned(),
        }))
    }

    fn checked_next_link(&self, link: &str) -> Result<Url, GraphError> {
        let url = Url::parse(link).map_err(|e| {
            GraphError::InvalidResponse(format!("@odata.nextLink is not a URL: {e}"))
        })?;
        let base = self.client.base_url();
        if url.origin() != base.origin() {
            return Err(GraphError::InvalidResponse(format!(
                "@odata.nextLink points at {} instead of the Graph host {}",
                url.origin().ascii_serialization(),
                base.origin().ascii_serialization()
            )));
        }
        Ok(url)
    }
}

impl<T: DeserializeOwned + Send + 'static> Pager<T> {
    /// Every page as a stream; ends after the first error.
    pub fn into_page_stream(self) -> impl Stream<Item = Result<Page<T>, GraphError>> + Send {
        futures::stream::unfold(self, |mut pager| async move {
            let page = pager.next_page().await?;
            Some((page, pager))
        })
    }

    /// Every item of every page as a stream; ends after the first error.
    pub fn into_stream(self) -> impl Stream<Item = Result<T, GraphError>> + Send {
        use futures::StreamExt;
        self.into_page_stream().flat_map(|page| {
            let items: Vec<Result<T, GraphError>> = match page {
                Ok(page) => page.items.into_iter().map(Ok).collect(),
                Err(error) => vec![Err(error)],
            };
            futures::stream::iter(items)
        })
    }
}

impl GraphClient {
    /// Pages through the collection at `url` with `query` applied.
    pub fn pages<T: DeserializeOwned>(&self, mut url: Url, query: &ListQuery) -> Pager<T> {
        query.apply(&mut url);
        Pager::new(self.clone(), url, query.headers())
    }

    /// Every item of the collection at `url`, following next links.
    pub fn list<T: DeserializeOwned + Send + 'static>(
        &self,
        url: Url,
        query: &ListQuery,
    ) -> impl Stream<Item = Result<T, GraphError>> + Send + 'static {
        self.pages(url, query).into_stream()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_options_are_encoded_and_count_implies_eventual() {
        let mut url = Url::parse("https://graph.microsoft.com/v1.0/users").unwrap();
        let query = ListQuery::new()
            .select(["id", "displayName"])
            .filter("displayName eq 'A&B'")
            .top(5)
            .count(true);
        query.apply(&mut url);
        let pairs: Vec<(String, String)> = url.query_pairs().into_owned().collect();
        assert_eq!(
            pairs,
            vec![
                ("$select".into(), "id,displayName".into()),
                ("$filter".into(), "displayName eq 'A&B'".into()),
                ("$top".into(), "5".into()),
                ("$count".into(), "true".into()),
            ]
        );
        assert_eq!(query.headers()["consistencylevel"], "eventual");
        let mut plain = Url::parse("https://graph.microsoft.com/v1.0/users").unwrap();
        ListQuery::new().apply(&mut plain);
        assert_eq!(plain.as_str(), "https://graph.microsoft.com/v1.0/users");
        assert!(ListQuery::new().headers().is_empty());
    }
}
