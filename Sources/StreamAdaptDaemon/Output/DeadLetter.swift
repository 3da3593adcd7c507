import StreamAdaptKafka

/// A dead-letter record: the input message's key, value and headers (less any `streamadapt-*` ones)
/// and the daemon's own headers (reason, error text, source position), cut to the output budget.
///
/// When key + value + headers exceed the budget (``OutputBudget``), the value is dropped first
/// (header `streamadapt-value-dropped` says why); if that is not enough, the key and the longest
/// forwarded header values are truncated to a common length (a value no longer than that length is
/// then kept after all), and header `streamadapt-truncated` lists what was cut (`key`, `header:NAME`, `dropped-header:NAME` for a
/// header dropped whole because even its name does not fit). The daemon's own headers are always
/// present; their texts are bounded and carry no control characters. Schema:
/// docs/schemas/dead-letter-headers.schema.json; format: docs/outputs.md.
struct DeadLetter {
    /// The key to send (empty: no key).
    var key: [UInt8]
    /// Whether the input's value is forwarded (else the dead letter has an empty value).
    var keepsValue: Bool
    /// Forwarded headers, then the daemon's.
    var headers: [(String, [UInt8])]

    static let reservedPrefix = "streamadapt-"
    /// The most bytes of `streamadapt-error` (longer texts are cut and end with `...`).
    static let maximumErrorBytes = 1024
    /// The most bytes of `streamadapt-reason` (codes are short; this only bounds the header).
    static let maximumReasonBytes = 64
    /// The most bytes of `streamadapt-value-dropped`.
    static let maximumValueNoteBytes = 256
    /// The most bytes of `streamadapt-truncated` (a longer list ends with `...`).
    static let maximumMarkerBytes = 1024
    /// The most bytes of a header name quoted in `streamadapt-truncated`.
    static let maximumQuotedNameBytes = 64

    /// Forwards `message` as a dead letter for the reason `reason` (a stable code) with the sentence
    /// `error`, within `budget`.
    init(for message: KafkaMessage, reason: String, error: String, budget: OutputBudget) {
        self.init(
            key: message.key, valueBytes: message.value.count, headers: message.headers, sourceTopic: message.topic,
            partition: message.partition, offset: message.offset, reason: reason, error: error, budget: budget)
    }

    /// The dead letter of a message with this key, value size and headers (testable without Kafka).
    init(
        key: UnsafeRawBufferPointer, valueBytes: Int, headers inputHeaders: [(String, [UInt8])], sourceTopic: String,
        partition: Int32, offset: Int64, reason: String, error: String, budget: OutputBudget
    ) {
        let forwarded = inputHeaders.filter { !$0.0.hasPrefix(Self.reservedPrefix) }
        var own: [(String, [UInt8])] = [
            ("streamadapt-reason", Self.headerText(reason, maximumBytes: Self.maximumReasonBytes)),
            ("streamadapt-error", Self.headerText(error, maximumBytes: Self.maximumErrorBytes)),
            ("streamadapt-source-topic", Self.headerText(sourceTopic, maximumBytes: 255)),
            ("streamadapt-source-partition", Array(String(partition).utf8)),
            ("streamadapt-source-offset", Array(String(offset).utf8)),
        ]
        let plan = Self.plan(
            key: key.count, value: valueBytes, headers: forwarded.map { ($0.0.utf8.count, $0.1.count) },
            ownHeaders: OutputBudget.headerBytes(own), budget: budget)

        self.key = Array(key.prefix(plan.key))
        keepsValue = plan.keepsValue
        var headers: [(String, [UInt8])] = []
        var cut: [String] = []
        if plan.key < key.count { cut.append("key") }
        for (header, kept) in zip(forwarded, plan.headerValues) {
            guard let kept else {
                cut.append("dropped-header:" + Self.quotedName(header.0))
                continue
            }
            if kept < header.1.count { cut.append("header:" + Self.quotedName(header.0)) }
            headers.append((header.0, kept < header.1.count ? Array(header.1.prefix(kept)) : header.1))
        }
        if !plan.keepsValue {
            let note = "value of \(valueBytes) bytes dropped: the dead letter (key \(key.count) bytes, headers "
                + "\(OutputBudget.headerBytes(forwarded) + OutputBudget.headerBytes(own)) bytes) would exceed the output budget of "
                + "\(budget.limit) bytes"
            own.append(("streamadapt-value-dropped", Self.headerText(note, maximumBytes: Self.maximumValueNoteBytes)))
        }
        if !cut.isEmpty {
            own.append(("streamadapt-truncated", Self.markerText(cut)))
        }
        self.headers = headers + own
    }

    /// Calls `body` with the key to send (nil when there is none).
    func withKey<R>(_ body: (UnsafeRawBufferPointer?) throws -> R) rethrows -> R {
        if key.isEmpty { return try body(nil) }
        return try key.withUnsafeBytes { try body($0) }
    }

    // MARK: - What to keep

    /// What of a dead letter to keep.
    struct Plan: Equatable {
        /// Whether the value is forwarded.
        var keepsValue: Bool
        /// Bytes of the key kept (a prefix).
        var key: Int
        /// Per forwarded header (in order): the bytes of its value kept (a prefix), or nil when the
        /// header is dropped whole.
        var headerValues: [Int?]
    }

