import StreamAdaptCore

/// A partition's state on the state topic: a sealed checkpoint (model, the partition's next input
/// offset, label cache, recent inputs) cut into chunks below Kafka's message size.
///
/// Record key: `<partition>#<epoch>#<slot>#<chunk>`, slot = sequence mod 2. On a compacted topic the
/// latest record per key is kept, so a snapshot overwrites the one before the previous of its epoch,
/// and a crash while writing one leaves the previous complete in the other slot.
///
/// Record value (little-endian), 48 bytes then the chunk's bytes:
///
///     offset  size  field
///     0       8     magic "SASTATE1"
///     8       4     partition (Int32)
///     12      8     epoch (UInt64): the owner's; a new owner takes the highest seen + 1
///     20      8     sequence (UInt64): the owner's snapshots in its epoch, from 0
///     28      4     chunk index (UInt32)
///     32      4     chunk count (UInt32), at least 1
///     36      8     snapshot length (UInt64): the sum of the chunks' lengths
///     44      4     CRC-32 of bytes 0..<44 of this header, then of the chunk's bytes
///
/// A **claim** is a record with chunk count 0, no bytes and key `<partition>#<epoch>#claim`: a new owner
/// writes one as soon as it is assigned, so that the next owner's epoch is above its own even before it
/// wrote a snapshot (a full snapshot there would cost the state's size for nothing new).
///
/// Readers take the newest complete snapshot of the highest epoch (``StateSnapshotReader``): a former
/// owner that stalled past its session (a zombie) writes under its old epoch and never wins.
public struct StateSnapshot: Sendable, Equatable {
    public var partition: Int32
    public var epoch: UInt64
    public var sequence: UInt64
    /// The sealed checkpoint.
    public var bytes: [UInt8]

    public init(partition: Int32, epoch: UInt64, sequence: UInt64, bytes: [UInt8]) {
        self.partition = partition
        self.epoch = epoch
        self.sequence = sequence
        self.bytes = bytes
    }

    static let magic: [UInt8] = Array("SASTATE1".utf8)
    static let headerSize = 48
    /// Chunk bytes per record: 48 bytes of header on top stay below Kafka's default 1 MB
    /// (`message.max.bytes` 1000000 in librdkafka, `max.message.bytes` 1048588 on brokers).
    public static let defaultChunkSize = 900_000

    /// The claim record of `epoch` for `partition`.
    public static func claim(partition: Int32, epoch: UInt64) -> (key: String, value: [UInt8]) {
        ("\(partition)#\(epoch)#claim", record(partition: partition, epoch: epoch, sequence: 0, index: 0, count: 0, total: 0, chunk: [][...]))
    }

    /// The records (key, value) of this snapshot, in chunk order.
    public func records(chunkSize: Int = defaultChunkSize) -> [(key: String, value: [UInt8])] {
        precondition(chunkSize > 0)
        let count = max(1, (bytes.count + chunkSize - 1) / chunkSize)
        return (0..<count).map { index in
            let chunk = bytes[min(bytes.count, index * chunkSize)..<min(bytes.count, (index + 1) * chunkSize)]
            let value = Self.record(
                partition: partition, epoch: epoch, sequence: sequence, index: index, count: count, total: bytes.count, chunk: chunk)
            return ("\(partition)#\(epoch)#\(sequence % 2)#\(index)", value)
        }
    }

    /// One record's value: the header (its CRC over the header's first 44 bytes, then `chunk`), then `chunk`.
    static func record(
        partition: Int32, epoch: UInt64, sequence: UInt64, index: Int, count: Int, total: Int, chunk: ArraySlice<UInt8>
    ) -> [UInt8] {
        var value = magic
        value.reserveCapacity(headerSize + chunk.count)
        func append<T: FixedWidthInteger>(_ field: T) { withUnsafeBytes(of: field.littleEndian) { value += $0 } }
        append(UInt32(bitPattern: partition))
        append(epoch)
        append(sequence)
        append(UInt32(index))
        append(UInt32(count))
        append(UInt64(total))
        let crc = value.withUnsafeBytes { header in chunk.withUnsafeBytes { Checkpoint.crc32($0, initial: Checkpoint.crc32(header)) } }
        append(crc)
        value += chunk
        return value
    }
}

