/// What a class change did (``StreamModel/addClass(name:embedding:)``, ``StreamModel/retireClass(name:)``).
public struct ClassChange: Sendable, Equatable {
    /// The class's index (stable: indices are never reused or moved).
    public var index: Int
    /// False when the change was already in effect (adding a class that exists with the same
    /// embedding, retiring a retired class): re-applying a change is a no-op.
    public var applied: Bool
}

/// The run-time part of a model's class set as a checkpoint stores it: the classes added after the
/// model was built (name and normalised embedding, in index order) and the retired flags of all.
public struct StoredClassSet: Sendable, Equatable {
    public var baseClassCount: Int
    public var added: [(name: String, embedding: [Double])]
    public var retired: [Bool]

    public static func == (a: Self, b: Self) -> Bool {
        a.baseClassCount == b.baseClassCount && a.retired == b.retired && a.added.count == b.added.count
            && zip(a.added, b.added).allSatisfy { $0.name == $1.name && $0.embedding.elementsEqual($1.embedding) { $0.bitPattern == $1.bitPattern } }
    }
}

/// Classes at run time (`docs/classes.md`).
///
/// A class is added with its embedding (a CLIP text embedding, or here a class prototype) and gets the
/// next index; every head grows in place (``ClassGrowingHead``) and the drift scorer gets a class mean
/// at the embedding. A retired class keeps its index and its learned state (it stays in checkpoints)
/// but its logit is masked (-inf before the softmax: probability 0, never the argmax) and a label that
/// names it is refused (``EmbeddingError/retiredClass(label:)``). Changes are made between events: the
/// event after the call is the first that sees them. Batches (``EventBatch``) are sized for a class set:
/// make a new one (``makeBatch(capacity:)``) after a change.
extension StreamModel {
    /// The longest class name (UTF-8 bytes): the daemon's label limit.
    public static let maximumClassNameBytes = 256

    /// The default of ``maximumClassCount``: every addition costs O(C^3) for the drift test's class
    /// subspace (an eigendecomposition of the C x C Gram matrix) and the class-sized state grows with
    /// C (Tip keeps K D values per class), so the number of classes is bounded.
    public static let defaultMaximumClassCount = 1024

    /// The number of classes that are not retired.
    public var activeClassCount: Int { classCount - retiredIndices.count }

    /// Adds the class `name` with the raw embedding `embedding` (D values, need not be normalised) at
    /// index ``classCount``. Adding a class that exists, is active and has the same normalised embedding
    /// (bit for bit) is a no-op returning its index with `applied` false, so that a replayed control
    /// record changes nothing.
    /// - Throws: ``ClassChangeError`` (invalid name, duplicate name, bad embedding, unsupported head);
    ///   the model is then unchanged.
    @discardableResult
    public func addClass(name: String, embedding: UnsafeBufferPointer<Float>) throws(ClassChangeError) -> ClassChange {
        guard !name.isEmpty, name.utf8.count <= Self.maximumClassNameBytes else { throw .invalidName(name) }
        var t = [Double](repeating: 0, count: dimension)
        do {
            try t.withUnsafeMutableBufferPointer { (buffer) throws(EmbeddingError) in
                try normalizeEmbedding(embedding, into: buffer.baseAddress!, dimension: dimension)
            }
        } catch { throw .invalidEmbedding(error) }
        if let existing = classes.index(of: name) {
            let row = UnsafeBufferPointer(start: classes.normalized.row(existing), count: dimension)
            if !retired[existing] && row.elementsEqual(t, by: { $0.bitPattern == $1.bitPattern }) {
                return ClassChange(index: existing, applied: false)
            }
            throw .duplicateName(name)
        }
        guard canGrowClasses else { throw .unsupportedHead(head.name) }
        guard classCount < maximumClassCount else { throw .tooManyClasses(limit: maximumClassCount) }
        t.withUnsafeBufferPointer { appendClass(name: name, normalized: $0.baseAddress!) }
        return ClassChange(index: classCount - 1, applied: true)
    }

    /// ``addClass(name:embedding:)`` with a Swift array.
    @discardableResult
    public func addClass(name: String, embedding: [Float]) throws(ClassChangeError) -> ClassChange {
        try embedding.withUnsafeBufferPointer { (buffer) throws(ClassChangeError) in try addClass(name: name, embedding: buffer) }
    }

