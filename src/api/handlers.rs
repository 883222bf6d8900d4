//! The ConversationService handlers. Each one reads the caller, validates the request into
//! domain types, calls the store, and turns the result into protobuf.

use std::sync::{Arc, OnceLock};

use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status};

use super::ApiError;
use super::deadline::scope_of;
use super::paging::{Listing, stream_pages};
use super::requests::{self, PageTokens};
use super::search;
use crate::auth::Caller;
use crate::domain::{PageTokenKey, Position, ScorePosition};
use crate::pb;
use crate::pb::conversation_service_server::ConversationService;
use crate::store::{
    ConversationRecord, MessageRecord, Scope, SearchHit, SearchMode, Store, Transition,
};

pub struct ConversationApi {
    store: Store,
    page_tokens: PageTokenKey,
}

impl ConversationApi {
    pub fn new(store: Store, page_tokens: PageTokenKey) -> Self {
        Self { store, page_tokens }
    }

    fn page_tokens_of(&self, caller: &Caller) -> PageTokens {
        PageTokens { key: self.page_tokens.clone(), user_id: caller.user_id }
    }

    async fn transition(
        &self,
        scope: Scope,
        id: &str,
        etag: &str,
        transition: Transition,
    ) -> Result<Response<pb::Conversation>, Status> {
        let (id, expected_revision) = requests::lifecycle(id, etag).map_err(ApiError::from)?;

        let conversation = self
            .store
            .transition(&scope, id, transition, expected_revision)
            .await
            .map_err(ApiError::from)?;

        Ok(Response::new(conversation.into()))
    }
}

type PageStream<T> = ReceiverStream<Result<T, Status>>;

#[tonic::async_trait]
impl ConversationService for ConversationApi {
    async fn create_conversation(
        &self,
        request: Request<pb::CreateConversationRequest>,
    ) -> Result<Response<pb::Conversation>, Status> {
        let scope = scope_of(&request, &Caller::of(&request)?);
        let (new, request_id) =
            requests::new_conversation(request.into_inner()).map_err(ApiError::from)?;

        let conversation = self
            .store
            .create_conversation(&scope, new, request_id.as_ref())
            .await
            .map_err(ApiError::from)?;

        Ok(Response::new(conversation.into()))
    }

    async fn get_conversation(
        &self,
        request: Request<pb::GetConversationRequest>,
    ) -> Result<Response<pb::Conversation>, Status> {
        let scope = scope_of(&request, &Caller::of(&request)?);
        let id = requests::id("id", &request.get_ref().id).map_err(ApiError::from)?;

        let conversation = self.store.get_conversation(&scope, id).await.map_err(ApiError::from)?;

        Ok(Response::new(conversation.into()))
    }

    async fn update_conversation(
        &self,
        request: Request<pb::UpdateConversationRequest>,
    ) -> Result<Response<pb::Conversation>, Status> {
        let scope = scope_of(&request, &Caller::of(&request)?);
        let update = requests::update(request.into_inner()).map_err(ApiError::from)?;

        let conversation = self
            .store
            .update_conversation(&scope, update.id, update.changes, update.expected_revision)
            .await
            .map_err(ApiError::from)?;

        Ok(Response::new(conversation.into()))
    }

    async fn archive_conversation(
        &self,
        request: Request<pb::ArchiveConversationRequest>,
    ) -> Result<Response<pb::Conversation>, Status> {
        let scope = scope_of(&request, &Caller::of(&request)?);
        let body = request.get_ref();
        self.transition(scope, &body.id, &body.etag, Transition::Archive).await
    }

    async fn unarchive_conversation(
        &self,
        request: Request<pb::UnarchiveConversationRequest>,
    ) -> Result<Response<pb::Conversation>, Status> {
        let scope = scope_of(&request, &Caller::of(&request)?);
        let body = request.get_ref();
        self.transition(scope, &body.id, &body.etag, Transition::Unarchive).await
    }

    async fn delete_conversation(
        &self,
        request: Request<pb::DeleteConversationRequest>,
    ) -> Result<Response<pb::Conversation>, Status> {
        let scope = scope_of(&request, &Caller::of(&request)?);
        let body = request.get_ref();
        self.transition(scope, &body.id, &body.etag, Transition::Delete).await
    }

    async fn undelete_conversation(
        &self,
        request: Request<pb::UndeleteConversationRequest>,
    ) -> Result<Response<pb::Conversation>, Status> {
        let scope = scope_of(&request, &Caller::of(&request)?);
        let body = request.get_ref();
        self.transition(scope, &body.id, &body.etag, Transition::Undelete).await
    }

    type ListConversationsStream = PageStream<pb::ListConversationsResponse>;

