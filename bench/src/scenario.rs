//! What one call of each scenario sends, to whom, and as which user. A [`Target`] holds the
//! channels to the service and a signed token for every user the calls act as.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use anyhow::Context;
use clap::ValueEnum;
use conversation_service::auth::{JwtSettings, TokenIssuer};
use conversation_service::pb;
use conversation_service::pb::conversation_service_client::ConversationServiceClient;
use rand::Rng;
use rand::rngs::SmallRng;
use tonic::metadata::{Ascii, MetadataValue};
use tonic::transport::{Channel, Endpoint};
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_client::HealthClient;
use uuid::Uuid;

use crate::seed::Dataset;
use crate::vocabulary;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Scenario {
    /// GetConversation of a random conversation of a random user.
    Get,
    /// CreateConversation for a random user.
    Create,
    /// AppendMessage to a random active conversation.
    Append,
    /// ListConversations, the first page of 50 of a random user.
    ListFirst,
    /// ListConversations, one page of 50 deep into the heavy user's conversations.
    ListDeep,
    /// SearchConversations of the heavy user, one page of 20.
    Search,
    /// GetConversationStats of the heavy user.
    Stats,
    /// The gRPC health check: the transport's ceiling.
    Health,
    /// A chat product's mix: 45% append, 35% get, 12% list, 5% create, 2% search, 1% stats.
    Mixed,
}

impl Scenario {
    pub fn name(self) -> &'static str {
        match self {
            Self::Get => "get",
            Self::Create => "create",
            Self::Append => "append",
            Self::ListFirst => "list-first",
            Self::ListDeep => "list-deep",
            Self::Search => "search",
            Self::Stats => "stats",
            Self::Health => "health",
            Self::Mixed => "mixed",
        }
    }
}

/// How to sign tokens the service accepts.
pub struct Signing {
    pub secret: String,
    pub issuer: String,
    pub audience: String,
    pub lifetime: Duration,
}

/// One of the sample's conversations with its owner's token.
struct Owned {
    token: usize,
    conversation_id: String,
}

pub struct Target {
    channels: Vec<Channel>,
    next_channel: AtomicUsize,
    tokens: Vec<MetadataValue<Ascii>>,
    sample: Vec<Owned>,
    heavy_token: MetadataValue<Ascii>,
    /// The token that resumes the heavy user's listing at the deep page.
    pub deep_page_token: Option<String>,
}

type CallResult = Result<(), tonic::Code>;

impl Target {
    pub async fn connect(
        address: &str,
        channels: usize,
        dataset: &Dataset,
        signing: &Signing,
    ) -> anyhow::Result<Self> {
        let mut connected = Vec::with_capacity(channels);
        for _ in 0..channels.max(1) {
            let endpoint = Endpoint::from_shared(address.to_owned())?
                .tcp_nodelay(true)
                .connect_timeout(Duration::from_secs(5));
            connected.push(
                endpoint.connect().await.with_context(|| format!("connecting to {address}"))?,
            );
        }

        let issuer = TokenIssuer::new(JwtSettings {
            secret: Some(signing.secret.as_bytes().to_vec()),
            public_keys_file: None,
            jwks_file: None,
            algorithms: Vec::new(),
            issuer: signing.issuer.clone(),
            audience: signing.audience.clone(),
            roles_claim: "roles".into(),
            leeway: Duration::from_secs(30),
            keys_reload_interval: Duration::from_secs(30),
        });
        let bearer = |user: Uuid| -> anyhow::Result<MetadataValue<Ascii>> {
            let token = issuer.issue(user, &[], signing.lifetime)?;
            Ok(format!("Bearer {token}").parse()?)
        };

        let mut token_of_user: HashMap<Uuid, usize> = HashMap::new();
        let mut tokens = Vec::new();
        let mut sample = Vec::with_capacity(dataset.sample.len());
        for (user, conversation) in &dataset.sample {
            let token = match token_of_user.get(user) {
                Some(&index) => index,
                None => {
                    tokens.push(bearer(*user)?);
                    token_of_user.insert(*user, tokens.len() - 1);
                    tokens.len() - 1
                }
            };
            sample.push(Owned { token, conversation_id: conversation.to_string() });
        }
        anyhow::ensure!(!sample.is_empty(), "the dataset has no sample of conversations");

        Ok(Self {
            channels: connected,
            next_channel: AtomicUsize::new(0),
            tokens,
            sample,
            heavy_token: bearer(dataset.heavy_user_id)?,
            deep_page_token: None,
        })
    }

