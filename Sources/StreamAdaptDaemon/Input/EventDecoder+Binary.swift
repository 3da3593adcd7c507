/// Binary events (`content-type: application/x-embedding-f32`): the value is D little-endian
/// float32; the id is the `id` header, else the message key, else `fallbackID` (partition-offset);
/// the label is the `label` header (a decimal class index, or a class name). Headers and key are
/// untrusted bytes: they must be UTF-8 and within the id and label bounds.
extension EventDecoder {
    /// Decodes a binary event. Offsets in errors about the id or label are within that header (or key); in other errors, within
    /// the value.
    public func decodeBinary(
        _ value: UnsafeRawBufferPointer, idHeader: UnsafeRawBufferPointer?, key: UnsafeRawBufferPointer?,
        labelHeader: UnsafeRawBufferPointer?, timestamp: Int64?, fallbackID: @autoclosure () -> String
    ) throws(InputError) -> DecodedEvent {
        try checkSize(value)
        guard value.count == dimension * 4 else {
            // The offset is where the value stops matching: its end if short, its first extra byte if long.
            throw InputError.at(
                .wrongDimension, "binary embedding has \(value.count) bytes, expected \(dimension * 4) (\(dimension) float32 values)",
                offset: min(value.count, dimension * 4), in: value)
        }
        let id: String
        if let idHeader, !idHeader.isEmpty {
            id = try Self.text(idHeader, "the id header", limit: maximumIdBytes, .idTooLong, "input.maxIdBytes")
        } else if let key, !key.isEmpty {
            id = try Self.text(key, "the message key (used as the id)", limit: maximumIdBytes, .idTooLong, "input.maxIdBytes")
        } else {
            id = fallbackID()
        }
        var label = EventLabel.none
        if let labelHeader, !labelHeader.isEmpty {
            if let index = Self.decimal(labelHeader) {
                label = .index(index)
            } else {
                label = .name(try Self.text(labelHeader, "the label header", limit: Self.maximumLabelBytes, .labelTooLong, "\(Self.maximumLabelBytes)"))
            }
        }
        embedding.withUnsafeMutableBufferPointer { out in
            for i in 0..<dimension {
                out[i] = Float(bitPattern: UInt32(littleEndian: value.loadUnaligned(fromByteOffset: i * 4, as: UInt32.self)))
            }
        }
        count = dimension
        return DecodedEvent(id: id, label: label, timestamp: timestamp)
    }

    /// `bytes` as a string: at most `limit` bytes, and UTF-8.
    private static func text(
        _ bytes: UnsafeRawBufferPointer, _ name: String, limit: Int, _ code: InputError.Code, _ setting: String
    ) throws(InputError) -> String {
        guard bytes.count <= limit else {
            // The offset is the first byte past the limit.
            throw InputError.at(code, "\(name) has \(bytes.count) bytes, more than \(setting) (\(limit))", offset: limit, in: bytes)
        }
        if let bad = UTF8Validation.firstInvalidOffset(bytes) {
            throw InputError.at(.invalidUTF8, "\(name) is not UTF-8: invalid bytes", offset: bad, in: bytes)
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// A decimal integer (optional `-`, at most 15 digits), or nil.
    private static func decimal(_ bytes: UnsafeRawBufferPointer) -> Int? {
        var i = 0
        let negative = bytes[0] == UInt8(ascii: "-")
        if negative { i = 1 }
        guard i < bytes.count, bytes.count - i <= 15 else { return nil }
        var value = 0
        while i < bytes.count {
            guard JSONScanner.isDigit(bytes[i]) else { return nil }
            value = value * 10 + Int(bytes[i] - 0x30)
            i += 1
        }
        return negative ? -value : value
    }
}