    /// Decides what a dead letter keeps so that it fits `budget` (pure: sizes in, sizes out).
    ///
    /// 1. Everything, when key + value + forwarded headers + the daemon's headers fit.
    /// 2. Else, when dropping the value is enough, the value is dropped (room is kept for the
    ///    `streamadapt-value-dropped` note).
    /// 3. Else the key or the headers must be cut (room is kept for the `streamadapt-truncated` list):
    ///    forwarded headers whose names alone do not fit are dropped, longest name first; then the key,
    ///    the header values and the value share the room: one common length is found, the largest such
    ///    that everything fits with longer items cut to it (shorter ones are kept whole). The value is
    ///    never cut: it is kept whole when it is no longer than that length, else dropped and the length
    ///    found again without it.
    /// - Parameters:
    ///   - key: key bytes; value: value bytes.
    ///   - headers: per forwarded header, its name and value bytes.
    ///   - ownHeaders: the daemon's headers, in budget bytes (``OutputBudget/headerBytes(_:)``),
    ///     without the two notes.
    static func plan(key: Int, value: Int, headers: [(name: Int, value: Int)], ownHeaders: Int, budget: OutputBudget) -> Plan {
        let forwardedBytes = headers.reduce(0) { $0 + OutputBudget.headerBytes(name: $1.name, value: $1.value) }
        if budget.fits(key: key, value: value, headers: forwardedBytes + ownHeaders) {
            return Plan(keepsValue: true, key: key, headerValues: headers.map(\.value))
        }
        let valueNote = OutputBudget.headerBytes(name: "streamadapt-value-dropped".utf8.count, value: maximumValueNoteBytes)
        if budget.fits(key: key, value: 0, headers: forwardedBytes + ownHeaders + valueNote) {
            return Plan(keepsValue: false, key: key, headerValues: headers.map(\.value))
        }
        let marker = OutputBudget.headerBytes(name: "streamadapt-truncated".utf8.count, value: maximumMarkerBytes)
        var room = max(0, budget.limit - ownHeaders - valueNote - marker)

        // Header names (with their framing) first: drop the longest names until the rest fit.
        var kept = Array(repeating: true, count: headers.count)
        var namesBytes = headers.reduce(0) { $0 + OutputBudget.headerBytes(name: $1.name, value: 0) }
        if namesBytes > room {
            let longestFirst = headers.indices.sorted {
                headers[$0].name > headers[$1].name || (headers[$0].name == headers[$1].name && $0 > $1)
            }
            for i in longestFirst {
                kept[i] = false
                namesBytes -= OutputBudget.headerBytes(name: headers[i].name, value: 0)
                if namesBytes <= room { break }
            }
        }
        room -= namesBytes

        // Then one common length for the key, the kept header values and (whole or not at all) the value.
        let values = headers.indices.filter { kept[$0] }.map { headers[$0].value }
        var cap = commonLength([key, value] + values, room: room + valueNote)  // no note when the value stays
        let keepsValue = value <= cap
        if !keepsValue { cap = commonLength([key] + values, room: room) }
        return Plan(
            keepsValue: keepsValue, key: min(key, cap),
            headerValues: headers.indices.map { kept[$0] ? min(headers[$0].value, cap) : nil })
    }

    /// The largest length c such that the sizes, each cut to c, sum to at most `room` (Int.max when they
    /// fit whole): water filling over the sorted sizes.
    static func commonLength(_ sizes: [Int], room: Int) -> Int {
        var left = room
        for (j, size) in sizes.sorted().enumerated() {
            let share = left / (sizes.count - j)
            if size > share { return share }
            left -= size
        }
        return Int.max
    }

    // MARK: - Header texts

    /// `text` as a header value: control characters (U+0000..U+001F, U+007F..U+009F) escaped as
    /// `\u00XX`, cut to `maximumBytes` (on a character boundary, ending with `...`).
    static func headerText(_ text: String, maximumBytes: Int) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(min(text.utf8.count, maximumBytes))
        var lastFit = 0  // the end of the last character after which "..." still fits
        for scalar in text.unicodeScalars {
            let v = scalar.value
            if v < 0x20 || (0x7F...0x9F).contains(v) {
                out.append(contentsOf: #"\u00"#.utf8)
                out.append(JSONWriter.hexDigit(UInt8(v >> 4)))
                out.append(JSONWriter.hexDigit(UInt8(v & 0xF)))
            } else {
                UTF8.encode(scalar) { out.append($0) }
            }
            if out.count <= maximumBytes - 3 { lastFit = out.count }
            if out.count > maximumBytes {
                out.removeSubrange(lastFit...)
                out.append(contentsOf: "...".utf8)
                break
            }
        }
        return out
    }

    private static func quotedName(_ name: String) -> String {
        String(decoding: headerText(name, maximumBytes: maximumQuotedNameBytes), as: UTF8.self)
    }

    /// The `streamadapt-truncated` list: items joined by commas, ending with `...` when cut.
    private static func markerText(_ items: [String]) -> [UInt8] {
        var out: [UInt8] = []
        for item in items {
            let extra = (out.isEmpty ? 0 : 1) + item.utf8.count
            if out.count + extra > maximumMarkerBytes - 4 {
                out.append(contentsOf: Array(",...".utf8))
                break
            }
            if !out.isEmpty { out.append(UInt8(ascii: ",")) }
            out.append(contentsOf: item.utf8)
        }
        return out
    }
}
