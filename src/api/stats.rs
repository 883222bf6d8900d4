//! The caller's conversation statistics, from the store's summary to protobuf.

use super::conversions::{mode_to_proto, status_to_proto, timestamp};
use crate::pb;
use crate::store::{ConversationStatsRecord, ValueCount};

impl From<ConversationStatsRecord> for pb::ConversationStats {
    fn from(record: ConversationStatsRecord) -> Self {
        let conversations_by_mode = record
            .by_mode
            .into_iter()
            .map(|(mode, conversation_count)| pb::ModeCount {
                mode: mode_to_proto(mode).into(),
                conversation_count,
            })
            .collect();
        let conversations_by_status = record
            .by_status
            .into_iter()
            .map(|(status, conversation_count)| pb::StatusCount {
                status: status_to_proto(status).into(),
                conversation_count,
            })
            .collect();

        Self {
            conversations_by_mode,
            conversations_by_status,
            total_conversations: record.total_conversations,
            total_messages: record.total_messages,
            average_messages_per_conversation: record.average_messages,
            median_messages_per_conversation: record.median_messages,
            first_activity_time: record.first_activity.map(timestamp),
            latest_activity_time: record.latest_activity.map(timestamp),
            active_days_last_30: record.active_days_last_30,
            top_trading_instruments: value_counts(record.top_instruments),
            top_coaching_focuses: value_counts(record.top_coaching_focuses),
        }
    }
}

fn value_counts(values: Vec<ValueCount>) -> Vec<pb::ContextValueCount> {
    values
        .into_iter()
        .map(|counted| pb::ContextValueCount {
            value: counted.value,
            conversation_count: counted.conversations,
        })
        .collect()
}
