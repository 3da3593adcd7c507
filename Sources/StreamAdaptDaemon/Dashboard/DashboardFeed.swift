import Synchronization

/// The latest `/api/state` document, written by the adaptation loop's thread (about every half second,
/// ``AdaptationLoop/dashboard``) and read by the HTTP server's event loop: the hand-over point between
/// the two, a lock around one byte array.
public final class DashboardFeed: Sendable {
    private let state = Mutex<[UInt8]>(Array(#"{"schema":"streamadapt-dashboard/1","starting":true}"#.utf8))

    public init() {}

    /// The current document (JSON, UTF-8).
    public var json: [UInt8] { state.withLock { $0 } }

    func publish(_ bytes: [UInt8]) { state.withLock { $0 = bytes } }
}
