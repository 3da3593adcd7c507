import Synchronization

/// The latest `/api/state` document, written by the adaptation loop's thread and read by the HTTP
/// server's event loop: the hand-over point between the two, a lock around one byte array. The loop
/// builds a new document only when one was read since the last (at most every half second, and once at
/// the stop): nobody watching costs nothing but the per-event bookkeeping.
public final class DashboardFeed: Sendable {
    private let state = Mutex<[UInt8]>(Array(#"{"schema":"streamadapt-dashboard/1","starting":true}"#.utf8))
    private let wanted = Atomic<Bool>(true)

    public init() {}

    /// The current document (JSON, UTF-8); asks the loop for a fresh one.
    public var json: [UInt8] {
        wanted.store(true, ordering: .relaxed)
        return state.withLock { $0 }
    }

    /// Whether the document was read since it was last published.
    var isWanted: Bool { wanted.load(ordering: .relaxed) }

    func publish(_ bytes: [UInt8]) {
        wanted.store(false, ordering: .relaxed)
        state.withLock { $0 = bytes }
    }
}
