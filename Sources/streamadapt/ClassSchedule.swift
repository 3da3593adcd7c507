import ArgumentParser
import Foundation
import StreamAdaptCore
import StreamAdaptDaemon

/// The class changes `eval` replays (`docs/classes.md`): what the daemon's control topic does, at fixed
/// stream positions. EVENT counts the rows of all `--data` segments from 0 (dropped events included);
/// a change at EVENT takes effect for that event and the ones after it.
struct ClassSchedule {
    enum Operation: Equatable {
        case add(name: String, embedding: [Float])
        case retire(name: String)
    }

    struct Change {
        var event: Int
        var operation: Operation
    }

    /// A class left out of the model until `addedAt` (nil: never added); its events before then are
    /// dropped (not processed, not counted).
    struct HeldBack {
        var name: String
        var addedAt: Int?
    }

    /// What happens to the held-back classes.
    enum Run: Equatable {
        /// Left out until their event, then added (the measured run).
        case add
        /// Never added, all their events dropped: what the other classes see without the addition.
        case control
        /// In the model from the start, their events kept: the model that had the class all along.
        case reference
    }

    var changes: [Change] = []
    var heldBack: [HeldBack] = []
    var run = Run.add

    var isEmpty: Bool { changes.isEmpty && heldBack.isEmpty }

    /// Parses the options against the dataset's classes.
    /// - Parameter run: `.control` keeps the held-back classes out for good, `.reference` has them from
    ///   the start; either way their additions are reported (same windows), not applied.
    init(add: [String], retire: [String], holdBack: [String], classes: ClassEmbeddings, run: Run = .add) throws {
        let d = classes.dimension
        func split(_ argument: String, _ option: String) throws -> (String, String) {
            guard let at = argument.lastIndex(of: "@"), at != argument.startIndex else {
                throw ValidationError("\(option) \(argument): expected NAME@EVENT")
            }
            return (String(argument[..<at]), String(argument[argument.index(after: at)...]))
        }
        func event(_ text: String, _ option: String) throws -> Int {
            guard let n = Int(text), n >= 0 else { throw ValidationError("\(option): \(text) is not an event index") }
            return n
        }
        for argument in holdBack {
            let (name, at) = try split(argument, "--hold-back-class")
            guard let c = classes.index(of: name) else {
                throw ValidationError("--hold-back-class \(argument): the data has no class \"\(name)\"")
            }
            guard !heldBack.contains(where: { $0.name == name }) else {
                throw ValidationError("--hold-back-class \(name) given twice")
            }
            let addedAt = at == "never" ? nil : try event(at, "--hold-back-class")
            heldBack.append(HeldBack(name: name, addedAt: addedAt))
            if let addedAt {
                let row = (0..<d).map { Float(classes.normalized[c, $0]) }
                changes.append(Change(event: addedAt, operation: .add(name: name, embedding: row)))
            }
        }
        for argument in add {
            // NAME@EVENT:FILE, split at the first "@digits:" (a FILE path may hold "@" and ":").
            guard let match = argument.firstMatch(of: /@([0-9]+):/), match.range.lowerBound != argument.startIndex else {
                throw ValidationError("--add-class \(argument): expected NAME@EVENT:FILE")
            }
            let name = String(argument[..<match.range.lowerBound])
            let at = try event(String(match.output.1), "--add-class")
            let path = String(argument[match.range.upperBound...])
            let data = try Data(contentsOf: URL(fileURLWithPath: path))
            guard data.count == d * 4 else {
                throw ValidationError("--add-class \(argument): \(path) has \(data.count) bytes, need \(d) float32 values")
            }
            changes.append(Change(event: at, operation: .add(name: name, embedding: ClassFile.readFloats(data))))
        }
        for argument in retire {
            let (name, at) = try split(argument, "--retire-class")
            changes.append(Change(event: try event(at, "--retire-class"), operation: .retire(name: name)))
        }
        changes.sort { $0.event < $1.event }  // stable: the order given within one event
        self.run = run
    }

    /// The model's base classes: the dataset's without the held-back ones (all of them in a reference run).
    func baseClasses(_ classes: ClassEmbeddings) throws -> ClassEmbeddings {
        let held = Set(heldBack.map(\.name))
        guard !held.isEmpty, run != .reference else { return classes }
        let kept = classes.names.indices.filter { !held.contains(classes.names[$0]) }
        guard !kept.isEmpty else { throw ValidationError("--hold-back-class: no class left") }
        let d = classes.dimension
        return try ClassEmbeddings(
            names: kept.map { classes.names[$0] }, dimension: d,
            values: kept.flatMap { c in (0..<d).map { Float(classes.normalized[c, $0]) } })
    }

