/// When a wait of the Kafka layer gives up: when the caller asks to stop (``shouldStop``, checked at
/// least every ``KafkaTiming/stopCheckInterval``), or at an optional ``deadline``. Every blocking call of
/// the layer that can wait for a broker takes one: a full producer queue, a flush, metadata and
/// watermark queries.
///
/// A stop ends the wait with ``KafkaError/Code/stopped``; a deadline with ``KafkaError/Code/timedOut``
/// (the message names what was awaited and the last error seen). Not `Sendable`: it is evaluated on the
/// thread that waits, which is the thread that owns the client.
public struct StopCondition {
    /// When to give up regardless of ``shouldStop``; nil: never.
    public var deadline: ContinuousClock.Instant?
    /// Asked between slices of the wait; true ends it.
    public var shouldStop: () -> Bool

    public init(deadline: ContinuousClock.Instant? = nil, shouldStop: @escaping () -> Bool = { false }) {
        self.deadline = deadline
        self.shouldStop = shouldStop
    }

    /// Gives up after `timeout` from now, or on `shouldStop`.
    public static func timeout(_ timeout: Duration, shouldStop: @escaping () -> Bool = { false }) -> StopCondition {
        StopCondition(deadline: .now + timeout, shouldStop: shouldStop)
    }

    /// Gives up only when `shouldStop` says so (a `timeout` of nil).
    public static func stop(when shouldStop: @escaping () -> Bool) -> StopCondition {
        StopCondition(deadline: nil, shouldStop: shouldStop)
    }

    /// Waits as long as it takes (only for callers that have no stop, such as tools).
    public static var never: StopCondition { StopCondition() }

    /// Whether the deadline has passed.
    var isPastDeadline: Bool { deadline.map { .now >= $0 } ?? false }

    /// Throws ``KafkaError/Code/stopped`` or ``KafkaError/Code/timedOut`` when the wait must end.
    /// - Parameter what: what is being waited for, and the last error seen, for the message.
    func check(_ what: @autoclosure () -> String) throws(KafkaError) {
        if shouldStop() { throw KafkaError(.stopped, "stopped while waiting for \(what())") }
        if isPastDeadline { throw KafkaError(.timedOut, "gave up waiting for \(what()): deadline reached") }
    }

    /// The next slice of a wait in milliseconds: at most `slice`, and no later than the deadline.
    func sliceMilliseconds(_ slice: Duration = KafkaTiming.stopCheckInterval) -> Int32 {
        var length = slice
        if let deadline { length = min(length, max(.zero, deadline - .now)) }
        return Int32(clamping: length.milliseconds)
    }
}

/// Exponential backoff between attempts: `initial`, then times `multiplier` each attempt, at most
/// `maximum`.
public struct Backoff: Sendable, Equatable {
    public var initial: Duration
    public var maximum: Duration
    public var multiplier: Double

    public init(initial: Duration = .milliseconds(500), maximum: Duration = .seconds(30), multiplier: Double = 2) {
        self.initial = initial
        self.maximum = maximum
        self.multiplier = multiplier
    }

    /// The delay after failed attempt `attempt` (1-based).
    public func delay(after attempt: Int) -> Duration {
        var delay = initial
        for _ in 1..<max(1, attempt) {
            delay = delay * multiplier
            if delay >= maximum { return maximum }
        }
        return min(delay, maximum)
    }
}

/// One failed attempt of a retried wait, for the caller's log: what is awaited, from which address,
/// which attempt failed with what, and how long until the next one.
public struct RetryNotice: Sendable, Equatable {
    /// What is awaited, e.g. `metadata of topic embeddings`.
    public let what: String
    /// The bootstrap servers asked.
    public let bootstrap: String
    public let attempt: Int
    public let error: KafkaError
    public let nextDelay: Duration
}

/// Timing constants of the layer.
public enum KafkaTiming {
    /// The longest a blocking librdkafka call runs before the layer checks a ``StopCondition`` again.
    public static let stopCheckInterval: Duration = .milliseconds(200)
}

extension Duration {
    /// Whole milliseconds, rounded down.
    var milliseconds: Int64 {
        let (seconds, attoseconds) = components
        return seconds * 1000 + attoseconds / 1_000_000_000_000_000
    }
}
