import CRdkafka

/// One consumed message, valid only until the ``KafkaConsumer/poll(timeoutMilliseconds:_:afterBatch:)``
/// that handed it over returns (it points into librdkafka's buffer, which is released then).
public struct KafkaMessage {
    let pointer: UnsafeMutablePointer<rd_kafka_message_t>

    public var topic: String { String(cString: rd_kafka_topic_name(pointer.pointee.rkt)) }
    public var partition: Int32 { pointer.pointee.partition }
    public var offset: Int64 { pointer.pointee.offset }
    /// The message value (empty for a null value).
    public var value: UnsafeRawBufferPointer {
        UnsafeRawBufferPointer(start: pointer.pointee.payload, count: pointer.pointee.len)
    }
    public var key: UnsafeRawBufferPointer {
        UnsafeRawBufferPointer(start: pointer.pointee.key, count: pointer.pointee.key_len)
    }
    /// Milliseconds since the epoch of the message timestamp, if it has one.
    public var timestamp: Int64? {
        var type = RD_KAFKA_TIMESTAMP_NOT_AVAILABLE
        let t = rd_kafka_message_timestamp(pointer, &type)
        return type == RD_KAFKA_TIMESTAMP_NOT_AVAILABLE ? nil : t
    }

    /// The last value of header `name`, if present.
    public func header(_ name: String) -> UnsafeRawBufferPointer? {
        var headers: OpaquePointer? = nil
        guard rd_kafka_message_headers(pointer, &headers) == RD_KAFKA_RESP_ERR_NO_ERROR, let headers else { return nil }
        var value: UnsafeRawPointer? = nil
        var size = 0
        guard rd_kafka_header_get_last(headers, name, &value, &size) == RD_KAFKA_RESP_ERR_NO_ERROR else { return nil }
        return UnsafeRawBufferPointer(start: value, count: size)
    }

    /// All headers, copied (for forwarding a message unchanged).
    public var headers: [(String, [UInt8])] {
        var headers: OpaquePointer? = nil
        guard rd_kafka_message_headers(pointer, &headers) == RD_KAFKA_RESP_ERR_NO_ERROR, let headers else { return [] }
        var result: [(String, [UInt8])] = []
        var index = 0
        while true {
            var name: UnsafePointer<CChar>? = nil
            var value: UnsafeRawPointer? = nil
            var size = 0
            guard rd_kafka_header_get_all(headers, index, &name, &value, &size) == RD_KAFKA_RESP_ERR_NO_ERROR,
                let name
            else { break }
            result.append((String(cString: name), Array(UnsafeRawBufferPointer(start: value, count: size))))
            index += 1
        }
        return result
    }
}