    /// Retires the class `name`: from the next event on it is never predicted and labels naming it are
    /// refused. Its index, head state and drift-scorer mean are kept. Retiring a retired class is a
    /// no-op (`applied` false).
    /// - Throws: ``ClassChangeError`` `unknownClass`, or `lastActiveClass` for the only active class.
    @discardableResult
    public func retireClass(name: String) throws(ClassChangeError) -> ClassChange {
        guard let c = classes.index(of: name) else { throw .unknownClass(name) }
        if retired[c] { return ClassChange(index: c, applied: false) }
        guard activeClassCount > 1 else { throw .lastActiveClass(name) }
        setRetired(c)
        return ClassChange(index: c, applied: true)
    }

    /// A batch for this model's current class set (its labels are checked against the retired classes).
    public func makeBatch(capacity: Int) -> EventBatch {
        let batch = EventBatch(capacity: capacity, dimension: dimension, classCount: classCount)
        batch.retired = retired
        return batch
    }

    /// Whether the head can take new classes.
    var canGrowClasses: Bool {
        if let combined = head as? CombinedHead { return combined.canGrowClasses }
        return head is any ClassGrowingHead
    }

    /// Appends a class whose normalised embedding is `t`: the heads and the scorer grow, the per-event
    /// scratch is reallocated.
    /// - Parameter updatingSubspace: false while restoring several classes (the caller updates the
    ///   input-drift test's class subspace once after the last: O(C^3) each time).
    func appendClass(name: String, normalized t: UnsafePointer<Double>, updatingSubspace: Bool = true) {
        let grown = classes.appending(name: name, normalized: t)
        (head as! any ClassGrowingHead).appendClass(from: grown)
        scorer?.appendClass(t)
        if updatingSubspace { inputDetector?.updateClassSubspace(grown.normalized) }
        classes = grown
        retired.append(false)
        addedClassLabels.append(0)
        logits = Matrix(rows: classCount, columns: 1)
        probabilities = Matrix(rows: classCount, columns: 1)
    }

    private func setRetired(_ c: Int) {
        retired[c] = true
        retiredIndices = retired.indices.filter { retired[$0] }
        (head as? any ClassGrowingHead)?.retireClass(c)
    }

    // MARK: Checkpoint

    /// The section before "StreamModel" that holds the run-time class set; written only when classes
    /// were added or retired, so that a model without class changes writes the same bytes as before.
    static let classSetSection = "StreamModel.classes"

    /// The class set as ``save(to:)`` stores it, or nil when nothing was added or retired.
    public var storedClassSet: StoredClassSet? {
        guard classCount > baseClassCount || !retiredIndices.isEmpty else { return nil }
        let added = (baseClassCount..<classCount).map { c in
            (name: classes.names[c], embedding: Array(UnsafeBufferPointer(start: classes.normalized.row(c), count: dimension)))
        }
        return StoredClassSet(baseClassCount: baseClassCount, added: added, retired: retired)
    }

    func writeClassSet(to writer: inout CheckpointWriter) {
        guard let set = storedClassSet else { return }
        writer.writeSection(Self.classSetSection)
        writer.writeInt(set.baseClassCount)
        writer.writeInt(set.added.count)
        for (name, embedding) in set.added {
            writer.writeString(name)
            writer.writeDoubles(embedding)
        }
        writer.writeBools(set.retired)
    }

    /// Reads the class-set section when the reader is at one (else leaves the reader where it is and
    /// returns nil: a checkpoint without class changes, or one written before classes could change).
    static func readClassSet(from reader: inout CheckpointReader, dimension: Int) throws(CheckpointError) -> StoredClassSet? {
        var probe = reader
        guard (try? probe.readString()) == classSetSection else { return nil }
        reader = probe
        let base = try reader.readInt()
        let count = try reader.readInt()
        // Both bounded by the bytes left (each class takes at least one), so base + count cannot overflow.
        guard base >= 1, base <= reader.remaining, count >= 0, count <= reader.remaining else {
            throw .corrupt("classes.added", "\(base) base classes, \(count) added")
        }
        var added: [(name: String, embedding: [Double])] = []
        var names = Set<String>()
        for _ in 0..<count {
            let name = try reader.readString()
            guard !name.isEmpty, name.utf8.count <= maximumClassNameBytes, names.insert(name).inserted else {
                throw .corrupt("classes.added.name", "empty, longer than \(maximumClassNameBytes) bytes, or twice")
            }
            let embedding = try reader.readDoubles(count: dimension, field: "classes.added.embedding")
            // Stored normalised: a unit vector (to rounding), finite.
            let norm2 = embedding.reduce(0) { $0 + $1 * $1 }
            guard norm2.isFinite, abs(norm2 - 1) < 1e-9 else {
                throw .corrupt("classes.added.embedding", "class \"\(name)\": not a unit vector")
            }
            added.append((name, embedding))
        }
        let retired = try reader.readBools(count: base + count, field: "classes.retired")
        guard retired.contains(false) else { throw .corrupt("classes.retired", "every class retired") }
        return StoredClassSet(baseClassCount: base, added: added, retired: retired)
    }

