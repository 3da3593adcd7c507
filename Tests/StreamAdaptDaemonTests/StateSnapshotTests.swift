import StreamAdaptCore
import Testing

@testable import StreamAdaptDaemon

/// The state topic's record format and the choice of snapshot to restore (no Kafka: records fed in log
/// order as a partition holds them).
@Suite struct StateSnapshotTests {
    static func bytes(_ count: Int, seed: UInt8) -> [UInt8] { (0..<count).map { UInt8(truncatingIfNeeded: $0 &* 31) &+ seed } }

    /// Feeds `records` (values) to a reader of partition 2.
    static func read(_ values: [[UInt8]], keep: Int = 3) -> StateSnapshotReader {
        var reader = StateSnapshotReader(partition: 2, keep: keep)
        for value in values { value.withUnsafeBytes { reader.take($0) } }
        return reader
    }

    @Test func aSnapshotIsCutIntoChunksWithKeysPerSlotAndReadBackWhole() {
        let snapshot = StateSnapshot(partition: 2, epoch: 7, sequence: 5, bytes: Self.bytes(2500, seed: 1))
        let records = snapshot.records(chunkSize: 1000)
        #expect(records.map(\.key) == ["2#7#1#0", "2#7#1#1", "2#7#1#2"])
        #expect(records.map(\.value.count) == [1048, 1048, 548])
        #expect(Array(records[0].value.prefix(8)) == Array("SASTATE1".utf8))
        let reader = Self.read(records.map(\.value))
        #expect(reader.completeSnapshots == [snapshot])
        #expect(reader.highestEpoch == 7)
        #expect(reader.rejected == 0)
        // An empty state is one chunk.
        let empty = StateSnapshot(partition: 2, epoch: 1, sequence: 0, bytes: [])
        #expect(Self.read(empty.records().map(\.value)).completeSnapshots == [empty])
    }

    @Test func theNewestCompleteSnapshotOfTheHighestEpochComesFirst() {
        let a = StateSnapshot(partition: 2, epoch: 1, sequence: 0, bytes: Self.bytes(300, seed: 1))
        let b = StateSnapshot(partition: 2, epoch: 1, sequence: 1, bytes: Self.bytes(300, seed: 2))
        let c = StateSnapshot(partition: 2, epoch: 2, sequence: 0, bytes: Self.bytes(300, seed: 3))
        // A zombie of epoch 1 writes after the new owner's epoch 2 claim: it does not win.
        let zombie = StateSnapshot(partition: 2, epoch: 1, sequence: 2, bytes: Self.bytes(300, seed: 4))
        let values = [a, b, c, zombie].flatMap { $0.records(chunkSize: 100).map(\.value) }
        let reader = Self.read(values, keep: 4)
        #expect(reader.completeSnapshots == [c, zombie, b, a])
        #expect(reader.highestEpoch == 2)
    }

    @Test func aDamagedOrMissingChunkMakesItsSnapshotIncompleteAndTheOneBeforeIsUsed() {
        let old = StateSnapshot(partition: 2, epoch: 3, sequence: 0, bytes: Self.bytes(250, seed: 1))
        let new = StateSnapshot(partition: 2, epoch: 3, sequence: 1, bytes: Self.bytes(250, seed: 2))
        var damaged = new.records(chunkSize: 100).map(\.value)
        damaged[1][60] ^= 0x10  // one bit of the second chunk's data: its CRC no longer matches
        let reader = Self.read(old.records(chunkSize: 100).map(\.value) + damaged)
        #expect(reader.completeSnapshots == [old])
        #expect(reader.rejected == 1)
        #expect(reader.incompleteCount == 1)
        // The last chunk never written (a crash while writing).
        let torn = new.records(chunkSize: 100).map(\.value).dropLast()
        #expect(Self.read(old.records(chunkSize: 100).map(\.value) + torn).completeSnapshots == [old])
    }

    @Test func malformedRecordsAndOtherPartitionsAreRejectedWithoutEffect() {
        let good = StateSnapshot(partition: 2, epoch: 1, sequence: 0, bytes: Self.bytes(50, seed: 1))
        var header = good.records()[0].value
        var wrongCount = header
        wrongCount[32] = 0  // chunk count 0
        var hugeTotal = header
        hugeTotal[43] = 0xFF  // claims more than the reader allows
        header[0] = UInt8(ascii: "X")
        let other = StateSnapshot(partition: 3, epoch: 9, sequence: 0, bytes: Self.bytes(50, seed: 2))
        let reader = Self.read([[], [1, 2, 3], header, wrongCount, hugeTotal] + other.records().map(\.value) + good.records().map(\.value))
        #expect(reader.completeSnapshots == [good])
        #expect(reader.rejected == 5)  // the short one, bad magic, count 0, huge total, other partition
        #expect(reader.read == 7)
        #expect(reader.highestEpoch == 1)  // the other partition's epoch 9 does not count
    }

    @Test func onlyTheNewestSnapshotsAreHeld() {
        let snapshots = (0..<10).map { StateSnapshot(partition: 2, epoch: 1, sequence: UInt64($0), bytes: Self.bytes(100, seed: UInt8($0))) }
        let reader = Self.read(snapshots.flatMap { $0.records(chunkSize: 30).map(\.value) }, keep: 3)
        #expect(reader.completeSnapshots == Array(snapshots.suffix(3).reversed()))
    }

    /// A claim raises the epoch a new owner takes, and is not a snapshot.
    @Test func aClaimCarriesAnEpochAndNoState() {
        let snapshot = StateSnapshot(partition: 2, epoch: 1, sequence: 0, bytes: Self.bytes(40, seed: 1))
        let claim = StateSnapshot.claim(partition: 2, epoch: 4)
        #expect(claim.key == "2#4#claim")
        #expect(claim.value.count == 48)
        var withBytes = claim.value + [1, 2]
        withBytes[44...47] = [0, 0, 0, 0]  // whatever the CRC: a claim with bytes is malformed
        let reader = Self.read(snapshot.records().map(\.value) + [claim.value, withBytes])
        #expect(reader.highestEpoch == 4)
        #expect(reader.completeSnapshots == [snapshot])
        #expect(reader.chunkRecords == 1)
        #expect(reader.rejected == 1)
        let onlyClaims = Self.read([claim.value])
        #expect(onlyClaims.highestEpoch == 4)
        #expect(onlyClaims.completeSnapshots.isEmpty)
        #expect(onlyClaims.chunkRecords == 0)
    }
}
