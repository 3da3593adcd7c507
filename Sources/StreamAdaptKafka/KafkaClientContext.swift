import CRdkafka
import Foundation
import Synchronization

/// What one librdkafka client handle shares with its C callbacks (installed as the handle's opaque):
/// the log handler, the connectivity monitor, delivery counters and a raised fatal error.
///
/// Callbacks run on different threads: the log callback on librdkafka's internal threads; the error,
/// statistics and delivery-report callbacks on the thread that serves the client's queue
/// (rd_kafka_poll/flush, or the consumer's poll). Every mutable field is therefore behind a `Mutex` or an
/// `Atomic`, which makes the class `Sendable` without `@unchecked`.
///
/// Lifetime: the owning client keeps the context strongly and releases it only after `rd_kafka_destroy`
/// returned (no callback can run after that), so the unretained opaque pointer is always valid.
final class ClientContext: Sendable {
    struct Deliveries {
        var delivered = 0
        var failed = 0
        var lastFailure: KafkaError?
    }

    /// `producer`, `consumer` or `embedded-broker`: names the client in connectivity events.
    let role: String
    let bootstrap: String
    let log: KafkaLogHandler?
    let connectivity: KafkaConnectivity?
    let connectivityID: Int
    let deliveries = Mutex(Deliveries())
    let fatal = Mutex<KafkaError?>(nil)
    /// The last error reported by the error callback (for the messages of waits that give up).
    let lastError = Mutex<KafkaError?>(nil)
    /// Whether this client last reported the cluster down (a cheap check on the delivery/fetch path).
    let isDown = Atomic<Bool>(false)
    /// A consumer's rebalance handler (consumer groups: ``KafkaConsumer/subscribe(_:onRebalance:)``).
    let rebalance = RebalanceRelay()

    init(role: String, bootstrap: String, log: KafkaLogHandler?, connectivity: KafkaConnectivity?) {
        self.role = role
        self.bootstrap = bootstrap
        self.log = log
        self.connectivity = connectivity
        connectivityID = connectivity?.register() ?? 0
    }

    deinit { connectivity?.unregister(connectivityID) }

    /// This client saw a broker answer (a delivery, a fetched message, a broker `UP` in the statistics).
    func reportUp(_ reason: @autoclosure () -> String) {
        guard let connectivity else { return }
        if isDown.exchange(false, ordering: .relaxed) || connectivity.state != .up {
            connectivity.report(connectivityID, .up, client: role, reason: reason(), bootstrap: bootstrap)
        }
    }

    func reportDown(_ reason: String) {
        isDown.store(true, ordering: .relaxed)
        connectivity?.report(connectivityID, .down, client: role, reason: reason, bootstrap: bootstrap)
    }

    /// Installs the log, error, statistics (with a monitor) and, for producers, delivery callbacks on
    /// `conf`, with `self` as the opaque.
    func install(on conf: OpaquePointer, producer: Bool) {
        rd_kafka_conf_set_opaque(conf, Unmanaged.passUnretained(self).toOpaque())
        rd_kafka_conf_set_log_cb(conf) { rk, level, facility, text in
            guard let rk, let context = ClientContext.of(rk), let log = context.log else { return }
            log(KafkaLogRecord(
                level: level, facility: facility.map { String(cString: $0) } ?? "",
                message: text.map { String(cString: $0) } ?? "", client: String(cString: rd_kafka_name(rk))))
        }
        rd_kafka_conf_set_error_cb(conf) { rk, err, reason, opaque in
            guard let rk, let opaque else { return }
            let context = Unmanaged<ClientContext>.fromOpaque(opaque).takeUnretainedValue()
            context.handleError(rk, rd_kafka_resp_err_t(err), reason.map { String(cString: $0) } ?? "")
        }
        if connectivity != nil {
            rd_kafka_conf_set_stats_cb(conf) { _, json, length, opaque in
                guard let json, let opaque else { return 0 }
                let context = Unmanaged<ClientContext>.fromOpaque(opaque).takeUnretainedValue()
                let bytes = UnsafeRawBufferPointer(start: json, count: length)
                if let up = BrokerStatistics.firstBrokerUp(in: bytes) { context.reportUp("broker \(up) is up") }
                return 0  // librdkafka frees the JSON
            }
        }
        if !producer {
            rd_kafka_conf_set_rebalance_cb(conf) { rk, err, list, opaque in
                guard let rk, let list, let opaque else { return }
                let context = Unmanaged<ClientContext>.fromOpaque(opaque).takeUnretainedValue()
                context.rebalance.rebalance(rk, err, list)
            }
        }
        if producer {
            rd_kafka_conf_set_dr_msg_cb(conf) { _, message, opaque in
                guard let message, let opaque else { return }
                let context = Unmanaged<ClientContext>.fromOpaque(opaque).takeUnretainedValue()
                let err = message.pointee.err
                if err == RD_KAFKA_RESP_ERR_NO_ERROR {
                    context.deliveries.withLock { $0.delivered += 1 }
                    if context.isDown.load(ordering: .relaxed) { context.reportUp("a message was delivered") }
                } else {
                    let topic = message.pointee.rkt.map { String(cString: rd_kafka_topic_name($0)) } ?? "?"
                    let failure = KafkaError(err, "delivery to \(topic) via \(context.bootstrap)")
                    context.deliveries.withLock {
                        $0.failed += 1
                        $0.lastFailure = failure
                    }
                }
            }
        }
    }