    fn channel(&self) -> Channel {
        let index = self.next_channel.fetch_add(1, Ordering::Relaxed) % self.channels.len();
        self.channels[index].clone()
    }

    fn client(&self) -> ConversationServiceClient<Channel> {
        ConversationServiceClient::new(self.channel())
    }

    fn request<T>(&self, message: T, token: &MetadataValue<Ascii>) -> tonic::Request<T> {
        let mut request = tonic::Request::new(message);
        request.metadata_mut().insert("authorization", token.clone());
        request
    }

    fn random_owned(&self, rng: &mut SmallRng) -> &Owned {
        &self.sample[rng.random_range(0..self.sample.len())]
    }

    pub async fn call(&self, scenario: Scenario, rng: &mut SmallRng) -> CallResult {
        match scenario {
            Scenario::Get => self.get(rng).await,
            Scenario::Create => self.create(rng).await,
            Scenario::Append => self.append(rng).await,
            Scenario::ListFirst => {
                let token = &self.tokens[self.random_owned(rng).token];
                self.list_page(token, String::new()).await
            }
            Scenario::ListDeep => {
                let page_token = self.deep_page_token.clone().unwrap_or_default();
                self.list_page(&self.heavy_token, page_token).await
            }
            Scenario::Search => self.search(&self.heavy_token, rng).await,
            Scenario::Stats => self.stats(&self.heavy_token).await,
            Scenario::Health => self.health().await,
            Scenario::Mixed => self.mixed(rng).await,
        }
    }

    async fn mixed(&self, rng: &mut SmallRng) -> CallResult {
        let token = &self.tokens[self.random_owned(rng).token];
        match rng.random_range(0..100) {
            0..45 => self.append(rng).await,
            45..80 => self.get(rng).await,
            80..92 => self.list_page(token, String::new()).await,
            92..97 => self.create(rng).await,
            97..99 => self.search(token, rng).await,
            _ => self.stats(token).await,
        }
    }

    async fn get(&self, rng: &mut SmallRng) -> CallResult {
        let owned = self.random_owned(rng);
        let message = pb::GetConversationRequest { id: owned.conversation_id.clone() };
        let request = self.request(message, &self.tokens[owned.token]);
        self.client().get_conversation(request).await.map(drop).map_err(|status| status.code())
    }

    async fn create(&self, rng: &mut SmallRng) -> CallResult {
        let token = &self.tokens[self.random_owned(rng).token];
        let context = vocabulary::context(rng, Uuid::new_v4());
        let conversation = pb::Conversation {
            title: vocabulary::title(rng),
            mode: rng.random_range(1..=4),
            context_data: Some(to_struct(context)),
            ..Default::default()
        };
        let message = pb::CreateConversationRequest {
            conversation: Some(conversation),
            request_id: String::new(),
        };
        let request = self.request(message, token);
        self.client().create_conversation(request).await.map(drop).map_err(|status| status.code())
    }

    async fn append(&self, rng: &mut SmallRng) -> CallResult {
        let owned = self.random_owned(rng);
        let message = pb::AppendMessageRequest {
            conversation_id: owned.conversation_id.clone(),
            message: Some(pb::Message {
                r#type: pb::MessageType::User as i32,
                content: vocabulary::message(rng, true),
                ..Default::default()
            }),
            request_id: String::new(),
        };
        let request = self.request(message, &self.tokens[owned.token]);
        self.client().append_message(request).await.map(drop).map_err(|status| status.code())
    }