/// One chunk record as read back, checked.
struct StateChunk: Equatable {
    var partition: Int32
    var epoch: UInt64
    var sequence: UInt64
    var index: Int
    var count: Int
    var total: Int
    var bytes: [UInt8]
    /// A claim (chunk count 0): it carries an epoch, no state.
    var isClaim: Bool { count == 0 }

    /// Whether the CRC matched (header and bytes). A chunk whose CRC does not is corrupt: none of its
    /// fields can be trusted, not even which snapshot it belongs to.
    var intact: Bool

    /// Parses a record value strictly: nil for anything whose header is not well-formed (wrong magic,
    /// short, inconsistent counts or lengths, epoch out of range); ``intact`` says whether the CRC matched.
    init?(_ value: UnsafeRawBufferPointer, maximumSnapshotBytes: Int) {
        guard value.count >= StateSnapshot.headerSize, value.prefix(8).elementsEqual(StateSnapshot.magic) else { return nil }
        func read<T: FixedWidthInteger>(_: T.Type, at offset: Int) -> T {
            var raw = T.zero
            withUnsafeMutableBytes(of: &raw) { $0.copyMemory(from: UnsafeRawBufferPointer(rebasing: value[offset..<(offset + MemoryLayout<T>.size)])) }
            return T(littleEndian: raw)
        }
        partition = Int32(bitPattern: read(UInt32.self, at: 8))
        epoch = read(UInt64.self, at: 12)
        sequence = read(UInt64.self, at: 20)
        let index = read(UInt32.self, at: 28)
        let count = read(UInt32.self, at: 32)
        let total = read(UInt64.self, at: 36)
        let crc = read(UInt32.self, at: 44)
        guard count >= 1 && index < count || count == 0 && index == 0 && total == 0, total <= UInt64(maximumSnapshotBytes),
            partition >= 0, epoch < UInt64.max, value.count - StateSnapshot.headerSize <= Int(total)
        else { return nil }
        self.index = Int(index)
        self.count = Int(count)
        self.total = Int(total)
        let data = UnsafeRawBufferPointer(rebasing: value[StateSnapshot.headerSize...])
        intact = Checkpoint.crc32(data, initial: Checkpoint.crc32(UnsafeRawBufferPointer(rebasing: value[0..<44]))) == crc
        bytes = Array(data)
    }
}

/// Reads one partition's state records in log order and tells which snapshots are complete, newest
/// first, and the highest epoch seen (a new owner takes the next).
///
/// - **Fencing**: a record whose epoch is below an epoch seen earlier in the log was written by an owner
///   that had already been succeeded (a zombie): it is counted in ``fenced`` and ignored, even when the
///   successor has only claimed its epoch so far.
/// - **Torn and damaged**: a snapshot missing its last chunks (the owner died while writing it) is torn
///   and is as if never written; one missing other chunks is damaged (``damagedCount``). A record whose
///   CRC does not match is ``corrupt``: it belongs to no snapshot.
/// - **Bounded**: records that are not chunks of this partition are counted and dropped; a snapshot may
///   not claim more than `maximumSnapshotBytes`; only the newest `keep` versions are held (incomplete
///   ones evicted first, so the newest complete snapshot always stays).
public struct StateSnapshotReader {
    public let partition: Int32
    let maximumSnapshotBytes: Int
    let keep: Int
    /// The highest epoch any well-formed record of this partition carried (complete or not).
    public private(set) var highestEpoch: UInt64?
    /// Records that were not well-formed chunks or claims of this partition.
    public private(set) var rejected = 0
    /// Records whose CRC did not match (header or bytes).
    public private(set) var corrupt = 0
    /// Records below an epoch seen earlier in the log (written by a former owner after its successor's claim).
    public private(set) var fenced = 0
    /// Records read (tombstones included).
    public private(set) var read = 0
    /// Well-formed, unfenced snapshot chunks read (claims not counted), held or not.
    public private(set) var chunkRecords = 0
    private var versions: [Version: Held] = [:]
    /// The keys of the well-formed records read, with their epoch (at most ``maximumKeys``; see
    /// ``keys(below:)``).
    private var recordKeys: [String: UInt64] = [:]
    /// Keys collected at most (the rest stay until a later owner collects them).
    static let maximumKeys = 100_000

