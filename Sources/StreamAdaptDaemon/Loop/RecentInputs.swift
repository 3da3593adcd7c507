import StreamAdaptCore

/// The (partition, offset) of the last `capacity` input events that reached the model (a ring), for the
/// `window_events` and `offsets` of an alert record. Checkpointed with the daemon's section, so an
/// alert replayed after a restart carries the same window and offsets as the first time.
final class RecentInputs {
    let capacity: Int
    private var partitions: [Int32]
    private var offsets: [Int64]
    /// The slot the next event goes to.
    private var position = 0
    /// Slots in use (at most `capacity`).
    private(set) var count = 0

    init(capacity: Int) {
        precondition(capacity >= 1)
        self.capacity = capacity
        partitions = Array(repeating: 0, count: capacity)
        offsets = Array(repeating: 0, count: capacity)
    }

    func append(partition: Int32, offset: Int64) {
        partitions[position] = partition
        offsets[position] = offset
        position = (position + 1) % capacity
        count = min(capacity, count + 1)
    }

    /// The `i`-th event held, oldest first (0 ..< count).
    subscript(i: Int) -> (partition: Int32, offset: Int64) {
        let slot = (position - count + i + capacity) % capacity
        return (partitions[slot], offsets[slot])
    }

    /// Per partition, the first and last offset of the events held, by partition.
    func ranges() -> [OutputEncoder.OffsetRange] {
        var ranges: [Int32: (Int64, Int64)] = [:]
        for i in 0..<count {
            let (p, o) = self[i]
            let r = ranges[p] ?? (o, o)
            ranges[p] = (min(r.0, o), max(r.1, o))
        }
        return ranges.sorted { $0.key < $1.key }.map { .init(partition: $0.key, from: $0.value.0, to: $0.value.1) }
    }
}

extension RecentInputs: Checkpointable {
    /// Writes the capacity, the count, then each held event oldest first (partition, offset): the bytes
    /// depend only on the events held, not on where the ring happens to start.
    func save(to writer: inout CheckpointWriter) {
        writer.writeInt(capacity)
        writer.writeInt(count)
        for i in 0..<count {
            let (p, o) = self[i]
            writer.writeInt(Int(p))
            writer.writeInt(Int(o))
        }
    }

    func prepareRestore(from reader: inout CheckpointReader) throws(CheckpointError) -> CheckpointCommit {
        let savedCapacity = try reader.readInt()
        guard savedCapacity == capacity else {
            throw CheckpointError(
                code: .configurationMismatch, field: "drift.inputWindow",
                message: "the checkpoint holds the offsets of \(savedCapacity) recent events, the pipeline \(capacity)")
        }
        let savedCount = try reader.readInt()
        guard savedCount >= 0 && savedCount <= capacity else {
            throw CheckpointError(code: .corrupt, field: "recentInputs", message: "\(savedCount) events in a ring of \(capacity)")
        }
        var newPartitions = [Int32](repeating: 0, count: capacity)
        var newOffsets = [Int64](repeating: 0, count: capacity)
        for i in 0..<savedCount {
            let partition = try reader.readInt()
            let offset = try reader.readInt()
            guard let p = Int32(exactly: partition), p >= 0, offset >= 0 else {
                throw CheckpointError(
                    code: .corrupt, field: "recentInputs", message: "partition \(partition), offset \(offset) out of range")
            }
            newPartitions[i] = p
            newOffsets[i] = Int64(offset)
        }
        return CheckpointCommit { [self] in
            partitions = newPartitions
            offsets = newOffsets
            count = savedCount
            position = savedCount % capacity
        }
    }
}