    private func handleError(_ rk: OpaquePointer, _ err: rd_kafka_resp_err_t, _ reason: String) {
        var error = KafkaError(Self.code(of: err), "\(role) \(bootstrap): \(reason)", librdkafkaCode: err.rawValue)
        if err == RD_KAFKA_RESP_ERR__FATAL {
            var buffer = [CChar](repeating: 0, count: 512)
            let original = rd_kafka_fatal_error(rk, &buffer, buffer.count)
            error = KafkaError(
                .fatal, "\(role) \(bootstrap): fatal error \(String(cString: rd_kafka_err2name(original))): \(cString(buffer))",
                librdkafkaCode: original.rawValue)
            fatal.withLock { if $0 == nil { $0 = error } }
        }
        lastError.withLock { $0 = error }
        if err == RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN { reportDown(error.message) }
        log?(KafkaLogRecord(
            level: err == RD_KAFKA_RESP_ERR__FATAL ? 2 : 3, facility: "ERROR", message: error.message,
            client: String(cString: rd_kafka_name(rk))))
    }

    private static func code(of err: rd_kafka_resp_err_t) -> KafkaError.Code { KafkaError.code(of: err) }

    /// The context installed as `rk`'s opaque.
    static func of(_ rk: OpaquePointer) -> ClientContext? {
        rd_kafka_opaque(rk).map { Unmanaged<ClientContext>.fromOpaque($0).takeUnretainedValue() }
    }

    /// The fatal error of the client, if it raised one (also asked of librdkafka, in case the error
    /// callback has not been served yet).
    func fatalError(_ rk: OpaquePointer) -> KafkaError? {
        if let error = fatal.withLock({ $0 }) { return error }
        // Asked on every produce: no buffer unless librdkafka reports one (the common case is none).
        guard rd_kafka_fatal_error(rk, nil, 0) != RD_KAFKA_RESP_ERR_NO_ERROR else { return nil }
        var buffer = [CChar](repeating: 0, count: 512)
        let original = rd_kafka_fatal_error(rk, &buffer, buffer.count)
        guard original != RD_KAFKA_RESP_ERR_NO_ERROR else { return nil }
        let error = KafkaError(
            .fatal, "\(role) \(bootstrap): fatal error \(String(cString: rd_kafka_err2name(original))): \(cString(buffer))",
            librdkafkaCode: original.rawValue)
        fatal.withLock { if $0 == nil { $0 = error } }
        return error
    }

    /// The last error text seen, for messages ("last error: ...").
    var lastErrorText: String { lastError.withLock { $0?.message } ?? "no error reported" }
}

/// The part of librdkafka's statistics JSON the connectivity monitor reads: each broker's state.
enum BrokerStatistics {
    private struct Stats: Decodable {
        struct Broker: Decodable {
            let name: String
            let state: String
            let source: String?
        }
        let brokers: [String: Broker]
    }

    /// The name of a real (not internal or logical) broker in state `UP`, if any.
    static func firstBrokerUp(in json: UnsafeRawBufferPointer) -> String? {
        guard let stats = try? JSONDecoder().decode(Stats.self, from: Data(json)) else { return nil }
        return stats.brokers.values
            .filter { $0.state == "UP" && $0.source != "internal" && $0.source != "logical" }
            .map(\.name).min()
    }
}

/// Creates a librdkafka client of `type` from `properties`, with `context`'s callbacks installed.
/// - Throws: ``KafkaError`` with code ``KafkaError/Code/configuration`` naming the refused property.
func makeClient(_ type: rd_kafka_type_t, _ properties: [String: String], _ context: ClientContext) throws(KafkaError)
    -> OpaquePointer
{
    guard let conf = rd_kafka_conf_new() else { throw KafkaError(.other, "rd_kafka_conf_new failed") }
    var buffer = [CChar](repeating: 0, count: 512)
    for (key, value) in properties.sorted(by: { $0.key < $1.key }) {
        let result = rd_kafka_conf_set(conf, key, value, &buffer, buffer.count)
        if result != RD_KAFKA_CONF_OK {
            rd_kafka_conf_destroy(conf)
            throw KafkaError(.configuration, "Kafka property \(key)=\(value): \(cString(buffer))")
        }
    }
    context.install(on: conf, producer: type == RD_KAFKA_PRODUCER)
    guard let handle = rd_kafka_new(type, conf, &buffer, buffer.count) else {
        rd_kafka_conf_destroy(conf)
        throw KafkaError(.configuration, "cannot create Kafka client: \(cString(buffer))")
    }
    return handle
}

/// The text of a NUL-terminated C buffer.
func cString(_ buffer: [CChar]) -> String {
    String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
}
