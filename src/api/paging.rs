//! Server-streamed listings: one page per streamed message, each with the token that resumes
//! after it. The first page is read before the stream starts, so that a missing conversation
//! or an unavailable database is the call's status rather than a late stream error; later
//! pages are read by a task that stops as soon as the client goes away.
//!
//! A page holds at most `page_size` rows and at most [`PAGE_BYTE_BUDGET`] bytes: 500
//! conversations with large contexts, or 500 long messages, would otherwise exceed the 4 MiB
//! message limit. A page cut short by bytes still carries a token for the rest.

use std::future::Future;

use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::Status;
use tracing::Instrument;

use super::ApiError;
use crate::domain::{PageLimit, PageSize};
use crate::server::MAX_MESSAGE_BYTES;
use crate::store::StoreResult;

/// Pages buffered ahead of a slow client; small, because each page can be large.
const PAGES_BUFFERED: usize = 2;

/// Room left in a streamed message for the page token and framing.
const PAGE_BYTE_BUDGET: usize = MAX_MESSAGE_BYTES - 64 * 1024;

/// How a listing reads and shapes its pages.
pub struct Listing<Fetch, Convert, Build, Issue, Locate> {
    /// Reads up to `limit` rows after a position.
    pub fetch: Fetch,
    /// Turns a row into the protobuf item the page carries.
    pub convert: Convert,
    /// Makes the streamed response from a page of items and its next page token.
    pub build: Build,
    /// Signs the position of a page's last row into a page token.
    pub issue_token: Issue,
    /// The position of a row in the listing's order.
    pub locate: Locate,
}

pub async fn stream_pages<Pos, Row, Item, Page, Fetch, Fut, Convert, Build, Issue, Locate>(
    listing: Listing<Fetch, Convert, Build, Issue, Locate>,
    start_after: Option<Pos>,
    page_size: PageSize,
    page_limit: PageLimit,
) -> Result<ReceiverStream<Result<Page, Status>>, Status>
where
    Pos: Copy + Send + 'static,
    Row: Send + 'static,
    Item: prost::Message + Send + 'static,
    Page: Send + 'static,
    Fetch: Fn(Option<Pos>, i64) -> Fut + Send + 'static,
    Fut: Future<Output = StoreResult<Vec<Row>>> + Send,
    Convert: Fn(Row) -> Item + Send + 'static,
    Build: Fn(Vec<Item>, String) -> Page + Send + 'static,
    Issue: Fn(Pos) -> String + Send + 'static,
    Locate: Fn(&Row) -> Pos + Send + 'static,
{
    let size = page_size.get();
    let first = (listing.fetch)(start_after, size + 1).await.map_err(ApiError::from)?;
    let (sender, receiver) = mpsc::channel(PAGES_BUFFERED);

    tokio::spawn(
        async move {
            let mut rows = first;
            let mut sent = 0;

            loop {
                let (items, next) = fill_page(&listing, rows, size as usize);
                let token = next.map(&listing.issue_token).unwrap_or_default();

                if sender.send(Ok((listing.build)(items, token))).await.is_err() {
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
        }
        // The later pages belong to the call's trace, like the first.
        .in_current_span(),
    );

    Ok(ReceiverStream::new(receiver))
}

/// Takes rows into a page until it holds `size` of them or the byte budget is spent (always
/// at least one). Returns the page and, when rows remain, the position to resume after.
fn fill_page<Pos, Row, Item, Fetch, Convert, Build, Issue, Locate>(
    listing: &Listing<Fetch, Convert, Build, Issue, Locate>,
    rows: Vec<Row>,
    size: usize,
) -> (Vec<Item>, Option<Pos>)
where
    Item: prost::Message,
    Convert: Fn(Row) -> Item,
    Locate: Fn(&Row) -> Pos,
{
    let fetched = rows.len();
    let mut items = Vec::with_capacity(fetched.min(size));
    let mut bytes = 0;
    let mut last = None;

    for row in rows.into_iter().take(size) {
        let position = (listing.locate)(&row);
        let item = (listing.convert)(row);
        let item_bytes = item.encoded_len() + 8;
        if !items.is_empty() && bytes + item_bytes > PAGE_BYTE_BUDGET {
            break;
        }
        bytes += item_bytes;
        items.push(item);
        last = Some(position);
    }

    let more = items.len() < fetched;
    (items, if more { last } else { None })
}
