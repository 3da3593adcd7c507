import Foundation
import StreamAdaptCore
import StreamAdaptKafka

/// A record of the control topic (`topics.control`, `docs/classes.md`).
enum ControlRecord: Equatable {
    case addClass(name: String, embedding: [Float])
    case retireClass(name: String)

    /// Parses `{"op": "add-class", "name": "...", "embedding": [...]}` or
    /// `{"op": "retire-class", "name": "..."}` (other keys are ignored).
    /// - Throws: ``InputError`` `invalid-control` naming what is wrong; `oversized` past `maximumBytes`.
    static func decode(_ bytes: UnsafeRawBufferPointer, maximumBytes: Int) throws(InputError) -> ControlRecord {
        func invalid(_ what: String) -> InputError { InputError(code: .invalidControl, message: what) }
        guard bytes.count <= maximumBytes else {
            throw InputError(code: .oversized, message: "control record of \(bytes.count) bytes, input.maxMessageBytes is \(maximumBytes)")
        }
        struct Fields: Decodable {
            var op: String?
            var name: String?
            var embedding: [Float]?
        }
        let fields: Fields
        do { fields = try JSONDecoder().decode(Fields.self, from: Data(bytes)) } catch {
            throw invalid("not a JSON object with \"op\" and \"name\" strings and an \"embedding\" array of numbers")
        }
        guard let op = fields.op else { throw invalid("no \"op\" string") }
        guard let name = fields.name else { throw invalid("no \"name\" string") }
        switch op {
        case "add-class":
            guard let embedding = fields.embedding else { throw invalid("add-class without an \"embedding\" array") }
            return .addClass(name: name, embedding: embedding)
        case "retire-class":
            return .retireClass(name: name)
        default:
            throw invalid("unknown op (known: add-class, retire-class)")
        }
    }
}

extension AdaptationLoop {
    /// A message of the control topic: a class change, applied between the events before it and those
    /// after it (the pending batch was processed). A record that cannot be applied goes to the dead-letter
    /// topic with its reason (`invalid-control`, `duplicate-class`, `invalid-class-name`, `unknown-class`,
    /// `last-active-class`, `wrong-dimension`, `non-finite`, `zero-vector`, `unsupported-head`,
    /// `too-many-classes`, `output-too-large`); the model is then unchanged. Re-applying a record (after a restart from a
    /// checkpoint taken before it was handled) is a no-op.
    func handleControl(_ message: KafkaMessage) throws {
        let record: ControlRecord
        do { record = try ControlRecord.decode(message.value, maximumBytes: configuration.maximumMessageBytes) } catch {
            try deadLetter(message, error)
            return
        }
        let change: ClassChange
        do {
            switch record {
            case .addClass(let name, let embedding):
                // A prediction must still fit the output budget with the new name.
                _ = try OutputEncoder(
                    topClasses: configuration.topClasses, classNames: classes.names + [name], head: model.head.name,
                    budget: encoder.budget)
                change = try model.addClass(name: name, embedding: embedding)
            case .retireClass(let name):
                change = try model.retireClass(name: name)
            }
        } catch let error as ClassChangeError {
            let code = InputError.Code(rawValue: error.code.rawValue) ?? .invalidControl
            try deadLetter(message, reason: code.rawValue, text: error.description)
            return
        } catch let error as ConfigurationError {
            try deadLetter(message, reason: OutputError.Code.outputTooLarge.rawValue, text: error.reason)
            return
        }
        let (op, name): (String, String) =
            switch record {
            case .addClass(let name, _): ("add-class", name)
            case .retireClass(let name): ("retire-class", name)
            }
        if change.applied {
            try classesChanged()
            metrics.classChanges(op).increment()
        }
        logger.notice(
            change.applied ? "class change applied" : "class change already in effect",
            metadata: [
                "op": "\(op)", "class": "\(name)", "index": "\(change.index)", "classes": "\(classes.count)",
                "active": "\(model.activeClassCount)", "partition": "\(message.partition)", "offset": "\(message.offset)",
            ])
    }

    /// After the model's class set changed (a control record, or a restored checkpoint): a batch and an
    /// output encoder for the new class set.
    func classesChanged() throws {
        precondition(batch.count == 0, "class change with events pending")
        batch = model.makeBatch(capacity: batch.capacity)
        encoder = try OutputEncoder(
            topClasses: configuration.topClasses, classNames: classes.names, head: model.head.name, budget: encoder.budget)
        recordClassCounts()
    }

    /// streamadapt_classes{state}.
    func recordClassCounts() {
        metrics.activeClasses.record(model.activeClassCount)
        metrics.retiredClasses.record(model.classCount - model.activeClassCount)
    }
}