    /// Brings this model's class set to the one stored in the checkpoint that `reader` is at the start
    /// of (the payload of ``save(to:)``, possibly followed by the caller's fields): adds the stored
    /// classes this model lacks and retires those the checkpoint has retired. Call it before
    /// ``prepareRestore(from:)`` when classes may have changed at run time (the daemon does):
    /// ``prepareRestore(from:)`` requires the class sets to be equal. The reader is not advanced.
    /// A checkpoint without class changes changes nothing.
    /// - Throws: ``CheckpointError`` when the stored set cannot extend this model's (different base
    ///   classes, a class this model has that the checkpoint lacks, a different embedding); the model
    ///   is then unchanged. A later failure of ``prepareRestore(from:)`` leaves the adopted classes in
    ///   place (with their initial state).
    public func adoptClassSet(from reader: CheckpointReader) throws(CheckpointError) {
        var probe = reader
        guard let stored = try Self.readClassSet(from: &probe, dimension: dimension) else { return }
        guard stored.baseClassCount == baseClassCount else {
            throw .configuration("classes.base", expected: "\(baseClassCount) classes", found: "\(stored.baseClassCount) classes")
        }
        guard classCount <= baseClassCount + stored.added.count else {
            throw .configuration(
                "classes.added", expected: "\(classCount - baseClassCount) added classes",
                found: "\(stored.added.count) added classes")
        }
        for (k, c) in (baseClassCount..<classCount).enumerated() {
            let same =
                classes.names[c] == stored.added[k].name
                && UnsafeBufferPointer(start: classes.normalized.row(c), count: dimension).elementsEqual(stored.added[k].embedding) {
                    $0.bitPattern == $1.bitPattern
                }
            guard same else {
                throw .configuration("classes.added", expected: "class \(c) \"\(classes.names[c])\"", found: "\"\(stored.added[k].name)\"")
            }
        }
        for (name, embedding) in stored.added[(classCount - baseClassCount)...] {
            if classes.index(of: name) != nil {
                throw .corrupt("classes.added", "class \"\(name)\" twice")
            }
            guard embedding.allSatisfy(\.isFinite) else { throw .corrupt("classes.added", "class \"\(name)\": non-finite embedding") }
        }
        // Checked before anything changes: a class this model retired must be retired in the checkpoint.
        for c in 0..<classCount where retired[c] && !stored.retired[c] {
            throw .configuration("classes.retired", expected: "class \(c) \"\(classes.names[c])\" retired", found: "active")
        }
        guard canGrowClasses || stored.added.count == classCount - baseClassCount else {
            throw .configuration("head", expected: "a head that takes new classes", found: head.name)
        }
        let adding = stored.added[(classCount - baseClassCount)...]
        for (name, embedding) in adding {
            embedding.withUnsafeBufferPointer { appendClass(name: name, normalized: $0.baseAddress!, updatingSubspace: false) }
        }
        if !adding.isEmpty { inputDetector?.updateClassSubspace(classes.normalized) }
        for c in 0..<classCount where stored.retired[c] && !retired[c] { setRetired(c) }
    }

    /// Reads the class-set section (if any) and checks it against this model's class set.
    func expectClassSet(from reader: inout CheckpointReader) throws(CheckpointError) {
        let stored = try Self.readClassSet(from: &reader, dimension: dimension)
        if stored != storedClassSet {
            func describe(_ set: StoredClassSet?) -> String {
                guard let set else { return "no class changes" }
                return "\(set.added.count) added (\(set.added.map(\.name).joined(separator: ", "))), "
                    + "\(set.retired.filter { $0 }.count) retired"
            }
            throw .configuration("classes", expected: describe(storedClassSet), found: describe(stored))
        }
    }
}
