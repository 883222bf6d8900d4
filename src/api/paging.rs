//! Server-streamed listings: one page per streamed message, each with the token that resumes
//! after it. The first page is read before the stream starts, so that a missing conversation
//! or an unavailable database is the call's status rather than a late stream error; later
//! pages are read by a task that stops as soon as the client goes away.

use std::future::Future;

use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::Status;

use super::ApiError;
use crate::domain::{PageLimit, PageSize, Position};
use crate::store::StoreResult;

/// Pages buffered ahead of a slow client; small, because each page can be large.
const PAGES_BUFFERED: usize = 2;

/// How a listing reads and shapes its pages.
pub struct Listing<Fetch, Build, Issue, Locate> {
    /// Reads up to `limit` rows after a position.
    pub fetch: Fetch,
    /// Makes the streamed response from a page of rows and its next page token.
    pub build: Build,
    /// Signs the position of a page's last row into a page token.
    pub issue_token: Issue,
    /// The position of a row in the listing's order.
    pub locate: Locate,
}

pub async fn stream_pages<Row, Page, Fetch, Fut, Build, Issue, Locate>(
    listing: Listing<Fetch, Build, Issue, Locate>,
    start_after: Option<Position>,
    page_size: PageSize,
    page_limit: PageLimit,
) -> Result<ReceiverStream<Result<Page, Status>>, Status>
where
    Row: Send + 'static,
    Page: Send + 'static,
    Fetch: Fn(Option<Position>, i64) -> Fut + Send + 'static,
    Fut: Future<Output = StoreResult<Vec<Row>>> + Send,
    Build: Fn(Vec<Row>, String) -> Page + Send + 'static,
    Issue: Fn(Position) -> String + Send + 'static,
    Locate: Fn(&Row) -> Position + Send + 'static,
{
    let size = page_size.get();
    let first = (listing.fetch)(start_after, size + 1).await.map_err(ApiError::from)?;
    let (sender, receiver) = mpsc::channel(PAGES_BUFFERED);

    tokio::spawn(async move {
        let mut rows = first;
        let mut sent = 0;

        loop {
            let has_more = rows.len() as i64 > size;
            rows.truncate(size as usize);
            let next = if has_more { rows.last().map(&listing.locate) } else { None };
            let token = next.map(&listing.issue_token).unwrap_or_default();

            if sender.send(Ok((listing.build)(rows, token))).await.is_err() {
                tracing::debug!("client went away; listing stopped");
                return;
            }
            sent += 1;

            let Some(after) = next.filter(|_| page_limit.allows(sent)) else {
                return;
            };

            rows = match (listing.fetch)(Some(after), size + 1).await {
                Ok(rows) => rows,
                Err(error) => {
                    let _ = sender.send(Err(ApiError::from(error).into())).await;
                    return;
                }
            };
        }
    });

    Ok(ReceiverStream::new(receiver))
}
