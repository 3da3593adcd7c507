/// The alerts of a ``StreamModel``: a bounded history, oldest first, in which every alert keeps the
/// sequence number it was raised with (``DriftAlert/sequence``, the number of alerts raised before it).
///
/// When a raise makes the history longer than `capacity`, the oldest cleared alert is dropped. Never
/// dropped: an active alert (at most one per kind), and an alert cleared by the current call
/// (``beginCall()`` marks where a call starts), so that a consumer that reads the history after each
/// call of the model sees every raise and every clearing. With a capacity of at least the number of
/// kinds (2) there is always an alert to drop: of the capacity + 1 alerts, at most one per kind is
/// active or was cleared by this call (a detector changes at most once per call), so the history never
/// holds more than `capacity` alerts.
public struct AlertHistory: Sendable, Equatable {
    /// The most alerts kept (``DriftSettings/alertHistory``).
    public let capacity: Int
    /// The alerts kept, oldest first.
    public private(set) var alerts: [DriftAlert] = []
    /// Alerts raised so far, including those dropped: the sequence number of the next.
    public private(set) var raisedCount = 0
    /// The sequence number of the active alert of each kind.
    private var open: [DriftAlert.Kind: Int] = [:]
    /// The alert cleared by the current call (per-call scratch: reset by ``beginCall()``, not saved).
    private var clearedThisCall: Int?

    public init(capacity: Int) {
        precondition(capacity >= DriftAlert.Kind.allCases.count, "an alert history keeps at least one alert per kind")
        self.capacity = capacity
    }

    /// The active alert of `kind`, if any.
    public func active(_ kind: DriftAlert.Kind) -> DriftAlert? {
        open[kind].flatMap { sequence in alerts.last { $0.sequence == sequence } }
    }

    /// Starts a call of the model: alerts cleared before it may be dropped again.
    mutating func beginCall() { clearedThisCall = nil }

    /// Raises an alert of `kind` at event `event` (the kind must have no active alert).
    /// Accuracy drops pass the error rates before the change and now.
    mutating func raise(
        _ kind: DriftAlert.Kind, at event: Int, value: Double, threshold: Double,
        errorRates: (before: Double, now: Double)? = nil
    ) {
        precondition(open[kind] == nil, "a \(kind.rawValue) alert is already active")
        open[kind] = raisedCount
        var alert = DriftAlert(kind: kind, sequence: raisedCount, raisedAt: event, value: value, threshold: threshold)
        alert.errorRateBefore = errorRates?.before
        alert.errorRateAtRaise = errorRates?.now
        alerts.append(alert)
        raisedCount += 1
        while alerts.count > capacity {
            guard
                let i = alerts.firstIndex(where: { $0.clearedAt != nil && $0.sequence != clearedThisCall })
                    ?? alerts.firstIndex(where: { $0.clearedAt != nil })
            else { return }  // unreachable with capacity >= the number of kinds
            alerts.remove(at: i)
        }
    }

    /// Clears the active alert of `kind` at event `event`, with the statistic `value`; nothing when
    /// none is active. Accuracy drops pass the error rate at clearing.
    mutating func clear(
        _ kind: DriftAlert.Kind, at event: Int, value: Double, reason: DriftAlert.ClearReason = .settled,
        errorRate: Double? = nil
    ) {
        guard let sequence = open.removeValue(forKey: kind), let i = alerts.lastIndex(where: { $0.sequence == sequence })
        else { return }
        alerts[i].clearedAt = event
        alerts[i].clearedValue = value
        alerts[i].clearReason = reason
        alerts[i].errorRateAtClear = errorRate
        clearedThisCall = sequence
    }
}

// MARK: - Checkpoint

