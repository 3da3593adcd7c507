import Synchronization

/// Whether the Kafka cluster is reachable, as seen by one or more clients (the daemon shares one
/// monitor between its producer and its consumer), with the transitions as events.
///
/// Signals (measured against librdkafka 2.0.2 and the mock broker, see docs/kafka.md):
/// - **lost**: librdkafka's error callback reports RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN (every broker
///   the client knows is down; also at start when the bootstrap address refuses connections).
///   RD_KAFKA_RESP_ERR__TRANSPORT alone (one connection dropped) is not a loss: librdkafka reconnects.
/// - **back**: proof that a broker answers: a broker in state `UP` in librdkafka's statistics
///   (`statistics.interval.ms`, 1 s by default when a monitor is attached), a delivered message, or a
///   fetched message.
///
/// Overall state: ``State/down`` when any client is down, else ``State/up`` when any is up, else
/// ``State/unknown`` (nothing heard yet). A ``Event/Kind/lost`` event is emitted when the overall state
/// becomes down, a ``Event/Kind/restored`` event when it goes from down to up: one of each per outage.
///
/// Thread-safe: clients report from the threads that serve their callbacks (the threads calling
/// `KafkaProducer.poll/flush/send*` and `KafkaConsumer.poll`); ``onChange`` runs on the reporting
/// thread, after the state changed, outside the lock.
public final class KafkaConnectivity: Sendable {
    public enum State: String, Sendable { case unknown, up, down }

    public struct Event: Sendable, Equatable {
        public enum Kind: String, Sendable { case lost, restored }
        public let kind: Kind
        /// Which client saw it (`producer`, `consumer`) and why (the librdkafka error text, or the signal
        /// that proved the broker back).
        public let client: String
        public let reason: String
        /// The bootstrap servers of that client.
        public let bootstrap: String
    }

    private struct Inner {
        var clients: [Int: State] = [:]
        var nextID = 0
        var overall = State.unknown
        var events: [Event] = []
        var losses = 0
    }

    private let inner = Mutex(Inner())
    private let onChange: (@Sendable (Event) -> Void)?
    /// Events kept for ``takeEvents()`` at most (the oldest are dropped beyond it).
    private let eventLimit = 1024

    /// - Parameter onChange: called with every transition, on the thread that observed it.
    public init(onChange: (@Sendable (Event) -> Void)? = nil) { self.onChange = onChange }

    /// The overall state now.
    public var state: State { inner.withLock { $0.overall } }

    /// How many times the cluster was lost since the monitor was created.
    public var losses: Int { inner.withLock { $0.losses } }

    /// The transitions since the last call, oldest first.
    public func takeEvents() -> [Event] {
        inner.withLock {
            guard !$0.events.isEmpty else { return [] }  // called after every poll: no copy when nothing happened
            let events = $0.events
            $0.events = []
            return events
        }
    }

    func register() -> Int {
        inner.withLock {
            $0.nextID += 1
            $0.clients[$0.nextID] = .unknown
            return $0.nextID
        }
    }

    /// Forgets a destroyed client; the overall state is recomputed without an event (a client going
    /// away is not the broker coming back).
    func unregister(_ id: Int) {
        inner.withLock {
            $0.clients[id] = nil
            $0.overall = Self.overall($0.clients.values)
        }
    }

    private static func overall(_ states: Dictionary<Int, State>.Values) -> State {
        states.contains(.down) ? .down : states.contains(.up) ? .up : .unknown
    }

    /// Records what client `id` observed; emits an event when the overall state changed.
    func report(_ id: Int, _ state: State, client: String, reason: String, bootstrap: String) {
        let event: Event? = inner.withLock { inner in
            guard inner.clients[id] != nil, inner.clients[id] != state else { return nil }
            inner.clients[id] = state
            let overall = Self.overall(inner.clients.values)
            let before = inner.overall
            inner.overall = overall
            let event: Event
            if overall == .down, before != .down {
                inner.losses += 1
                event = Event(kind: .lost, client: client, reason: reason, bootstrap: bootstrap)
            } else if overall == .up, before == .down {
                event = Event(kind: .restored, client: client, reason: reason, bootstrap: bootstrap)
            } else {
                return nil
            }
            if inner.events.count >= eventLimit { inner.events.removeFirst() }
            inner.events.append(event)
            return event
        }
        if let event { onChange?(event) }
    }
}
