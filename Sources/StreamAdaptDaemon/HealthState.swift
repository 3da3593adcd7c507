import StreamAdaptCore
import Synchronization

/// Liveness and readiness shared between the adaptation loop (its own thread) and the HTTP endpoint.
/// `Atomic` makes every access safe from any thread.
public final class HealthState: Sendable {
    private let ready = Atomic<Bool>(false)
    private let heartbeat = Atomic<UInt64>(0)
    private let stopping = Atomic<Bool>(false)

    public init() {}

    /// The loop has its model and its partitions and is consuming.
    public var isReady: Bool { ready.load(ordering: .relaxed) && !isStopping }
    public func setReady(_ value: Bool) { ready.store(value, ordering: .relaxed) }

    /// Seconds since the loop last reported progress (it beats at least every poll timeout).
    public var secondsSinceHeartbeat: Double {
        let last = heartbeat.load(ordering: .relaxed)
        return last == 0 ? 0 : Double(monotonicNanoseconds() &- last) / 1e9
    }
    public func beat() { heartbeat.store(monotonicNanoseconds(), ordering: .relaxed) }

    /// Graceful shutdown was requested.
    public var isStopping: Bool { stopping.load(ordering: .relaxed) }
    public func requestStop() { stopping.store(true, ordering: .relaxed) }
}