extension AlertHistory {
    /// Writes the number of alerts raised, the alerts (kind, sequence, raised at, cleared at, value,
    /// threshold, cleared value) and the open alerts (kind, sequence) sorted by kind. The capacity is a
    /// drift setting, stored and checked with the others.
    func save(to writer: inout CheckpointWriter) {
        writer.writeInt(raisedCount)
        writer.writeUInt64(UInt64(alerts.count))
        for alert in alerts {
            writer.writeString(alert.kind.rawValue)
            writer.writeInt(alert.sequence)
            writer.writeInt(alert.raisedAt)
            writer.writeOptionalInt(alert.clearedAt)
            writer.writeDouble(alert.value)
            writer.writeDouble(alert.threshold)
            writer.writeOptionalDouble(alert.clearedValue)
            writer.writeOptionalString(alert.clearReason?.rawValue)
            writer.writeOptionalDouble(alert.errorRateBefore)
            writer.writeOptionalDouble(alert.errorRateAtRaise)
            writer.writeOptionalDouble(alert.errorRateAtClear)
        }
        let open = open.sorted { $0.key.rawValue < $1.key.rawValue }
        writer.writeUInt64(UInt64(open.count))
        for (kind, sequence) in open {
            writer.writeString(kind.rawValue)
            writer.writeInt(sequence)
        }
    }

    /// Reads a history written by ``save(to:)`` and checks it: at most `capacity` alerts, sequence
    /// numbers increasing and below the number raised, and the open alerts exactly the uncleared ones.
    static func read(capacity: Int, from reader: inout CheckpointReader) throws(CheckpointError) -> AlertHistory {
        var history = AlertHistory(capacity: capacity)
        let raised = try reader.readInt()
        guard raised >= 0 else { throw .corrupt("alertsRaised", "negative alert count \(raised)") }
        let count = try reader.readUInt64()
        guard count <= UInt64(capacity) else {
            throw .corrupt("alerts", "\(count) alerts, the history keeps at most \(capacity)")
        }
        for _ in 0..<Int(count) {
            let kind = try readKind(from: &reader)
            let sequence = try reader.readInt()
            let previous = history.alerts.last?.sequence ?? -1
            guard sequence > previous, sequence < raised else {
                throw .corrupt("alerts", "alert sequence \(sequence) after \(previous), with \(raised) raised")
            }
            var alert = DriftAlert(
                kind: kind, sequence: sequence, raisedAt: try reader.readInt(), value: 0, threshold: 0)
            alert.clearedAt = try reader.readOptionalInt()
            alert.value = try reader.readDouble()
            alert.threshold = try reader.readDouble()
            alert.clearedValue = try reader.readOptionalDouble()
            if let raw = try reader.readOptionalString() {
                guard let reason = DriftAlert.ClearReason(rawValue: raw) else {
                    throw .corrupt("alerts", "unknown clear reason \"\(raw)\"")
                }
                alert.clearReason = reason
            }
            alert.errorRateBefore = try reader.readOptionalDouble()
            alert.errorRateAtRaise = try reader.readOptionalDouble()
            alert.errorRateAtClear = try reader.readOptionalDouble()
            history.alerts.append(alert)
        }
        let openCount = try reader.readUInt64()
        guard openCount <= UInt64(DriftAlert.Kind.allCases.count) else {
            throw .corrupt("openAlerts", "\(openCount) open alerts, there are \(DriftAlert.Kind.allCases.count) kinds")
        }
        for _ in 0..<Int(openCount) {
            let kind = try readKind(from: &reader)
            let sequence = try reader.readInt()
            guard history.open[kind] == nil,
                history.alerts.contains(where: { $0.sequence == sequence && $0.kind == kind && $0.clearedAt == nil })
            else {
                throw .corrupt("openAlerts", "open \(kind.rawValue) alert \(sequence) is not an uncleared alert of that kind")
            }
            history.open[kind] = sequence
        }
        let uncleared = history.alerts.reduce(0) { $0 + ($1.clearedAt == nil ? 1 : 0) }
        guard uncleared == history.open.count else {
            throw .corrupt("openAlerts", "\(history.open.count) open alerts, \(uncleared) uncleared in the history")
        }
        history.raisedCount = raised
        return history
    }

    private static func readKind(from reader: inout CheckpointReader) throws(CheckpointError) -> DriftAlert.Kind {
        let raw = try reader.readString()
        guard let kind = DriftAlert.Kind(rawValue: raw) else { throw .corrupt("alerts", "unknown alert kind \"\(raw)\"") }
        return kind
    }
}