    async fn list_conversations(
        &self,
        request: Request<pb::ListConversationsRequest>,
    ) -> Result<Response<Self::ListConversationsStream>, Status> {
        let caller = Caller::of(&request)?;
        let scope = scope_of(&request, &caller);
        let tokens = self.page_tokens_of(&caller);
        let list =
            requests::list_conversations(request.get_ref(), &tokens).map_err(ApiError::from)?;
        let binding = requests::conversations_binding(request.get_ref());

        let store = self.store.clone();
        let (filter, order) = (list.filter.clone(), list.order);
        let listing = Listing {
            fetch: move |after, limit| {
                let (store, filter) = (store.clone(), filter.clone());
                async move { store.list_conversations(&scope, &filter, order, after, limit).await }
            },
            convert: pb::Conversation::from,
            build: |conversations, next_page_token| pb::ListConversationsResponse {
                conversations,
                next_page_token,
            },
            issue_token: move |position| tokens.issue(&binding, position),
            locate: move |row: &ConversationRecord| row.position_in(order),
        };

        let stream =
            stream_pages(listing, list.start_after, list.page_size, list.page_limit).await?;
        Ok(Response::new(stream))
    }

    async fn append_message(
        &self,
        request: Request<pb::AppendMessageRequest>,
    ) -> Result<Response<pb::Message>, Status> {
        let scope = scope_of(&request, &Caller::of(&request)?);
        let (conversation_id, new, request_id) =
            requests::new_message(request.into_inner()).map_err(ApiError::from)?;

        let message = self
            .store
            .append_message(&scope, conversation_id, new, request_id.as_ref())
            .await
            .map_err(ApiError::from)?;

        Ok(Response::new(message.into()))
    }

    type SearchConversationsStream = PageStream<pb::SearchConversationsResponse>;

    async fn search_conversations(
        &self,
        request: Request<pb::SearchConversationsRequest>,
    ) -> Result<Response<Self::SearchConversationsStream>, Status> {
        let caller = Caller::of(&request)?;
        let scope = scope_of(&request, &caller);
        let tokens = self.page_tokens_of(&caller);
        let search = search::search(request.get_ref(), &tokens).map_err(ApiError::from)?;
        let request_fields = request.get_ref().clone();

        // The first page decides the mode: full text, or, only when full text finds nothing at
        // all, titles by similarity. A resumed search keeps the mode its token was issued in.
        let (resumed_mode, start_after) = search.resume.unzip();
        let chosen_mode = Arc::new(OnceLock::new());
        if let Some(mode) = resumed_mode {
            let _ = chosen_mode.set(mode);
        }

        let store = self.store.clone();
        let (query, filter) = (search.query.clone(), search.filter.clone());
        let fetch_mode = chosen_mode.clone();
        let listing = Listing {
            fetch: move |after, limit| {
                let (store, query, filter) = (store.clone(), query.clone(), filter.clone());
                let chosen_mode = fetch_mode.clone();
                async move {
                    if let Some(&mode) = chosen_mode.get() {
                        return store
                            .search_conversations(&scope, &query, &filter, mode, after, limit)
                            .await;
                    }
                    let (mode, hits) =
                        store.search_first_page(&scope, &query, &filter, limit).await?;
                    let _ = chosen_mode.set(mode);
                    Ok(hits)
                }
            },
            convert: pb::SearchHit::from,
            build: |hits, next_page_token| pb::SearchConversationsResponse {
                hits,
                next_page_token,
            },
            issue_token: move |position| {
                // Tokens are issued after a page is read, so the mode is always chosen by now.
                let mode = chosen_mode.get().copied().unwrap_or(SearchMode::FullText);
                tokens.issue(&search::binding(mode, &request_fields), position)
            },
            locate: |hit: &SearchHit| ScorePosition { score: hit.score, id: hit.conversation.id },
        };

        let stream =
            stream_pages(listing, start_after, search.page_size, search.page_limit).await?;
        Ok(Response::new(stream))
    }

    type ListMessagesStream = PageStream<pb::ListMessagesResponse>;

    async fn list_messages(
        &self,
        request: Request<pb::ListMessagesRequest>,
    ) -> Result<Response<Self::ListMessagesStream>, Status> {
        let caller = Caller::of(&request)?;
        let scope = scope_of(&request, &caller);
        let tokens = self.page_tokens_of(&caller);
        let list = requests::list_messages(request.get_ref(), &tokens).map_err(ApiError::from)?;
        let binding = requests::messages_binding(request.get_ref());

        let store = self.store.clone();
        let conversation_id = list.conversation_id;
        let listing = Listing {
            fetch: move |after, limit| {
                let store = store.clone();
                async move { store.list_messages(&scope, conversation_id, after, limit).await }
            },
            convert: pb::Message::from,
            build: |messages, next_page_token| pb::ListMessagesResponse {
                messages,
                next_page_token,
            },
            issue_token: move |position| tokens.issue(&binding, position),
            locate: |row: &MessageRecord| Position { at: row.created_at, id: row.id },
        };

        let stream =
            stream_pages(listing, list.start_after, list.page_size, list.page_limit).await?;
        Ok(Response::new(stream))
    }

    async fn get_conversation_stats(
        &self,
        request: Request<pb::GetConversationStatsRequest>,
    ) -> Result<Response<pb::ConversationStats>, Status> {
        let scope = scope_of(&request, &Caller::of(&request)?);
        let include_deleted = request.get_ref().include_deleted;

        let stats =
            self.store.conversation_stats(&scope, include_deleted).await.map_err(ApiError::from)?;

        Ok(Response::new(stats.into()))
    }
}
