import StreamAdaptKafka

/// The headers of a dead-letter record: the input's own headers (less any `streamadapt-*` ones) and
/// the daemon's reason, error text and source position. Schema: docs/schemas/dead-letter-headers.schema.json.
enum DeadLetter {
    static func headers(for message: KafkaMessage, error: InputError) -> [(String, [UInt8])] {
        var headers = message.headers.filter { !$0.0.hasPrefix("streamadapt-") }
        headers.append(("streamadapt-reason", Array(error.code.rawValue.utf8)))
        headers.append(("streamadapt-error", Array(error.message.utf8)))
        headers.append(("streamadapt-source-topic", Array(message.topic.utf8)))
        headers.append(("streamadapt-source-partition", Array(String(message.partition).utf8)))
        headers.append(("streamadapt-source-offset", Array(String(message.offset).utf8)))
        return headers
    }
}
