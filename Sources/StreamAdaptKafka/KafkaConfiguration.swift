import CRdkafka

/// librdkafka client properties, passed through unchanged (so SASL, SSL and every other client setting
/// works as the user writes it), e.g. `["bootstrap.servers": "127.0.0.1:9092", "security.protocol": "SASL_SSL"]`.
public struct KafkaConfiguration: Sendable, Equatable {
    public var properties: [String: String]

    public init(_ properties: [String: String] = [:]) { self.properties = properties }

    public init(bootstrapServers: String, _ extra: [String: String] = [:]) {
        properties = extra
        properties["bootstrap.servers"] = bootstrapServers
    }

    /// A new `rd_kafka_conf_t` with every property set; the caller owns it (until `rd_kafka_new` takes it).
    /// - Throws: ``KafkaError`` naming the property librdkafka refused.
    func makeConf() throws -> OpaquePointer {
        guard let conf = rd_kafka_conf_new() else { throw KafkaError("rd_kafka_conf_new failed") }
        var buffer = [CChar](repeating: 0, count: 512)
        for (key, value) in properties.sorted(by: { $0.key < $1.key }) {
            let result = rd_kafka_conf_set(conf, key, value, &buffer, buffer.count)
            if result != RD_KAFKA_CONF_OK {
                rd_kafka_conf_destroy(conf)
                throw KafkaError("Kafka property \(key)=\(value): \(cString(buffer))")
            }
        }
        return conf
    }
}

/// Creates a librdkafka client handle of `type` from `conf` (which it takes over on success).
func makeClient(_ type: rd_kafka_type_t, _ conf: OpaquePointer) throws -> OpaquePointer {
    var buffer = [CChar](repeating: 0, count: 512)
    guard let handle = rd_kafka_new(type, conf, &buffer, buffer.count) else {
        rd_kafka_conf_destroy(conf)
        throw KafkaError("cannot create Kafka client: \(cString(buffer))")
    }
    return handle
}

/// The text of a NUL-terminated C buffer.
func cString(_ buffer: [CChar]) -> String {
    String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
}