    /// Applies the changes due at `event` to `model`; returns whether any was.
    func apply(at event: Int, to model: StreamModel) throws -> Bool {
        var applied = false
        for change in changes where change.event == event {
            if run != .add, case .add(let name, _) = change.operation, heldBack.contains(where: { $0.name == name }) { continue }
            do {
                switch change.operation {
                case .add(let name, let embedding): try model.addClass(name: name, embedding: embedding)
                case .retire(let name): try model.retireClass(name: name)
                }
            } catch { throw ValidationError("class change at event \(event): \(error.code.rawValue): \(error)") }
            applied = true
        }
        return applied
    }

    /// The events at which a change is due.
    var changeEvents: Set<Int> { Set(changes.map(\.event)) }
}

/// One processed event of a run with a class schedule: where it was, its true class, the prediction.
struct ClassEvent {
    var event: Int
    var truth: String
    var predicted: String
    var labelled: Bool
}

/// Per-class recall around the class changes of one head's run (`docs/classes.md`).
struct ClassReport {
    struct Added {
        var name: String
        var addedAt: Int
        /// Recall of the class's events after the addition, by the number of its labelled events seen
        /// since (windows [0, 100), [100, 200), [200, 300)), and over all of them.
        var recallWindows: [Double?]
        var recallAfter: Double?
        /// Accuracy on the other classes' events in the `window` events before and after the addition.
        var othersBefore: Double?
        var othersAfter: Double?
        var eventsAfter: Int
    }

    var window: Int
    var added: [Added]
    /// Recall of every class before and after the first change (all changes when there is one).
    var recallBefore: [String: Double]
    var recallAfter: [String: Double]
    var dropped: Int

    init(events: [ClassEvent], schedule: ClassSchedule, classNames: [String], dropped: Int, window: Int = 500) {
        self.window = window
        self.dropped = dropped
        func accuracy(_ list: [ClassEvent]) -> Double? {
            list.isEmpty ? nil : Double(list.filter { $0.truth == $0.predicted }.count) / Double(list.count)
        }
        var added: [Added] = []
        for change in schedule.changes {
            guard case .add(let name, _) = change.operation else { continue }
            let mine = events.filter { $0.truth == name && $0.event >= change.event }
            var windows: [[ClassEvent]] = [[], [], []]
            var labelledSeen = 0
            for e in mine {
                if labelledSeen < 300 { windows[labelledSeen / 100].append(e) }
                if e.labelled { labelledSeen += 1 }
            }
            let before = events.filter { $0.truth != name && $0.event < change.event && $0.event >= change.event - window }
            let after = events.filter { $0.truth != name && $0.event >= change.event && $0.event < change.event + window }
            added.append(Added(
                name: name, addedAt: change.event, recallWindows: windows.map(accuracy), recallAfter: accuracy(mine),
                othersBefore: accuracy(before), othersAfter: accuracy(after), eventsAfter: mine.count))
        }
        self.added = added
        let split = schedule.changes.first?.event ?? Int.max
        var before: [String: Double] = [:]
        var after: [String: Double] = [:]
        for name in classNames {
            if let r = accuracy(events.filter { $0.truth == name && $0.event < split }) { before[name] = r }
            if let r = accuracy(events.filter { $0.truth == name && $0.event >= split }) { after[name] = r }
        }
        recallBefore = before
        recallAfter = after
    }

    func json() -> String {
        func n(_ v: Double?) -> String { v.map(num) ?? "null" }
        func map(_ m: [String: Double]) -> String {
            "{" + m.keys.sorted().map { "\"\($0)\": \(num(m[$0]!))" }.joined(separator: ", ") + "}"
        }
        let addedJSON = added.map { a in
            "{\"name\": \"\(a.name)\", \"added_at\": \(a.addedAt), \"events_after\": \(a.eventsAfter), \"recall_labelled_0_100\": \(n(a.recallWindows[0])), \"recall_labelled_100_200\": \(n(a.recallWindows[1])), \"recall_labelled_200_300\": \(n(a.recallWindows[2])), \"recall_after\": \(n(a.recallAfter)), \"others_accuracy_before\": \(n(a.othersBefore)), \"others_accuracy_after\": \(n(a.othersAfter))}"
        }
        return "{\"window\": \(window), \"dropped_events\": \(dropped), \"added\": [\(addedJSON.joined(separator: ", "))], \"recall_before\": \(map(recallBefore)), \"recall_after\": \(map(recallAfter))}"
    }

    func table(head: String) -> [String] {
        func f(_ v: Double?) -> String { v.map { fmt($0, 3) } ?? "-" }
        var lines = ["classes (\(head)): \(dropped) events of held-back classes dropped"]
        for a in added {
            lines.append(
                "  \(a.name) added at event \(a.addedAt): recall over its labelled events 0-99 \(f(a.recallWindows[0])), "
                    + "100-199 \(f(a.recallWindows[1])), 200-299 \(f(a.recallWindows[2])), all \(f(a.recallAfter)) "
                    + "(\(a.eventsAfter) events); other classes \(f(a.othersBefore)) in the \(window) events before, "
                    + "\(f(a.othersAfter)) after")
        }
        return lines
    }
}
