import StreamAdaptKafka

/// A gap in a partition's input: its stored next offset is past the partition's end (the topic was
/// re-created or emptied) or before its oldest offset (input removed by retention before it was read).
public struct OffsetGap: Sendable, Equatable {
    public enum Kind: String, Sendable {
        /// The stored offset lies past the end of the partition.
        case pastEnd = "past-end"
        /// Input between the stored offset and the oldest retained one was removed before it was read.
        case lostToRetention = "lost-to-retention"
    }
    public var partition: TopicPartition
    public var stored: Int64
    public var low: Int64
    public var high: Int64
    public var kind: Kind

    /// The gap of a stored next offset against a partition's watermarks, or nil when it lies within them.
    public init?(partition: TopicPartition, stored: Int64, low: Int64, high: Int64) {
        if stored > high {
            kind = .pastEnd
        } else if stored < low {
            kind = .lostToRetention
        } else {
            return nil
        }
        (self.partition, self.stored, self.low, self.high) = (partition, stored, low, high)
    }

    init(partition: TopicPartition, stored: Int64, low: Int64, high: Int64, kind: Kind) {
        (self.partition, self.stored, self.low, self.high, self.kind) = (partition, stored, low, high, kind)
    }
}

/// The loop refused a gap in its input (`input.offsetGaps: refuse`, the default).
public struct OffsetGapError: Error, Sendable, CustomStringConvertible {
    public enum Code: String, Sendable, CaseIterable {
        case pastEnd = "offset-past-end"
        case lostToRetention = "input-lost-to-retention"
    }
    public var code: Code
    public var gap: OffsetGap

    init(_ gap: OffsetGap) {
        self.gap = gap
        code = gap.kind == .pastEnd ? .pastEnd : .lostToRetention
    }

    public var description: String {
        let p = gap.partition
        switch gap.kind {
        case .pastEnd:
            return "\(code.rawValue): the checkpoint's next offset \(gap.stored) for \(p) lies past the partition's end (\(gap.high); oldest \(gap.low)): the topic was re-created or emptied. Restoring the model and reading from \(gap.low) would learn other input than the checkpoint saw; set input.offsetGaps: accept to continue from \(gap.low), or start with a new checkpoint folder"
        case .lostToRetention:
            return "\(code.rawValue): input \(gap.stored)..<\(gap.low) of \(p) was removed by retention before it was read (oldest offset now \(gap.low), end \(gap.high)); set input.offsetGaps: accept to skip it and continue from \(gap.low)"
        }
    }
}