    async fn list_page(&self, token: &MetadataValue<Ascii>, page_token: String) -> CallResult {
        let message = pb::ListConversationsRequest {
            page_size: 50,
            max_pages: 1,
            page_token,
            ..Default::default()
        };
        let request = self.request(message, token);
        read_every_page(self.client().list_conversations(request).await).await
    }

    async fn search(&self, token: &MetadataValue<Ascii>, rng: &mut SmallRng) -> CallResult {
        let message = pb::SearchConversationsRequest {
            query: vocabulary::query(rng),
            page_size: 20,
            max_pages: 1,
            ..Default::default()
        };
        let request = self.request(message, token);
        read_every_page(self.client().search_conversations(request).await).await
    }

    async fn stats(&self, token: &MetadataValue<Ascii>) -> CallResult {
        let request = self.request(pb::GetConversationStatsRequest::default(), token);
        self.client()
            .get_conversation_stats(request)
            .await
            .map(drop)
            .map_err(|status| status.code())
    }

    async fn health(&self) -> CallResult {
        let request = HealthCheckRequest { service: String::new() };
        HealthClient::new(self.channel())
            .check(request)
            .await
            .map(drop)
            .map_err(|status| status.code())
    }

    /// Walks the heavy user's listing in pages of 50 and keeps the token that resumes at
    /// `page`, or at the deepest full page when the listing has fewer pages. Returns the page
    /// reached and the listing's number of pages.
    pub async fn find_deep_page(&mut self, page: u32) -> anyhow::Result<(u32, u32)> {
        let message =
            pb::ListConversationsRequest { page_size: 50, max_pages: 0, ..Default::default() };
        let request = self.request(message, &self.heavy_token);
        let mut pages = self.client().list_conversations(request).await?.into_inner();

        // resume_tokens[k] fetches page k + 2.
        let mut resume_tokens = Vec::new();
        let mut count = 0u32;
        while let Some(listed) = pages.message().await? {
            count += 1;
            if !listed.next_page_token.is_empty() {
                resume_tokens.push(listed.next_page_token);
            }
        }
        anyhow::ensure!(count >= 3, "the heavy user has only {count} pages of conversations");

        // The last page may be short; the one before it is full.
        let reached = page.clamp(2, count - 1);
        self.deep_page_token = Some(resume_tokens[(reached - 2) as usize].clone());
        Ok((reached, count))
    }

    pub async fn serving(&self) -> bool {
        let request = HealthCheckRequest { service: String::new() };
        match HealthClient::new(self.channel()).check(request).await {
            Ok(response) => response.into_inner().status == 1,
            Err(_) => false,
        }
    }
}

/// A streamed call succeeds once every page it sends has been read.
async fn read_every_page<T>(
    response: Result<tonic::Response<tonic::Streaming<T>>, tonic::Status>,
) -> CallResult {
    let mut pages = response.map_err(|status| status.code())?.into_inner();
    while pages.message().await.map_err(|status| status.code())?.is_some() {}
    Ok(())
}

/// A JSON object as a protobuf `Struct`; anything else becomes an empty one.
fn to_struct(value: serde_json::Value) -> prost_types::Struct {
    match to_value(value).kind {
        Some(prost_types::value::Kind::StructValue(object)) => object,
        _ => prost_types::Struct::default(),
    }
}

fn to_value(value: serde_json::Value) -> prost_types::Value {
    use prost_types::value::Kind;
    let kind = match value {
        serde_json::Value::Null => Kind::NullValue(0),
        serde_json::Value::Bool(flag) => Kind::BoolValue(flag),
        serde_json::Value::Number(number) => Kind::NumberValue(number.as_f64().unwrap_or_default()),
        serde_json::Value::String(text) => Kind::StringValue(text),
        serde_json::Value::Array(items) => Kind::ListValue(prost_types::ListValue {
            values: items.into_iter().map(to_value).collect(),
        }),
        serde_json::Value::Object(fields) => Kind::StructValue(prost_types::Struct {
            fields: fields.into_iter().map(|(key, value)| (key, to_value(value))).collect(),
        }),
    };
    prost_types::Value { kind: Some(kind) }
}
