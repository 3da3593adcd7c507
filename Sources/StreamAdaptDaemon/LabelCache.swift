import StreamAdaptCore

/// Recent unlabelled embeddings by event id, so that a label arriving later on the labels topic can be
/// learned. Bounded: a ring of `capacity` slots, the oldest entry is evicted first (its label, if it
/// ever comes, is then counted as expired).
final class LabelCache {
    let capacity: Int
    let dimension: Int
    private var ids: [String?]
    private var predicted: [Int]
    private var embeddings: [Float]
    private var slotOfID: [String: Int] = [:]
    private var next = 0

    init(capacity: Int, dimension: Int) {
        self.capacity = capacity
        self.dimension = dimension
        ids = Array(repeating: nil, count: capacity)
        predicted = Array(repeating: 0, count: capacity)
        embeddings = Array(repeating: 0, count: capacity * dimension)
    }

    /// Keeps `embedding` (D values) and the class predicted for it under `id`.
    func insert(id: String, embedding: UnsafeBufferPointer<Float>, predicted index: Int) {
        guard capacity > 0 else { return }
        if let old = slotOfID[id] { remove(slot: old) }
        if let evicted = ids[next] { slotOfID[evicted] = nil }
        ids[next] = id
        predicted[next] = index
        embeddings.withUnsafeMutableBufferPointer { out in
            for j in 0..<dimension { out[next * dimension + j] = embedding[j] }
        }
        slotOfID[id] = next
        next = (next + 1) % capacity
    }

    /// Hands the cached embedding and prediction of `id` to `body` and forgets them; false if unknown.
    func take(id: String, _ body: (UnsafeBufferPointer<Float>, Int) throws -> Void) rethrows -> Bool {
        guard let slot = slotOfID[id] else { return false }
        defer { remove(slot: slot) }
        try embeddings.withUnsafeBufferPointer {
            try body(UnsafeBufferPointer(rebasing: $0[(slot * dimension)..<((slot + 1) * dimension)]), predicted[slot])
        }
        return true
    }

    /// The cached embedding and prediction of `id`, copied, without taking them (for tests and tools).
    func entry(id: String) -> (embedding: [Float], predicted: Int)? {
        guard let slot = slotOfID[id] else { return nil }
        return (Array(embeddings[(slot * dimension)..<((slot + 1) * dimension)]), predicted[slot])
    }

    /// Number of cached events.
    var count: Int { slotOfID.count }

    private func remove(slot: Int) {
        if let id = ids[slot] { slotOfID[id] = nil }
        ids[slot] = nil
    }

}

extension LabelCache: Checkpointable {
    /// Writes the capacity, the next slot, the number of entries, then per entry its slot, id,
    /// predicted class and embedding (Float32).
    func save(to writer: inout CheckpointWriter) {
        writer.writeInt(capacity)
        writer.writeInt(next)
        writer.writeInt(slotOfID.count)
        for slot in 0..<capacity {
            guard let id = ids[slot] else { continue }
            writer.writeInt(slot)
            writer.writeString(id)
            writer.writeInt(predicted[slot])
            embeddings.withUnsafeBufferPointer {
                writer.writeFloats(UnsafeBufferPointer(rebasing: $0[(slot * dimension)..<((slot + 1) * dimension)]))
            }
        }
    }

    /// Reads a cache written by ``save(to:)``; installs nothing until the commit is applied.
    func prepareRestore(from reader: inout CheckpointReader) throws(CheckpointError) -> CheckpointCommit {
        let savedCapacity = try reader.readInt()
        guard savedCapacity == capacity else {
            throw CheckpointError(
                code: .configurationMismatch, field: "input.labelCacheSize",
                message: "the checkpoint's label cache holds \(savedCapacity) entries, the pipeline \(capacity)")
        }
        let savedNext = try reader.readInt()
        let entries = try reader.readInt()
        var newIDs = [String?](repeating: nil, count: capacity)
        var newPredicted = [Int](repeating: 0, count: capacity)
        var newEmbeddings = [Float](repeating: 0, count: capacity * dimension)
        for _ in 0..<max(0, entries) {
            let slot = try reader.readInt()
            guard slot >= 0 && slot < capacity else {
                throw CheckpointError(code: .corrupt, field: "labelCache", message: "slot \(slot) out of range")
            }
            newIDs[slot] = try reader.readString()
            newPredicted[slot] = try reader.readInt()
            let values = try reader.readFloats(count: dimension, field: "labelCache.embedding")
            for j in 0..<dimension { newEmbeddings[slot * dimension + j] = values[j] }
        }
        return CheckpointCommit { [self] in
            ids = newIDs
            predicted = newPredicted
            embeddings = newEmbeddings
            next = savedNext
            slotOfID = [:]
            for (slot, id) in newIDs.enumerated() { if let id { slotOfID[id] = slot } }
        }
    }
}