    struct Version: Hashable, Comparable {
        var epoch: UInt64
        var sequence: UInt64
        static func < (a: Version, b: Version) -> Bool { (a.epoch, a.sequence) < (b.epoch, b.sequence) }
    }

    /// The chunks of one version held.
    struct Held {
        var chunks: [Int: StateChunk] = [:]

        var isComplete: Bool {
            guard let first = chunks.values.first, chunks.count == first.count,
                chunks.values.allSatisfy({ $0.count == first.count && $0.total == first.total })
            else { return false }
            return chunks.values.reduce(0) { $0 + $1.bytes.count } == first.total
        }

        /// Missing only its last chunks: a write that did not finish.
        var isTorn: Bool {
            guard !isComplete, let first = chunks.values.first else { return false }
            return chunks.keys.max()! + 1 == chunks.count && chunks.count < first.count
        }
    }

    public init(partition: Int32, maximumSnapshotBytes: Int = 1 << 34, keep: Int = 3) {
        self.partition = partition
        self.maximumSnapshotBytes = maximumSnapshotBytes
        self.keep = max(1, keep)
    }

    /// Takes the next record of the partition (a null value, a compaction tombstone, is counted and
    /// skipped). A later chunk with the same epoch, sequence and index replaces an earlier one.
    /// - Parameter key: the record's key, collected for ``keys(below:)`` (records that were not well-formed
    ///   are left alone).
    public mutating func take(_ value: UnsafeRawBufferPointer, key: UnsafeRawBufferPointer? = nil) {
        read += 1
        guard !value.isEmpty else {
            if let key { recordKeys[String(decoding: key, as: UTF8.self)] = nil }  // a tombstone: gone already
            return
        }
        guard let chunk = StateChunk(value, maximumSnapshotBytes: maximumSnapshotBytes), chunk.partition == partition else {
            rejected += 1
            return
        }
        guard chunk.intact else {
            corrupt += 1
            return
        }
        if let highestEpoch, chunk.epoch < highestEpoch {
            fenced += 1
            return
        }
        highestEpoch = max(highestEpoch ?? 0, chunk.epoch)
        if let key, recordKeys.count < Self.maximumKeys { recordKeys[String(decoding: key, as: UTF8.self)] = chunk.epoch }
        if chunk.isClaim { return }
        chunkRecords += 1
        let version = Version(epoch: chunk.epoch, sequence: chunk.sequence)
        if versions[version] == nil {
            if versions.count >= keep {
                // Evict an incomplete version first (the oldest), else the oldest; a version older than
                // every complete one held is not taken at all.
                let incomplete = versions.filter { !$0.value.isComplete }.keys.min()
                guard let evicted = incomplete ?? versions.keys.min(), incomplete != nil || evicted < version else { return }
                versions[evicted] = nil
            }
            versions[version] = Held()
        }
        versions[version]!.chunks[chunk.index] = chunk
    }

    /// The complete snapshots held, newest (highest epoch, then sequence) first. Complete: every chunk of
    /// one count present and intact, lengths summing to the snapshot length.
    public var completeSnapshots: [StateSnapshot] {
        versions.keys.sorted(by: >).compactMap { version in
            let held = versions[version]!
            guard held.isComplete else { return nil }
            var bytes: [UInt8] = []
            bytes.reserveCapacity(held.chunks[0]!.total)  // checked against the chunks' lengths
            for i in 0..<held.chunks.count { bytes += held.chunks[i]!.bytes }
            return StateSnapshot(partition: partition, epoch: version.epoch, sequence: version.sequence, bytes: bytes)
        }
    }

    /// The keys of the records read whose epoch is below `epoch`, sorted: what a new owner tombstones once
    /// a snapshot of its own epoch is delivered (on a compacted topic they then go).
    public func keys(below epoch: UInt64) -> [String] {
        recordKeys.filter { $0.value < epoch }.map(\.key).sorted()
    }

    /// Versions held that are neither complete nor torn: chunks lost or damaged after they were written.
    public var damagedCount: Int { versions.values.filter { !$0.isComplete && !$0.isTorn }.count }
    /// Versions held whose write did not finish (their last chunks missing).
    public var tornCount: Int { versions.values.filter(\.isTorn).count }
}
