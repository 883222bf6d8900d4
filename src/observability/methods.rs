//! The names and kinds of the gRPC methods the server answers, read from the compiled
//! descriptors, so that metric labels come from a closed set: a request for a path no service
//! knows is counted under `unknown` instead of adding a label value per made-up path.

use std::collections::HashMap;

use prost::Message;
use prost_types::FileDescriptorSet;

/// One method's labels, as the Go grpc-prometheus convention spells them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MethodLabels {
    /// The full service name, such as `tradecoach.conversations.v1.ConversationService`.
    pub service: String,
    pub method: String,
    /// `unary`, `server_stream`, `client_stream` or `bidi_stream`.
    pub kind: &'static str,
}

/// Every method of the given descriptor sets, by request path (`/package.Service/Method`).
#[derive(Debug)]
pub struct MethodTable {
    by_path: HashMap<String, MethodLabels>,
    unknown: MethodLabels,
}

impl MethodTable {
    /// The methods of every service this server hosts: the API, health and reflection.
    pub fn of_this_server() -> Self {
        Self::from_descriptor_sets(&[
            crate::pb::FILE_DESCRIPTOR_SET,
            tonic_health::pb::FILE_DESCRIPTOR_SET,
            tonic_reflection::pb::v1::FILE_DESCRIPTOR_SET,
            tonic_reflection::pb::v1alpha::FILE_DESCRIPTOR_SET,
        ])
    }

    /// Reads the services of encoded `FileDescriptorSet`s; a set that does not decode is
    /// skipped, which only costs its methods their names in metrics.
    pub fn from_descriptor_sets(sets: &[&[u8]]) -> Self {
        let mut by_path = HashMap::new();
        for encoded in sets {
            let Ok(set) = FileDescriptorSet::decode(*encoded) else {
                tracing::warn!("a descriptor set did not decode; its methods go unnamed");
                continue;
            };
            for file in &set.file {
                for service in &file.service {
                    let service_name = match file.package() {
                        "" => service.name().to_owned(),
                        package => format!("{package}.{}", service.name()),
                    };
                    for method in &service.method {
                        let labels = MethodLabels {
                            service: service_name.clone(),
                            method: method.name().to_owned(),
                            kind: kind_of(method.client_streaming(), method.server_streaming()),
                        };
                        by_path.insert(format!("/{service_name}/{}", method.name()), labels);
                    }
                }
            }
        }

        let unknown =
            MethodLabels { service: "unknown".into(), method: "unknown".into(), kind: "unary" };
        Self { by_path, unknown }
    }

    pub fn labels(&self, path: &str) -> &MethodLabels {
        self.by_path.get(path).unwrap_or(&self.unknown)
    }

    /// Every known method with its request path.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &MethodLabels)> {
        self.by_path.iter().map(|(path, labels)| (path.as_str(), labels))
    }

    /// The labels of a path that names no known method.
    pub fn unknown(&self) -> &MethodLabels {
        &self.unknown
    }
}

fn kind_of(client_streaming: bool, server_streaming: bool) -> &'static str {
    match (client_streaming, server_streaming) {
        (false, false) => "unary",
        (false, true) => "server_stream",
        (true, false) => "client_stream",
        (true, true) => "bidi_stream",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_api_health_and_reflection_methods_are_known_with_their_kinds() {
        let table = MethodTable::of_this_server();

        let get = table.labels("/tradecoach.conversations.v1.ConversationService/GetConversation");
        let list =
            table.labels("/tradecoach.conversations.v1.ConversationService/ListConversations");
        let watch = table.labels("/grpc.health.v1.Health/Watch");
        let reflect = table.labels("/grpc.reflection.v1.ServerReflection/ServerReflectionInfo");

        assert_eq!(get.service, "tradecoach.conversations.v1.ConversationService");
        assert_eq!((get.method.as_str(), get.kind), ("GetConversation", "unary"));
        assert_eq!(list.kind, "server_stream");
        assert_eq!(watch.kind, "server_stream");
        assert_eq!(reflect.kind, "bidi_stream");
    }

    #[test]
    fn a_made_up_path_is_labelled_unknown() {
        let table = MethodTable::of_this_server();

        let labels = table.labels("/evil.Service/Method\u{0}with\u{7f}junk");

        assert_eq!((labels.service.as_str(), labels.method.as_str()), ("unknown", "unknown"));
    }
}
